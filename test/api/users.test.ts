/**
 * Users over the admin API: CRUD, pagination and filters, optimistic concurrency with ETags,
 * input errors that name their field and leave nothing behind, passwords and suspension.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { auditEvents, eventsOf, expectJson, expectNoContent, expectProblem, STRONG_PASSWORD } from './support.ts';

interface UserBody {
  id: string;
  username: string;
  version: number;
  status: string;
  email?: string;
  displayName?: string;
  [key: string]: unknown;
}
interface PageBody<T> {
  items: T[];
  next?: string;
}

describe.each(backends)('admin API users ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const createUser = (json: Record<string, unknown>) => server.api('/api/v1/users', { method: 'POST', json });

  describe('create and read', () => {
    it('creates a user: 201, Location, strong ETag, the stored object without the password', async () => {
      const res = await createUser({ username: 'Alice', email: 'Alice@Example.com', displayName: 'Alice Liddell', password: STRONG_PASSWORD });
      const user = await expectJson<UserBody>(res, 201);
      expect(user).toMatchObject({ username: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', status: 'active', managedBy: 'api', version: 1, sshPublicKeys: [], attributes: {} });
      expect(user.passwordChangedAt).toEqual(expect.any(String));
      expect(res.headers.get('location')).toBe(`/api/v1/users/${user.id}`);
      expect(res.headers.get('etag')).toBe('"1"');
      expect(JSON.stringify(user)).not.toContain(STRONG_PASSWORD);
      expect(user).not.toHaveProperty('password');
    });

    it('gets a user by id, by username, and by username in any case', async () => {
      const byName = await expectJson<UserBody>(await server.api('/api/v1/users/alice'), 200);
      const byId = await server.api(`/api/v1/users/${byName.id}`);
      expect(byId.headers.get('etag')).toBe(`"${byName.version}"`);
      expect(await expectJson(byId, 200)).toEqual(byName);
      expect(await expectJson(await server.api('/api/v1/users/ALICE'), 200)).toEqual(byName);
    });

    it('answers 404 for a user that does not exist, naming it', async () => {
      const problem = await expectProblem(await server.api('/api/v1/users/nobody'), 404);
      expect(problem.detail).toBe("user 'nobody' not found");
      await expectProblem(await server.api('/api/v1/users/00000000-0000-4000-8000-000000000000'), 404);
    });

    it('refuses a duplicate username with 409 naming the field and value, and writes nothing', async () => {
      const before = await auditEvents(server, { type: 'user.created' });
      const res = await createUser({ username: 'ALICE' });
      const problem = await expectProblem(res, 409);
      expect(problem.detail).toBe("user with username 'alice' already exists");
      expect(await eventsOf(server, res)).toEqual([]);
      expect(await auditEvents(server, { type: 'user.created' })).toEqual(before);
    });

    it('refuses a duplicate e-mail address with 409 naming it', async () => {
      const problem = await expectProblem(await createUser({ username: 'alice2', email: 'alice@example.com' }), 409);
      expect(problem.detail).toBe("user with email 'alice@example.com' already exists");
      await expectProblem(await server.api('/api/v1/users/alice2'), 404);
    });

    it('creates a user in groups in one step, and in none when a group is unknown', async () => {
      await expectJson(await server.api('/api/v1/groups', { method: 'POST', json: { name: 'founders' } }), 201);
      await expectJson(await createUser({ username: 'ann', groups: ['founders'] }), 201);
      const members = await expectJson<{ items: Array<{ name: string }> }>(await server.api('/api/v1/groups/founders/members'), 200);
      expect(members.items.map((m) => m.name)).toEqual(['ann']);

      const problem = await expectProblem(await createUser({ username: 'andy', groups: ['founders', 'no-such-group'] }), 404);
      expect(problem.detail).toBe("group 'no-such-group' not found");
      await expectProblem(await server.api('/api/v1/users/andy'), 404);
    });
  });

  describe('input errors', () => {
    it('refuses malformed JSON with 400', async () => {
      const res = await server.api('/api/v1/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username": "bob",' });
      const problem = await expectProblem(res, 400);
      expect(problem.detail).toMatch(/^malformed JSON/);
    });

    it('refuses a body that is not JSON with 415', async () => {
      const res = await server.api('/api/v1/users', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'username=bob' });
      const problem = await expectProblem(res, 415);
      expect(problem.detail).toContain('text/plain');
    });

    it('refuses an unknown field with 400 naming it', async () => {
      const problem = await expectProblem(await createUser({ username: 'bob', nickname: 'bobby' }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'nickname', message: "unknown field 'nickname'" })]);
      await expectProblem(await server.api('/api/v1/users/bob'), 404);
    });

    it('names every invalid field', async () => {
      const problem = await expectProblem(await createUser({ username: '-bad', email: 'not-an-email', sshPublicKeys: ['ssh-rsa nope'] }), 400);
      expect(problem.errors!.map((e) => e.path).sort()).toEqual(['email', 'sshPublicKeys[0]', 'username']);
    });

    it('names the password policy\'s problems with the other fields\' in one 400', async () => {
      const res = await createUser({ username: 'mixed', email: 'not-an-email', password: 'Zq8#vT2m-k' });
      const problem = await expectProblem(res, 400);
      expect(problem.errors).toEqual([
        expect.objectContaining({ path: 'email' }),
        expect.objectContaining({ path: 'password', code: 'too_short' }),
      ]);
      expect(problem.detail).toMatch(/^email: .+; password must be at least 15 characters$/);
      // Context words come from the body as sent, as they do once the other fields are right.
      const named = await expectProblem(await createUser({ username: 'marmaduke', email: 'bad', password: 'marmaduke-password-2024' }), 400);
      expect(named.errors!.map((e) => `${e.path}:${e.code}`)).toEqual(['email:invalid_format', 'password:context']);
      // A password the policy accepts adds nothing to the other problems.
      const fine = await expectProblem(await createUser({ username: 'mixed', email: 'not-an-email', password: STRONG_PASSWORD }), 400);
      expect(fine.errors!.map((e) => e.path)).toEqual(['email']);
      await expectProblem(await server.api('/api/v1/users/mixed'), 404);
      expect(await eventsOf(server, res)).toEqual([]);
    });

    it('refuses a 1 MB password with 400 and creates nothing', async () => {
      const res = await createUser({ username: 'huge', password: 'x'.repeat(1_000_000) });
      const problem = await expectProblem(res, 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'password', code: 'too_many_bytes' })]);
      await expectProblem(await server.api('/api/v1/users/huge'), 404);
      expect(await eventsOf(server, res)).toEqual([]);
    });

    it('refuses a short password and a common one with 400 and creates nothing', async () => {
      const short = await expectProblem(await createUser({ username: 'weak', password: 'Zq8#vT2m-k' }), 400);
      expect(short.errors).toEqual([expect.objectContaining({ path: 'password', code: 'too_short' })]);
      const common = await expectProblem(await createUser({ username: 'weak', password: 'qwerty123456789' }), 400);
      expect(common.errors).toEqual([expect.objectContaining({ path: 'password', code: 'common' })]);
      await expectProblem(await server.api('/api/v1/users/weak'), 404);
      expect((await auditEvents(server, { user: 'weak' }))).toEqual([]);
    });

    it('refuses unknown and invalid query parameters with 400 naming them', async () => {
      const unknown = await expectProblem(await server.api('/api/v1/users?colour=red'), 400);
      expect(unknown.errors).toEqual([expect.objectContaining({ path: 'query.colour', message: "unknown field 'colour'" })]);
      for (const bad of ['limit=0', 'limit=1001', 'limit=ten', 'status=gone']) {
        const problem = await expectProblem(await server.api(`/api/v1/users?${bad}`), 400);
        expect(problem.errors![0]!.path).toBe(`query.${bad.split('=')[0]}`);
      }
    });

    it('refuses a cursor the server did not issue with 400', async () => {
      await expectProblem(await server.api('/api/v1/users?after=bm90LWEtY3Vyc29y'), 400);
    });
  });

  describe('lists', () => {
    beforeAll(async () => {
      for (const name of ['pg-e', 'pg-c', 'pg-a', 'pg-d', 'pg-b']) await expectJson(await createUser({ username: name, email: `${name}@lists.example` }), 201);
    });

    it('pages through users in name order with limit and after, without gaps or repeats', async () => {
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page: PageBody<UserBody> = await expectJson(await server.api(`/api/v1/users?q=pg-&limit=2${after ? `&after=${encodeURIComponent(after)}` : ''}`), 200);
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((u) => u.username));
        after = page.next;
        pages++;
      } while (after);
      expect(pages).toBe(3);
      expect(seen).toEqual(['pg-a', 'pg-b', 'pg-c', 'pg-d', 'pg-e']);
    });

    it('filters by a prefix of the username or e-mail address (q)', async () => {
      const byName = await expectJson<PageBody<UserBody>>(await server.api('/api/v1/users?q=PG-C'), 200);
      expect(byName.items.map((u) => u.username)).toEqual(['pg-c']);
      expect(byName.next).toBeUndefined();
      const none = await expectJson<PageBody<UserBody>>(await server.api('/api/v1/users?q=zzz'), 200);
      expect(none).toEqual({ items: [] });
    });

    it('filters by status', async () => {
      await expectJson(await server.api('/api/v1/users/pg-d/suspend', { method: 'POST' }), 200);
      const suspended = await expectJson<PageBody<UserBody>>(await server.api('/api/v1/users?status=suspended&q=pg-'), 200);
      expect(suspended.items.map((u) => u.username)).toEqual(['pg-d']);
      const active = await expectJson<PageBody<UserBody>>(await server.api('/api/v1/users?status=active&q=pg-'), 200);
      expect(active.items.map((u) => u.username)).toEqual(['pg-a', 'pg-b', 'pg-c', 'pg-e']);
    });

    it('filters by direct membership of a group, and 404s for an unknown group', async () => {
      await expectJson(await server.api('/api/v1/groups', { method: 'POST', json: { name: 'listers' } }), 201);
      for (const user of ['pg-b', 'pg-e']) await expectNoContent(await server.api('/api/v1/groups/listers/members', { method: 'POST', json: { user } }));
      const members = await expectJson<PageBody<UserBody>>(await server.api('/api/v1/users?group=listers'), 200);
      expect(members.items.map((u) => u.username)).toEqual(['pg-b', 'pg-e']);
      const problem = await expectProblem(await server.api('/api/v1/users?group=ghosts'), 404);
      expect(problem.detail).toBe("group 'ghosts' not found");
    });
  });

  describe('changes and ETags', () => {
    let id: string;
    beforeAll(async () => {
      id = (await expectJson<UserBody>(await createUser({ username: 'carol', email: 'carol@example.com' }), 201)).id;
    });

    it('patches with a matching If-Match and returns the new ETag', async () => {
      const res = await server.api('/api/v1/users/carol', { method: 'PATCH', json: { displayName: 'Carol Danvers' }, headers: { 'if-match': '"1"' } });
      const user = await expectJson<UserBody>(res, 200);
      expect(user).toMatchObject({ id, displayName: 'Carol Danvers', version: 2 });
      expect(res.headers.get('etag')).toBe('"2"');
    });

    it('refuses a stale If-Match with 412 and leaves the user as it was', async () => {
      const res = await server.api('/api/v1/users/carol', { method: 'PATCH', json: { displayName: 'Lost Update' }, headers: { 'if-match': '"1"' } });
      const problem = await expectProblem(res, 412);
      expect(problem.detail).toMatch(/version 2, not 1/);
      expect(await eventsOf(server, res)).toEqual([]);
      expect(await expectJson<UserBody>(await server.api('/api/v1/users/carol'), 200)).toMatchObject({ displayName: 'Carol Danvers', version: 2 });
    });

    it('accepts If-Match: * and no If-Match at all', async () => {
      await expectJson(await server.api('/api/v1/users/carol', { method: 'PATCH', json: { loginShell: '/bin/zsh' }, headers: { 'if-match': '*' } }), 200);
      const user = await expectJson<UserBody>(await server.api('/api/v1/users/carol', { method: 'PATCH', json: { homeDirectory: '/home/carol' } }), 200);
      expect(user).toMatchObject({ loginShell: '/bin/zsh', homeDirectory: '/home/carol', version: 4 });
    });

    it('refuses a malformed If-Match with 400 and a weak one with 412', async () => {
      const problem = await expectProblem(await server.api('/api/v1/users/carol', { method: 'PATCH', json: { displayName: 'X' }, headers: { 'if-match': '4' } }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'If-Match' })]);
      await expectProblem(await server.api('/api/v1/users/carol', { method: 'PATCH', json: { displayName: 'X' }, headers: { 'if-match': 'W/"4"' } }), 412);
    });

    it('removes an optional field with null', async () => {
      const user = await expectJson<UserBody>(await server.api('/api/v1/users/carol', { method: 'PATCH', json: { email: null } }), 200);
      expect(user).not.toHaveProperty('email');
    });

    it('records one user.updated event per change, naming the changed fields, with the key as actor', async () => {
      const res = await server.api('/api/v1/users/carol', { method: 'PATCH', json: { displayName: 'Captain Marvel', uidNumber: 1500 } });
      await expectJson(res, 200);
      const events = await eventsOf(server, res);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'user.updated', outcome: 'success', actor: { type: 'apikey', name: 'bootstrap' }, target: { type: 'user', id, name: 'carol' }, details: { changed: ['displayName', 'uidNumber'] } });
    });

    it('deletes honouring If-Match: 412 when stale, 204 when current, then 404', async () => {
      const current = await expectJson<UserBody>(await server.api('/api/v1/users/carol'), 200);
      await expectProblem(await server.api('/api/v1/users/carol', { method: 'DELETE', headers: { 'if-match': '"1"' } }), 412);
      await expectNoContent(await server.api(`/api/v1/users/${id}`, { method: 'DELETE', headers: { 'if-match': `"${current.version}"` } }));
      await expectProblem(await server.api('/api/v1/users/carol'), 404);
      await expectProblem(await server.api('/api/v1/users/carol', { method: 'DELETE' }), 404);
    });
  });

  describe('passwords and suspension', () => {
    const signIn = (password: string) =>
      server.gh.core.passwords.authenticate({ username: 'dave', password, context: { actor: { type: 'anonymous' }, sourceIp: '192.0.2.10', protocol: 'ldap' } });

    beforeAll(async () => {
      await expectJson(await createUser({ username: 'dave', displayName: 'Dave Bowman' }), 201);
    });

    it('sets a password (204) that then verifies, and a wrong one does not', async () => {
      const res = await server.api('/api/v1/users/dave/password', { method: 'POST', json: { password: STRONG_PASSWORD } });
      await expectNoContent(res);
      expect((await eventsOf(server, res)).map((e) => e.type)).toEqual(['user.password.set']);
      expect((await signIn(STRONG_PASSWORD)).outcome).toBe('success');
      expect((await signIn(`${STRONG_PASSWORD}!`)).outcome).toBe('failure');
    });

    it('refuses a weak password and keeps the old one', async () => {
      const problem = await expectProblem(await server.api('/api/v1/users/dave/password', { method: 'POST', json: { password: 'davebowman-2001-odyssey' } }), 400);
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'password', code: 'context' })]);
      await expectProblem(await server.api('/api/v1/users/dave/password', { method: 'POST', json: { password: 'x'.repeat(1_000_000) } }), 400);
      await expectProblem(await server.api('/api/v1/users/dave/password', { method: 'POST', json: {} }), 400);
      expect((await signIn(STRONG_PASSWORD)).outcome).toBe('success');
    });

    it('suspends (the password stops working) and reactivates', async () => {
      const res = await server.api('/api/v1/users/dave/suspend', { method: 'POST' });
      const suspended = await expectJson<UserBody>(res, 200);
      expect(suspended.status).toBe('suspended');
      expect(res.headers.get('etag')).toBe(`"${suspended.version}"`);
      expect((await eventsOf(server, res)).map((e) => e.type)).toEqual(['user.suspended']);
      expect((await signIn(STRONG_PASSWORD)).outcome).toBe('denied');

      const active = await expectJson<UserBody>(await server.api('/api/v1/users/dave/activate', { method: 'POST' }), 200);
      expect(active.status).toBe('active');
      expect((await signIn(STRONG_PASSWORD)).outcome).toBe('success');
    });

    it('404s for a password or suspension of a user that does not exist', async () => {
      await expectProblem(await server.api('/api/v1/users/hal/password', { method: 'POST', json: { password: STRONG_PASSWORD } }), 404);
      await expectProblem(await server.api('/api/v1/users/hal/suspend', { method: 'POST' }), 404);
    });
  });
});
