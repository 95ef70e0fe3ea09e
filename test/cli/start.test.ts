/**
 * `gatehouse start` as the real binary: listener line, health, the admin key, SIGHUP reload,
 * graceful SIGTERM/SIGINT; a store that is down; a bad configuration.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { backends } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY } from '../helpers/server.ts';
import { cliFixture, eventually, killIfRunning, run, spawnCli, startCli, testYamlConfig, type CliFixture, type RunningCli } from './helpers.ts';
import { freePort } from '../helpers/ports.ts';

const LISTENER = /^ {2}http \(admin API[^)]*\): (http:\/\/\S+)$/m;

describe.each(backends)('gatehouse start on $name', (backend) => {
  let fx: CliFixture;
  let server: RunningCli | undefined;
  beforeEach(async () => {
    fx = await cliFixture(backend);
  });
  afterEach(async () => {
    await killIfRunning(server);
    server = undefined;
    await fx.cleanup();
  });

  it('a second start beside a running one says the port is taken and what to do, before it changes anything in the store', async () => {
    const port = await freePort();
    fx.writeConfig({ server: { http: { host: '127.0.0.1', port } } });
    server = startCli(['-c', fx.configFile, 'start']);
    await server.waitFor(LISTENER);
    const before = await fx.withCore(async (core) => (await core.audit.query({ limit: 1000 })).items.length);
    const second = await spawnCli(['-c', fx.configFile, 'start']);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`gatehouse: the HTTP listener cannot listen on 127.0.0.1:${port}/tcp: something else is listening there: another Gatehouse already running? Stop it, or choose another port (set server.http.port, or GATEHOUSE_HTTP_PORT in the demo configuration)\n`);
    // No reconcile run, no key, nothing: the store is as the first server left it.
    expect(await fx.withCore(async (core) => (await core.audit.query({ limit: 1000 })).items.length)).toBe(before);
  });

  it('prints the listener and a one-time admin key, serves, reloads on SIGHUP and stops on SIGTERM with exit code 0', async () => {
    server = startCli(['-c', fx.configFile, 'start']);
    const url = (await server.waitFor(LISTENER))[1]!;
    const out = server.stdout();
    expect(out).toMatch(/shown only this once: store it now/);
    const key = out.match(/^ {2}(ghk_\S+)$/m)?.[1];
    expect(key).toBeDefined();
    expect(out).toContain(`curl -H "Authorization: Bearer ${key}" ${url}/api/v1/users`);

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const users = await fetch(`${url}/api/v1/users`, { headers: { authorization: `Bearer ${key}` } });
    expect(users.status).toBe(200);

    // A new declared group in the file appears after SIGHUP, without a restart.
    fx.writeConfig({ directory: { groups: [{ name: 'reloaded', description: 'declared after start' }] } });
    server.child.kill('SIGHUP');
    const group = await eventually(async () => {
      const response = await fetch(`${url}/api/v1/groups/reloaded`, { headers: { authorization: `Bearer ${key}` } });
      return response.status === 200 ? ((await response.json()) as { name: string; managedBy: string }) : undefined;
    });
    expect(group).toMatchObject({ name: 'reloaded', managedBy: 'config' });

    // A broken file on SIGHUP is refused; the server keeps running on the last good one.
    writeFileSync(fx.configFile, 'server: [not, a, mapping]\n');
    server.child.kill('SIGHUP');
    const rejected = await eventually(async () =>
      fx.withCore(async (core) => (await core.audit.query({ type: 'config.rejected' })).items[0]),
    );
    expect(rejected.outcome).toBe('failure');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(server.stderr()).toBe('');
  });

  it('on a later start says a key exists, or that it comes from GATEHOUSE_ADMIN_KEY; SIGINT stops too', async () => {
    expect((await fx.cli(['migrate'])).code).toBe(0);
    expect((await fx.cli(['apikey', 'create', 'ops', '--scope', 'write'])).code).toBe(0);
    server = startCli(['-c', fx.configFile, 'start']);
    await server.waitFor(LISTENER);
    await server.waitFor(/an admin key already exists[\s\S]*gatehouse apikey create/);
    expect(server.stdout()).not.toMatch(/ghk_/);
    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);

    server = startCli(['-c', fx.configFile, 'start'], { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY });
    const url = (await server.waitFor(LISTENER))[1]!;
    await server.waitFor(/the admin key is the value of GATEHOUSE_ADMIN_KEY/);
    expect(server.stdout()).not.toContain(TEST_ADMIN_KEY);
    expect((await fetch(`${url}/api/v1/users`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('GATEHOUSE_STORAGE_URL overrides storage.url for the commands as for the server', async () => {
    fx.writeConfig({ storage: { url: 'postgres://nobody:secret@127.0.0.1:1/nope' } });
    const env = { GATEHOUSE_STORAGE_URL: fx.url };
    expect((await fx.cli(['migrate'], { env })).code).toBe(0);
    expect((await fx.cli(['user', 'add', 'zoe'], { env })).code).toBe(0);
    expect((await fx.cli(['user', 'list'], { env })).stdout).toMatch(/^zoe\s/m);
    expect((await fx.cli(['user', 'list'])).code).toBe(1); // without it, the file's store, which is down
  });
});

describe('gatehouse start refuses to start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when the store is down: one line naming the store with the password redacted, exit code 1', async () => {
    const configFile = join(dir, 'down.yaml');
    writeFileSync(configFile, stringify(testYamlConfig('postgres://gatehouse:secret@127.0.0.1:1/nope')));
    const result = await spawnCli(['-c', configFile, 'start']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^gatehouse: cannot reach the store at postgres:\/\/gatehouse:\*\*\*@127\.0\.0\.1:1\/nope: .+\n$/);
    expect(result.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(result.stderr).not.toContain('secret');

    // The commands that open the store say the same.
    const migrate = await run(['-c', configFile, 'migrate']);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toMatch(/^gatehouse: cannot reach the store at postgres:\/\/gatehouse:\*\*\*@127\.0\.0\.1:1\/nope: /);
  });

  it('when the configuration is invalid: its errors with lines, exit code 2', async () => {
    const configFile = join(dir, 'bad.yaml');
    writeFileSync(configFile, 'server:\n  http:\n    port: -1\n');
    const result = await run(['-c', configFile, 'start']);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(new RegExp(`^${configFile}:3:11: server\\.http\\.port: .*\n$`));
  });
});

