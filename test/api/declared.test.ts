/**
 * What the configuration file declares, over the admin API: a change of a declared object (or of
 * a membership the file declares, a password or secret it sets, the GATEHOUSE_ADMIN_KEY key) is
 * refused with a 409 naming the file, leaves the store as it was and writes no event; with
 * ?force=true it is made, audited as forced, and the next reload puts the declaration back. What the
 * reconciler leaves alone (members added here, a password or secret the declaration does not set)
 * stays changeable without force. A server started from a real file, on both stores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createLogger } from '../../src/log.ts';
import { startGatehouse } from '../../src/server/start.ts';
import { backends } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig, type TestServer } from '../helpers/server.ts';
import { eventsOf, expectJson, expectNoContent, expectProblem, withKey } from './support.ts';

const ALICE_PASSWORD = 'amber-lantern-orbit-42';
const WIKI_SECRET = 'declared-wiki-secret-0123456789abcdef';

const DIRECTORY = {
  groups: [{ name: 'staff' }, { name: 'engineering', memberOf: ['staff'] }],
  users: [
    { username: 'alice', displayName: 'Alice Declared', password: ALICE_PASSWORD, groups: ['engineering'] },
    // Declared without a password: one set through the API stays.
    { username: 'carol', displayName: 'Carol Declared', groups: ['staff'] },
  ],
  networks: [{ name: 'office', cidrs: ['192.0.2.0/24'] }],
  applications: [
    { name: 'wiki', type: 'generic', groups: ['staff'], secret: WIKI_SECRET },
    // Declared without a secret: one made through the API stays.
    { name: 'nas', type: 'generic', groups: ['staff'] },
  ],
  radiusClients: [{ name: 'ap1', address: '10.1.0.0/24', secret: 'radius-shared-secret-0001' }],
  policies: [{ name: 'office-only', users: { groups: ['engineering'] }, conditions: { network: { notIn: ['office'] } }, action: 'deny' }],
};

/** The refusal, word for word, as the API gives it. */
const refusal = (file: string, what: string, verb: string) =>
  `${what} is declared in ${file}: edit it there (and reload), or repeat with ?force=true to ${verb} it here until the next reload or start puts the declaration back`;

