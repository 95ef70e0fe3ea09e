/**
 * Single use under real concurrency, on each store: of several simultaneous redemptions of one
 * authorization code or one refresh token exactly one succeeds (and the grant is revoked, since
 * one of them cannot be the client's), down to the adapter's atomic consume.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TtlAdapter } from '../../protocols/oidc/adapter.ts';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { auditEvents, authorize, Browser, CALLBACK, postForm, relyingParty, SECRET, signInTo, startOidcServer } from './helpers.ts';

describe.each(backends)('OpenID Connect single use under concurrency ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  let web: client.Configuration;
  let browser: Browser;
  beforeAll(async () => {
    server = await startOidcServer(backend);
    web = await relyingParty(server.issuer, 'web', SECRET);
    browser = new Browser(server.url);
    await signInTo(browser, web, 'alice');
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('lets exactly one of concurrent redemptions of one code succeed', async () => {
    const auth = await authorize(browser, web);
    const code = auth.callback!.searchParams.get('code')!;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => postForm(`${server.issuer}/token`, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: auth.codeVerifier }, { id: 'web', secret: SECRET })),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    for (const refused of answers.filter((a) => a.status !== 200)) expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('lets exactly one of concurrent refreshes with one token succeed, and revokes the grant', async () => {
    const tokens = await signInTo(browser, web);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => postForm(`${server.issuer}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { id: 'web', secret: SECRET })),
    );
    const winners = answers.filter((a) => a.status === 200);
    expect(winners).toHaveLength(1);
    await expect(client.refreshTokenGrant(web, winners[0]!.body.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await auditEvents(server, { type: 'oidc.token.reuse_detected' })).length).toBeGreaterThan(0);
  });

  it('consumes atomically in the adapter: one of twenty concurrent consumers wins', async () => {
    const kv = server.gh.core.kv('oidc');
    const reused: string[] = [];
    const adapter = new TtlAdapter('RefreshToken', kv, { client: async () => undefined, lineage: async () => undefined, reused: async (model) => void reused.push(model) }, server.gh.core.keyring);
    const exp = Math.floor(Date.now() / 1000) + 600;
    await adapter.upsert('race', { jti: 'race', kind: 'RefreshToken', grantId: 'grant-race', accountId: 'someone', exp }, 600);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter.consume('race')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.error === 'invalid_grant')).toBe(true);
    // The losers revoked the grant: the token itself is gone with it.
    expect(await adapter.find('race')).toBeUndefined();
    expect(reused.length).toBeGreaterThan(0);
    // Sequential use of a single-use artifact: consumed once, then seen as consumed.
    const code = new TtlAdapter('AuthorizationCode', kv, { client: async () => undefined, lineage: async () => undefined, reused: async () => undefined }, server.gh.core.keyring);
    await code.upsert('c1', { jti: 'c1', kind: 'AuthorizationCode', exp }, 60);
    await code.consume('c1');
    expect(await code.find('c1')).toMatchObject({ jti: 'c1', consumed: expect.any(Number) });
    await code.destroy('c1');
    expect(await code.find('c1')).toBeUndefined();
  });
});
