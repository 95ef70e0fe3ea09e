/**
 * Operations over real HTTP: health, readiness (red while the store is down, green again after),
 * metrics, graceful shutdown with a request in flight, and a store that is down at start.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatehouse } from '../../src/server/start.ts';
import { createLogger } from '../../src/log.ts';
import { StoreUnavailableError } from '../../src/errors.ts';
import { backends, postgres } from '../helpers/backends.ts';
import { testConfig, TEST_ADMIN_KEY } from '../helpers/config.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { inject } from 'vitest';

describe.each(backends)('operations endpoints ($name)', (backend) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(backend);
  });
  afterAll(async () => s?.stop());

  it('answers /healthz and /readyz without a key', async () => {
    expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: expect.stringContaining('migrations current') });
  });

  it('exposes Prometheus metrics including audit events by type', async () => {
    await fetch(`${s.url}/api/v1/users`, { headers: { authorization: 'Bearer wrong' } });
    const text = await (await fetch(`${s.url}/metrics`)).text();
    expect(text).toContain('gatehouse_http_requests_total');
    expect(text).toMatch(/gatehouse_audit_events_total\{type="authn\.apikey",outcome="failure"\} [1-9]/);
    expect(text).toContain('gatehouse_process_cpu_seconds_total');
  });

  it('answers unknown paths with problem+json 404 and a request id', async () => {
    const response = await fetch(`${s.url}/nope`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await response.json()).toMatchObject({ status: 404, title: 'Not found' });
    const json = await fetch(`${s.url}/nope`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).toContain('application/problem+json');
  });

  it('answers a browser asking for an unknown page with an HTML page, not JSON', async () => {
    // What Chromium and Firefox send for a navigation.
    const accept = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
    const response = await fetch(`${s.url}/no/such/page?x=<b>`, { headers: { accept } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('vary')).toContain('Accept');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    const body = await response.text();
    expect(body).toMatch(/^<!doctype html>/);
    expect(body).toContain('Page not found');
    expect(body).toContain(response.headers.get('x-request-id')!);
    expect(body).not.toContain('<b>');
  });
});

describe('the store going down while running (postgres)', () => {
  it('turns readiness red and authentication fails closed, then recovers', async () => {
    const s = await startTestServer(postgres, { storage: { acquireTimeoutMs: 1500 } });
    const admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    const dbName = new URL(s.gh.store.url).pathname.slice(1);
    try {
      await s.gh.core.directory.users.create({ actor: { type: 'system' } }, { username: 'ivy', status: 'active', sshPublicKeys: [], attributes: {}, password: 'quiet-harbour-lamp-77' });
      await admin.query(`alter database ${dbName} allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [dbName]);

      const ready = await fetch(`${s.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'not ready' });
      const attempt = await s.gh.core.passwords.authenticate({ username: 'ivy', password: 'quiet-harbour-lamp-77', context: { actor: { type: 'anonymous' } } });
      expect(attempt.outcome).toBe('error');
      const api = await s.api('/api/v1/users');
      expect(api.status).toBe(503);

      await admin.query(`alter database ${dbName} allow_connections true`);
      expect((await fetch(`${s.url}/readyz`)).status).toBe(200);
      expect((await s.gh.core.passwords.authenticate({ username: 'ivy', password: 'quiet-harbour-lamp-77', context: { actor: { type: 'anonymous' } } })).outcome).toBe('success');
    } finally {
      await admin.query(`alter database ${dbName} allow_connections true`).catch(() => undefined);
      await admin.end();
      await s.stop();
    }
  });
});

describe('start and stop', () => {
  it('refuses to start when the store is down, naming the URL with the password redacted', async () => {
    const err = await startGatehouse({ config: testConfig('postgres://gatehouse:hunter2@127.0.0.1:1/nope', { storage: { url: 'postgres://gatehouse:hunter2@127.0.0.1:1/nope', acquireTimeoutMs: 1000 } }), env: {}, logger: createLogger('silent') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/^cannot reach the store at postgres:\/\/gatehouse:\*\*\*@127\.0\.0\.1:1\/nope: /);
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('finishes an in-flight request on stop, then refuses new connections', async () => {
    // Default (OWASP) argon2 parameters make the request slow enough to be in flight.
    const s = await startTestServer(backends[0]!, { passwords: { argon2: { memoryKiB: 19456, iterations: 2, parallelism: 1 } } });
    const inFlight = fetch(`${s.url}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'late', password: 'quiet-harbour-lamp-77' }),
    });
    await new Promise((r) => setTimeout(r, 15));
    const stopped = s.gh.stop();
    const response = await inFlight;
    expect(response.status).toBe(201);
    await stopped;
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
    await s.stop();
  });
});
