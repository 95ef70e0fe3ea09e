/**
 * The operations endpoints kept off the public listener: a separate management listener
 * (server.management) serving /healthz, /readyz and /metrics and nothing else, which the HTTP
 * listener then no longer serves; a bearer token for /metrics (server.metricsToken) on whichever
 * listener serves it; the warning when /metrics is open on a non-loopback address; the management
 * address checked before anything starts. The store is not what is tested here (SQLite only).
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema, configWarnings } from '../../src/front-ends.ts';
import { createLogger } from '../../src/log.ts';
import { listen } from '../../src/net/listen.ts';
import { startGatehouse } from '../../src/server/start.ts';
import { openStore } from '../../src/store/open.ts';
import { sqlite } from '../helpers/backends.ts';
import { startTestServer, TEST_ADMIN_KEY, testConfig, type TestServer } from '../helpers/server.ts';

const TOKEN = 'bW9uaXRvcmluZy10b2tlbi1mb3ItdGVzdHMtMDEyMzQ1Njc4OQ==';
const OPERATIONS = ['/healthz', '/readyz', '/metrics'];

describe('a separate management listener', () => {
  let s: TestServer;
  let management: string;
  beforeAll(async () => {
    s = await startTestServer(sqlite, { server: { management: { host: '127.0.0.1', port: 0 } } });
    management = s.gh.listeners.find((l) => l.name.startsWith('management'))!.url;
  });
  afterAll(async () => s?.stop());

  it('serves /healthz, /readyz and /metrics there, and they are gone from the HTTP listener', async () => {
    expect(management).not.toBe(s.url);
    expect(await (await fetch(`${management}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${management}/readyz`)).json()).toMatchObject({ status: 'ready' });
    await fetch(`${s.url}/api/v1/users`, { headers: { authorization: 'Bearer wrong' } });
    const metrics = await fetch(`${management}/metrics`);
    expect(metrics.status).toBe(200);
    // One registry: what the HTTP listener served is counted there.
    expect(await metrics.text()).toMatch(/gatehouse_audit_events_total\{type="authn\.apikey",outcome="failure"\} [1-9]/);
    for (const path of OPERATIONS) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toContain('application/problem+json');
    }
    expect(s.gh.listeners.find((l) => l.url === s.url)!.name).not.toContain('/metrics');
  });

  it('serves nothing else: no admin API, no pages, no OpenID Connect', async () => {
    for (const path of ['/api/v1/users', '/login', '/', '/oidc/.well-known/openid-configuration', '/assets/gatehouse.css']) {
      const res = await fetch(`${management}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ status: 404 });
    }
    expect((await fetch(`${management}/metrics`, { method: 'POST' })).status).toBe(404);
  });
});

describe('a bearer token for /metrics', () => {
  let open: TestServer;
  let separate: TestServer;
  beforeAll(async () => {
    open = await startTestServer(sqlite, { server: { metricsToken: TOKEN } });
    separate = await startTestServer(sqlite, { server: { metricsToken: TOKEN, management: { host: '127.0.0.1', port: 0 } } });
  });
  afterAll(async () => {
    await open?.stop();
    await separate?.stop();
  });

  it('is required for /metrics on the HTTP listener, and never for /healthz or /readyz', async () => {
    const url = `${open.url}/metrics`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    // RFC 6750 §3: no error code when no credentials were sent; invalid_request for a malformed header.
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    expect(await none.text()).not.toContain('gatehouse_');
    const wrong = await fetch(url, { headers: { authorization: `Bearer ${TOKEN.slice(0, -3)}xyz` } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="invalid_token"');
    const basic = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse", error="invalid_request"');
    // An admin API key is not the metrics token.
    expect((await fetch(url, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).status).toBe(401);
    const good = await fetch(url, { headers: { authorization: `bearer ${TOKEN}` } });
    expect(good.status).toBe(200);
    expect(await good.text()).toContain('gatehouse_http_requests_total');
    expect((await fetch(`${open.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${open.url}/readyz`)).status).toBe(200);
  });

  it('is required on the management listener when /metrics is served there', async () => {
    const management = separate.gh.listeners.find((l) => l.name.startsWith('management'))!.url;
    expect((await fetch(`${management}/metrics`)).status).toBe(401);
    expect((await fetch(`${management}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${management}/readyz`)).status).toBe(200);
  });
});

describe('management settings', () => {
  it('refuses a metrics token too short or that no Authorization header can carry', () => {
    const problems = (metricsToken: string) => ConfigSchema.safeParse({ server: { metricsToken } }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems('short')).toEqual([expect.stringMatching(/^server\.metricsToken: at least 32 characters/)]);
    expect(problems(`${'a'.repeat(40)} b`)).toEqual([expect.stringMatching(/^server\.metricsToken: letters, digits/)]);
    expect(problems(TOKEN)).toBeUndefined();
  });

  it('warns when /metrics is open on a non-loopback listener', () => {
    const warnings = (server: Record<string, unknown>) => configWarnings(ConfigSchema.parse({ server })).filter((w) => w.includes('/metrics'));
    expect(warnings({ http: { host: '0.0.0.0' } })).toEqual([expect.stringContaining('/metrics is open to anyone who reaches 0.0.0.0:9090: set server.metricsToken, or serve it on a separate listener (server.management)')]);
    expect(warnings({ https: { host: '::', certFile: 'c', keyFile: 'k' } })).toHaveLength(1);
    expect(warnings({ http: { host: '0.0.0.0' }, metricsToken: TOKEN })).toEqual([]);
    expect(warnings({ http: { host: '0.0.0.0' }, management: { host: '0.0.0.0' } })).toEqual([]);
    expect(warnings({})).toEqual([]);
  });

  it('refuses to start, before the store is touched, when the management address is taken', async () => {
    const blocker = createServer();
    const { port } = (await listen(blocker, { label: 'blocker', transport: 'tcp', host: '127.0.0.1', port: 0 })) as AddressInfo;
    const other = await sqlite.create();
    try {
      const config = testConfig(other.url, { server: { management: { host: '127.0.0.1', port } } });
      await expect(startGatehouse({ config, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') })).rejects.toThrow(
        new RegExp(`the management listener cannot listen on 127\\.0\\.0\\.1:${port}/tcp: something else is listening there.*server\\.management\\.port`),
      );
      const untouched = await openStore(other.url);
      expect((await untouched.migrate()).applied.length).toBeGreaterThan(0);
      await untouched.close();
    } finally {
      blocker.close();
      await other.drop();
    }
  });
});
