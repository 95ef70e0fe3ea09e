/**
 * Applications, networks, devices, policies and RADIUS clients over the admin API: the five
 * generic operations for every kind, then what is particular to each (assigned groups, CIDRs,
 * secrets that never come back, references between policies and other objects).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { auditEvents, eventsOf, expectJson, expectNoContent, expectProblem } from './support.ts';

interface Entity {
  id: string;
  name: string;
  version: number;
  [key: string]: unknown;
}

/** One valid object of each kind, and a patch for it. */
const KINDS = [
  { path: 'applications', create: { name: 'wiki', type: 'oidc', settings: { redirectUris: ['https://wiki.example/cb'] } }, patch: { displayName: 'Team wiki' } },
  { path: 'networks', create: { name: 'office', cidrs: ['192.0.2.0/24', '2001:db8::/32'] }, patch: { risky: true } },
  { path: 'devices', create: { name: 'laptop-1', platform: 'macos', serial: 'C02XYZ', managed: true }, patch: { posture: { diskEncrypted: true } } },
  { path: 'policies', create: { name: 'deny-all', action: 'deny', enabled: false }, patch: { description: 'Off switch' } },
  { path: 'radius-clients', create: { name: 'wifi-ap', address: '198.51.100.7', secret: 'a-long-shared-secret-0001' }, patch: { description: 'Lobby AP' } },
] as const;

