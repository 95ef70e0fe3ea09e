/**
 * `gatehouse keyring status|reencrypt`, against both backends: secrets of every kind made under key
 * A (TOTP seed, network passwords, RADIUS client secrets, signing and cookie keys, the device CA key,
 * a sealed TTL entry), the configuration changed to [B, A], status, re-encryption, status again,
 * then the configuration with B alone: every secret still works (a TOTP code verifies, the NT hash
 * is right, the RADIUS secret decrypts, the CA signs a CRL, the keys sign, the real server starts).
 * And the hostile case: tampered ciphertexts (under the old key, and under the new one, which no
 * pass would touch), one under a key that is not configured, a damaged one: named, left byte for
 * byte as they were, exit code 1, everything else re-encrypted.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCore, type Core } from '../../src/core.ts';
import { ntPasswordHash } from '../../src/credentials/mschapv2.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { createLogger } from '../../src/log.ts';
import { TOTP_SEED_PURPOSE } from '../../src/mfa/totp.ts';
import { Keyring, type KeySpec } from '../../src/secrets/keyring.ts';
import type { KeyringStatus, ReencryptResult } from '../../src/secrets/rotation.ts';
import { openStore, type KnexStore } from '../../src/store/open.ts';
import type { StoredRadiusClient } from '../../src/store/types.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { totpStep } from '../unit/mfa/totp-reference.ts';
import { cliFixture, killIfRunning, run, startCli, testYamlConfig, type CliFixture, type RunningCli } from './helpers.ts';

const A: KeySpec = { id: 'a', key: randomBytes(32).toString('base64') };
const B: KeySpec = { id: 'b', key: randomBytes(32).toString('base64') };
const LISTENER = /^ {2}http \(admin API[^)]*\): (http:\/\/\S+)$/m;
const RADIUS_SECRETS = { vpn: 'vpn shared secret 0123456789', wifi: 'wifi shared secret 9876543210' };
const step = () => Math.floor(Date.now() / 30_000);

describe('gatehouse --help for keyring', () => {
  it('lists the keyring command with status and reencrypt, and the rotation steps', async () => {
    expect((await run(['--help'])).stdout).toMatch(/^ {2}keyring\b/m);
    const help = await run(['keyring', '--help']);
    for (const command of ['status', 'reencrypt']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(help.stdout).toMatch(/Add the new key to secrets\.keys AFTER the current one/);
    expect(help.stdout).toMatch(/Remove the old key from secrets\.keys/);
  });
});

describe.each(backends)('gatehouse keyring on $name', (backend) => {
  let fx: CliFixture;
  let server: RunningCli | undefined;
  beforeEach(async () => {
    fx = await cliFixture(backend);
    fx.writeConfig({ secrets: { keys: [A] } });
    expect((await fx.cli(['migrate'])).code).toBe(0);
  });
  afterEach(async () => {
    await killIfRunning(server);
    server = undefined;
    await fx.cleanup();
  });

  /** The core over the fixture's store with these keys (what a server configured so would have). */
  async function withKeys<T>(keys: KeySpec[], work: (core: Core, store: KnexStore) => Promise<T>): Promise<T> {
    const config = ConfigSchema.parse(testYamlConfig(fx.url, { secrets: { keys } }));
    const store = await openStore(fx.url);
    try {
      return await work(createCore(config, store, new Keyring(keys), createLogger('silent')), store);
    } finally {
      await store.close();
    }
  }

  const status = async () => {
    const result = await fx.cli(['keyring', 'status', '--json']);
    return { ...result, status: JSON.parse(result.stdout) as KeyringStatus };
  };
  const byKind = (s: KeyringStatus) => Object.fromEntries(s.kinds.map((k) => [k.kind, k.byKey]));

  /** Secrets of every kind under key A: through the CLI where it makes them, else through the core. */
  async function secretsUnderA() {
    expect((await fx.cli(['keys', 'rotate'])).code).toBe(0); // two generations of signing and cookie keys
    expect((await fx.cli(['ca', 'show'])).code).toBe(0); // the device CA
    return withKeys([A], async (core) => {
      const d = core.directory;
      const alice = await d.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {} });
      const bob = await d.users.create(CLI_CTX, { username: 'bob', status: 'active', sshPublicKeys: [], attributes: {} });
      const { secret: seed } = await core.totp.enrol(CLI_CTX, alice.id, 'alice@example.com');
      const confirmedAt = step();
      await core.totp.confirm(CLI_CTX, alice.id, totpStep(seed, confirmedAt));
      const passwords = { alice: (await core.networkPasswords.generate(CLI_CTX, alice.id)).password, bob: (await core.networkPasswords.generate(CLI_CTX, bob.id)).password };
      for (const [name, secret] of Object.entries(RADIUS_SECRETS)) {
        await d.resources.create(CLI_CTX, 'radiusClients', { name, address: name === 'vpn' ? '192.0.2.1/32' : '192.0.2.2/32', secret, groups: [], settings: {} });
      }
      // A value shown once in the portal, sealed in the TTL store: transient, counted, never re-encrypted.
      await core.kv('web').put('flash:handle:network-password', core.keyring.encrypt('"shown once"', 'web-flash'), 600);
      return { alice, bob, seed, confirmedAt, passwords };
    });
  }

  it('rotates every stored secret from A to B; with B alone everything still works and the server starts', async () => {
    const made = await secretsUnderA();
    const underA = { 'totp-seed': { a: 1 }, 'network-password': { a: 2 }, 'radius-client-secret': { a: 2 }, 'signing-key': { a: 4 }, 'cookie-key': { a: 2 }, 'ca-key': { a: 1 } };

    // 1. The new key first, the old one still listed.
    fx.writeConfig({ secrets: { keys: [B, A] } });
    const before = await status();
    expect(before.code, before.stderr).toBe(0);
    expect(byKind(before.status)).toEqual(underA);
    expect(before.status).toMatchObject({ primary: 'b', configured: ['b', 'a'], toReencrypt: 12, unreadable: 0, unknownKeys: [], unused: [] });
    expect(before.status.transient).toEqual([{ area: 'web:flash', total: 1, byKey: { a: 1 }, oldKeysGoneBy: expect.stringMatching(/^\d{4}-/) }]);
    const table = await fx.cli(['keyring', 'status']);
    expect(table.stdout).toMatch(/^STORED SECRETS +TOTAL +b \(primary\) +a\n/);
    expect(table.stdout).toMatch(/^TOTP seeds +1 +0 +1$/m);
    expect(table.stdout).toMatch(/^12 stored secrets under an older key: run `gatehouse keyring reencrypt`$/m);

    // 2. Re-encryption, page by page (3 at a time here), audited with the counts.
    const reencrypted = await fx.cli(['keyring', 'reencrypt', '--page-size', '3']);
    expect(reencrypted.code, reencrypted.stderr).toBe(0);
    expect(reencrypted.stdout).toMatch(/^re-encrypted 12 stored secrets under the primary key 'b'\n/);
    expect(reencrypted.stdout).toMatch(/^network passwords \(PEAP\) +2 +0 +0 +0$/m);
    expect(reencrypted.stdout).toMatch(/every stored secret is under 'b' now: 'a' can be removed/);
    expect(reencrypted.stderr).toBe('');
    const [event] = await withKeys([B, A], async (core) => (await core.audit.query({ type: 'keyring.reencrypted' })).items);
    expect(event).toMatchObject({
      outcome: 'success', actor: { type: 'cli' }, target: { type: 'keyring', name: 'b' },
      details: { primary: 'b', reencrypted: 12, failed: 0, remaining: 0, complete: true, kinds: { 'totp-seed': { reencrypted: 1, current: 0, changed: 0, failed: 0 }, 'signing-key': { reencrypted: 4 } } },
    });
    const logged = JSON.stringify(event);
    for (const secret of [made.seed, made.passwords.alice, made.passwords.bob, ...Object.values(RADIUS_SECRETS)]) expect(logged).not.toContain(secret);
    expect(logged).not.toMatch(/v1\.[ab]\./);

    // Again: nothing left to do, still complete.
    const rerun = JSON.parse((await fx.cli(['keyring', 'reencrypt', '--json'])).stdout) as ReencryptResult;
    expect(rerun.complete).toBe(true);
    expect(rerun.kinds.map((k) => [k.kind, k.reencrypted, k.current])).toEqual([
      ['totp-seed', 0, 1], ['network-password', 0, 2], ['radius-client-secret', 0, 2], ['signing-key', 0, 4], ['cookie-key', 0, 2], ['ca-key', 0, 1],
    ]);

    // 3. Status: every stored secret under B; A is unused but for the transient entry (which expires by itself).
    const after = await status();
    expect(after.code).toBe(0);
    expect(byKind(after.status)).toEqual(Object.fromEntries(Object.entries(underA).map(([kind, { a }]) => [kind, { b: a }])));
    expect(after.status).toMatchObject({ toReencrypt: 0, unreadable: 0, unused: ['a'], transient: [{ area: 'web:flash', byKey: { a: 1 } }] });
    expect((await fx.cli(['keyring', 'status'])).stdout).toMatch(/^no stored secret uses 'a': remove it from secrets\.keys after \d{4}-.*\(transient entries\)$/m);

    // 4. B alone: everything decrypts and works.
    fx.writeConfig({ secrets: { keys: [B] } });
    const verified = await fx.cli(['keyring', 'status', '--verify']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^every stored secret is under the primary key 'b'$/m);
    await withKeys([B], async (core, store) => {
      const code = totpStep(made.seed, Math.max(step(), made.confirmedAt + 1));
      expect(await core.totp.verify(CLI_CTX, made.alice.id, code)).toEqual({ ok: true, method: 'totp' });
      expect(await core.networkPasswords.ntHashOf(made.alice.id)).toEqual(ntPasswordHash(made.passwords.alice));
      expect(await core.networkPasswords.ntHashOf(made.bob.id)).toEqual(ntPasswordHash(made.passwords.bob));
      for (const [name, secret] of Object.entries(RADIUS_SECRETS)) {
        expect(core.directory.radiusClients.secretOf((await store.directory.radiusClients.findByName(name)) as StoredRadiusClient)).toBe(secret);
      }
      await core.devices.init();
      expect(await core.devices.authority.crlPem()).toMatch(/^-----BEGIN X509 CRL-----/);
      // Every private signing key still signs what its public key verifies.
      const keys = await core.signingKeys({ algorithms: ['RS256', 'ES256'], rotationOverlapHours: 24 }).load();
      expect(keys.jwks.keys).toHaveLength(4);
      expect(keys.cookieKeys).toHaveLength(2);
      for (const jwk of keys.jwks.keys) {
        const privateKey = createPrivateKey({ key: jwk as never, format: 'jwk' });
        const signature = sign('sha256', Buffer.from('rotated'), privateKey);
        expect(verify('sha256', Buffer.from('rotated'), createPublicKey(privateKey), signature)).toBe(true);
      }
    });
    // The real server starts with B alone (it decrypts the CA key and the signing keys at start) and publishes the keys.
    server = startCli(['-c', fx.configFile, 'start']);
    const url = (await server.waitFor(LISTENER))[1]!;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const jwks = (await (await fetch(`${url}/oidc/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.length).toBeGreaterThan(0);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('names tampered ciphertexts, one under a key that is not configured and a damaged one, leaves them as they were, and exits 1', async () => {
    const made = await secretsUnderA();
    await withKeys([A], async (_core, store) => {
      // alice's network password tampered with (one byte of its payload), bob's TOTP seed under a key 'x' no configuration has.
      const row = await store.knex('network_passwords').where({ user_id: made.alice.id }).first();
      const payload = (row.password_encrypted as string).split('.')[2]!;
      const flipped = `v1.a.${payload.slice(0, 20)}${payload[20] === 'A' ? 'B' : 'A'}${payload.slice(21)}`;
      await store.knex('network_passwords').where({ user_id: made.alice.id }).update({ password_encrypted: flipped });
      const foreign = new Keyring([{ id: 'x', key: randomBytes(32).toString('base64') }]).encrypt('JBSWY3DPEHPK3PXP', TOTP_SEED_PURPOSE);
      await store.knex('totp_factors').insert({ user_id: made.bob.id, seed_encrypted: foreign, created_at: Date.now(), confirmed_at: Date.now(), last_step: null });
      // The wifi client's secret damaged inside its JSON.
      const wifi = await store.knex('radius_clients').where({ name: 'wifi' }).first();
      await store.knex('radius_clients').where({ name: 'wifi' }).update({ data: JSON.stringify({ ...JSON.parse(wifi.data as string), secretEncrypted: 'garbage' }) });
      // The CA key under the new key B already, tampered with: re-encryption passes it by, its final count must not.
      const ca = new Keyring([B]).encrypt('not the CA key', 'device-ca-key');
      await store.knex('certificate_authorities').update({ key_encrypted: `${ca.slice(0, -6)}${ca.at(-6) === 'A' ? 'B' : 'A'}${ca.slice(-5)}` });
    });
    const raw = () =>
      withKeys([A], async (_core, store) => ({
        alice: (await store.knex('network_passwords').where({ user_id: made.alice.id }).first()).password_encrypted as string,
        bob: (await store.knex('totp_factors').where({ user_id: made.bob.id }).first()).seed_encrypted as string,
        wifi: (await store.knex('radius_clients').where({ name: 'wifi' }).first()) as Record<string, unknown>,
        ca: (await store.knex('certificate_authorities').first()).key_encrypted as string,
      }));
    const untouched = await raw();

    fx.writeConfig({ secrets: { keys: [B, A] } });
    // Without --verify, status sees the unknown key and the damaged one (the tampered ones name configured keys).
    const plain = await fx.cli(['keyring', 'status']);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/^STORED SECRETS +TOTAL +b \(primary\) +a +x \(NOT CONFIGURED\) +MALFORMED\n/);
    expect(plain.stdout).toContain("  totp-seed bob: encrypted with key 'x', which is not configured\n");
    expect(plain.stdout).toContain('  radius-client-secret wifi: not a Gatehouse ciphertext (damaged)\n');
    expect(plain.stderr).toBe('gatehouse: 2 stored secrets cannot be decrypted with the configured keys\n');
    const checked = await fx.cli(['keyring', 'status', '--verify', '--json']);
    expect(checked.code).toBe(1);
    const verified = JSON.parse(checked.stdout) as KeyringStatus;
    expect(verified).toMatchObject({ unreadable: 4, unknownKeys: ['x'], toReencrypt: 9 });
    expect(verified.problems).toEqual([
      { kind: 'totp-seed', name: 'bob', keyId: 'x', problem: 'unknown_key' },
      { kind: 'network-password', name: 'alice', keyId: 'a', problem: 'does_not_decrypt' },
      { kind: 'radius-client-secret', name: 'wifi', problem: 'malformed' },
      { kind: 'ca-key', name: 'device', keyId: 'b', problem: 'does_not_decrypt' },
    ]);

    const result = await fx.cli(['keyring', 'reencrypt']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^re-encrypted 9 stored secrets under the primary key 'b'\n/);
    expect(result.stdout).toMatch(/^cannot be decrypted \(left as they are\):\n {2}totp-seed bob: encrypted with key 'x', which is not configured\n {2}network-password alice: does not decrypt with key 'a'/m);
    expect(result.stderr).toMatch(/gatehouse: the rotation is incomplete: 4 stored secrets cannot be decrypted\n$/);
    expect(result.stdout).toContain("  ca-key device: does not decrypt with key 'b'");
    expect(result.stdout).not.toMatch(/every stored secret is under/);
    // Nothing half-written: the three are byte for byte as they were; everything else moved to B.
    expect(await raw()).toEqual(untouched);
    const after = await status();
    expect(after.code).toBe(1);
    expect(byKind(after.status)).toMatchObject({ 'totp-seed': { b: 1, x: 1 }, 'network-password': { a: 1, b: 1 }, 'radius-client-secret': { b: 1 }, 'signing-key': { b: 4 }, 'cookie-key': { b: 2 }, 'ca-key': { b: 1 } });
    const [event] = await withKeys([B, A], async (core) => (await core.audit.query({ type: 'keyring.reencrypted' })).items);
    expect(event).toMatchObject({ outcome: 'failure', details: { reencrypted: 9, failed: 3, remaining: 4, complete: false, kinds: { 'ca-key': { current: 1, failed: 0 } } } });
    // What was re-encrypted works with B alone.
    await withKeys([B], async (core) => {
      expect(await core.networkPasswords.ntHashOf(made.bob.id)).toEqual(ntPasswordHash(made.passwords.bob));
      expect(await core.totp.verify(CLI_CTX, made.alice.id, totpStep(made.seed, Math.max(step(), made.confirmedAt + 1)))).toEqual({ ok: true, method: 'totp' });
    });
  });
});
