/**
 * Re-encrypting the keyring's ciphertexts (src/secrets/rotation.ts over the store's `ciphertexts`),
 * on every backend: pages of every kind in order, the compare-and-swap that lets a concurrent change
 * win (TOTP seed, RADIUS client whose ciphertext lives in its JSON), and a re-encryption racing
 * re-enrolments and secret changes that loses none of them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCore, type Core } from '../../src/core.ts';
import { RADIUS_SECRET_PURPOSE } from '../../src/directory/resources.ts';
import type { RadiusClient } from '../../src/directory/model.ts';
import { createLogger } from '../../src/log.ts';
import { TOTP_SEED_PURPOSE } from '../../src/mfa/totp.ts';
import { Keyring } from '../../src/secrets/keyring.ts';
import { KeyringRotation } from '../../src/secrets/rotation.ts';
import type { StoredRadiusClient } from '../../src/store/types.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { TEST_SECRET_KEY } from '../helpers/config.ts';

const NEXT = { id: 'next', key: randomBytes(32).toString('base64') };
const OLD = { id: 'test', key: TEST_SECRET_KEY };

describe.each(backends)('keyring rotation over the store ($name)', (backend) => {
  let t: TestCore;
  /** The same store with [next, test]: what an operator configures to rotate. */
  let rotated: Core;
  const users: Array<{ id: string; username: string }> = [];

  beforeAll(async () => {
    t = await coreFor(backend);
    rotated = createCore(t.config, t.store, new Keyring([NEXT, OLD]), createLogger('silent'));
    for (let i = 0; i < 23; i++) {
      const user = await t.core.directory.users.create(CLI_CTX, { username: `u${String(i).padStart(2, '0')}`, status: 'active', sshPublicKeys: [], attributes: {} });
      await t.core.totp.enrol(CLI_CTX, user.id, `${user.username}@example.com`);
      users.push(user);
    }
  });
  afterAll(async () => t?.cleanup());

  const seedOf = async (userId: string) => (await t.store.directory.factors.getTotp(userId))!.seedEncrypted;

  it('pages through a kind in order, every row once, with the name an operator knows', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await t.store.directory.ciphertexts.page('totp-seed', after, 5);
      expect(page.items.length).toBeLessThanOrEqual(5);
      seen.push(...page.items.map((i) => i.name));
      for (const item of page.items) expect(item.ciphertext).toBe(await seedOf(item.ref));
      after = page.next;
      pages++;
    } while (after !== undefined);
    expect(pages).toBe(5);
    expect(seen.sort()).toEqual(users.map((u) => u.username).sort());
  });

  it('swaps a ciphertext only while it is still the one read', async () => {
    const user = users[0]!;
    const read = await seedOf(user.id);
    // A re-enrolment in between: the swap must not put the old seed back.
    await t.core.totp.enrol(CLI_CTX, user.id, 'again@example.com');
    const current = await seedOf(user.id);
    expect(current).not.toBe(read);
    expect(await t.store.directory.ciphertexts.swap('totp-seed', user.id, read, rotated.keyring.encrypt('x', TOTP_SEED_PURPOSE))).toBe(false);
    expect(await seedOf(user.id)).toBe(current);

    // A RADIUS client keeps its ciphertext in the object's JSON: a secret changed meanwhile wins; the version never moves.
    const client = (await t.core.directory.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '192.0.2.1/32', secret: 'first shared secret', groups: [], settings: {} })) as RadiusClient;
    const stored = async () => (await t.store.directory.radiusClients.get(client.id)) as StoredRadiusClient;
    const before = await stored();
    await t.core.directory.resources.update(CLI_CTX, 'radiusClients', 'vpn', { secret: 'second shared secret' });
    const changed = await stored();
    expect(await t.store.directory.ciphertexts.swap('radius-client-secret', client.id, before.secretEncrypted, rotated.keyring.encrypt('first shared secret', RADIUS_SECRET_PURPOSE))).toBe(false);
    expect(await stored()).toEqual(changed);
    const next = rotated.keyring.encrypt('second shared secret', RADIUS_SECRET_PURPOSE);
    expect(await t.store.directory.ciphertexts.swap('radius-client-secret', client.id, changed.secretEncrypted, next)).toBe(true);
    const after = await stored();
    expect(after).toEqual({ ...changed, secretEncrypted: next });
    expect(rotated.directory.radiusClients.secretOf(after)).toBe('second shared secret');
    await t.core.directory.resources.delete(CLI_CTX, 'radiusClients', 'vpn');
  });

  it('re-encrypts everything beside concurrent re-enrolments, losing none of them', async () => {
    const rotation = new KeyringRotation({ store: t.store, keyring: rotated.keyring, auditor: rotated.audit }, { pageSize: 4 });
    const racing = users.slice(5, 15);
    const secrets = new Map<string, string>();
    const [result] = await Promise.all([
      rotation.reencrypt(CLI_CTX),
      (async () => {
        for (const user of racing) {
          // A server still on the old key writes a new seed (under 'test') while the rotation runs.
          secrets.set(user.id, (await t.core.totp.enrol(CLI_CTX, user.id, 'raced@example.com')).secret);
        }
      })(),
    ]);
    // Every racing re-enrolment survived, whatever key it ended under.
    for (const user of racing) expect(rotated.keyring.decrypt(await seedOf(user.id), TOTP_SEED_PURPOSE)).toBe(secrets.get(user.id));
    const totp = result.kinds.find((k) => k.kind === 'totp-seed')!;
    expect(totp.reencrypted + totp.current + totp.changed).toBe(users.length);
    expect(totp.failed).toBe(0);

    // The seeds the racing server wrote under 'test' after the pass went by: a second run picks them up.
    const again = await rotation.reencrypt(CLI_CTX);
    expect(again.complete).toBe(true);
    expect(again.after.toReencrypt).toBe(0);
    for (const user of racing) expect(rotated.keyring.decrypt(await seedOf(user.id), TOTP_SEED_PURPOSE)).toBe(secrets.get(user.id));
    for (const user of users) expect(await seedOf(user.id)).toMatch(/^v1\.next\./);
    const status = await rotation.status({ verify: true });
    expect(status).toMatchObject({ primary: 'next', toReencrypt: 0, unreadable: 0, unused: ['test'] });
    expect(status.kinds.find((k) => k.kind === 'totp-seed')).toMatchObject({ total: users.length, byKey: { next: users.length }, undecryptable: 0 });
  });
});
