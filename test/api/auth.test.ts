/**
 * Admin API authentication over real HTTP: bearer keys, scopes, expiry, the audit trail of every
 * refusal, and the per-IP throttle that stops key guessing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { auditEvents, eventsOf, expectJson, expectProblem, makeKey, withKey } from './support.ts';

describe.each(backends)('admin API authentication ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses a request without a key with 401 and a Bearer challenge, and audits it', async () => {
    const res = await withKey(server, undefined)('/api/v1/users');
    const problem = await expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    expect(problem.detail).toMatch(/Authorization: Bearer/);
    const [event, ...more] = await eventsOf(server, res);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      type: 'authn.apikey',
      outcome: 'failure',
      actor: { type: 'anonymous' },
      protocol: 'admin',
      reasons: [{ code: 'missing_credentials' }],
      details: { scope: 'read' },
    });
    expect(event!.sourceIp).toMatch(/127\.0\.0\.1/);
  });

  it('refuses an unknown key with 401 invalid_token, audited as a failure', async () => {
    const res = await withKey(server, 'ghk_not-a-real-key-at-all')('/api/v1/users');
    await expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="invalid_token"');
    const events = await eventsOf(server, res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'authn.apikey', outcome: 'failure', actor: { type: 'anonymous' }, reasons: [{ code: 'unknown_key' }] });
  });

  it('refuses an Authorization header that is not Bearer with 401 invalid_request', async () => {
    const res = await fetch(`${server.url}/api/v1/users`, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    await expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="invalid_request"');
    expect((await eventsOf(server, res))[0]).toMatchObject({ reasons: [{ code: 'malformed_credentials' }] });
  });

  it('accepts the scheme name in any case (RFC 9110 §11.1)', async () => {
    const res = await fetch(`${server.url}/api/v1/users`, { headers: { authorization: `bearer ${server.adminKey}` } });
    await expectJson(res, 200);
  });

  it('lets a read-only key GET but not change anything (403, denied, nothing created)', async () => {
    const key = await makeKey(server, 'reader', ['read']);
    const call = withKey(server, key);
    await expectJson(await call('/api/v1/users'), 200);

    const res = await call('/api/v1/groups', { method: 'POST', json: { name: 'readers-made-this' } });
    const problem = await expectProblem(res, 403);
    expect(problem.detail).toContain("'write'");
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="insufficient_scope", scope="write"');
    await expectProblem(await server.api('/api/v1/groups/readers-made-this'), 404);

    const events = await eventsOf(server, res);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'authn.apikey', outcome: 'denied', actor: { type: 'apikey', name: 'reader' }, reasons: [{ code: 'insufficient_scope' }], details: { scope: 'write' } });
  });

  it('lets a write-only key change but not read', async () => {
    const call = withKey(server, await makeKey(server, 'writer', ['write']));
    await expectProblem(await call('/api/v1/users'), 403);
    await expectJson(await call('/api/v1/groups', { method: 'POST', json: { name: 'writers' } }), 201);
  });

  it('refuses an expired key with 401, audited with the key as actor', async () => {
    const key = await makeKey(server, 'old', ['read', 'write'], new Date(Date.now() - 60_000).toISOString());
    const res = await withKey(server, key)('/api/v1/users');
    const problem = await expectProblem(res, 401);
    expect(problem.detail).toMatch(/expired/);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await eventsOf(server, res))[0]).toMatchObject({ type: 'authn.apikey', outcome: 'failure', actor: { type: 'apikey', name: 'old' }, reasons: [{ code: 'expired_key' }] });
  });

  it('finds every refusal with GET /audit?type=authn.apikey', async () => {
    const page = await expectJson<{ items: Array<{ type: string; outcome: string }> }>(await server.api('/api/v1/audit?type=authn.apikey'), 200);
    expect(page.items.length).toBeGreaterThanOrEqual(6);
    expect(page.items.every((e) => e.type === 'authn.apikey' && (e.outcome === 'failure' || e.outcome === 'denied'))).toBe(true);
  });

  it('does not audit successful key use as an event of its own', async () => {
    const res = await server.api('/api/v1/users');
    await expectJson(res, 200);
    expect(await eventsOf(server, res)).toEqual([]);
  });

  it('serves the OpenAPI document without a key', async () => {
    const doc = await expectJson(await fetch(`${server.url}/api/v1/openapi.json`), 200);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('answers 405 with Allow for a known path and an unsupported method', async () => {
    const res = await server.api('/api/v1/users', { method: 'PUT' });
    await expectProblem(res, 405);
    expect(res.headers.get('allow')).toContain('POST');
  });

  it('marks every admin answer as not cacheable', async () => {
    expect((await server.api('/api/v1/users')).headers.get('cache-control')).toBe('no-store');
    expect((await withKey(server, undefined)('/api/v1/users')).headers.get('cache-control')).toBe('no-store');
  });
});

describe.each(backends)('admin API key throttling ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    // Three free failures per address, then a 30 s wait: the fourth attempt is refused unchecked.
    server = await startTestServer(backend, { throttle: { freeAttemptsPerIp: 3, baseDelaySeconds: 30 } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('answers 429 with Retry-After after too many bad keys from one address, even for a good key', async () => {
    const guess = withKey(server, 'ghk_guess');
    for (let i = 0; i < 3; i++) await expectProblem(await guess('/api/v1/users'), 401);

    const throttled = await guess('/api/v1/users');
    const problem = await expectProblem(throttled, 429);
    expect(problem.detail).toMatch(/too many failed/);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);

    // The throttle is checked before the key: from this address even the right key must wait.
    await expectProblem(await server.api('/api/v1/users'), 429);

    const failures = (await auditEvents(server, { type: 'authn.apikey' })).filter((e) => e.outcome === 'failure');
    expect(failures.filter((e) => e.reasons[0]?.code === 'unknown_key')).toHaveLength(3);
    expect(failures.filter((e) => e.reasons[0]?.code === 'throttled')).toHaveLength(2);
  });

  it('still serves the public OpenAPI document to a throttled address', async () => {
    await expectJson(await fetch(`${server.url}/api/v1/openapi.json`), 200);
  });
});
