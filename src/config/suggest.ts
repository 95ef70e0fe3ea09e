/**
 * "Did you mean …?" for an unknown configuration key: the keys the schema accepts where the unknown
 * one was written, and the nearest of them. zod's unrecognized_keys issue names the stray keys but
 * not the accepted ones, so these are read from the schema itself, following the path.
 */
import type { z } from 'zod';

/** The parts of a zod (v4) schema definition followed here. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { def: Def }).def;

/** The schemas a value may have to match, wrappers (optional, default, pipe, lazy) removed; every branch of a union. */
function unwrap(schema: z.ZodType, depth = 0): z.ZodType[] {
  const def = defOf(schema);
  if (depth > 32) return [];
  switch (def.type) {
    case 'optional': case 'nullable': case 'default': case 'prefault': case 'catch': case 'readonly': case 'nonoptional':
      return unwrap(def.innerType!, depth + 1);
    case 'pipe':
      return unwrap(def.in!, depth + 1);
    case 'lazy':
      return unwrap(def.getter!(), depth + 1);
    case 'union':
      return def.options!.flatMap((option) => unwrap(option, depth + 1));
    case 'intersection':
      return [...unwrap(def.left!, depth + 1), ...unwrap(def.right!, depth + 1)];
    default:
      return [schema];
  }
}

function child(schema: z.ZodType, segment: PropertyKey): z.ZodType[] {
  const def = defOf(schema);
  if (def.type === 'object' && typeof segment === 'string') return def.shape![segment] ? [def.shape![segment]] : [];
  if (def.type === 'array' && typeof segment === 'number') return [def.element!];
  if (def.type === 'record') return [def.valueType!];
  return [];
}

/** The keys the schema accepts in the mapping at `path`, in schema order. */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let here = unwrap(schema);
  for (const segment of path) here = here.flatMap((s) => child(s, segment)).flatMap((s) => unwrap(s));
  return [...new Set(here.flatMap((s) => (defOf(s).type === 'object' ? Object.keys(defOf(s).shape!) : [])))];
}

/**
 * The candidate `key` was most likely meant to be, or undefined: the same name but for case, `_`
 * or `-` (`max_body_bytes` for `maxBodyBytes`), else the nearest by edit distance counting a swap
 * of neighbours as one edit (`prot` for `port`), within 1 edit for short keys and 2 from 6 characters.
 * Ties go to the first candidate.
 */
export function nearestKey(key: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const wanted = norm(key);
  const limit = wanted.length >= 6 ? 2 : 1;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, norm(candidate));
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return Infinity; // beyond any limit above; keeps long keys cheap
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}
