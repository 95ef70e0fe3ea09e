/** `gatehouse docs`: the generated documentation (`npm run docs` writes it into docs/). */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CliError, type CliIo } from './io.ts';

/** The repository's docs/ folder, wherever the command is run from. */
export const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));

export async function generatedDocs(): Promise<Array<{ file: string; text: string }>> {
  const [{ renderEventCatalogue }, { renderReasonCatalogue }, { renderConfigReference }] = await Promise.all([import('../audit/catalogue.ts'), import('../reasons.ts'), import('./reference.ts')]);
  return [
    { file: 'events.md', text: renderEventCatalogue() },
    { file: 'reasons.md', text: renderReasonCatalogue() },
    { file: 'configuration.md', text: renderConfigReference() },
  ];
}

export function registerDocsCommand(program: Command, io: CliIo): void {
  program
    .command('docs')
    .description('Print the generated documentation (audit event catalogue, reason codes, configuration reference), or write it to docs/')
    .option('--write', 'write docs/events.md, docs/reasons.md and docs/configuration.md')
    .option('--check', 'exit with code 1 when the files in docs/ are not what would be written')
    .option('--dir <dir>', "the folder to write to or check (default: the repository's docs/)")
    .action(async (options: { write?: boolean; check?: boolean; dir?: string }) => {
      const docs = await generatedDocs();
      const dir = options.dir ?? DOCS_DIR;
      if (options.write) {
        await mkdir(dir, { recursive: true });
        for (const { file, text } of docs) {
          await writeFile(join(dir, file), text);
          io.stdout.write(`wrote ${join(dir, file)}\n`);
        }
        return;
      }
      if (options.check) {
        const stale: string[] = [];
        for (const { file, text } of docs) {
          const current = await readFile(join(dir, file), 'utf8').catch(() => undefined);
          if (current !== text) stale.push(join(dir, file));
        }
        if (stale.length) throw new CliError(`out of date: ${stale.join(', ')}; run 'npm run docs'`);
        io.stdout.write('docs are up to date\n');
        return;
      }
      io.stdout.write(docs.map(({ file, text }) => `<!-- docs/${file} -->\n\n${text}`).join('\n'));
    });
}
