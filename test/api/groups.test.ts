/**
 * Groups over the admin API: CRUD, direct and nested members, a user's resolved groups, and the
 * conflicts (duplicates, cycles) that must be refused without a trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { eventsOf, expectJson, expectNoContent, expectProblem } from './support.ts';

interface GroupBody {
  id: string;
  name: string;
  version: number;
  description?: string;
  gidNumber?: number;
}
interface Items<T> {
  items: T[];
  next?: string;
}

describe.each(backends)('admin API groups ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend);
    for (const username of ['erin', 'frank']) await expectJson(await server.api('/api/v1/users', { method: 'POST', json: { username } }), 201);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const createGroup = (json: Record<string, unknown>) => server.api('/api/v1/groups', { method: 'POST', json });
  const addMember = (group: string, json: Record<string, unknown>) => server.api(`/api/v1/groups/${group}/members`, { method: 'POST', json });
  const names = (page: Items<{ name: string }>) => page.items.map((g) => g.name);

  it('creates a group with Location and ETag, and reads it by name or id', async () => {
    const res = await createGroup({ name: 'engineering', description: 'Builds things', gidNumber: 5000, attributes: { radiusVlan: 20 } });
    const group = await expectJson<GroupBody>(res, 201);
    expect(group).toMatchObject({ name: 'engineering', description: 'Builds things', gidNumber: 5000, version: 1, attributes: { radiusVlan: 20 } });
    expect(res.headers.get('location')).toBe(`/api/v1/groups/${group.id}`);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(await expectJson(await server.api(`/api/v1/groups/${group.id}`), 200)).toEqual(group);
    expect(await expectJson(await server.api('/api/v1/groups/engineering'), 200)).toEqual(group);
  });

  it('refuses a duplicate name or gid with 409 naming it', async () => {
    expect((await expectProblem(await createGroup({ name: 'engineering' }), 409)).detail).toBe("group with name 'engineering' already exists");
    expect((await expectProblem(await createGroup({ name: 'eng2', gidNumber: 5000 }), 409)).detail).toBe("group with gidNumber '5000' already exists");
  });

  it('refuses an invalid group name with 400 naming the field', async () => {
    const problem = await expectProblem(await createGroup({ name: 'Not A Slug' }), 400);
    expect(problem.errors).toEqual([expect.objectContaining({ path: 'name' })]);
  });

  it('lists groups with a name prefix filter', async () => {
    for (const name of ['staff', 'everyone', 'engineering-leads']) await expectJson(await createGroup({ name }), 201);
    expect(names(await expectJson(await server.api('/api/v1/groups?q=eng'), 200))).toEqual(['engineering', 'engineering-leads']);
    const page = await expectJson<Items<GroupBody>>(await server.api('/api/v1/groups?limit=2'), 200);
    expect(page.items).toHaveLength(2);
    expect(page.next).toEqual(expect.any(String));
  });

  it('adds users and nested groups as members (204, one event each)', async () => {
    const res = await addMember('engineering', { user: 'Erin' });
    await expectNoContent(res);
    const events = await eventsOf(server, res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'group.member.added', target: { name: 'engineering' }, details: { member: 'erin', memberKind: 'user' }, actor: { type: 'apikey' } });
    await expectNoContent(await addMember('staff', { group: 'engineering' }));
    await expectNoContent(await addMember('everyone', { group: 'staff' }));
    await expectNoContent(await addMember('staff', { user: 'frank' }));

    const members = await expectJson<Items<{ kind: string; name: string; id: string }>>(await server.api('/api/v1/groups/staff/members'), 200);
    expect(members.items.map((m) => `${m.kind}:${m.name}`).sort()).toEqual(['group:engineering', 'user:frank']);
  });

  it("resolves a user's groups through nesting, or only the direct ones", async () => {
    expect(names(await expectJson(await server.api('/api/v1/users/erin/groups'), 200))).toEqual(['engineering', 'everyone', 'staff']);
    expect(names(await expectJson(await server.api('/api/v1/users/erin/groups?direct=true'), 200))).toEqual(['engineering']);
    expect(names(await expectJson(await server.api('/api/v1/users/erin/groups?direct=false'), 200))).toEqual(['engineering', 'everyone', 'staff']);
    await expectProblem(await server.api('/api/v1/users/erin/groups?direct=yes'), 400);
    await expectProblem(await server.api('/api/v1/users/nobody/groups'), 404);
  });

  it('refuses a membership cycle with 409 and records nothing', async () => {
    const res = await addMember('engineering', { group: 'everyone' });
    const problem = await expectProblem(res, 409);
    expect(problem.detail).toMatch(/cycle|itself|contain/i);
    expect(await eventsOf(server, res)).toEqual([]);
    await expectProblem(await addMember('staff', { group: 'staff' }), 409);
  });

  it('refuses a duplicate membership with 409', async () => {
    await expectProblem(await addMember('engineering', { user: 'erin' }), 409);
  });

  it('refuses a member body naming both or neither kind with 400, and unknown members with 404', async () => {
    await expectProblem(await addMember('staff', { user: 'erin', group: 'engineering' }), 400);
    await expectProblem(await addMember('staff', {}), 400);
    expect((await expectProblem(await addMember('staff', { user: 'ghost' }), 404)).detail).toBe("user 'ghost' not found");
    expect((await expectProblem(await addMember('nowhere', { user: 'erin' }), 404)).detail).toBe("group 'nowhere' not found");
  });

  it('removes members by kind and name (204), and 404s when they are not members', async () => {
    const res = await server.api('/api/v1/groups/staff/members/user/frank', { method: 'DELETE' });
    await expectNoContent(res);
    expect((await eventsOf(server, res)).map((e) => e.type)).toEqual(['group.member.removed']);
    await expectProblem(await server.api('/api/v1/groups/staff/members/user/frank', { method: 'DELETE' }), 404);
    await expectProblem(await server.api('/api/v1/groups/staff/members/robot/frank', { method: 'DELETE' }), 400);
    await expectNoContent(await server.api('/api/v1/groups/everyone/members/group/staff', { method: 'DELETE' }));
    expect(names(await expectJson(await server.api('/api/v1/users/erin/groups'), 200))).toEqual(['engineering', 'staff']);
  });

  it('renames a group with If-Match, and 412s on a stale one', async () => {
    const current = await expectJson<GroupBody>(await server.api('/api/v1/groups/engineering-leads'), 200);
    const renamed = await server.api('/api/v1/groups/engineering-leads', { method: 'PATCH', json: { name: 'leads', description: 'Leads' }, headers: { 'if-match': `"${current.version}"` } });
    expect(await expectJson(renamed, 200)).toMatchObject({ id: current.id, name: 'leads', version: current.version + 1 });
    await expectProblem(await server.api('/api/v1/groups/leads', { method: 'PATCH', json: { description: null }, headers: { 'if-match': `"${current.version}"` } }), 412);
    const cleared = await expectJson<GroupBody>(await server.api('/api/v1/groups/leads', { method: 'PATCH', json: { description: null } }), 200);
    expect(cleared).not.toHaveProperty('description');
  });

  it('deletes a group (204); its members keep existing', async () => {
    await expectNoContent(await server.api('/api/v1/groups/engineering', { method: 'DELETE' }));
    await expectProblem(await server.api('/api/v1/groups/engineering'), 404);
    expect(names(await expectJson(await server.api('/api/v1/users/erin/groups'), 200))).toEqual([]);
    await expectJson(await server.api('/api/v1/users/erin'), 200);
  });
});
