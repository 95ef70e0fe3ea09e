/** LDAP simple bind through the core, with ldapts as the client, on every backend. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { totpAt } from '../unit/mfa/totp-reference.ts';
import { BASE, bindCode, dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';

describe.each(backends)('LDAP bind ($name)', (backend) => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(backend, { anonymous: true });
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  it('binds by full DN, by bare uid and by mail', async () => {
    expect(await bindCode(t, dnOf('alice'), PASSWORD)).toBe(0);
    expect(await bindCode(t, 'UID=Alice,OU=People,DC=Example,DC=Com', PASSWORD)).toBe(0);
    expect(await bindCode(t, 'alice', PASSWORD)).toBe(0);
    expect(await bindCode(t, 'alice@example.com', PASSWORD)).toBe(0);
  });

  it('refuses a wrong password, an unknown user, a suspended user and a DN outside the tree with 49', async () => {
    expect(await bindCode(t, dnOf('alice'), 'wrong password here')).toBe(49);
    expect(await bindCode(t, dnOf('nobody'), PASSWORD)).toBe(49);
    expect(await bindCode(t, dnOf('carol'), PASSWORD)).toBe(49);
    expect(await bindCode(t, `uid=alice,ou=elsewhere,${BASE}`, PASSWORD)).toBe(49);
  });

  it('audits a bind as one event: the access decision, carrying the password check (DESIGN: one event per attempt)', async () => {
    const c = t.client();
    await c.bind(dnOf('dave'), PASSWORD);
    await c.bind(dnOf('dave'), PASSWORD);
    await expect(c.bind(dnOf('dave'), 'wrong password here')).rejects.toMatchObject({ code: 49 });
    await c.unbind();
    const { items } = await t.core.audit.query({ user: 'dave', limit: 10 });
    const [failed, second, first] = items;
    expect([failed, second, first].map((e) => `${e!.type} ${e!.outcome}`)).toEqual(['authn.password failure', 'access.decision success', 'access.decision success']);
    expect(first).toMatchObject({
      protocol: 'ldap', actor: { type: 'user', name: 'dave' }, target: { type: 'resource', name: 'ldap' },
      details: { decision: 'allow', authn: ['password'], checks: [{ type: 'authn.password', reasons: [{ code: 'password_ok' }], details: { username: 'dave' } }] },
    });
    // Each bind is a request of its own: ldap-<connection>-<message id>, so support finds its one event.
    expect(first!.requestId).toMatch(/^ldap-[\w-]+-\d+$/);
    expect(second!.requestId).not.toBe(first!.requestId);
    expect(second!.requestId!.split('-').slice(0, -1)).toEqual(first!.requestId!.split('-').slice(0, -1));
    for (const event of [failed, second, first]) expect((await t.core.audit.query({ requestId: event!.requestId! })).items).toEqual([event]);
  });

  it('refuses an unauthenticated bind (name, empty password) with 53 (RFC 4513 §5.1.2)', async () => {
    expect(await bindCode(t, dnOf('alice'), '')).toBe(53);
  });

  it('answers Who am I? with the bound DN, and empty for anonymous', async () => {
    const c = t.client();
    await c.bind('', '');
    expect((await c.exop(WHO_AM_I)).value ?? '').toBe('');
    await c.bind('dave', PASSWORD);
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('dave')}`);
    await expect(c.bind(dnOf('dave'), 'wrong password here')).rejects.toMatchObject({ code: 49 });
    // A failed bind leaves the connection anonymous (RFC 4511 §4.2.1).
    expect((await c.exop(WHO_AM_I)).value ?? '').toBe('');
  });

  it('refuses a bind when a deny policy covers the ldap resource', async () => {
    const policy = await t.core.directory.resources.create(CLI_CTX, 'policies', { name: 'no-ldap-for-dave', enabled: true, users: { exclude: [] }, resources: { include: ['ldap'] }, conditions: {}, action: 'deny' });
    expect(await bindCode(t, 'alice', PASSWORD)).toBe(49);
    await t.core.directory.resources.delete(CLI_CTX, 'policies', policy.id);
    expect(await bindCode(t, 'alice', PASSWORD)).toBe(0);
  });

  it('under an MFA policy refuses the password alone and accepts password+TOTP code', async () => {
    const alice = await t.core.directory.users.find('alice');
    const { secret } = await t.core.totp.enrol(CLI_CTX, alice.id, 'alice');
    const now = Math.floor(Date.now() / 1000);
    await t.core.totp.confirm(CLI_CTX, alice.id, totpAt(secret, now - 30));
    const policy = await t.core.directory.resources.create(CLI_CTX, 'policies', { name: 'ldap-mfa', enabled: true, users: { exclude: [] }, resources: { include: ['ldap'] }, conditions: {}, action: 'mfa' });
    try {
      expect(await bindCode(t, 'alice', PASSWORD)).toBe(49);
      expect(await bindCode(t, 'alice', `${PASSWORD}000000`)).toBe(49);
      expect(await bindCode(t, 'alice', `${PASSWORD}${totpAt(secret, now)}`)).toBe(0);
      // One event for the bind with both factors; the password with a wrong code is two, in order.
      const { items } = await t.core.audit.query({ user: 'alice', limit: 4 });
      expect(items.map((e) => `${e.type} ${e.outcome}`)).toEqual(['access.decision success', 'authn.totp failure', 'authn.password success', 'access.decision denied']);
      expect(items[0]!.details).toMatchObject({ decision: 'allow', authn: ['password', 'totp'], checks: [{ type: 'authn.password' }, { type: 'authn.totp', details: { method: 'totp' } }] });
      expect(items[1]!.requestId).toBe(items[2]!.requestId);
      expect(items[3]!.details).toMatchObject({ decision: 'mfa', checks: [{ type: 'authn.password' }] });
      // A code is accepted once (RFC 6238 §5.2).
      expect(await bindCode(t, 'alice', `${PASSWORD}${totpAt(secret, now)}`)).toBe(49);
      // Without TOTP enrolled there is no way through.
      expect(await bindCode(t, 'dave', `${PASSWORD}${totpAt(secret, now + 30)}`)).toBe(49);
    } finally {
      await t.core.directory.resources.delete(CLI_CTX, 'policies', policy.id);
    }
  });
});

describe.each(backends)('LDAP bind, anonymous off ($name)', (backend) => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(backend, { otpSeparator: ',' });
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  it('refuses an anonymous bind with inappropriateAuthentication (48) by default', async () => {
    expect(await bindCode(t, '', '')).toBe(48);
  });

  it('splits the TOTP code at the configured separator', async () => {
    const bob = await t.core.directory.users.find('bob');
    const { secret } = await t.core.totp.enrol(CLI_CTX, bob.id, 'bob');
    const now = Math.floor(Date.now() / 1000);
    await t.core.totp.confirm(CLI_CTX, bob.id, totpAt(secret, now - 30));
    await t.core.directory.resources.create(CLI_CTX, 'policies', { name: 'ldap-mfa', enabled: true, users: { exclude: [] }, resources: { include: ['ldap'] }, conditions: {}, action: 'mfa' });
    expect(await bindCode(t, 'bob', `${PASSWORD}${totpAt(secret, now)}`)).toBe(49);
    expect(await bindCode(t, 'bob', `${PASSWORD},${totpAt(secret, now)}`)).toBe(0);
  });
});

describe('LDAP SASL bind', () => {
  it('answers authMethodNotSupported (7) and keeps the connection for a simple bind', async () => {
    const { sqlite } = await import('../helpers/backends.ts');
    const t = await startLdap(sqlite);
    try {
      await seed(t.core);
      const c = t.client();
      await expect(c.bind('EXTERNAL')).rejects.toMatchObject({ code: 7 });
      await c.bind(dnOf('dave'), PASSWORD);
      expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('dave')}`);
    } finally {
      await t.stop();
    }
  });
});
