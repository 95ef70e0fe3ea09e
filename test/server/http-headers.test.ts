/**
 * The headers every response of the HTTP listeners carries, whoever answers it: nosniff always,
 * HSTS when the public URL is https or the request came over TLS (RFC 6797 §7.2: never over plain
 * HTTP otherwise). A sample of each kind of response: JSON of the admin API and the OpenID Connect
 * provider, problem+json errors, metrics text, health, an asset, a page. The store is not what is
 * tested here (SQLite only).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlite } from '../helpers/backends.ts';
import { makeCa, serverCertificate } from '../helpers/pki.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const HSTS = 'max-age=31536000; includeSubDomains';

/** One request of each kind of response the listener gives. */
const SAMPLE: Array<{ what: string; path: string; init?: RequestInit; admin?: boolean; type: RegExp }> = [
  { what: 'health', path: '/healthz', type: /^application\/json/ },
  { what: 'readiness', path: '/readyz', type: /^application\/json/ },
  { what: 'metrics', path: '/metrics', type: /^text\/plain/ },
  { what: 'admin API JSON', path: '/api/v1/users', admin: true, type: /^application\/json/ },
  { what: 'admin API 401', path: '/api/v1/users', type: /^application\/problem\+json/ },
  { what: 'unknown address', path: '/nope', type: /^application\/problem\+json/ },
  { what: 'OIDC discovery', path: '/oidc/.well-known/openid-configuration', type: /^application\/json/ },
  { what: 'OIDC token error', path: '/oidc/token', init: { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }, type: /^application\/json/ },
  { what: 'asset', path: '/assets/gatehouse.css', type: /^text\/css/ },
  { what: 'page', path: '/login', type: /^text\/html/ },
];

describe('headers on every response', () => {
  let secure: TestServer;
  let plain: TestServer;
  let httpsUrl: string;
  let ca: string;
  beforeAll(async () => {
    secure = await startTestServer(sqlite, { server: { http: { publicUrl: 'https://id.example.test' } } });
    const serverCa = await makeCa('CN=Test server CA');
    ca = serverCa.pem;
    const tls = await serverCertificate(serverCa);
    const dir = mkdtempSync(join(tmpdir(), 'gh-tls-'));
    writeFileSync(join(dir, 'server.pem'), tls.cert);
    writeFileSync(join(dir, 'server.key'), tls.key);
    plain = await startTestServer(sqlite, { server: { https: { host: '127.0.0.1', port: 0, certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') } } });
    httpsUrl = plain.gh.listeners.find((l) => l.name.startsWith('https'))!.url;
  });
  afterAll(async () => {
    await secure?.stop();
    await plain?.stop();
  });

  const send = (server: TestServer, sample: (typeof SAMPLE)[number]) =>
    sample.admin ? server.api(sample.path, sample.init) : fetch(`${server.url}${sample.path}`, { redirect: 'manual', ...sample.init });

  it('sends nosniff and HSTS on every kind of response when the public URL is https', async () => {
    for (const sample of SAMPLE) {
      const res = await send(secure, sample);
      await res.body?.cancel();
      expect(res.headers.get('content-type'), sample.what).toMatch(sample.type);
      expect(res.headers.get('x-content-type-options'), sample.what).toBe('nosniff');
      expect(res.headers.get('strict-transport-security'), sample.what).toBe(HSTS);
    }
  });

  it('sends nosniff but no HSTS over plain HTTP with an http public URL, and HSTS over its HTTPS listener', async () => {
    for (const sample of SAMPLE) {
      const res = await send(plain, sample);
      await res.body?.cancel();
      expect(res.headers.get('x-content-type-options'), sample.what).toBe('nosniff');
      expect(res.headers.get('strict-transport-security'), sample.what).toBeNull();
    }
    for (const path of ['/healthz', '/nope', '/oidc/.well-known/openid-configuration']) {
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = httpsRequest(`${httpsUrl}${path}`, { ca }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers));
        });
        req.on('error', reject);
        req.end();
      });
      expect(headers['x-content-type-options'], path).toBe('nosniff');
      expect(headers['strict-transport-security'], path).toBe(HSTS);
    }
  });
});
