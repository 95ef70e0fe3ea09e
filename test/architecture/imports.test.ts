/** The import rules (import-rules.ts) hold on this repository, and catch each kind of violation. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImports } from './import-rules.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('import rules', () => {
  it('hold on this repository: front-ends depend only on the core, the core only on front-ends at its composition roots', () => {
    expect(checkImports(ROOT)).toEqual([]);
  });

  describe('on a fixture tree that breaks each of them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-imports-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    write('src/core.ts', 'export const core = 1;\n');
    write('src/store/types.ts', 'export type Store = unknown;\n');
    write('src/front-ends.ts', "import { a } from '../protocols/alpha/front-end.ts';\nexport const list = [a];\n");
    write('src/server/start.ts', "import type { A } from '../../protocols/alpha/index.ts';\nexport type B = A;\n");
    write('src/cli/main.ts', "const m = await import('../../protocols/alpha/index.ts');\nexport { m };\n");
    write('src/access/service.ts', "import { a } from '../../protocols/alpha/index.ts';\nexport { a };\n");
    write('protocols/alpha/front-end.ts', "import { core } from '../../src/core.ts';\nexport const a = core;\n");
    write('protocols/alpha/index.ts', "export type A = number;\nexport const a = 1;\n");
    write('protocols/beta/index.ts', "import type { Store } from '../../src/store/types.ts';\nimport { a } from '../alpha/index.ts';\nexport type S = Store;\nexport const b = a;\n");
    write('protocols/gamma/index.ts', "export const g = import('../../src/front-ends.ts');\n");

    it('reports each violation with its rule, and nothing the composition roots or a front-end\'s own files do', () => {
      expect(checkImports(dir).sort((x, y) => `${x.file}${x.imports}`.localeCompare(`${y.file}${y.imports}`))).toEqual([
        { file: 'protocols/beta/index.ts', imports: 'protocols/alpha/index.ts', rule: 'a front-end does not import another front-end' },
        { file: 'protocols/beta/index.ts', imports: 'src/store/types.ts', rule: "a front-end imports only the core's public surface" },
        { file: 'protocols/gamma/index.ts', imports: 'src/front-ends.ts', rule: "a front-end imports only the core's public surface" },
        { file: 'src/access/service.ts', imports: 'protocols/alpha/index.ts', rule: 'the core does not import front-ends (only the composition roots do)' },
      ]);
    });
  });
});
