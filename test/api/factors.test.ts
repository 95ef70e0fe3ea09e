/**
 * A user's second factors over the admin API (/api/v1/users/{id}/factors), on every backend: TOTP
 * enrolled and WebAuthn keys registered through the core's services (with a software
 * authenticator), then listed, reset, recovery codes re-issued, keys renamed and removed — each
 * change audited under the API key, no secret in any answer, read-only keys refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { User } from '../../src/directory/model.ts';
import { TotpError } from '../../src/mfa/totp.ts';
import { toProblem } from '../../src/http/problem.ts';
import { SoftwareAuthenticator } from '../helpers/authenticator.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { totpStep } from '../unit/mfa/totp-reference.ts';
import { eventsOf, expectJson, expectNoContent, expectProblem, makeKey, withKey } from './support.ts';

const ORIGIN = 'http://localhost:9090'; // the default mfa.webauthn origin, RP ID localhost
const portal = (user: User): AuditContext => ({ actor: { type: 'user', id: user.id, name: user.username }, protocol: 'portal' });

interface Factors {
  totp: 'none' | 'pending' | 'active';
  recoveryCodesLeft: number;
  webauthn: Array<{ id: string; name: string; createdAt: string; lastUsedAt?: string; deviceType: string; backedUp: boolean; discoverable: boolean; transports: string[] }>;
}

describe.each(backends)('admin API second factors ($name)', (backend) => {
  let server: TestServer;
  let erin: User;
  let frank: User;
  let seed: string;
  let firstCodes: string[];
  const yubikey = new SoftwareAuthenticator({ origin: ORIGIN, discoverable: false, transports: ['usb', 'nfc'] });
  const passkey = new SoftwareAuthenticator({ origin: ORIGIN, backupEligible: true, backedUp: true, transports: ['internal', 'hybrid'] });
  /** Everything secret about erin's factors: none of it may appear in any answer. */
  const secrets: string[] = [];

  const factors = async (user: string) => expectJson<Factors>(await server.api(`/api/v1/users/${user}/factors`), 200);

  async function register(user: User, authenticator: SoftwareAuthenticator, name: string) {
    const { webauthn } = server.gh.core;
    const { challengeId, options } = await webauthn.registrationOptions(portal(user), user);
    const credential = await webauthn.verifyRegistration(portal(user), user, challengeId, authenticator.register(options), name);
    secrets.push(credential.publicKey);
    return credential;
  }

  beforeAll(async () => {
    server = await startTestServer(backend);
    erin = await expectJson<User>(await server.api('/api/v1/users', { method: 'POST', json: { username: 'erin' } }), 201);
    frank = await expectJson<User>(await server.api('/api/v1/users', { method: 'POST', json: { username: 'frank' } }), 201);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a user without factors has none; an unknown user is 404', async () => {
    expect(await factors('erin')).toEqual({ totp: 'none', recoveryCodesLeft: 0, webauthn: [] });
    await expectProblem(await server.api('/api/v1/users/nobody/factors'), 404);
  });

  it('shows TOTP pending after enrolment, active with its recovery codes after confirmation', async () => {
    ({ secret: seed } = await server.gh.core.totp.enrol(portal(erin), erin.id, 'erin@example.com'));
    secrets.push(seed);
    expect(await factors('erin')).toMatchObject({ totp: 'pending', recoveryCodesLeft: 0 });
    ({ recoveryCodes: firstCodes } = await server.gh.core.totp.confirm(portal(erin), erin.id, totpStep(seed, Math.floor(Date.now() / 30_000))));
    secrets.push(...firstCodes);
    expect(await factors(erin.id)).toMatchObject({ totp: 'active', recoveryCodesLeft: firstCodes.length });
    expect(firstCodes).toHaveLength(10);
  });

  it('lists the WebAuthn keys with what an administrator needs, never a public key or counter', async () => {
    await register(erin, yubikey, 'YubiKey 5 NFC');
    await register(erin, passkey, 'Phone passkey');
    const answer = await factors('erin');
    expect(answer.webauthn).toHaveLength(2);
    const byName = Object.fromEntries(answer.webauthn.map((k) => [k.name, k]));
    expect(byName['YubiKey 5 NFC']).toEqual({ id: yubikey.credentialId, name: 'YubiKey 5 NFC', createdAt: expect.any(String), deviceType: 'singleDevice', backedUp: false, discoverable: false, transports: ['usb', 'nfc'] });
    expect(byName['Phone passkey']).toMatchObject({ id: passkey.credentialId, deviceType: 'multiDevice', backedUp: true });
    for (const key of answer.webauthn) expect(Object.keys(key).sort()).toEqual(['backedUp', 'createdAt', 'deviceType', 'discoverable', 'id', 'name', 'transports']);
    const text = JSON.stringify(answer);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });

  it('issues new recovery codes once (the old ones stop working), audited under the key; 409 without active TOTP', async () => {
    const res = await server.api('/api/v1/users/erin/factors/recovery-codes', { method: 'POST' });
    const { recoveryCodes } = await expectJson<{ recoveryCodes: string[] }>(res, 200);
    expect(recoveryCodes).toHaveLength(10);
    expect(recoveryCodes.filter((c) => firstCodes.includes(c))).toEqual([]);
    secrets.push(...recoveryCodes);
    const events = await eventsOf(server, res);
    expect(events).toMatchObject([{ type: 'mfa.recovery_codes.regenerated', outcome: 'success', actor: { type: 'apikey', name: 'bootstrap' }, target: { name: 'erin' } }]);
    expect(JSON.stringify(events)).not.toContain(recoveryCodes[0]);
    expect(await server.gh.core.totp.verify(portal(erin), erin.id, firstCodes[0]!)).toMatchObject({ ok: false, reason: 'invalid_code' });
    expect(await server.gh.core.totp.verify(portal(erin), erin.id, recoveryCodes[0]!)).toEqual({ ok: true, method: 'recovery' });
    expect((await factors('erin')).recoveryCodesLeft).toBe(9);

    const refused = await server.api('/api/v1/users/frank/factors/recovery-codes', { method: 'POST' });
    expect((await expectProblem(refused, 409)).detail).toBe('recovery codes need an active TOTP factor');
    expect(await eventsOf(server, refused)).toMatchObject([{ type: 'mfa.recovery_codes.regenerated', outcome: 'denied', reasons: [{ code: 'not_active' }] }]);
    await expectProblem(await server.api('/api/v1/users/nobody/factors/recovery-codes', { method: 'POST' }), 404);
  });

  it('renames a key (audited), refusing a bad name, another user\'s key and an unknown one', async () => {
    const path = `/api/v1/users/erin/factors/webauthn/${yubikey.credentialId}`;
    const res = await server.api(path, { method: 'PATCH', json: { name: '  Spare YubiKey ' } });
    const renamed = await expectJson(res, 200);
    expect(renamed).toMatchObject({ id: yubikey.credentialId, name: 'Spare YubiKey', discoverable: false });
    expect(renamed).not.toHaveProperty('publicKey');
    expect(await eventsOf(server, res)).toMatchObject([{ type: 'mfa.webauthn.renamed', actor: { type: 'apikey' }, details: { name: 'Spare YubiKey', previousName: 'YubiKey 5 NFC' } }]);

    expect((await expectProblem(await server.api(path, { method: 'PATCH', json: { name: '   ' } }), 400)).errors).toEqual([expect.objectContaining({ path: 'name' })]);
    await expectProblem(await server.api(path, { method: 'PATCH', json: { name: 'x', counter: 0 } }), 400);
    // frank cannot reach erin's key through his own path: not found, not forbidden (existence is not revealed).
    await expectProblem(await server.api(`/api/v1/users/frank/factors/webauthn/${yubikey.credentialId}`, { method: 'PATCH', json: { name: 'mine' } }), 404);
    await expectProblem(await server.api('/api/v1/users/erin/factors/webauthn/AAAAAAAAAAAAAAAAAAAAAA', { method: 'PATCH', json: { name: 'x' } }), 404);
    expect((await expectProblem(await server.api('/api/v1/users/erin/factors/webauthn/not%2Bbase64url', { method: 'PATCH', json: { name: 'x' } }), 400)).errors).toEqual([expect.objectContaining({ path: 'path.credentialId' })]);
    expect((await factors('erin')).webauthn.map((k) => k.name).sort()).toEqual(['Phone passkey', 'Spare YubiKey']);
  });

  it('removes a key (audited); it can no longer sign in; removing it again is 404', async () => {
    const path = `/api/v1/users/erin/factors/webauthn/${passkey.credentialId}`;
    await expectProblem(await server.api(`/api/v1/users/frank/factors/webauthn/${passkey.credentialId}`, { method: 'DELETE' }), 404);
    const res = await server.api(path, { method: 'DELETE' });
    await expectNoContent(res);
    expect(await eventsOf(server, res)).toMatchObject([{ type: 'mfa.webauthn.deleted', actor: { type: 'apikey' }, details: { credentialId: passkey.credentialId, name: 'Phone passkey' } }]);
    expect((await factors('erin')).webauthn.map((k) => k.id)).toEqual([yubikey.credentialId]);
    const { webauthn } = server.gh.core;
    const { challengeId, options } = await webauthn.authenticationOptions(portal(erin));
    expect(await webauthn.verifyAuthentication(portal(erin), challengeId, passkey.authenticate(options))).toMatchObject({ ok: false, reason: 'credential_unknown' });
    await expectProblem(await server.api(path, { method: 'DELETE' }), 404);
  });

  it('resets TOTP and the recovery codes (audited); a second reset is 404', async () => {
    const res = await server.api('/api/v1/users/erin/factors/totp', { method: 'DELETE' });
    await expectNoContent(res);
    expect(await eventsOf(server, res)).toMatchObject([{ type: 'mfa.totp.reset', outcome: 'success', actor: { type: 'apikey', name: 'bootstrap' }, target: { name: 'erin' }, details: { totp: true, recoveryCodes: 9 } }]);
    expect(await factors('erin')).toMatchObject({ totp: 'none', recoveryCodesLeft: 0, webauthn: [expect.objectContaining({ id: yubikey.credentialId })] });
    expect(await server.gh.core.totp.verify(portal(erin), erin.id, totpStep(seed, Math.floor(Date.now() / 30_000)))).toMatchObject({ ok: false, reason: 'no_factor' });

    const again = await server.api('/api/v1/users/erin/factors/totp', { method: 'DELETE' });
    expect((await expectProblem(again, 404)).detail).toBe("TOTP factor of user 'erin' not found");
    expect(await eventsOf(server, again)).toEqual([]);
    await expectProblem(await server.api('/api/v1/users/nobody/factors/totp', { method: 'DELETE' }), 404);

    // A pending enrolment alone is reset too.
    await server.gh.core.totp.enrol(portal(frank), frank.id, 'frank');
    await expectNoContent(await server.api('/api/v1/users/frank/factors/totp', { method: 'DELETE' }));
    expect((await factors('frank')).totp).toBe('none');
  });

  it('generates a network password once (201), replaces it, removes it (204, then 404); audited without the password', async () => {
    const first = await expectJson<{ password: string; createdAt: string }>(await server.api('/api/v1/users/frank/network-password', { method: 'POST' }), 201);
    expect(first.password).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){4}$/);
    const second = await expectJson<{ password: string }>(await server.api(`/api/v1/users/${frank.id}/network-password`, { method: 'POST' }), 201);
    expect(second.password).not.toBe(first.password);
    expect(await server.gh.core.networkPasswords.has(frank.id)).toBe(true);
    await expectProblem(await server.api('/api/v1/users/nobody/network-password', { method: 'POST' }), 404);
    await expectNoContent(await server.api('/api/v1/users/frank/network-password', { method: 'DELETE' }));
    await expectProblem(await server.api('/api/v1/users/frank/network-password', { method: 'DELETE' }), 404);
    const events = (await server.gh.core.audit.query({ user: frank.id, limit: 100 })).items.filter((e) => e.type.startsWith('credential.network_password'));
    expect(events.map((e) => e.type).sort()).toEqual(['credential.network_password.generated', 'credential.network_password.generated', 'credential.network_password.removed']);
    expect(events.every((e) => e.actor.type === 'apikey')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(second.password);
    const reader = withKey(server, await makeKey(server, 'netpw-reader', ['read']));
    await expectProblem(await reader('/api/v1/users/frank/network-password', { method: 'POST' }), 403);
  });

  it('a read-only key may list factors but change none (403)', async () => {
    const reader = withKey(server, await makeKey(server, 'reader', ['read']));
    expect(await expectJson(await reader('/api/v1/users/erin/factors'), 200)).toMatchObject({ totp: 'none' });
    await expectProblem(await reader('/api/v1/users/erin/factors/totp', { method: 'DELETE' }), 403);
    await expectProblem(await reader('/api/v1/users/erin/factors/recovery-codes', { method: 'POST' }), 403);
    await expectProblem(await reader(`/api/v1/users/erin/factors/webauthn/${yubikey.credentialId}`, { method: 'PATCH', json: { name: 'x' } }), 403);
    await expectProblem(await reader(`/api/v1/users/erin/factors/webauthn/${yubikey.credentialId}`, { method: 'DELETE' }), 403);
    expect((await factors('erin')).webauthn).toMatchObject([{ name: 'Spare YubiKey' }]);
  });
});

describe('TOTP refusals as problem details', () => {
  it('maps bad input to 400, the wrong state to 409, throttling to 429 with Retry-After', () => {
    for (const code of ['invalid_label', 'invalid_format', 'invalid_code'] as const) expect(toProblem(new TotpError(code, 'bad')).problem.status).toBe(400);
    for (const code of ['already_active', 'not_pending', 'not_active'] as const) expect(toProblem(new TotpError(code, 'state')).problem).toMatchObject({ status: 409, title: 'Conflict', detail: 'state' });
    const throttled = toProblem(new TotpError('throttled', 'too many failed attempts: wait before trying again', 42));
    expect(throttled).toMatchObject({ problem: { status: 429, title: 'Too many requests' }, headers: { 'Retry-After': '42' }, unexpected: false });
  });
});
