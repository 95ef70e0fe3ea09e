/**
 * Password authentication through the core, the path every front-end uses: outcomes, audit events,
 * constant cost for unknown users, throttling, transparent rehash of imported hashes, fail closed.
 */
import { createHash, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PasswordHasher } from '../../src/credentials/password.ts';
import { backends } from '../helpers/backends.ts';
import { AttemptAudit } from '../../src/audit/audit.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const PASSWORD = 'quiet-harbour-lamp-77';
const ctx = (ip = '198.51.100.7') => ({ actor: { type: 'anonymous' as const }, sourceIp: ip, protocol: 'ldap' });

describe.each(backends)('password authentication ($name)', (backend) => {
  let t: TestCore;
  beforeAll(async () => {
    t = await coreFor(backend, { throttle: { freeAttempts: 3, freeAttemptsPerIp: 1000, baseDelaySeconds: 30, maxDelaySeconds: 60 } });
    await t.core.directory.groups.create(CLI_CTX, { name: 'eng', attributes: {} });
    await t.core.directory.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD, groups: ['eng'] });
  });
  afterAll(async () => t?.cleanup());

  const lastEvent = async (user: string) => (await t.store.directory.audit.query({ type: 'authn.password', user, limit: 1 })).items[0];

  it('accepts the right password (case-insensitive username) with resolved groups, and audits it', async () => {
    const result = await t.core.passwords.authenticate({ username: ' Alice ', password: PASSWORD, context: ctx() });
    expect(result.outcome).toBe('success');
    expect(result.outcome === 'success' && result.groups.map((g) => g.name)).toEqual(['eng']);
    expect(await lastEvent('alice')).toMatchObject({ outcome: 'success', sourceIp: '198.51.100.7', protocol: 'ldap', actor: { type: 'user', name: 'alice' } });
  });

  it('refuses a wrong password, an unknown user and bad input alike, each audited once', async () => {
    const before = (await t.store.directory.audit.query({ type: 'authn.password', limit: 1000 })).items.length;
    expect((await t.core.passwords.authenticate({ username: 'alice', password: 'wrong-password-123', context: ctx('198.51.100.8') })).outcome).toBe('failure');
    expect((await t.core.passwords.authenticate({ username: 'nobody', password: 'wrong-password-123', context: ctx('198.51.100.8') })).reasons[0]!.code).toBe('bad_credentials');
    expect((await t.core.passwords.authenticate({ username: 'alice', password: 'x'.repeat(1024 * 1024), context: ctx('198.51.100.8') })).reasons[0]!.code).toBe('invalid_input');
    expect((await t.core.passwords.authenticate({ username: 'alice', password: '\ud800abc', context: ctx('198.51.100.8') })).reasons[0]!.code).toBe('invalid_input');
    const after = (await t.store.directory.audit.query({ type: 'authn.password', limit: 1000 })).items.length;
    expect(after - before).toBe(4);
    expect(await lastEvent('nobody')).toMatchObject({ outcome: 'failure', actor: { type: 'anonymous', name: 'nobody' } });
  });

  it('spends a real verification on unknown users', async () => {
    const spy = vi.spyOn(PasswordHasher.prototype, 'dummyVerify');
    try {
      await t.core.passwords.authenticate({ username: 'ghost', password: 'some-password-here', context: ctx('198.51.100.9') });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('backs off after repeated failures, even for the right password, and says when to retry', async () => {
    await t.core.directory.users.create(CLI_CTX, { username: 'bob', status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
    for (let i = 0; i < 3; i++) await t.core.passwords.authenticate({ username: 'bob', password: 'not-the-password-1', context: ctx('203.0.113.1') });
    const throttled = await t.core.passwords.authenticate({ username: 'bob', password: PASSWORD, context: ctx('203.0.113.2') });
    expect(throttled).toMatchObject({ outcome: 'failure', reasons: [{ code: 'throttled' }] });
    expect('retryAfterSeconds' in throttled && throttled.retryAfterSeconds).toBeGreaterThan(0);
    expect(await lastEvent('bob')).toMatchObject({ reasons: [{ code: 'throttled' }], details: { retryAfterSeconds: expect.any(Number) } });
    // Persisted in the store: another core on the same store sees it.
    expect((await t.core.throttle.check({ user: 'bob' })).allowed).toBe(false);
  });

  it('refuses a suspended user with the right password (denied) and lets them back after activation', async () => {
    await t.core.directory.users.create(CLI_CTX, { username: 'carol', status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
    await t.store.ttl.put('session:carol-1', { u: 'carol' }, 600, { subject: (await t.core.directory.users.find('carol')).id });
    await t.core.directory.users.suspend(CLI_CTX, 'carol');
    expect(await t.store.ttl.get('session:carol-1')).toBeUndefined();
    expect(await t.core.passwords.authenticate({ username: 'carol', password: PASSWORD, context: ctx() })).toMatchObject({ outcome: 'denied', reasons: [{ code: 'suspended' }] });
    await t.core.directory.users.activate(CLI_CTX, 'carol');
    expect((await t.core.passwords.authenticate({ username: 'carol', password: PASSWORD, context: ctx() })).outcome).toBe('success');
  });

  it.each([
    ['bcrypt', async (p: string) => bcrypt.hash(p, 4)],
    ['ssha', async (p: string) => {
      const salt = randomBytes(8);
      return `{SSHA}${Buffer.concat([createHash('sha1').update(p).update(salt).digest(), salt]).toString('base64')}`;
    }],
  ])('upgrades an imported %s hash to argon2id at the next sign-in', async (scheme, make) => {
    const username = `imported-${scheme}`;
    await t.core.directory.users.create(CLI_CTX, { username, status: 'active', sshPublicKeys: [], attributes: {}, passwordHash: await make(PASSWORD) });
    const user = await t.core.directory.users.find(username);
    expect((await t.store.directory.passwords.get(user.id))?.hash.startsWith('$argon2id$')).toBe(false);
    expect((await t.core.passwords.authenticate({ username, password: PASSWORD, context: ctx() })).outcome).toBe('success');
    expect((await t.store.directory.passwords.get(user.id))?.hash.startsWith('$argon2id$')).toBe(true);
    expect((await t.store.directory.audit.query({ type: 'user.password.rehashed', user: username })).items[0]).toMatchObject({ details: { from: scheme } });
    expect((await t.core.passwords.authenticate({ username, password: PASSWORD, context: ctx() })).outcome).toBe('success');
  });

  it('in an attempt, holds a successful check for the decision that concludes it: one event, in order, nothing lost', async () => {
    const dir = t.store.directory;
    const eventsOf = async (requestId: string) => (await dir.audit.query({ requestId })).items.reverse();

    // Check + decision: one event, the decision carrying the check.
    const one = { ...ctx('198.51.100.20'), requestId: 'attempt-1', attempt: new AttemptAudit() };
    const checked = await t.core.passwords.authenticate({ username: 'alice', password: PASSWORD, context: one });
    expect(checked.outcome).toBe('success');
    expect(await eventsOf('attempt-1')).toEqual([]);
    if (checked.outcome !== 'success') throw new Error('unreachable');
    await t.core.access.decide({ ...one, actor: { type: 'user', id: checked.user.id, name: 'alice' } }, { user: checked.user, groups: checked.groups, resource: 'ldap', protocol: 'ldap', clientIp: '198.51.100.20', authn: [{ method: 'password', at: new Date().toISOString() }] });
    await t.core.audit.settle(one.attempt);
    const [decision, ...rest] = await eventsOf('attempt-1');
    expect(rest).toEqual([]);
    expect(decision).toMatchObject({ type: 'access.decision', actor: { name: 'alice' }, details: { checks: [{ type: 'authn.password', reasons: [{ code: 'password_ok' }], details: { username: 'alice' } }] } });

    // A held check, then a failed one: both recorded, in the order they happened.
    const two = { ...ctx('198.51.100.21'), requestId: 'attempt-2', attempt: new AttemptAudit() };
    await t.core.passwords.authenticate({ username: 'alice', password: PASSWORD, context: two });
    await t.core.passwords.authenticate({ username: 'alice', password: 'not-the-password-2', context: two });
    expect((await eventsOf('attempt-2')).map((e) => `${e.type} ${e.outcome}`)).toEqual(['authn.password success', 'authn.password failure']);

    // No decision at all: settled at the end, with the time the check was made.
    const three = { ...ctx('198.51.100.22'), requestId: 'attempt-3', attempt: new AttemptAudit() };
    const before = Date.now();
    await t.core.passwords.authenticate({ username: 'alice', password: PASSWORD, context: three });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await t.core.audit.settle(three.attempt);
    const [settled] = await eventsOf('attempt-3');
    expect(settled).toMatchObject({ type: 'authn.password', outcome: 'success' });
    expect(Date.parse(settled!.time)).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(settled!.time)).toBeLessThan(Date.now() - 40);
    await t.core.audit.settle(three.attempt);
    expect(await eventsOf('attempt-3')).toHaveLength(1);
  });
});

describe('fail closed', () => {
  it('refuses authentication when the store is gone, and readiness goes red', async () => {
    const t = await coreFor(backends[1]!);
    await t.core.directory.users.create(CLI_CTX, { username: 'dave', status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
    await t.store.close();
    const result = await t.core.passwords.authenticate({ username: 'dave', password: PASSWORD, context: ctx() });
    expect(result).toMatchObject({ outcome: 'error', reasons: [{ code: 'store_unavailable' }] });
    expect((await t.core.health()).ok).toBe(false);
    await t.cleanup().catch(() => undefined);
  });
});
