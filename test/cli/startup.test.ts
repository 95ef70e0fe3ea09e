/**
 * What a command loads (the real binary, every module it imports recorded by a loader hook): help
 * builds the command definitions only; a directory command loads the configuration, the store and
 * the core, not the HTTP stack nor the libraries only sign-in ceremonies and certificates need.
 * Start-up time itself is not asserted (the machine is shared); what is loaded decides it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { cliFixture, ROOT, spawnCli, type CliFixture } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = join(dir, 'record-loads.mjs');
writeFileSync(HOOK, [
  "import { registerHooks } from 'node:module';",
  "import { appendFileSync } from 'node:fs';",
  'registerHooks({ load(url, context, next) { appendFileSync(process.env.LOAD_RECORD, `${url}\\n`); return next(url, context); } });',
].join('\n'));

/** Runs the binary; returns its result and what it loaded: packages by name, project files by path. */
async function loadsOf(argv: string[]): Promise<{ code: number; stdout: string; packages: Set<string>; files: Set<string> }> {
  const record = join(dir, `loads-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(record, '');
  const result = await spawnCli(argv, { env: { NODE_OPTIONS: `--import=${HOOK}`, LOAD_RECORD: record } });
  const packages = new Set<string>();
  const files = new Set<string>();
  for (const url of readFileSync(record, 'utf8').split('\n')) {
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url);
    const inPackage = path.split('/node_modules/').at(-1)!;
    if (path.includes('/node_modules/')) packages.add(inPackage.split('/').slice(0, inPackage.startsWith('@') ? 2 : 1).join('/'));
    else files.add(relative(ROOT, path));
  }
  return { code: result.code, stdout: result.stdout, packages, files };
}

describe('gatehouse --help (what it loads)', () => {
  it('builds the command definitions only: commander and src/cli, no configuration loader, store or core', async () => {
    const help = await loadsOf(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: gatehouse \[options\] \[command\]/);
    expect([...help.packages]).toEqual(['commander']);
    expect([...help.files].filter((f) => !f.startsWith('src/cli/'))).toEqual(['bin/gatehouse.js', 'bin/node-version.cjs', 'package.json', 'src/directory/names.ts']);

    // A command's own help, with choices from the model's lists, is as light.
    const appAdd = await loadsOf(['app', 'add', '--help']);
    expect(appAdd.stdout).toMatch(/--type <type>\s+protocol it signs in with \(choices: "oidc", "saml",\s+"generic", default: "generic"\)/);
    expect([...appAdd.packages]).toEqual(['commander']);
  });
});

describe.each(backends)('gatehouse user list on $name (what it loads)', (backend) => {
  let fx: CliFixture;
  beforeEach(async () => {
    fx = await cliFixture(backend);
    expect((await fx.cli(['migrate'])).code).toBe(0);
    expect((await fx.cli(['user', 'add', 'zoe'])).code).toBe(0);
  });
  afterEach(async () => fx?.cleanup());

  it('loads the configuration, the store and the core, not the HTTP stack, WebAuthn, X.509 or QR code libraries', async () => {
    const list = await loadsOf(['-c', fx.configFile, 'user', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^zoe\s/m);
    expect(list.packages).toContain('knex');
    expect(list.files).toContain('src/core.ts');
    const heavy = ['oidc-provider', 'koa', '@koa/router', '@simplewebauthn/server', '@peculiar/x509', 'qrcode', 'otplib', 'prom-client', 'samlify', 'xml-crypto', '@xmldom/xmldom', 'libxml2-wasm'];
    expect(heavy.filter((p) => list.packages.has(p))).toEqual([]);
    expect([...list.files].filter((f) => f.startsWith('protocols/oidc/index') || f.startsWith('src/server/start') || f.startsWith('src/admin/'))).toEqual([]);
  });
});
