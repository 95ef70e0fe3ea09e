/**
 * Gatehouse sessions on both backends: tokens are never stored, idle and absolute expiry, step-up
 * rotation, listing and ending (one, all but one, by suspension), the audit trail and listeners.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionService, type Session } from '../../src/sessions/service.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const at = () => new Date().toISOString();

describe.each(backends)('sessions ($name)', (backend) => {
  let t: TestCore;
  let user: { id: string; username: string };
  beforeEach(async () => {
    t = await coreFor(backend);
    user = await t.core.directory.users.create(CLI_CTX, { username: 'sam', status: 'active', sshPublicKeys: [], attributes: {} });
  });
  afterEach(async () => t?.cleanup());

  it('stores only the hash of the token and resolves the token to the session', async () => {
    const { token, session } = await t.core.sessions.create({ user, authn: [{ method: 'password', at: at() }], ip: '192.0.2.1', userAgent: 'x'.repeat(1000) });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.handle).toBe(SessionService.handleOf(token));
    expect(session.userAgent).toHaveLength(256);
    const row = await t.store.ttl.get<Session>(`session:${session.handle}`);
    expect(JSON.stringify(row)).not.toContain(token);
    expect(await t.core.sessions.resolve(token)).toMatchObject({ userId: user.id, username: 'sam', ip: '192.0.2.1', authn: [{ method: 'password' }] });
    for (const bad of [undefined, '', 'nope', `${token}x`, 'ä'.repeat(10), 'a'.repeat(500)]) expect(await t.core.sessions.resolve(bad)).toBeUndefined();
    expect(await t.core.sessions.get('not-a-handle')).toBeUndefined();
  });

  it('elevates with more factors, rotating the token: the old one stops working', async () => {
    const { token } = await t.core.sessions.create({ user, authn: [{ method: 'password', at: at() }] });
    const elevated = await t.core.sessions.elevate(token, [{ method: 'totp', at: at() }]);
    expect(elevated?.token).not.toBe(token);
    expect(elevated?.session.authn.map((a) => a.method)).toEqual(['password', 'totp']);
    expect(await t.core.sessions.resolve(token)).toBeUndefined();
    expect(await t.core.sessions.resolve(elevated!.token)).toMatchObject({ authn: [{ method: 'password' }, { method: 'totp' }] });
    // Two concurrent step-ups of one token: one wins.
    const both = await Promise.all([t.core.sessions.elevate(elevated!.token, [{ method: 'webauthn', at: at() }]), t.core.sessions.elevate(elevated!.token, [{ method: 'webauthn', at: at() }])]);
    expect(both.filter(Boolean)).toHaveLength(1);
  });

  it('lists the user\'s sessions newest first and ends one, all but one, audited, telling listeners', async () => {
    const ended: Array<[string, string]> = [];
    t.core.sessions.onEnded((s, reason) => {
      ended.push([s.handle, reason]);
    });
    t.core.sessions.onEnded(() => {
      throw new Error('a broken listener does not stop the others');
    });
    const a = await t.core.sessions.create({ user, authn: [] });
    await sleep(5);
    const b = await t.core.sessions.create({ user, authn: [] });
    await sleep(5);
    const c = await t.core.sessions.create({ user, authn: [] });
    expect((await t.core.sessions.list(user.id)).map((s) => s.handle)).toEqual([c, b, a].map((x) => x.session.handle));

    expect(await t.core.sessions.end(CLI_CTX, a.session.handle, 'revoked')).toBe(true);
    expect(await t.core.sessions.end(CLI_CTX, a.session.handle, 'revoked')).toBe(false);
    expect(await t.core.sessions.endAll(CLI_CTX, user.id, 'password_changed', c.session.handle)).toBe(1);
    expect(await t.core.sessions.resolve(b.token)).toBeUndefined();
    expect(await t.core.sessions.resolve(c.token)).toBeDefined();
    expect(ended).toEqual([[a.session.handle, 'revoked'], [b.session.handle, 'password_changed']]);

    const events = (await t.store.directory.audit.query({ type: 'session.ended' })).items;
    expect(events.map((e) => e.details.reason).sort()).toEqual(['password_changed', 'revoked']);
    expect(events[0]).toMatchObject({ outcome: 'success', target: { id: user.id, name: 'sam' } });
    expect(JSON.stringify(events)).not.toContain(b.session.handle);
  });

  it('ends every session when the user is suspended', async () => {
    const { token } = await t.core.sessions.create({ user, authn: [] });
    await t.core.directory.users.suspend(CLI_CTX, 'sam');
    expect(await t.core.sessions.resolve(token)).toBeUndefined();
    expect(await t.core.sessions.list(user.id)).toEqual([]);
  });

  it('expires after the absolute lifetime whatever the activity', async () => {
    const { token, session } = await t.core.sessions.create({ user, authn: [] });
    // Move the absolute end into the past, as time passing would.
    await t.store.ttl.put(`session:${session.handle}`, { ...session, expiresAt: Date.now() - 1 }, 60, { subject: user.id });
    expect(await t.core.sessions.resolve(token)).toBeUndefined();
    expect(await t.store.ttl.get(`session:${session.handle}`)).toBeUndefined();
  });
});

describe.each(backends)('session idle timeout ($name)', (backend) => {
  it('ends a session left unused for the idle time', async () => {
    const t = await coreFor(backend);
    try {
      const user = await t.core.directory.users.create(CLI_CTX, { username: 'idle', status: 'active', sshPublicKeys: [], attributes: {} });
      const sessions = new SessionService({ store: t.store, auditor: t.core.audit, config: { idleMinutes: 0.005, maxHours: 1 } });
      const { token } = await sessions.create({ user, authn: [] });
      expect(await sessions.resolve(token)).toBeDefined();
      await sleep(450);
      expect(await sessions.resolve(token)).toBeUndefined();
    } finally {
      await t.cleanup();
    }
  });
});
