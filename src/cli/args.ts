/** Small parsers for commander options, shared by the command groups. */
import { InvalidArgumentError } from 'commander';
import type { Page } from '../store/types.ts';

/** `--uid 1000`: a whole number (the schema then checks the range). */
export function integer(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('Not a whole number.');
  return Number(value);
}

/** A repeatable option: `--group a --group b`. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A repeatable option limited to some values (`.choices()` alone does not collect repeats). */
export function collectChoice(choices: readonly string[]): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => {
    if (!choices.includes(value)) throw new InvalidArgumentError(`Allowed choices are ${choices.join(', ')}.`);
    return collect(value, previous);
  };
}

/**
 * `--force` on the commands that change what the configuration file may declare: without it such a
 * change is refused, naming the file to edit (the directory service's rule, WriteOptions.force).
 */
export const FORCE_HELP = 'change it even if the configuration file declares it (the next reload or start puts the declaration back)';

/** The object without its undefined properties, so strict schemas see only what was given. */
export function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Every item of a paged listing. */
export async function listAll<T>(page: (after: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let after: string | undefined;
  do {
    const result = await page(after);
    items.push(...result.items);
    after = result.next;
  } while (after !== undefined);
  return items;
}
