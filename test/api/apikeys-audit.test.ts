/**
 * API keys (created, listed without secrets, revoked) and the audit log over the admin API: every
 * admin change is exactly one event naming the key that made it; a refused change is none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { eventsOf, expectJson, expectNoContent, expectProblem, withKey } from './support.ts';

interface KeyBody {
  id: string;
  name: string;
  scopes: string[];
  prefix: string;
  expiresAt?: string;
}
interface EventBody {
  id: string;
  time: string;
  type: string;
  outcome: string;
  actor: { type: string; id?: string; name?: string };
  target?: { type: string; id?: string; name?: string };
  requestId?: string;
  sourceIp?: string;
}
interface Items<T> {
  items: T[];
  next?: string;
}

describe.each(backends)('admin API keys and audit ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend);
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe('API keys', () => {
    let created: { apiKey: KeyBody; secret: string };

    it('creates a key and shows its secret once (201)', async () => {
      const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
      const res = await server.api('/api/v1/api-keys', { method: 'POST', json: { name: 'ci', scopes: ['read', 'write'], expiresAt } });
      created = await expectJson(res, 201);
      expect(created.apiKey).toMatchObject({ name: 'ci', scopes: ['read', 'write'], expiresAt, managedBy: 'api' });
      expect(created.secret).toMatch(/^ghk_[A-Za-z0-9_-]{40,}$/);
      expect(created.secret.startsWith(created.apiKey.prefix)).toBe(true);
      expect(created.apiKey).not.toHaveProperty('secretHash');
      const events = await eventsOf(server, res);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'apikey.created', target: { type: 'apikey', id: created.apiKey.id, name: 'ci' }, actor: { type: 'apikey', name: 'bootstrap' } });
      expect(JSON.stringify(events)).not.toContain(created.secret);
    });

    it('the new key works, and its changes are audited under its own name', async () => {
      const ci = withKey(server, created.secret);
      const res = await ci('/api/v1/groups', { method: 'POST', json: { name: 'made-by-ci' } });
      await expectJson(res, 201);
      expect((await eventsOf(server, res))[0]!.actor).toEqual({ type: 'apikey', id: created.apiKey.id, name: 'ci' });
    });

    it('lists keys without secrets or hashes', async () => {
      const res = await server.api('/api/v1/api-keys');
      const text = await res.clone().text();
      const page = await expectJson<Items<KeyBody>>(res, 200);
      expect(page.items.map((k) => k.name)).toEqual(['bootstrap', 'ci']);
      expect(text).not.toContain(created.secret);
      expect(text).not.toMatch(/secretHash|secret_hash|"secret"/);
      expect(text).not.toMatch(/[0-9a-f]{64}/); // no SHA-256 in any form
    });

    it('refuses a duplicate name (409) and invalid input (400) without creating anything', async () => {
      const dup = await server.api('/api/v1/api-keys', { method: 'POST', json: { name: 'ci' } });
      expect((await expectProblem(dup, 409)).detail).toBe("API key with name 'ci' already exists");
      expect(await eventsOf(server, dup)).toEqual([]);
      const bad = await expectProblem(await server.api('/api/v1/api-keys', { method: 'POST', json: { name: 'admin', scopes: ['root'], expiresAt: 'tomorrow' } }), 400);
      expect(bad.errors!.map((e) => e.path).sort()).toEqual(['expiresAt', 'scopes[0]']);
      expect((await expectJson<Items<KeyBody>>(await server.api('/api/v1/api-keys'), 200)).items).toHaveLength(2);
    });

    it('revokes a key (204): it stops working at once', async () => {
      const res = await server.api(`/api/v1/api-keys/${created.apiKey.id}`, { method: 'DELETE' });
      await expectNoContent(res);
      expect((await eventsOf(server, res)).map((e) => e.type)).toEqual(['apikey.revoked']);
      const refused = await withKey(server, created.secret)('/api/v1/users');
      await expectProblem(refused, 401);
      expect((await eventsOf(server, refused))[0]).toMatchObject({ type: 'authn.apikey', reasons: [{ code: 'unknown_key' }] });
      await expectProblem(await server.api(`/api/v1/api-keys/${created.apiKey.id}`, { method: 'DELETE' }), 404);
      expect((await expectJson<Items<KeyBody>>(await server.api('/api/v1/api-keys'), 200)).items.map((k) => k.name)).toEqual(['bootstrap']);
    });

    it('revokes by name too', async () => {
      await expectJson(await server.api('/api/v1/api-keys', { method: 'POST', json: { name: 'temp' } }), 201);
      await expectNoContent(await server.api('/api/v1/api-keys/temp', { method: 'DELETE' }));
    });
  });

  describe('audit', () => {
    let startedAt: string;
    let userId: string;
    let auditor: ReturnType<typeof withKey>;
    let auditorKeyId: string;

    beforeAll(async () => {
      startedAt = new Date().toISOString();
      const made = await expectJson<{ apiKey: KeyBody; secret: string }>(await server.api('/api/v1/api-keys', { method: 'POST', json: { name: 'auditor', scopes: ['read', 'write'] } }), 201);
      auditor = withKey(server, made.secret);
      auditorKeyId = made.apiKey.id;
    });

    it('records each admin change as exactly one event: the right type, target and actor', async () => {
      const steps: Array<[Response, string]> = [];
      const step = async (res: Promise<Response>, type: string) => {
        const r = await res;
        expect(r.status, await r.clone().text()).toBeLessThan(300);
        steps.push([r, type]);
        return r;
      };
      userId = ((await (await step(auditor('/api/v1/users', { method: 'POST', json: { username: 'heidi' } }), 'user.created')).json()) as { id: string }).id;
      await step(auditor('/api/v1/users/heidi', { method: 'PATCH', json: { displayName: 'Heidi' } }), 'user.updated');
      await step(auditor('/api/v1/groups', { method: 'POST', json: { name: 'auditors' } }), 'group.created');
      await step(auditor('/api/v1/groups/auditors/members', { method: 'POST', json: { user: 'heidi' } }), 'group.member.added');
      await step(auditor('/api/v1/users/heidi/suspend', { method: 'POST' }), 'user.suspended');
      await step(auditor('/api/v1/users/heidi/activate', { method: 'POST' }), 'user.activated');
      await step(auditor('/api/v1/networks', { method: 'POST', json: { name: 'lan', cidrs: ['10.0.0.0/8'] } }), 'network.created');
      await step(auditor('/api/v1/networks/lan', { method: 'DELETE' }), 'network.deleted');

      for (const [res, type] of steps) {
        const events = await eventsOf(server, res);
        expect(events, type).toHaveLength(1);
        expect(events[0]).toMatchObject({ type, outcome: 'success', actor: { type: 'apikey', id: auditorKeyId, name: 'auditor' }, protocol: 'admin' });
        expect(events[0]!.sourceIp).toMatch(/127\.0\.0\.1/);
      }
    });

    it('records nothing for a refused change, and leaves no partial data', async () => {
      const dupUser = await auditor('/api/v1/users', { method: 'POST', json: { username: 'heidi', groups: ['auditors'] } });
      await expectProblem(dupUser, 409);
      const badGroup = await auditor('/api/v1/users', { method: 'POST', json: { username: 'ivan', groups: ['auditors', 'missing'] } });
      await expectProblem(badGroup, 404);
      const stale = await auditor('/api/v1/users/heidi', { method: 'PATCH', json: { displayName: 'X' }, headers: { 'if-match': '"1"' } });
      await expectProblem(stale, 412);
      for (const res of [dupUser, badGroup, stale]) expect(await eventsOf(server, res)).toEqual([]);
      // ivan was not created, and the membership half of his creation did not happen either.
      await expectProblem(await server.api('/api/v1/users/ivan'), 404);
      const members = await expectJson<Items<{ name: string }>>(await server.api('/api/v1/groups/auditors/members'), 200);
      expect(members.items.map((m) => m.name)).toEqual(['heidi']);
    });

    it('filters by user (actor or target), by id or username', async () => {
      const byName = await expectJson<Items<EventBody>>(await server.api('/api/v1/audit?user=heidi'), 200);
      expect(byName.items.map((e) => e.type)).toEqual(['user.activated', 'user.suspended', 'user.updated', 'user.created']);
      expect(byName.items.every((e) => e.target?.id === userId)).toBe(true);
      const byId = await expectJson<Items<EventBody>>(await server.api(`/api/v1/audit?user=${userId}`), 200);
      expect(byId.items.map((e) => e.id)).toEqual(byName.items.map((e) => e.id));
      expect(await expectJson(await server.api('/api/v1/audit?user=HEIDI'), 200)).toEqual(byName);
    });

    it('filters by request id: the reference a denial page shows finds its events', async () => {
      const res = await server.api('/api/v1/groups', { method: 'POST', json: { name: 'by-request' } });
      await expectJson(res, 201);
      const requestId = res.headers.get('x-request-id')!;
      const found = await expectJson<Items<EventBody>>(await server.api(`/api/v1/audit?requestId=${requestId}`), 200);
      expect(found.items.map((e) => e.type)).toEqual(['group.created']);
      expect((await expectJson<Items<EventBody>>(await server.api('/api/v1/audit?requestId=nothing-here'), 200)).items).toEqual([]);
      await expectProblem(await server.api(`/api/v1/audit?requestId=${'x'.repeat(65)}`), 400);
    });

    it('filters by exact type and by type prefix', async () => {
      const exact = await expectJson<Items<EventBody>>(await server.api('/api/v1/audit?type=group.member.added'), 200);
      expect(exact.items.length).toBeGreaterThanOrEqual(1);
      expect(exact.items.every((e) => e.type === 'group.member.added')).toBe(true);
      const prefix = await expectJson<Items<EventBody>>(await server.api('/api/v1/audit?type=network.'), 200);
      expect(prefix.items.map((e) => e.type)).toEqual(['network.deleted', 'network.created']);
      await expectProblem(await server.api('/api/v1/audit?type=DROP%20TABLE'), 400);
    });

    it('filters by outcome', async () => {
      await expectProblem(await withKey(server, 'ghk_wrong')('/api/v1/users'), 401);
      const failures = await expectJson<Items<EventBody>>(await server.api('/api/v1/audit?outcome=failure'), 200);
      expect(failures.items.length).toBeGreaterThanOrEqual(1);
      expect(failures.items.every((e) => e.outcome === 'failure' && e.type === 'authn.apikey')).toBe(true);
      await expectProblem(await server.api('/api/v1/audit?outcome=meh'), 400);
    });

    it('filters by time (since inclusive, until exclusive), validating ISO 8601', async () => {
      const since = await expectJson<Items<EventBody>>(await server.api(`/api/v1/audit?since=${encodeURIComponent(startedAt)}&type=user.`), 200);
      expect(since.items.map((e) => e.type)).toEqual(['user.activated', 'user.suspended', 'user.updated', 'user.created']);
      expect(since.items.every((e) => e.time >= startedAt)).toBe(true);
      const before = await expectJson<Items<EventBody>>(await server.api(`/api/v1/audit?until=${encodeURIComponent(startedAt)}&type=user.`), 200);
      expect(before.items).toEqual([]);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      expect(await expectJson(await server.api(`/api/v1/audit?since=${encodeURIComponent(future)}`), 200)).toEqual({ items: [] });
      const offset = await expectJson<Items<EventBody>>(await server.api(`/api/v1/audit?since=2000-01-01T00:00:00%2B02:00&type=user.created`), 200);
      expect(offset.items.length).toBeGreaterThanOrEqual(1);

      expect((await expectProblem(await server.api('/api/v1/audit?since=yesterday'), 400)).errors![0]!.path).toBe('query.since');
      expect((await expectProblem(await server.api('/api/v1/audit?until=2026-13-01T00:00:00Z'), 400)).errors![0]!.path).toBe('query.until');
      const reversed = await expectProblem(await server.api(`/api/v1/audit?since=${encodeURIComponent(future)}&until=${encodeURIComponent(startedAt)}`), 400);
      expect(reversed.errors![0]).toMatchObject({ path: 'query.until', message: 'until must not be before since' });
    });

    it('pages newest first with limit and after', async () => {
      const all = await expectJson<Items<EventBody>>(await server.api('/api/v1/audit?limit=1000'), 200);
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page: Items<EventBody> = await expectJson(await server.api(`/api/v1/audit?limit=7${after ? `&after=${after}` : ''}`), 200);
        seen.push(...page.items.map((e) => e.id));
        after = page.next;
      } while (after);
      expect(seen).toEqual(all.items.map((e) => e.id));
      const ids = seen.map(Number);
      expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    });

    it('is readable with a read-only key', async () => {
      const made = await expectJson<{ secret: string }>(await server.api('/api/v1/api-keys', { method: 'POST', json: { name: 'audit-reader', scopes: ['read'] } }), 201);
      await expectJson(await withKey(server, made.secret)('/api/v1/audit?limit=1'), 200);
    });
  });
});
