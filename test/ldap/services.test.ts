/**
 * Service accounts: applications with a secret and `settings.ldap` bind as
 * cn=<name>,ou=services,<baseDn>, through the throttle and the access core (resource app:<name>),
 * and see only their scope. ldapts as the client, on every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Entry } from 'ldapts';
import { ApplicationInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { BASE, bindCode as bindOnce, dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';
const serviceDn = (name: string) => `cn=${name},ou=services,${BASE}`;
const groupDn = (name: string) => `cn=${name},ou=groups,${BASE}`;
const secretOf = (name: string) => `${name}-secret-0123456789abcdefghijklmnopqrstuvwxyz`;
const STRUCTURE = [BASE, `ou=people,${BASE}`, `ou=groups,${BASE}`, `ou=services,${BASE}`];

const dns = (entries: Entry[]) => entries.map((e) => e.dn).sort();

describe.each(backends)('LDAP service accounts ($name)', (backend) => {
  let t: LdapFixture;
  const app = (name: string, fields: Record<string, unknown>) =>
    t.core.directory.resources.create(CLI_CTX, 'applications', ApplicationInput.parse({ name, ...fields }));

  beforeAll(async () => {
    // Three free failures per account, then a minute's wait: enough to see the throttle at work.
    t = await startLdap(backend, {}, { throttle: { freeAttempts: 3, baseDelaySeconds: 60 } });
    await seed(t.core);
    await app('jenkins', { description: 'CI server', secret: secretOf('jenkins'), settings: { ldap: { scope: { groups: ['staff'] } } } });
    await app('nas', { secret: secretOf('nas'), settings: { ldap: { scope: { subtree: true } } } });
    await app('backup', { secret: secretOf('backup'), settings: { ldap: { scope: { subtree: true } } } });
    await app('wiki', { secret: secretOf('wiki'), settings: { redirectUris: ['https://wiki.example.com/cb'] } });
    await app('printer', { settings: { ldap: { scope: { subtree: true } } } });
    await app('broken', { secret: secretOf('broken'), settings: { ldap: { scope: { everything: true } } } });
  });
  afterAll(async () => t?.stop());

  const bound = async (dn: string, password: string): Promise<Client> => {
    const c = t.client();
    await c.bind(dn, password);
    return c;
  };
  const bindCode = (dn: string, password: string) => bindOnce(t, dn, password);
  const everything = async (c: Client) => (await c.search(BASE, { scope: 'sub', filter: '(objectClass=*)' })).searchEntries;

  it('binds with the secret as cn=<app>,ou=services; refuses a wrong secret, an unknown service, and apps that are not service accounts', async () => {
    const c = await bound('CN=Jenkins,OU=Services,DC=Example,DC=Com', secretOf('jenkins'));
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${serviceDn('jenkins')}`);
    expect(await bindCode(serviceDn('jenkins'), secretOf('nas'))).toBe(49);
    expect(await bindCode(serviceDn('ghost'), secretOf('ghost'))).toBe(49);
    // A secret but no settings.ldap; settings.ldap but no secret; settings.ldap the front-end refuses.
    expect(await bindCode(serviceDn('wiki'), secretOf('wiki'))).toBe(49);
    expect(await bindCode(serviceDn('printer'), secretOf('printer'))).toBe(49);
    expect(await bindCode(serviceDn('broken'), secretOf('broken'))).toBe(49);
    // A service DN is no user DN, and a bare name is a user's login name.
    expect(await bindCode('jenkins', secretOf('jenkins'))).toBe(49);
  });

  it('audits a bind as one event: access.decision with the application as the resource, carrying the secret check', async () => {
    await bound(serviceDn('nas'), secretOf('nas'));
    await bindCode(serviceDn('nas'), 'not the secret of the nas, not at all');
    const { items: decisions } = await t.core.audit.query({ type: 'access.decision', limit: 100 });
    const nas = decisions.filter((e) => e.target?.name === 'app:nas');
    expect(nas).toHaveLength(1);
    expect(nas[0]).toMatchObject({
      outcome: 'success', protocol: 'ldap', actor: { type: 'application', name: 'nas' },
      details: { decision: 'allow', groups: [], checks: [{ type: 'authn.password', reasons: [{ code: 'password_ok' }], details: { username: 'app:nas' } }] },
    });
    // The failed bind is its own event (no decision follows it); the successful check is not one of its own.
    const { items: checks } = await t.core.audit.query({ type: 'authn.password', limit: 100 });
    const outcomes = checks.filter((e) => e.target?.type === 'application' && e.target.name === 'nas').map((e) => e.outcome);
    expect(outcomes).toEqual(['failure']);
  });

  it('scopes a service account to its groups and their nested members, or to the people and groups subtrees', async () => {
    // jenkins: staff, and alice (in engineering, nested in staff); itself; never other services.
    const jenkins = await bound(serviceDn('jenkins'), secretOf('jenkins'));
    expect(dns(await everything(jenkins))).toEqual([...STRUCTURE, groupDn('staff'), dnOf('alice'), serviceDn('jenkins')].sort());
    expect((await jenkins.search(`ou=people,${BASE}`, { scope: 'one', filter: '(uid=bob)' })).searchEntries).toEqual([]);
    await expect(jenkins.search(dnOf('bob'), { scope: 'base' })).rejects.toMatchObject({ code: 32 });
    // nas: every user and group.
    const nas = await bound(serviceDn('nas'), secretOf('nas'));
    const seen = await everything(nas);
    expect(dns(seen)).toEqual([
      ...STRUCTURE, serviceDn('nas'),
      ...['alice', 'bob', 'carol', 'dave'].map(dnOf), ...['engineering', 'ldap-readers', 'staff'].map(groupDn),
    ].sort());
    // The service entry, and no secret anywhere.
    const own = seen.find((e) => e.dn === serviceDn('nas'));
    expect(own).toMatchObject({ cn: 'nas', objectClass: ['top', 'applicationProcess'] });
    const jenkinsEntry = (await everything(jenkins)).find((e) => e.dn === serviceDn('jenkins'));
    expect(jenkinsEntry).toMatchObject({ description: 'CI server' });
    const names = new Set([...seen, jenkinsEntry!].flatMap((e) => Object.keys(e).map((k) => k.toLowerCase())));
    for (const secretish of ['userpassword', 'secret', 'secrethash', 'hassecret', 'settings']) expect(names).not.toContain(secretish);
    const values = JSON.stringify([...seen, jenkinsEntry]);
    expect(values).not.toContain(secretOf('nas'));
    expect(values).not.toContain(secretOf('jenkins'));
  });

  it('shows a group-scoped service account no name from outside its scope, and matches filters on what it sees', async () => {
    const jenkins = await bound(serviceDn('jenkins'), secretOf('jenkins'));
    const find = async (c: Client, filter: string) => (await c.search(BASE, { scope: 'sub', filter, attributes: ['memberOf', 'member', 'memberUid'] })).searchEntries;
    // alice is in engineering, nested in staff: jenkins (scope staff) sees only staff in her memberOf.
    const [alice] = await find(jenkins, '(uid=alice)');
    expect(alice!.memberOf).toBe(groupDn('staff'));
    // staff's only direct member is the engineering group, outside the scope: no member at all.
    const [staff] = await find(jenkins, '(cn=staff)');
    expect(staff!.dn).toBe(groupDn('staff'));
    // (ldapts shows a requested attribute the entry does not have as [].)
    expect(staff!.member).toEqual([]);
    expect(staff!.memberUid).toBe('alice');
    // A filter cannot test for a hidden value either.
    expect(await find(jenkins, `(memberOf=${groupDn('engineering')})`)).toEqual([]);
    expect(await find(jenkins, '(memberOf=*engineering*)')).toEqual([]);
    expect(dns(await find(jenkins, `(memberOf=${groupDn('staff')})`))).toEqual([dnOf('alice')]);
    // A subtree-scoped account (nas) sees everything as it is.
    const nas = await bound(serviceDn('nas'), secretOf('nas'));
    expect((await find(nas, '(uid=alice)'))[0]!.memberOf).toEqual([groupDn('engineering'), groupDn('staff')]);
    expect((await find(nas, '(cn=staff)'))[0]!.member).toBe(groupDn('engineering'));
  });

  it('resolves users who bind after a service account searched, as usual', async () => {
    const c = await bound(serviceDn('nas'), secretOf('nas'));
    const [alice] = (await c.search(`ou=people,${BASE}`, { scope: 'one', filter: '(uid=alice)' })).searchEntries;
    expect(alice!.dn).toBe(dnOf('alice'));
    // The application verifies the user's password by binding as them on the same connection.
    await c.bind(alice!.dn, PASSWORD);
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('alice')}`);
    expect(dns(await everything(c))).toEqual([BASE, `ou=people,${BASE}`, `ou=groups,${BASE}`, `ou=services,${BASE}`, dnOf('alice'), groupDn('engineering'), groupDn('staff')].sort());
    await expect(c.bind(dnOf('alice'), 'not her password at all, no')).rejects.toMatchObject({ code: 49 });
  });

  it('counts failed binds in the throttle: past the free attempts even the right secret is refused', async () => {
    for (let i = 0; i < 3; i++) expect(await bindCode(serviceDn('backup'), `wrong secret number ${i} for the backup`)).toBe(49);
    expect(await bindCode(serviceDn('backup'), secretOf('backup'))).toBe(49);
    expect((await t.core.throttle.failures({ user: 'app:backup' })).user?.count).toBe(3);
    const { items } = await t.core.audit.query({ type: 'authn.password', limit: 100 });
    expect(items.find((e) => e.target?.name === 'backup' && e.reasons[0]?.code === 'throttled')).toBeDefined();
  });

  it('applies access policies to the service account (network conditions, deny)', async () => {
    await t.core.directory.resources.create(CLI_CTX, 'networks', { name: 'office', cidrs: ['10.0.0.0/8'], risky: false });
    const policy = await t.core.directory.resources.create(CLI_CTX, 'policies', {
      name: 'nas-from-office-only', enabled: true, users: { exclude: [] }, resources: { include: ['app:nas'] },
      conditions: { network: { notIn: ['office'] } }, action: 'deny',
    });
    try {
      expect(await bindCode(serviceDn('nas'), secretOf('nas'))).toBe(49);
      const { items } = await t.core.audit.query({ type: 'access.decision', limit: 5 });
      expect(items[0]).toMatchObject({ outcome: 'denied', target: { name: 'app:nas' } });
      expect(items[0]!.reasons).toContainEqual(expect.objectContaining({ code: 'policy_deny', policy: 'nas-from-office-only' }));
      // Other service accounts are not covered by it.
      expect(await bindCode(serviceDn('jenkins'), secretOf('jenkins'))).toBe(0);
    } finally {
      await t.core.directory.resources.delete(CLI_CTX, 'policies', policy.id);
    }
    expect(await bindCode(serviceDn('nas'), secretOf('nas'))).toBe(0);
  });

  it('stops a bound service account at once when its application is deleted, or loses its secret or LDAP settings', async () => {
    await app('sssd', { secret: secretOf('sssd'), settings: { ldap: { scope: { groups: ['engineering'] } } } });
    const c = await bound(serviceDn('sssd'), secretOf('sssd'));
    expect(dns(await everything(c))).toContain(dnOf('alice'));
    await t.core.directory.resources.update(CLI_CTX, 'applications', 'sssd', { settings: {} });
    expect(await everything(c)).toEqual([]);
    await t.core.directory.resources.update(CLI_CTX, 'applications', 'sssd', { settings: { ldap: { scope: { groups: ['engineering'] } } }, secret: null });
    expect(await everything(c)).toEqual([]);
    expect(await bindCode(serviceDn('sssd'), secretOf('sssd'))).toBe(49);
    await t.core.directory.resources.update(CLI_CTX, 'applications', 'sssd', { secret: secretOf('sssd') });
    expect(dns(await everything(c))).toContain(dnOf('alice'));
    await t.core.directory.resources.delete(CLI_CTX, 'applications', 'sssd');
    expect(await everything(c)).toEqual([]);
    expect(await bindCode(serviceDn('sssd'), secretOf('sssd'))).toBe(49);
    // Recreated under the same name, it is another application: the old connection still sees nothing.
    await app('sssd', { secret: secretOf('sssd'), settings: { ldap: { scope: { subtree: true } } } });
    expect(await everything(c)).toEqual([]);
  });
});
