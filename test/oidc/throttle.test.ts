/**
 * Client secrets are throttled wherever a client authenticates with one (RFC 6749 §2.3.1: the
 * token, introspection and revocation endpoints): per client and address, and per address across
 * clients, apart from sign-ins; refused with 429 invalid_client and Retry-After before the secret is
 * checked, and audited as one oidc.client.auth_failed event with reason throttled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { auditEvents, SECRET, startOidcServer } from './helpers.ts';

describe.each(backends)('OpenID Connect client secret throttling ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  beforeAll(async () => {
    server = await startOidcServer(backend, { throttle: { freeAttempts: 3, freeAttemptsPerIp: 5, baseDelaySeconds: 60 } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A form post with client_secret_basic from `ip` (the test server trusts 127.0.0.1 as a proxy). */
  async function post(path: string, fields: Record<string, string>, client: { id: string; secret: string }, ip: string) {
    const res = await fetch(`${server.issuer}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-for': ip,
        authorization: `Basic ${Buffer.from(`${client.id}:${encodeURIComponent(client.secret)}`).toString('base64')}`,
      },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get('retry-after') };
  }
  const grant = { grant_type: 'client_credentials' };

  it('refuses a client after its free wrong secrets from one address, even with the right secret, and only there', async () => {
    for (let i = 0; i < 3; i++) expect(await post('/token', grant, { id: 'service', secret: `wrong-${i}` }, '203.0.113.10')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const refused = await post('/token', grant, { id: 'service', secret: SECRET }, '203.0.113.10');
    expect(refused).toMatchObject({ status: 429, body: { error: 'invalid_client' } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
    // Another address is not held back by these guesses, and its right secrets cost it nothing.
    for (let i = 0; i < 10; i++) expect(await post('/token', grant, { id: 'service', secret: SECRET }, '198.51.100.10')).toMatchObject({ status: 200, body: { token_type: 'Bearer' } });
    expect(await server.gh.core.throttle.failures({ ip: '198.51.100.10', kind: 'client-secret' })).toEqual({});

    const events = (await auditEvents(server, { type: 'oidc.client.auth_failed' })).filter((e) => e.sourceIp === '203.0.113.10');
    expect(events.map((e) => e.reasons[0]!.code).sort()).toEqual(['invalid_client', 'invalid_client', 'invalid_client', 'throttled']);
    expect(events.find((e) => e.reasons[0]!.code === 'throttled')).toMatchObject({ target: { name: 'service' }, reasons: [{ description: expect.stringMatching(/per client and address$/) }], details: { endpoint: 'token', retryAfterSeconds: Number(refused.retryAfter) } });
  });

  it('counts wrong secrets per address across clients and endpoints, apart from sign-ins', async () => {
    const ip = '203.0.113.20';
    for (let i = 0; i < 3; i++) expect((await post('/token', grant, { id: 'api', secret: `wrong-${i}` }, ip)).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await post('/token/introspection', { token: 'x' }, { id: 'web', secret: `wrong-${i}` }, ip)).status).toBe(401);
    // Five wrong secrets from this address: the next client is refused before its secret is checked.
    expect(await post('/token/revocation', { token: 'x' }, { id: 'wiki', secret: SECRET }, ip)).toMatchObject({ status: 429, body: { error: 'invalid_client' } });
    // Sign-ins from the address have their own counter.
    expect(await server.gh.core.throttle.check({ ip })).toMatchObject({ allowed: true });
    expect(await server.gh.core.throttle.check({ ip, kind: 'client-secret' })).toMatchObject({ allowed: false, scope: 'ip' });
  });
});
