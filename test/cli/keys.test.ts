/**
 * `gatehouse keys list|rotate`, in-process, against both backends: what they print, what the store
 * then holds, the audit event with the CLI actor, and that no private key is ever printed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { cliFixture, run, type CliFixture } from './helpers.ts';

describe('gatehouse --help for keys', () => {
  it('lists the keys command with list and rotate', async () => {
    expect((await run(['--help'])).stdout).toMatch(/^ {2}keys\b/m);
    const keys = await run(['keys', '--help']);
    for (const command of ['list', 'rotate']) expect(keys.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });
});

describe.each(backends)('gatehouse keys on $name', (backend) => {
  let fx: CliFixture;
  beforeEach(async () => {
    fx = await cliFixture(backend);
    expect((await fx.cli(['migrate'])).code).toBe(0);
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  it('lists nothing before the first start, then rotates generation after generation with an overlap', async () => {
    expect(await fx.cli(['keys', 'list'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^no keys yet/) });

    // On a store without keys, rotate makes the first generation and then the next.
    const first = await fx.cli(['keys', 'rotate']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^rotated the signing keys: generation 2 signs from now on\n/);
    expect(first.stdout).toMatch(/the previous keys stay published until \d{4}-\d\d-\d\dT/);

    const listed = await fx.cli(['keys', 'list', '--json']);
    const keys = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(keys.map((k) => `${k.generation} ${k.use} ${k.alg} ${String(k.state).split(' ')[0]}`).sort()).toEqual([
      '1 cookie HS256 retiring', '1 sig ES256 retiring', '1 sig RS256 retiring',
      '2 cookie HS256 signing', '2 sig ES256 signing', '2 sig RS256 signing',
    ]);
    for (const key of keys) {
      expect(key).not.toHaveProperty('privateEncrypted');
      expect(JSON.stringify(key)).not.toMatch(/"d":/);
    }
    const table = await fx.cli(['keys', 'list']);
    expect(table.stdout).toMatch(/^KID +USE +ALG +GENERATION +STATE +CREATED\n/);
    expect(table.stdout).toMatch(/ sig +RS256 +2 +signing /);

    const events = await fx.withCore(async (core) => (await core.audit.query({ type: 'oidc.keys.', limit: 10 })).items);
    expect(events.map((e) => e.type)).toEqual(['oidc.keys.rotated', 'oidc.keys.created']);
    expect(events[0]).toMatchObject({ actor: { type: 'cli' }, details: { generation: 2 } });
  });

  it('needs a migrated store and says so in one line', async () => {
    const other = await cliFixture(backend);
    try {
      const result = await other.cli(['keys', 'list']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^gatehouse: the store at .* is not ready: .*migrate/);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await other.cleanup();
    }
  });
});