describe.each(backends)('admin API: objects the configuration file declares ($name)', (backend) => {
  let server: TestServer;
  let dir: string;
  let file: string;
  const json = (path: string, method: string, body?: unknown) => server.api(path, { method, ...(body !== undefined ? { json: body } : {}) });

  beforeAll(async () => {
    const { url, drop } = await backend.create();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-declared-'));
    file = join(dir, 'gatehouse.yaml');
    writeFileSync(file, stringify(testConfig(url, { directory: DIRECTORY })));
    const gh = await startGatehouse({ configFile: file, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') });
    const api = withKey({ url: gh.httpUrl } as TestServer, TEST_ADMIN_KEY);
    server = {
      gh, url: gh.httpUrl, adminKey: TEST_ADMIN_KEY, api,
      async stop() {
        await gh.stop();
        await drop();
      },
    };
    await expectJson(await json('/api/v1/users', 'POST', { username: 'bob' }), 201);
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every change of a declared object with a 409 naming the file, changing nothing and writing no event', async () => {
    const refused: Array<[string, string, unknown, string, string]> = [
      ['/api/v1/users/alice', 'PATCH', { displayName: 'Someone Else' }, "user 'alice'", 'change'],
      ['/api/v1/users/alice', 'DELETE', undefined, "user 'alice'", 'delete'],
      ['/api/v1/users/alice/suspend', 'POST', undefined, "user 'alice'", 'suspend'],
      ['/api/v1/users/alice/activate', 'POST', undefined, "user 'alice'", 'activate'],
      ['/api/v1/users/alice/password', 'POST', { password: 'copper-meadow-violin-73' }, "the password of user 'alice'", 'change'],
      ['/api/v1/groups/engineering', 'PATCH', { description: 'renamed here' }, "group 'engineering'", 'change'],
      ['/api/v1/groups/staff', 'DELETE', undefined, "group 'staff'", 'delete'],
      ['/api/v1/groups/engineering/members/user/alice', 'DELETE', undefined, "the membership of user 'alice' in group 'engineering'", 'remove'],
      ['/api/v1/groups/staff/members/group/engineering', 'DELETE', undefined, "the membership of group 'engineering' in group 'staff'", 'remove'],
      ['/api/v1/applications/wiki', 'PATCH', { displayName: 'Wiki' }, "application 'wiki'", 'change'],
      ['/api/v1/applications/wiki', 'PATCH', { secret: 'another-wiki-secret-0123456789abcdef' }, "the secret of application 'wiki'", 'change'],
      ['/api/v1/applications/wiki/secret', 'POST', undefined, "the secret of application 'wiki'", 'replace'],
      ['/api/v1/applications/nas', 'DELETE', undefined, "application 'nas'", 'delete'],
      ['/api/v1/networks/office', 'PATCH', { cidrs: ['198.51.100.0/24'] }, "network 'office'", 'change'],
      ['/api/v1/networks/office', 'DELETE', undefined, "network 'office'", 'delete'],
      ['/api/v1/radius-clients/ap1', 'PATCH', { secret: 'another-radius-secret-01' }, "the secret of RADIUS client 'ap1'", 'change'],
      ['/api/v1/radius-clients/ap1', 'DELETE', undefined, "RADIUS client 'ap1'", 'delete'],
      ['/api/v1/policies/office-only', 'PATCH', { enabled: false }, "policy 'office-only'", 'change'],
      ['/api/v1/policies/office-only', 'DELETE', undefined, "policy 'office-only'", 'delete'],
    ];
    const snapshot = () => server.gh.core.directory.changes.snapshot();
    const before = await snapshot();
    const policies = await server.gh.core.directory.resources.all('policies');
    for (const [path, method, body, what, verb] of refused) {
      const res = await json(path, method, body);
      const problem = await expectProblem(res, 409);
      expect(problem, `${method} ${path}`).toEqual({ type: 'https://gatehouse.dev/problems/managed-by-config', title: 'Conflict', status: 409, detail: refusal(file, what, verb) });
      expect(await eventsOf(server, res), `${method} ${path}`).toEqual([]);
    }
    expect(await snapshot()).toEqual(before);
    expect(await server.gh.core.directory.resources.all('policies')).toEqual(policies);
    expect(await server.gh.core.directory.applications.verifySecret('wiki', WIKI_SECRET)).toBeDefined();
    expect((await server.gh.core.passwords.authenticate({ username: 'alice', password: ALICE_PASSWORD, context: { actor: { type: 'anonymous' } } })).outcome).toBe('success');
  });

  it('lets through what the reconciler leaves alone: members added here, a password or secret the declaration does not set, a patch that changes nothing', async () => {
    await expectNoContent(await json('/api/v1/groups/engineering/members', 'POST', { user: 'bob' }));
    await expectNoContent(await json('/api/v1/groups/staff/members', 'POST', { user: 'alice' }));
    await expectNoContent(await json('/api/v1/groups/staff/members/user/alice', 'DELETE'));
    await expectNoContent(await json('/api/v1/users/carol/password', 'POST', { password: 'silver-otter-bicycle-58' }));
    const { secret } = await expectJson<{ secret: string }>(await json('/api/v1/applications/nas/secret', 'POST'), 201);
    const same = await json('/api/v1/users/alice', 'PATCH', { displayName: 'Alice Declared' });
    expect(await expectJson(same, 200)).toMatchObject({ displayName: 'Alice Declared' });
    expect(await eventsOf(server, same)).toEqual([]);

    expect(await server.gh.reload()).toMatchObject({ ok: true, summary: { created: 0, updated: 0, deleted: 0 } });
    const members = await expectJson<{ items: Array<{ name: string; managedBy: string }> }>(await json('/api/v1/groups/engineering/members', 'GET'), 200);
    expect(members.items.map((m) => `${m.name}:${m.managedBy}`).sort()).toEqual(['alice:config', 'bob:api']);
    expect((await server.gh.core.passwords.authenticate({ username: 'carol', password: 'silver-otter-bicycle-58', context: { actor: { type: 'anonymous' } } })).outcome).toBe('success');
    expect(await server.gh.core.directory.applications.verifySecret('nas', secret)).toBeDefined();
  });

  it('makes the change with ?force=true, audited as forced, until the next reload puts the declaration back', async () => {
    const patched = await json('/api/v1/users/alice?force=true', 'PATCH', { displayName: 'Alice Here' });
    expect(await expectJson(patched, 200)).toMatchObject({ displayName: 'Alice Here', managedBy: 'config' });
    expect((await eventsOf(server, patched)).map((e) => [e.type, e.details])).toEqual([['user.updated', { changed: ['displayName'], forced: true }]]);
    const suspended = await json('/api/v1/users/alice/suspend?force=true', 'POST');
    expect(await expectJson(suspended, 200)).toMatchObject({ status: 'suspended' });
    expect((await eventsOf(server, suspended)).map((e) => [e.type, e.details])).toEqual([['user.suspended', { forced: true }]]);
    const removed = await json('/api/v1/groups/engineering/members/user/alice?force=true', 'DELETE');
    await expectNoContent(removed);
    expect((await eventsOf(server, removed)).map((e) => [e.type, e.details])).toEqual([['group.member.removed', { member: 'alice', memberKind: 'user', forced: true }]]);
    await expectNoContent(await json('/api/v1/radius-clients/ap1?force=true', 'DELETE'));
    // force=false is no force at all.
    expect((await expectProblem(await json('/api/v1/policies/office-only?force=false', 'DELETE'), 409)).detail).toBe(refusal(file, "policy 'office-only'", 'delete'));

    expect(await server.gh.reload()).toMatchObject({ ok: true });
    expect(await expectJson(await json('/api/v1/users/alice', 'GET'), 200)).toMatchObject({ displayName: 'Alice Declared', status: 'active' });
    expect((await server.gh.core.directory.users.directGroupsOf((await server.gh.core.directory.users.find('alice')).id)).map((g) => g.name)).toEqual(['engineering']);
    expect(await expectJson(await json('/api/v1/radius-clients/ap1', 'GET'), 200)).toMatchObject({ address: '10.1.0.0/24', managedBy: 'config' });
  });

  it('answers 400 for a force that is not true or false, and for force where nothing can be declared', async () => {
    const bad = await expectProblem(await json('/api/v1/users/alice?force=yes', 'PATCH', { displayName: 'x' }), 400);
    expect(bad.errors).toEqual([expect.objectContaining({ path: 'query.force' })]);
    await expectProblem(await json('/api/v1/users?force=true', 'POST', { username: 'dave' }), 400);
    await expectProblem(await json('/api/v1/devices/nothing?force=true', 'DELETE'), 400);
  });

  it('refuses to revoke the key GATEHOUSE_ADMIN_KEY sets, naming the variable; with force it stops working', async () => {
    const res = await json('/api/v1/api-keys/bootstrap', 'DELETE');
    expect((await expectProblem(res, 409)).detail).toBe(
      "API key 'bootstrap' is set by GATEHOUSE_ADMIN_KEY: change the variable (and restart), or repeat with ?force=true to revoke it here until the next start puts it back",
    );
    expect(await eventsOf(server, res)).toEqual([]);
    const { secret } = await expectJson<{ secret: string }>(await json('/api/v1/api-keys', 'POST', { name: 'ops', scopes: ['read', 'write'] }), 201);
    const revoked = await withKey(server, secret)('/api/v1/api-keys/bootstrap?force=true', { method: 'DELETE' });
    await expectNoContent(revoked);
    expect((await eventsOf(server, revoked)).map((e) => [e.type, e.details])).toEqual([['apikey.revoked', { forced: true }]]);
    await expectProblem(await json('/api/v1/users', 'GET'), 401);
  });
});
