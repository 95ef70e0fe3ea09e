/**
 * The commands that need no store: help, `config check`, `config reference`, `docs`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderEventCatalogue } from '../../src/audit/catalogue.ts';
import { renderConfigReference } from '../../src/cli/reference.ts';
import { run, spawnCli, testYamlConfig } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('gatehouse --help (the real binary)', () => {
  it('lists the commands and exits 0; every command has its own help', async () => {
    const help = await spawnCli(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: gatehouse \[options\] \[command\]/);
    for (const command of ['start', 'migrate', 'config', 'user', 'group', 'apikey', 'docs']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(help.stdout).toMatch(/-c, --config <file>/);

    const userAdd = await spawnCli(['user', 'add', '--help']);
    expect(userAdd.code).toBe(0);
    expect(userAdd.stdout).toMatch(/Usage: gatehouse user add \[options\] <username>/);
    expect(userAdd.stdout).toMatch(/--password-stdin/);
    expect(userAdd.stdout).toMatch(/Global Options:[\s\S]*--config/);
  });

  it('a wrong command line is a usage error: exit code 2, the problem on stderr', async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Usage: gatehouse/);
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^gatehouse: unknown command 'frobnicate'/);
    const option = await run(['user', 'list', '--bogus']);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/^gatehouse: unknown option '--bogus'/);
    expect((await run(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe('gatehouse config check', () => {
  it('accepts the shipped demo configuration (the real binary)', async () => {
    const result = await spawnCli(['config', 'check', 'config/gatehouse.yaml']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^config\/gatehouse\.yaml: ok\n/);
  });

  it('refuses a broken copy of it with the path and line of the error, exit code 2 (the real binary)', async () => {
    const text = readFileSync(new URL('../../config/gatehouse.yaml', import.meta.url), 'utf8').replace(/\n*$/, '\n');
    const line = text.split('\n').length; // the appended line's number
    const broken = file('broken.yaml', `${text}bogusKey: true\n`);
    const result = await spawnCli(['config', 'check', broken]);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toBe(`${broken}:${line}:1: bogusKey: unknown key\n`);
  });

  it('reports every error with file, line, column and path, in file order', async () => {
    const bad = file('bad.yaml', ['server:', '  http:', '    port: 99999', 'storage:', '  poolMax: many', 'unknown: 1', ''].join('\n'));
    const result = await run(['config', 'check', bad]);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${bad}:3:11: server\\.http\\.port: `));
    expect(lines[1]).toMatch(new RegExp(`^${bad}:5:12: storage\\.poolMax: `));
    expect(lines[2]).toBe(`${bad}:6:1: unknown: unknown key`);
  });

  it('checks declared passwords against the policy, with their line', async () => {
    const weak = file('weak.yaml', stringify({ directory: { users: [{ username: 'amy', password: 'short' }] } }));
    const result = await run(['config', 'check', weak]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^${weak}:4:17: directory\\.users\\[0\\]\\.password: password must be at least 15 characters$`, 'm'));
  });

  it('defaults to --config, then $GATEHOUSE_CONFIG; prints insecure-setting warnings; never opens the store', async () => {
    // The store named here does not answer: a check must not notice.
    const config = testYamlConfig('postgres://gatehouse:secret@127.0.0.1:1/nope', { passwords: { policy: { minLength: 8 } } });
    const path = file('good.yaml', stringify(config));
    const viaOption = await run(['-c', path, 'config', 'check']);
    expect(viaOption).toMatchObject({ code: 0, stderr: '' });
    expect(viaOption.stdout).toMatch(new RegExp(`^${path}: ok\n${path}: warning: passwords\\.policy\\.minLength is 8`));
    const viaEnv = await run(['config', 'check'], { env: { GATEHOUSE_CONFIG: path } });
    expect(viaEnv).toMatchObject({ code: 0, stdout: viaOption.stdout });

    const missing = await run(['config', 'check', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml: \(root\): cannot read file/);
  });

  it('resolves ${VAR} from the environment it runs in', async () => {
    const path = file('env.yaml', 'storage:\n  url: ${STORE_URL}\n');
    expect((await run(['config', 'check', path])).stderr).toMatch(/env\.yaml:2:8: storage\.url: environment variable STORE_URL is not set/);
    expect((await run(['config', 'check', path], { env: { STORE_URL: 'sqlite::memory:' } })).code).toBe(0);
  });
});

describe('gatehouse config reference and docs', () => {
  it('config reference lists every option with its type, default and description', async () => {
    const result = await run(['config', 'reference']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^# Configuration reference/);
    expect(result.stdout).toMatch(/^\| `storage\.url` \| string \| `sqlite:\.\/data\/gatehouse\.db` \| 'sqlite:<file>' .*\|$/m);
    expect(result.stdout).toMatch(/^\| `server\.http\.port` \| integer 0–65535 \| `9090` \| HTTP port/m);
    expect(result.stdout).toMatch(/^\| `log\.level` \| one of `fatal`, .* \| `info` \|/m);
    expect(result.stdout).toMatch(/^\| `server\.trustedProxies` \| list of string \| `\[\]` \|/m);
    expect(result.stdout).toMatch(/^\| `directory\.users\[\]\.username` \| string \| \*\*required\*\* \|/m);
    expect(result.stdout).toMatch(/^\| `directory\.policies\[\]\.conditions\.risk\.atLeast` \| .* \| \*\*required\*\* in `directory\.policies\[\]\.conditions\.risk` \|/m);
    // Every table row has four cells.
    for (const row of result.stdout.split('\n').filter((l) => l.startsWith('| `'))) expect(row.replace(/\\\|/g, '').split('|')).toHaveLength(6);
  });

  it('docs prints the event catalogue and the reference; --write writes them; --check compares', async () => {
    const printed = await run(['docs']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain(renderEventCatalogue());
    expect(printed.stdout).toContain(renderConfigReference());

    const out = join(dir, 'docs');
    const written = await run(['docs', '--write', '--dir', out]);
    expect(written).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(join(out, 'events.md'), 'utf8')).toBe(renderEventCatalogue());
    expect(readFileSync(join(out, 'configuration.md'), 'utf8')).toBe(renderConfigReference());
    expect(readFileSync(join(out, 'events.md'), 'utf8')).toContain('`user.created`');

    expect(await run(['docs', '--check', '--dir', out])).toMatchObject({ code: 0, stdout: 'docs are up to date\n' });
    writeFileSync(join(out, 'events.md'), 'stale');
    const stale = await run(['docs', '--check', '--dir', out]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/^gatehouse: out of date: .*events\.md; run 'npm run docs'\n$/);
  });
});
