/**
 * Network passwords and the MS-CHAPv2 sign-in (issue 14) through the core, on every backend: a
 * generated password shown once and stored encrypted under its own keyring purpose; the pipeline
 * checks an NT-Response made by the peer's side of RFC 2759 (src/credentials/mschapv2.ts, checked
 * against the RFC's own example in test/unit/credentials/mschapv2.test.ts) and returns the
 * Authenticator Response; the main password never works; a suspended person is refused; audited.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticatorResponse, ntPasswordHash, ntResponse } from '../../src/credentials/mschapv2.ts';
import { NETWORK_PASSWORD_PURPOSE } from '../../src/credentials/network-password.ts';
import { PolicyInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const PASSWORD = 'correct horse battery staple, twice over';

describe.each(backends)('network passwords and MS-CHAPv2 ($name)', (backend) => {
  let t: TestCore;
  let alice: { id: string };

  beforeAll(async () => {
    t = await coreFor(backend);
    const d = t.core.directory;
    await d.groups.create(CLI_CTX, { name: 'staff', attributes: {} });
    alice = await d.users.create(CLI_CTX, { username: 'alice', password: PASSWORD, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    await d.users.create(CLI_CTX, { username: 'bob', password: PASSWORD, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'wifi', address: '192.0.2.1/32', secret: 'a shared secret of some length', groups: ['staff'], settings: {} });
    await d.resources.create(CLI_CTX, 'policies', PolicyInput.parse({ name: 'wifi', description: 'staff on WiFi', resources: { protocols: ['radius'] }, action: 'allow' }));
  });
  afterAll(async () => t?.cleanup());

  /** What a peer sends for `password` (RFC 2759 §8.1). */
  const peer = (login: string, password: string) => {
    const authenticatorChallenge = randomBytes(16);
    const peerChallenge = randomBytes(16);
    return { kind: 'mschapv2' as const, login, authenticatorChallenge, peerChallenge, ntResponse: ntResponse(authenticatorChallenge, peerChallenge, login, ntPasswordHash(password)) };
  };
  const attempt = (presented: ReturnType<typeof peer>, requestId?: string) =>
    t.core.signIn.attempt({ presented, resource: 'radius:wifi', protocol: 'radius', clientIp: '192.0.2.50', ...(requestId ? { requestId } : {}) });

  it('generates a long random password, shown once, stored encrypted under its own purpose, replaced by the next', async () => {
    expect(await t.core.networkPasswords.has(alice.id)).toBe(false);
    const first = await t.core.networkPasswords.generate(CLI_CTX, alice.id);
    expect(first.password).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){4}$/);
    const row = await t.store.knex('network_passwords').where({ user_id: alice.id }).first();
    expect(row.password_encrypted).not.toContain(first.password);
    expect(t.core.keyring.decrypt(row.password_encrypted, NETWORK_PASSWORD_PURPOSE)).toBe(first.password);
    expect(() => t.core.keyring.decrypt(row.password_encrypted, 'totp-seed')).toThrow();
    const second = await t.core.networkPasswords.generate(CLI_CTX, alice.id);
    expect(second.password).not.toBe(first.password);
    expect(await t.core.networkPasswords.has(alice.id)).toBe(true);
    const events = (await t.core.audit.query({ type: 'credential.network_password.generated', user: alice.id, limit: 10 })).items;
    expect(events.map((e) => e.details)).toEqual(expect.arrayContaining([{ replaced: false }, { replaced: true }]));
    expect(JSON.stringify(events)).not.toContain(second.password);
  });

  it('signs in with the network password, returns the Authenticator Response and audits one decision', async () => {
    const { password } = await t.core.networkPasswords.generate(CLI_CTX, alice.id);
    const presented = peer('alice', password);
    const result = await attempt(presented, 'mschap-ok');
    expect(result).toMatchObject({ ok: true, decision: { action: 'allow' }, authn: [{ method: 'password' }] });
    if (!result.ok) return;
    expect(result.mschapv2?.authenticatorResponse).toBe(authenticatorResponse(ntPasswordHash(password), presented.ntResponse, presented.peerChallenge, presented.authenticatorChallenge, 'alice'));
    expect(JSON.stringify(result)).not.toContain(ntPasswordHash(password).toString('hex'));
    const events = (await t.core.audit.query({ requestId: 'mschap-ok' })).items;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'access.decision', details: { checks: [{ type: 'authn.network_password' }] } });
  });

  it('refuses a wrong network password, the main password, no network password and bad input', async () => {
    const wrong = await attempt(peer('alice', 'not-the-network-password'), 'mschap-wrong');
    expect(wrong).toMatchObject({ ok: false, reason: { code: 'bad_credentials' } });
    expect(await attempt(peer('alice', PASSWORD))).toMatchObject({ ok: false, reason: { code: 'bad_credentials' } });
    expect(await attempt(peer('bob', PASSWORD))).toMatchObject({ ok: false, reason: { code: 'no_network_password' } });
    expect(await attempt(peer('nobody', PASSWORD))).toMatchObject({ ok: false, reason: { code: 'bad_credentials' } });
    expect(await attempt({ ...peer('alice', PASSWORD), ntResponse: Buffer.alloc(3) })).toMatchObject({ ok: false, reason: { code: 'invalid_input' } });
    const [event] = (await t.core.audit.query({ requestId: 'mschap-wrong' })).items;
    expect(event).toMatchObject({ type: 'authn.network_password', outcome: 'failure', details: { method: 'mschapv2' } });
  });

  it('refuses a suspended person with the right network password, and nobody after removal', async () => {
    const carol = await t.core.directory.users.create(CLI_CTX, { username: 'carol', password: PASSWORD, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    const { password } = await t.core.networkPasswords.generate(CLI_CTX, carol.id);
    expect(await attempt(peer('carol', password))).toMatchObject({ ok: true });
    await t.core.directory.users.suspend(CLI_CTX, 'carol');
    expect(await attempt(peer('carol', password))).toMatchObject({ ok: false, reason: { code: 'suspended' } });
    await t.core.directory.users.activate(CLI_CTX, 'carol');
    expect(await t.core.networkPasswords.remove(CLI_CTX, carol.id)).toBe(true);
    expect(await t.core.networkPasswords.remove(CLI_CTX, carol.id)).toBe(false);
    expect(await attempt(peer('carol', password))).toMatchObject({ ok: false, reason: { code: 'no_network_password' } });
  });
});
