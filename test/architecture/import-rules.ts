/**
 * The seams between the core and the front-ends, as rules on imports (DESIGN.md, STYLE.md §3):
 *
 * - a front-end (protocols/<name>/) imports the core's public surface only: never the store
 *   (src/store/), the server and CLI that compose the process (src/server/, src/cli/,
 *   src/front-ends.ts), the admin API (src/admin/) or the configuration loader and reconciler;
 * - a front-end never imports another front-end;
 * - the core (src/) never imports a front-end, except the composition roots: the list of
 *   front-ends (src/front-ends.ts), the server start (src/server/start.ts) and the CLI (src/cli/).
 *
 * Imports are read with the TypeScript compiler's own pre-processor (type-only imports and
 * dynamic `import()` count too), so the rule needs no linter.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

const CORE_INTERNALS = ['src/store/', 'src/server/', 'src/cli/', 'src/admin/', 'src/front-ends.ts', 'src/config/load.ts', 'src/config/reconcile.ts'];
const COMPOSITION_ROOTS = ['src/front-ends.ts', 'src/server/start.ts', 'src/cli/'];

function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(root, path));
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every relative import of `file` (repository-relative, '/'-separated), resolved against the repository. */
function importsOf(root: string, file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => relative(root, resolve(root, dirname(file), name)).split(sep).join('/'));
}

const under = (path: string, prefixes: readonly string[]) => prefixes.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));
const frontEndOf = (path: string) => /^protocols\/([^/]+)\//.exec(path)?.[1];

/** The imports in the tree at `root` that break the rules. */
export function checkImports(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of [...sourceFiles(root, 'protocols'), ...sourceFiles(root, 'src')].map((f) => f.split(sep).join('/'))) {
    const own = frontEndOf(file);
    for (const target of importsOf(root, file)) {
      if (own !== undefined) {
        const other = frontEndOf(target);
        if (other !== undefined && other !== own) violations.push({ file, imports: target, rule: 'a front-end does not import another front-end' });
        else if (under(target, CORE_INTERNALS)) violations.push({ file, imports: target, rule: "a front-end imports only the core's public surface" });
      } else if (file.startsWith('src/') && target.startsWith('protocols/') && !under(file, COMPOSITION_ROOTS)) {
        violations.push({ file, imports: target, rule: 'the core does not import front-ends (only the composition roots do)' });
      }
    }
  }
  return violations;
}
