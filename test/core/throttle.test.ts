/**
 * The throttle through the core, on both stores: attempts reserved before the hash is verified (no
 * race lets concurrent guesses past the allowance), attempts from a familiar place counted apart
 * (an attacker elsewhere cannot hold the person back), an address counter per kind of secret, and
 * per-network allowances for addresses that speak for many people.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PasswordHasher } from '../../src/credentials/password.ts';
import type { Device } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const PASSWORD = 'quiet-harbour-lamp-77';
const WRONG = 'not-the-password-at-all';
const ctx = (ip: string) => ({ actor: { type: 'anonymous' as const }, sourceIp: ip, protocol: 'ldap' });

describe.each(backends)('throttle ($name)', (backend) => {
  let t: TestCore;
  beforeAll(async () => {
    t = await coreFor(backend, {
      throttle: { freeAttempts: 3, freeAttemptsPerIp: 10, baseDelaySeconds: 30, maxDelaySeconds: 900, networks: [{ network: 'nas', freeAttemptsPerIp: 500 }] },
    });
    await t.core.directory.resources.create(CLI_CTX, 'networks', { name: 'nas', cidrs: ['192.0.2.0/28'], risky: false } as never);
  });
  afterAll(async () => t?.cleanup());

  const user = (username: string) => t.core.directory.users.create(CLI_CTX, { username, status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
  const signIn = (login: string, ip: string, password: string, device?: Device, certificate = true) =>
    t.core.signIn.attempt({ presented: { kind: 'password', login, password }, resource: 'portal', clientIp: ip, ...(device ? { device: async () => ({ device, certificate }) } : {}) });

  it('verifies exactly the free allowance of 100 concurrent wrong passwords, for one account and for one address', async () => {
    await user('erin');
    const verify = vi.spyOn(PasswordHasher.prototype, 'verify');
    const dummy = vi.spyOn(PasswordHasher.prototype, 'dummyVerify');
    try {
      const guesses = await Promise.all(Array.from({ length: 100 }, () => t.core.passwords.authenticate({ username: 'erin', password: WRONG, context: ctx('198.51.100.40') })));
      expect(verify).toHaveBeenCalledTimes(3);
      expect(guesses.filter((g) => g.reasons[0]?.code === 'throttled')).toHaveLength(97);
      // The refused attempts were taken back: the counter holds the three failures.
      expect((await t.core.throttle.failures({ user: 'erin' })).user?.count).toBe(3);
      expect(await t.core.passwords.authenticate({ username: 'erin', password: PASSWORD, context: ctx('198.51.100.40') })).toMatchObject({ reasons: [{ code: 'throttled' }] });

      // A spray from one address: 100 names at once, exactly the address's 10 verified.
      await Promise.all(Array.from({ length: 100 }, (_, i) => t.core.passwords.authenticate({ username: `ghost${i}`, password: WRONG, context: ctx('198.51.100.41') })));
      expect(dummy).toHaveBeenCalledTimes(10);
      expect((await t.core.throttle.failures({ ip: '198.51.100.41' })).ip?.count).toBe(10);
    } finally {
      verify.mockRestore();
      dummy.mockRestore();
    }

    // A good sign-in leaves no trace on its address's counter: same count, time and expiry.
    for (let i = 0; i < 4; i++) await t.core.passwords.authenticate({ username: `nobody${i}`, password: WRONG, context: ctx('198.51.100.42') });
    const before = (await t.core.throttle.failures({ ip: '198.51.100.42' })).ip;
    await user('emma');
    expect((await t.core.passwords.authenticate({ username: 'emma', password: PASSWORD, context: ctx('198.51.100.42') })).outcome).toBe('success');
    expect((await t.core.throttle.failures({ ip: '198.51.100.42' })).ip).toEqual(before);
  });

  it('counts attempts from a familiar place apart: an attacker elsewhere keeps the account backed off while the owner signs in at once', async () => {
    await user('fiona');
    // Fiona signed in from the office before: the risk memory knows its address range for her.
    expect(await signIn('fiona', '198.51.100.50', PASSWORD)).toMatchObject({ ok: true, decision: { action: 'allow' } });
    for (let i = 0; i < 3; i++) expect(await signIn('fiona', '203.0.113.66', WRONG)).toMatchObject({ ok: false, reason: { code: 'bad_credentials' } });
    // From elsewhere even the right password now waits.
    expect(await signIn('fiona', '203.0.113.66', PASSWORD)).toMatchObject({ ok: false, reason: { code: 'throttled' }, retryAfterSeconds: expect.any(Number) });
    // Fiona, from another address of the office range, at once.
    expect(await signIn('fiona', '198.51.100.51', PASSWORD)).toMatchObject({ ok: true, decision: { action: 'allow' } });
    // Her success forgives her own place's failures only: the attacker's back-off runs on.
    expect(await signIn('fiona', '203.0.113.67', PASSWORD)).toMatchObject({ ok: false, reason: { code: 'throttled' } });

    const events = (await t.store.directory.audit.query({ user: 'fiona', limit: 100 })).items;
    expect(events.find((e) => e.type === 'authn.password' && e.reasons[0]?.code === 'throttled')).toMatchObject({ details: { familiar: false, retryAfterSeconds: expect.any(Number) } });
    const allowed = events.filter((e) => e.type === 'access.decision' && e.outcome === 'success');
    expect(allowed.map((e) => (e.details as { checks: Array<{ details: { familiar?: boolean } }> }).checks[0]!.details.familiar).sort()).toEqual([false, true]);
  });

  it('counts an attempt with the certificate of a device the person signed in with as familiar, wherever it comes from', async () => {
    await user('gina');
    const own = (await t.core.directory.resources.create(CLI_CTX, 'devices', { name: 'gina-laptop', owners: ['gina'], platform: 'macos', managed: true, posture: {}, attributes: {} } as never)) as Device;
    const other = (await t.core.directory.resources.create(CLI_CTX, 'devices', { name: 'kiosk', owners: [], platform: 'macos', managed: true, posture: {}, attributes: {} } as never)) as Device;
    expect(await signIn('gina', '198.51.100.70', PASSWORD, own)).toMatchObject({ ok: true });
    for (let i = 0; i < 3; i++) await signIn('gina', '203.0.113.80', WRONG);
    // Travelling: an address she never used, with her laptop's certificate.
    expect(await signIn('gina', '192.0.2.200', PASSWORD, own)).toMatchObject({ ok: true, decision: { action: 'allow' } });
    // Not a certificate, or not her device: counted with the attempts from anywhere.
    expect(await signIn('gina', '100.64.1.1', PASSWORD, own, false)).toMatchObject({ ok: false, reason: { code: 'throttled' } });
    expect(await signIn('gina', '100.64.2.2', PASSWORD, other)).toMatchObject({ ok: false, reason: { code: 'throttled' } });
  });

  it('keeps an address counter per kind of secret', async () => {
    for (let i = 0; i < 10; i++) await t.core.passwords.authenticate({ username: `stranger${i}`, password: WRONG, context: ctx('198.51.100.60') });
    expect(await t.core.throttle.check({ ip: '198.51.100.60' })).toMatchObject({ allowed: false, scope: 'ip' });
    for (const kind of ['apikey', 'device-code', 'client-secret', 'mfa', 'passkey'] as const) expect(await t.core.throttle.check({ ip: '198.51.100.60', kind })).toMatchObject({ allowed: true });
  });

  it("applies a listed network's allowance to the sign-in pages' second-factor step too", async () => {
    for (let i = 0; i < 30; i++) await t.core.throttle.failure({ kind: 'mfa', ip: '192.0.2.6' });
    expect(await t.core.throttle.check({ kind: 'mfa', ip: '192.0.2.6' })).toMatchObject({ allowed: true });
    for (let i = 0; i < 10; i++) await t.core.throttle.failure({ kind: 'mfa', ip: '192.0.2.101' });
    expect(await t.core.throttle.check({ kind: 'mfa', ip: '192.0.2.101' })).toMatchObject({ allowed: false, scope: 'ip' });
    // Apart from the address's sign-ins.
    expect(await t.core.throttle.check({ ip: '192.0.2.101' })).toMatchObject({ allowed: true });
  });

  it('gives the addresses of a listed network their own allowance (an LDAP client host binding for many people)', async () => {
    for (let i = 0; i < 30; i++) await t.core.passwords.authenticate({ username: `sssd${i}`, password: WRONG, context: ctx('192.0.2.5') });
    expect(await t.core.throttle.check({ ip: '192.0.2.5' })).toMatchObject({ allowed: true });
    for (let i = 0; i < 10; i++) await t.core.passwords.authenticate({ username: `outside${i}`, password: WRONG, context: ctx('192.0.2.100') });
    expect(await t.core.throttle.check({ ip: '192.0.2.100' })).toMatchObject({ allowed: false, scope: 'ip' });
  });
});
