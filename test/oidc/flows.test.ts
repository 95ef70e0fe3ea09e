/**
 * The OpenID Connect flows end to end with openid-client as the relying party, signing in through
 * the real /login form: discovery and JWKS, code + PKCE with the claims and acr/amr, SSO into a
 * second client, refresh rotation and reuse detection, client credentials, introspection,
 * revocation, userinfo, PAR and the device authorization grant.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { auditEvents, Browser, CALLBACK, expectPage, jwksOf, postForm, relyingParty, SECRET, signInTo, startOidcServer, verifyJws } from './helpers.ts';

describe.each(backends)('OpenID Connect flows ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  let web: client.Configuration;
  beforeAll(async () => {
    server = await startOidcServer(backend);
    web = await relyingParty(server.issuer, 'web', SECRET);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('publishes discovery and a JWKS with one public key per configured algorithm', async () => {
    const metadata = web.serverMetadata();
    expect(metadata).toMatchObject({
      issuer: server.issuer,
      authorization_endpoint: `${server.issuer}/auth`,
      token_endpoint: `${server.issuer}/token`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']),
      authorization_response_iss_parameter_supported: true,
      backchannel_logout_supported: true,
      acr_values_supported: ['urn:gatehouse:acr:pwd', 'urn:gatehouse:acr:mfa', 'urn:gatehouse:acr:phr'],
    });
    expect(metadata.grant_types_supported).not.toContain('implicit');
    expect(metadata.grant_types_supported).not.toContain('password');
    expect(metadata.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']));
    expect(metadata.token_endpoint_auth_signing_alg_values_supported?.some((a) => a.startsWith('HS'))).toBe(false);
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'groups', 'acr', 'amr', 'auth_time', 'sid']));
    const jwks = await jwksOf(server.issuer);
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of jwks.keys) {
      expect(key).not.toHaveProperty('d');
      expect(key.kid).toEqual(expect.any(String));
    }
  });

  it('signs in with code + PKCE through /login: ID token claims, acr/amr, userinfo', async () => {
    const browser = new Browser(server.url);
    const tokens = await signInTo(browser, web, 'alice');
    const claims = tokens.claims()!;
    const alice = await server.gh.core.directory.users.find('alice');
    expect(claims).toMatchObject({
      iss: server.issuer,
      aud: 'web',
      sub: alice.id,
      preferred_username: 'alice',
      name: 'Alice Example',
      given_name: 'alice',
      family_name: 'Example',
      email: 'alice@example.test',
      email_verified: true,
      groups: ['staff'],
      acr: 'urn:gatehouse:acr:pwd',
      amr: ['pwd'],
      auth_time: expect.any(Number),
    });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    // The ID token verifies against the published JWKS with the default algorithm (RS256).
    const { header } = verifyJws(tokens.id_token!, await jwksOf(server.issuer));
    expect(header.alg).toBe('RS256');
    const info = await client.fetchUserInfo(web, tokens.access_token, alice.id);
    expect(info).toMatchObject({ sub: alice.id, email: 'alice@example.test', groups: ['staff'] });
    // The decision was the access core's, audited once for this request.
    const decisions = await auditEvents(server, { type: 'access.decision', user: 'alice' });
    expect(decisions[0]).toMatchObject({ protocol: 'oidc', outcome: 'success', target: { name: 'app:web' }, details: { decision: 'allow' } });
  });

  it('signs in to a second client with the same session without asking for the password (SSO), still deciding access', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'bob');
    const before = (await auditEvents(server, { type: 'access.decision', user: 'bob' })).length;
    const wiki = await relyingParty(server.issuer, 'wiki', SECRET);
    // No credentials given: a redirect to /login would stop the flow.
    const tokens = await signInTo(browser, wiki);
    expect(tokens.claims()).toMatchObject({ aud: 'wiki', preferred_username: 'bob' });
    const decisions = await auditEvents(server, { type: 'access.decision', user: 'bob' });
    expect(decisions.length).toBe(before + 1);
    expect(decisions[0]).toMatchObject({ target: { name: 'app:wiki' }, outcome: 'success' });
  });

  it('rotates refresh tokens, and a reused one revokes the whole grant', async () => {
    const browser = new Browser(server.url);
    const first = await signInTo(browser, web, 'carol');
    const second = await client.refreshTokenGrant(web, first.refresh_token!);
    expect(second.refresh_token).toEqual(expect.any(String));
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.claims()?.sub).toBe(first.claims()?.sub);
    // The old one again: refused, and everything of the grant is gone, the new refresh token included.
    await expect(client.refreshTokenGrant(web, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(web, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const introspected = await client.tokenIntrospection(web, second.access_token);
    expect(introspected.active).toBe(false);
    const [reuse] = await auditEvents(server, { type: 'oidc.token.reuse_detected' });
    expect(reuse).toMatchObject({ outcome: 'denied', target: { name: 'web' }, details: { artifact: 'RefreshToken', concurrent: false } });
  });

  it('issues client-credentials tokens to a confidential client, and refuses wrong secrets and other grant types', async () => {
    const service = await relyingParty(server.issuer, 'service', SECRET);
    const tokens = await client.clientCredentialsGrant(service, {});
    expect(tokens).toMatchObject({ token_type: 'bearer', access_token: expect.any(String), expires_in: 900 });
    const wrong = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials' }, { id: 'service', secret: `${SECRET}x` });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const notAllowed = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials' }, { id: 'web', secret: SECRET });
    expect(notAllowed).toMatchObject({ status: 400, body: { error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' } });
    const unknown = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials' }, { id: 'nobody', secret: SECRET });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const [failure] = await auditEvents(server, { type: 'oidc.client.auth_failed' });
    expect(failure).toMatchObject({ outcome: 'failure', protocol: 'oidc', details: { endpoint: 'token' } });
  });

  it('authenticates with client_secret_post when the client is registered for it', async () => {
    const posty = await relyingParty(server.issuer, 'posty', SECRET, 'post');
    const tokens = await signInTo(new Browser(server.url), posty, 'alice');
    expect(tokens.claims()?.aud).toBe('posty');
    const wrong = await postForm(`${server.issuer}/token/introspection`, { token: tokens.access_token, client_id: 'posty', client_secret: 'not-the-secret' });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('introspects and revokes tokens; a resource server may introspect others, other clients only their own', async () => {
    const tokens = await signInTo(new Browser(server.url), web, 'dave');
    const own = await client.tokenIntrospection(web, tokens.access_token);
    expect(own).toMatchObject({ active: true, client_id: 'web', scope: expect.stringContaining('openid'), sub: tokens.claims()!.sub });
    const api = await relyingParty(server.issuer, 'api', SECRET);
    expect((await client.tokenIntrospection(api, tokens.access_token)).active).toBe(true);
    const wiki = await relyingParty(server.issuer, 'wiki', SECRET);
    expect((await client.tokenIntrospection(wiki, tokens.access_token)).active).toBe(false);
    await client.tokenRevocation(web, tokens.refresh_token!);
    expect((await client.tokenIntrospection(web, tokens.refresh_token!)).active).toBe(false);
    await expect(client.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('serves a public client with PKCE only (no secret) and pushed authorization requests', async () => {
    const spa = await relyingParty(server.issuer, 'spa');
    const tokens = await signInTo(new Browser(server.url), spa, 'alice');
    expect(tokens.claims()?.aud).toBe('spa');
    // PAR: the request is pushed by the client, the browser only carries request_uri.
    const browser = new Browser(server.url);
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(web, { redirect_uri: CALLBACK, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const res = await browser.navigate(url, { username: 'alice' });
    const callback = new URL(res.headers.get('location')!);
    const fromPar = await client.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier, idTokenExpected: true });
    expect(fromPar.claims()?.preferred_username).toBe('alice');
  });

  it('runs the device authorization grant with its verification page behind the Gatehouse sign-in', async () => {
    const tv = await relyingParty(server.issuer, 'tv');
    const device = await client.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
    expect(device).toMatchObject({ user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/), verification_uri: `${server.issuer}/device` });
    await expect(client.genericGrantRequest(tv, 'urn:ietf:params:oauth:grant-type:device_code', { device_code: device.device_code })).rejects.toMatchObject({ error: 'authorization_pending' });
    const browser = new Browser(server.url);
    // Not signed in: the verification page sends the person to /login first, then back.
    const start = await browser.fetch(device.verification_uri_complete!);
    expect(start.status).toBe(303);
    expect(start.headers.get('location')).toMatch(/^\/login\?return_to=%2Foidc%2Fdevice%3Fuser_code%3D/);
    const codePage = await browser.navigate(device.verification_uri_complete!, { username: 'erin' });
    // The complete URI auto-submits the code (oidc-provider's form_post page): post it as a browser would.
    const autoPost = await codePage.text();
    expect(codePage.status, autoPost.slice(0, 300)).toBe(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(autoPost)![1]!;
    const confirm = await browser.post('/oidc/device', { xsrf, user_code: device.user_code });
    const confirmHtml = await expectPage(confirm, 200, /<strong>tv<\/strong> wants to sign in as you/);
    expect(confirmHtml).toContain(device.user_code);
    const xsrf2 = /name="xsrf" value="([^"]+)"/.exec(confirmHtml)![1]!;
    const done = await browser.fetch('/oidc/device', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf: xsrf2, user_code: device.user_code, confirm: 'yes' }).toString(), redirect: 'manual' });
    let res = done;
    for (let i = 0; i < 5 && res.status === 303; i++) res = await browser.fetch(res.headers.get('location')!);
    await expectPage(res, 200, /signed in to tv on your device/);
    // The device polls (RFC 8628 §3.4); openid-client's poller would wait the 5 s interval first.
    const tokens = await client.genericGrantRequest(tv, 'urn:ietf:params:oauth:grant-type:device_code', { device_code: device.device_code });
    expect(tokens.claims()).toMatchObject({ aud: 'tv', preferred_username: 'erin' });
  });
});