describe.each(backends)('admin API resources ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend);
    await expectJson(await server.api('/api/v1/users', { method: 'POST', json: { username: 'grace' } }), 201);
    for (const name of ['app-users', 'vpn-users', 'contractors']) await expectJson(await server.api('/api/v1/groups', { method: 'POST', json: { name } }), 201);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const post = (path: string, json: unknown) => server.api(`/api/v1/${path}`, { method: 'POST', json });
  const patch = (path: string, json: unknown, headers: Record<string, string> = {}) => server.api(`/api/v1/${path}`, { method: 'PATCH', json, headers });

  describe.each(KINDS)('/$path: the generic operations', ({ path, create, patch: change }) => {
    let created: Entity;

    it('creates (201, Location, ETag) with exactly one audit event by the API key', async () => {
      const res = await post(path, create);
      created = await expectJson<Entity>(res, 201);
      expect(created).toMatchObject({ name: create.name, version: 1, managedBy: 'api' });
      expect(res.headers.get('location')).toBe(`/api/v1/${path}/${created.id}`);
      expect(res.headers.get('etag')).toBe('"1"');
      const events = await eventsOf(server, res);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: expect.stringMatching(/\.created$/), outcome: 'success', actor: { type: 'apikey', name: 'bootstrap' }, target: { id: created.id, name: create.name } });
    });

    it('gets by name and by id', async () => {
      const byName = await expectJson(await server.api(`/api/v1/${path}/${create.name}`), 200);
      expect(byName).toEqual(created);
      expect(await expectJson(await server.api(`/api/v1/${path}/${created.id}`), 200)).toEqual(created);
    });

    it('lists, with a name prefix', async () => {
      const page = await expectJson<{ items: Entity[] }>(await server.api(`/api/v1/${path}?q=${create.name}`), 200);
      expect(page.items.map((e) => e.id)).toContain(created.id);
      await expectProblem(await server.api(`/api/v1/${path}?name=${create.name}`), 400);
    });

    it('patches with If-Match, 412 when stale, 400 for unknown fields', async () => {
      const res = await patch(`${path}/${created.id}`, change, { 'if-match': '"1"' });
      const updated = await expectJson<Entity>(res, 200);
      expect(updated).toMatchObject({ ...change, version: 2 });
      expect(res.headers.get('etag')).toBe('"2"');
      await expectProblem(await patch(`${path}/${created.id}`, change, { 'if-match': '"1"' }), 412);
      expect((await expectProblem(await patch(`${path}/${created.id}`, { colour: 'blue' }), 400)).errors).toEqual([expect.objectContaining({ path: 'colour' })]);
    });

    it('refuses a duplicate with 409', async () => {
      // Device names are not unique (two laptops may share a name); every other kind's are.
      if (path === 'devices') await expectJson(await post(path, create), 201);
      else await expectProblem(await post(path, create), 409);
    });

    it('deletes (204), then 404', async () => {
      await expectProblem(await server.api(`/api/v1/${path}/${created.id}`, { method: 'DELETE', headers: { 'if-match': '"1"' } }), 412);
      await expectNoContent(await server.api(`/api/v1/${path}/${created.id}`, { method: 'DELETE', headers: { 'if-match': '"2"' } }));
      await expectProblem(await server.api(`/api/v1/${path}/${created.id}`), 404);
      await expectProblem(await server.api(`/api/v1/${path}/${created.id}`, { method: 'DELETE' }), 404);
    });
  });

  describe('applications', () => {
    it('are assigned groups by name', async () => {
      const app = await expectJson<Entity>(await post('applications', { name: 'crm', groups: ['app-users', 'contractors'] }), 201);
      expect(app.groups).toEqual(['app-users', 'contractors']);
      const changed = await expectJson<Entity>(await patch('applications/crm', { groups: ['app-users'] }), 200);
      expect(changed.groups).toEqual(['app-users']);
    });

    it('refuse an unknown group with 404 and create nothing', async () => {
      const res = await post('applications', { name: 'erp', groups: ['app-users', 'no-such-group'] });
      expect((await expectProblem(res, 404)).detail).toBe("group 'no-such-group' not found");
      expect(await eventsOf(server, res)).toEqual([]);
      await expectProblem(await server.api('/api/v1/applications/erp'), 404);
      const page = await expectJson<{ items: Entity[] }>(await server.api('/api/v1/applications?q=erp'), 200);
      expect(page.items).toEqual([]);
    });
  });

  describe('networks', () => {
    it('normalise CIDRs and addresses', async () => {
      const net = await expectJson<Entity>(await post('networks', { name: 'lab', cidrs: ['10.1.0.0/16', '203.0.113.9', '::ffff:10.2.0.0/112'] }), 201);
      expect(net.cidrs).toEqual(['10.1.0.0/16', '203.0.113.9/32', '10.2.0.0/16']);
    });

    it('refuse an invalid CIDR with 400 naming its path', async () => {
      const problem = await expectProblem(await post('networks', { name: 'bad', cidrs: ['10.0.0.0/8', '10.0.0.300/24', '10.0.0.1/8'] }), 400);
      expect(problem.errors).toEqual([
        expect.objectContaining({ path: 'cidrs[1]', message: "'10.0.0.300/24' is not an IPv4/IPv6 address or CIDR" }),
        expect.objectContaining({ path: 'cidrs[2]', message: expect.stringMatching(/host bits set/) }),
      ]);
      await expectProblem(await server.api('/api/v1/networks/bad'), 404);
      expect((await expectProblem(await post('networks', { name: 'empty', cidrs: [] }), 400)).errors![0]!.path).toBe('cidrs');
    });
  });

  describe('devices', () => {
    it('name their owners by username; an unknown owner is 404', async () => {
      const device = await expectJson<Entity>(await post('devices', { name: 'phone', platform: 'ios', owners: ['Grace'] }), 201);
      expect(device.owners).toEqual(['grace']);
      expect((await expectProblem(await post('devices', { name: 'tablet', owners: ['nobody'] }), 404)).detail).toBe("user 'nobody' not found");
    });
  });

  describe('RADIUS clients', () => {
    const secret = 'never-show-me-this-secret-42';

    it('never return the shared secret, in any answer or audit event', async () => {
      const created = await post('radius-clients', { name: 'vpn', address: '203.0.113.0/24', secret, groups: ['vpn-users'] });
      const texts = [await created.clone().text()];
      const client = await expectJson<Entity>(created, 201);
      expect(client).toMatchObject({ name: 'vpn', address: '203.0.113.0/24', groups: ['vpn-users'] });
      texts.push(await (await server.api('/api/v1/radius-clients/vpn')).text());
      texts.push(await (await server.api('/api/v1/radius-clients')).text());
      texts.push(await (await patch('radius-clients/vpn', { secret: `${secret}-rotated` })).text());
      texts.push(await (await server.api('/api/v1/audit?type=radius_client.')).text());
      for (const text of texts) {
        expect(text).not.toContain(secret);
        expect(text).not.toMatch(/secret"\s*:/i);
        expect(text).not.toContain('secretEncrypted');
      }
      // The stored secret is still the one set, for the RADIUS front-end.
      const stored = await server.gh.core.directory.radiusClients.stored('vpn');
      expect(await server.gh.core.directory.radiusClients.secretOf(stored!)).toBe(`${secret}-rotated`);
      // The rotation is audited as a change of 'secret', without its value.
      const [rotation] = await auditEvents(server, { type: 'radius_client.updated' });
      expect(rotation!.details).toEqual({ changed: ['secret'] });
    });

    it('refuse a short secret with 400 naming the field', async () => {
      const problem = await expectProblem(await post('radius-clients', { name: 'weak', address: '192.0.2.1', secret: 'short' }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'secret', message: expect.stringMatching(/at least 16/) })]);
    });
  });

  describe('application settings', () => {
    it('are checked by the front-end that owns them: a wrong OIDC client or LDAP service account is a 400 naming each problem', async () => {
      const bad = await expectProblem(await post('applications', {
        name: 'typo-app', type: 'oidc',
        settings: { redirectUri: ['https://app.example/cb'], redirectUris: ['http://app.example/cb', 'https://good@evil.example/cb'], ldap: { scope: { groups: [] } } },
      }), 400);
      expect(bad.errors?.map((e: { path: string }) => e.path).sort()).toEqual(['settings', 'settings.ldap.scope.groups', 'settings.redirectUris.0', 'settings.redirectUris.1']);
      expect(bad.detail).toMatch(/redirectUri/);
      await expectProblem(await server.api('/api/v1/applications/typo-app'), 404);

      // Both at once is fine: an OIDC client that is also an LDAP service account.
      const both = await expectJson<Entity>(await post('applications', {
        name: 'both-app', type: 'oidc', settings: { redirectUris: ['https://both.example/cb'], ldap: { scope: { subtree: true } } },
      }), 201);
      // Created before its redirect URIs are known: incomplete, not wrong (the client works once they are set).
      await expectJson(await post('applications', { name: 'later-app', type: 'oidc' }), 201);
      // An update is checked the same way, and changes nothing when refused.
      await expectProblem(await patch(`applications/${both.id}`, { settings: { redirectUris: ['javascript:alert(1)'] } }), 400);
      expect((await expectJson<Entity>(await server.api(`/api/v1/applications/${both.id}`), 200)).settings).toEqual(both.settings);
      // Other types' settings are not the OIDC front-end's business.
      await expectJson(await post('applications', { name: 'generic-app', type: 'generic', settings: { anything: true } }), 201);
    });
  });

  describe('application secrets', () => {
    const secret = 'an-application-secret-of-32-chars-or-more';

    it('are stored hashed, never returned, rotated with the new one shown once and the old one dead', async () => {
      const created = await post('applications', { name: 'jenkins', type: 'generic', secret, groups: ['app-users'] });
      const texts = [await created.clone().text()];
      expect(await expectJson<Entity>(created, 201)).toMatchObject({ name: 'jenkins', hasSecret: true });
      expect(await server.gh.core.directory.applications.verifySecret('jenkins', secret)).toMatchObject({ name: 'jenkins', hasSecret: true });
      expect(await server.gh.core.directory.applications.verifySecret('jenkins', `${secret}x`)).toBeUndefined();

      const rotated = await server.api('/api/v1/applications/jenkins/secret', { method: 'POST' });
      const { application, secret: fresh } = await expectJson<{ application: Entity; secret: string }>(rotated, 201);
      expect(application).toMatchObject({ name: 'jenkins', hasSecret: true });
      expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(await server.gh.core.directory.applications.verifySecret('jenkins', secret)).toBeUndefined();
      expect(await server.gh.core.directory.applications.verifySecret('Jenkins', fresh)).toMatchObject({ name: 'jenkins' });

      texts.push(await (await server.api('/api/v1/applications/jenkins')).text());
      texts.push(await (await server.api('/api/v1/applications')).text());
      texts.push(await (await server.api('/api/v1/audit?type=application.')).text());
      for (const text of texts) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(fresh);
        expect(text).not.toContain('secretHash');
      }
      const [event] = await auditEvents(server, { type: 'application.secret_rotated' });
      expect(event).toMatchObject({ outcome: 'success', target: { name: 'jenkins' } });

      // null removes it: nothing verifies any more.
      expect(await expectJson<Entity>(await patch('applications/jenkins', { secret: null }), 200)).toMatchObject({ hasSecret: false });
      expect(await server.gh.core.directory.applications.verifySecret('jenkins', fresh)).toBeUndefined();
      expect(await server.gh.core.directory.applications.verifySecret('no-such-app', fresh)).toBeUndefined();
    });

    it('refuse a short secret with 400, and rotating for an unknown application is 404', async () => {
      const problem = await expectProblem(await post('applications', { name: 'weak-app', secret: 'short' }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'secret', message: expect.stringMatching(/at least 32/) })]);
      await expectProblem(await server.api('/api/v1/applications/nowhere/secret', { method: 'POST' }), 404);
    });
  });

  describe('policies', () => {
    it('refuse references to unknown groups, networks and resources with 400 naming each, and create nothing', async () => {
      const res = await post('policies', {
        name: 'dangling',
        action: 'mfa',
        users: { groups: ['vpn-users', 'ghosts'], exclude: ['phantoms'] },
        resources: { include: ['app:nowhere', 'radius:vpn'] },
        conditions: { network: { notIn: ['moon-base'] } },
      });
      const problem = await expectProblem(res, 400);
      expect(problem.errors!.map((e) => e.path)).toEqual(['users.groups[1]', 'users.exclude[0]', 'conditions.network.notIn[0]', 'resources.include[0]']);
      expect(problem.detail).toContain("group 'ghosts' does not exist");
      expect(await eventsOf(server, res)).toEqual([]);
      await expectProblem(await server.api('/api/v1/policies/dangling'), 404);
    });

    it('accept valid references, and then protect what they name from deletion and renaming (409)', async () => {
      await expectJson(await post('networks', { name: 'hq', cidrs: ['192.0.2.0/24'] }), 201);
      const policy = await expectJson<Entity>(
        await post('policies', {
          name: 'vpn-mfa-off-site',
          action: 'mfa',
          methods: ['totp'],
          users: { groups: ['vpn-users'] },
          resources: { include: ['radius:vpn'] },
          conditions: { network: { notIn: ['hq'] } },
        }),
        201,
      );
      expect(policy).toMatchObject({ enabled: true, users: { groups: ['vpn-users'], exclude: [] }, methods: ['totp'] });

      const deleteGroup = await server.api('/api/v1/groups/vpn-users', { method: 'DELETE' });
      expect((await expectProblem(deleteGroup, 409)).detail).toBe("group 'vpn-users' cannot be deleted: policy 'vpn-mfa-off-site' refers to it");
      expect(await eventsOf(server, deleteGroup)).toEqual([]);
      await expectJson(await server.api('/api/v1/groups/vpn-users'), 200);

      await expectProblem(await patch('groups/vpn-users', { name: 'remote-users' }), 409);
      await expectProblem(await server.api('/api/v1/networks/hq', { method: 'DELETE' }), 409);
      await expectProblem(await server.api('/api/v1/radius-clients/vpn', { method: 'DELETE' }), 409);
    });

    it('patch only the fields given (defaults are not re-applied)', async () => {
      const before = await expectJson<Entity>(await server.api('/api/v1/policies/vpn-mfa-off-site'), 200);
      const after = await expectJson<Entity>(await patch('policies/vpn-mfa-off-site', { description: 'MFA for the VPN away from HQ' }), 200);
      const { version: _v1, updatedAt: _u1, ...kept } = before;
      expect(after).toMatchObject({ ...kept, description: 'MFA for the VPN away from HQ', version: before.version + 1 });
      expect(after.users).toEqual({ groups: ['vpn-users'], exclude: [] });
      expect(after.conditions).toEqual({ network: { notIn: ['hq'] } });
    });

    it('drop methods with null when the action stops being mfa; refuse methods on allow', async () => {
      await expectProblem(await patch('policies/vpn-mfa-off-site', { action: 'allow' }), 400);
      const allowed = await expectJson<Entity>(await patch('policies/vpn-mfa-off-site', { action: 'allow', methods: null }), 200);
      expect(allowed.action).toBe('allow');
      expect(allowed).not.toHaveProperty('methods');
    });

    it('refuse a patch that would reference an unknown group with 400, changing nothing', async () => {
      const before = await expectJson<Entity>(await server.api('/api/v1/policies/vpn-mfa-off-site'), 200);
      const problem = await expectProblem(await patch('policies/vpn-mfa-off-site', { users: { groups: ['ghosts'] } }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'users.groups[0]' })]);
      expect(await expectJson(await server.api('/api/v1/policies/vpn-mfa-off-site'), 200)).toEqual(before);
    });

    it('release what they named once deleted', async () => {
      await expectNoContent(await server.api('/api/v1/policies/vpn-mfa-off-site', { method: 'DELETE' }));
      await expectNoContent(await server.api('/api/v1/groups/vpn-users', { method: 'DELETE' }));
    });
  });
});
