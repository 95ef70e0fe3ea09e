/**
 * The negative cases of RFC 9700 and bad input of every kind: redirect URI variants, PKCE missing
 * or wrong, code reuse, `iss` in authorization responses (mix-up), implicit and password grants,
 * unknown clients, wrong secrets, malformed and oversized bodies, tampered cookies, expired
 * interactions and replayed forms. Every answer is a clear OAuth error or a Gatehouse page; never
 * a stack trace, never a redirect to an unregistered place, never a half-created grant.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactKey } from '../../protocols/oidc/adapter.ts';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { authorize, Browser, CALLBACK, expectPage, postForm, relyingParty, RP, SECRET, signInTo, startOidcServer } from './helpers.ts';

describe.each(backends)('OpenID Connect security and bad input ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  let web: client.Configuration;
  let signedIn: Browser;
  beforeAll(async () => {
    // A small allowance of failures (successful sign-ins do not count), for the user-code limit.
    server = await startOidcServer(backend, { throttle: { freeAttempts: 3, freeAttemptsPerIp: 1000, baseDelaySeconds: 60 } });
    web = await relyingParty(server.issuer, 'web', SECRET);
    signedIn = new Browser(server.url);
    await signInTo(signedIn, web, 'alice');
  });
  afterAll(async () => {
    await server?.stop();
  });

  const authUrl = (params: Record<string, string>) => `${server.issuer}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: CALLBACK, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's1', ...params })}`;

  it('matches redirect URIs exactly: trailing slash, case, extra query, userinfo trick, other port', async () => {
    for (const variant of [`${CALLBACK}/`, `${RP}/Callback`, `${CALLBACK}?next=/admin`, `http://127.0.0.1:9@evil.example/callback`, `http://127.0.0.1:99/callback`, `${CALLBACK}#frag`, 'http://localhost:9/callback']) {
      const res = await signedIn.fetch(authUrl({ redirect_uri: variant }));
      // Never sent anywhere: an error page on Gatehouse.
      expect(res.headers.get('location'), variant).toBeNull();
      await expectPage(res, 400, /registered|redirect_uri/);
    }
  });

  it('requires PKCE with S256 for every client, confidential ones too', async () => {
    const missing = await signedIn.fetch(authUrl({ code_challenge: '', code_challenge_method: '' }));
    const location = new URL(missing.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/PKCE/), state: 's1', iss: server.issuer });
    const plain = await signedIn.fetch(authUrl({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }));
    expect(new URL(plain.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });

  it('refuses a wrong or missing code_verifier, and a reused code revokes what the first use issued', async () => {
    const auth = await authorize(signedIn, web);
    const code = auth.callback!.searchParams.get('code')!;
    const token = (fields: Record<string, string>) => postForm(`${server.issuer}/token`, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, ...fields }, { id: 'web', secret: SECRET });
    expect(await token({ code_verifier: client.randomPKCECodeVerifier() })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await token({})).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // The code survives failed attempts (consumed only when redeemed), so the right verifier works once…
    const first = await token({ code_verifier: auth.codeVerifier });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    // … and never again: the second redemption also revokes the tokens of the first (RFC 6749 §4.1.2).
    expect(await token({ code_verifier: auth.codeVerifier })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const introspection = await client.tokenIntrospection(web, first.body.access_token as string);
    expect(introspection.active).toBe(false);
  });

  it('puts iss in every authorization response, and openid-client refuses a mixed-up one', async () => {
    const auth = await authorize(signedIn, web);
    expect(auth.callback!.searchParams.get('iss')).toBe(server.issuer);
    const mixedUp = new URL(auth.callback!);
    mixedUp.searchParams.set('iss', 'https://attacker.example/oidc');
    const refused = await client.authorizationCodeGrant(web, mixedUp, { pkceCodeVerifier: auth.codeVerifier, expectedState: auth.state }).then(() => undefined, (err: Error) => err);
    expect(refused?.message).toBe('invalid response encountered');
    expect(String((refused?.cause as Error | undefined)?.message)).toMatch(/"iss"/);
    // The genuine response is still good.
    const tokens = await client.authorizationCodeGrant(web, auth.callback!, { pkceCodeVerifier: auth.codeVerifier, expectedState: auth.state, expectedNonce: auth.nonce });
    expect(tokens.claims()?.iss).toBe(server.issuer);
  });

  it('has no implicit, hybrid or password grant', async () => {
    for (const responseType of ['id_token', 'token', 'code id_token', 'code token']) {
      const res = await signedIn.fetch(authUrl({ response_type: responseType, nonce: 'n' }));
      const location = res.headers.get('location');
      expect(location, responseType).toBeTruthy();
      // Errors for response types with a token in them come back in the fragment.
      const url = new URL(location!);
      const answer = new URLSearchParams(url.hash.slice(1) || url.search);
      expect(answer.get('error'), responseType).toBe('unsupported_response_type');
      expect(location).not.toMatch(/access_token|id_token=/);
    }
    const password = await postForm(`${server.issuer}/token`, { grant_type: 'password', username: 'alice', password: 'x' }, { id: 'web', secret: SECRET });
    expect(password).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
  });

  it('answers unknown clients and bad client authentication with OAuth errors, and unknown clients at /auth with a page', async () => {
    await expectPage(await fetch(authUrl({ client_id: 'no-such-app' }), { redirect: 'manual' }), 400, /not registered/);
    // An application that exists but is not an OIDC client is no client either.
    await server.api('/api/v1/applications', { method: 'POST', json: { name: 'plain', type: 'generic', settings: { redirectUris: [CALLBACK] } } });
    await expectPage(await fetch(authUrl({ client_id: 'plain' }), { redirect: 'manual' }), 400);
    const basicGarbage = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { authorization: 'Basic !!!', 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    expect(basicGarbage.status).toBe(400);
    expect(await basicGarbage.json()).toMatchObject({ error: 'invalid_request' });
    // client_secret_jwt would make the secret an HMAC key: not offered.
    const jwtAuth = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZXJ2aWNlIn0.x' });
    expect(jwtAuth.status).toBe(401);
  });

  it('refuses malformed, duplicated and oversized bodies with invalid_request, never a stack trace', async () => {
    const auth = { id: 'service', secret: SECRET };
    const json = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`service:${SECRET}`).toString('base64')}` }, body: '{"grant_type":' });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    const dup = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`service:${SECRET}`).toString('base64')}` }, body: 'grant_type=client_credentials&grant_type=client_credentials' });
    expect(dup.status).toBe(400);
    expect(await dup.json()).toMatchObject({ error: 'invalid_request' });
    const huge = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials', scope: 'x'.repeat(200_000) }, auth);
    expect(huge).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const notJsonResponse = await fetch(`${server.issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(notJsonResponse.status).toBe(400);
    expect(JSON.stringify(await notJsonResponse.json())).not.toMatch(/at .+\(|node_modules/);
    // Nothing was issued to anyone by all this.
    expect((await server.gh.core.audit.query({ type: 'access.decision', limit: 1000 })).items.every((e) => e.target?.name !== 'app:service')).toBe(true);
  });

  it('shows the expired page for a tampered, missing or expired interaction, and a replayed form', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'bob');
    const locked = await relyingParty(server.issuer, 'locked', SECRET);
    const denied = await authorize(browser, locked);
    expect(denied.response.status).toBe(403);
    const interaction = [...browser.jar].find(([name]) => name === '_interaction')![1];
    const abortPath = `/oidc/interaction/${interaction}/abort`;
    // A tampered interaction cookie (its signature no longer matches): the expired page, nothing else.
    const tampered = new Browser(server.url);
    for (const [k, v] of browser.jar) tampered.jar.set(k, v);
    tampered.jar.set('_interaction.sig', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await expectPage(await tampered.fetch(`/oidc/interaction/${interaction}`), 400, /expired/);
    // No cookie at all (another browser): the same.
    await expectPage(await new Browser(server.url).post(abortPath, {}), 400, /expired/);
    // The real form, once: access_denied to the client …
    const back = await browser.post(abortPath, {});
    expect(back.status).toBe(303);
    const resumed = await browser.fetch(back.headers.get('location')!);
    const callback = new URL(resumed.headers.get('location')!);
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'access_denied', iss: server.issuer });
    // … and replayed: the interaction is gone.
    await expectPage(await browser.post(abortPath, {}), 400, /expired/);
    await expectPage(await browser.fetch(back.headers.get('location')!), 400);
    // An interaction that expired in the store meanwhile.
    const again = await authorize(browser, locked);
    expect(again.response.status).toBe(403);
    const uid = [...browser.jar].find(([name]) => name === '_interaction')![1];
    expect(await server.gh.core.kv('oidc').delete(artifactKey('Interaction', uid))).toBe(true);
    await expectPage(await browser.fetch(`/oidc/interaction/${uid}`), 400, /expired/);
    await expectPage(await browser.fetch(`/oidc/auth/${uid}`), 400);
    // The form's URL with the wrong method.
    expect((await browser.fetch(`/oidc/interaction/${uid}/abort`, { method: 'GET' })).status).toBe(405);
  });

  it('limits wrong device user codes per person (RFC 8628 §5.1)', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'erin');
    let page = await expectPage(await browser.fetch('/oidc/device'), 200, /Enter the code your device shows/);
    for (let i = 0; i < 3; i++) {
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
      page = await expectPage(await browser.post('/oidc/device', { xsrf, user_code: 'BCDF-GHJK' }), 200, /That code is not right/);
    }
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
    const limited = await browser.post('/oidc/device', { xsrf, user_code: 'BCDF-GHJK' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectPage(limited, 429, /Too many wrong codes/);
  });

  // oidc-provider's router matches paths in any letter case and with one trailing slash: every
  // decision the mount makes in front of it must see those spellings as the route they reach.
  const spellings = (path: string) => [path, `${path}/`, path.toUpperCase().replace(/^\/OIDC/, '/oidc'), `${path.toUpperCase().replace(/^\/OIDC/, '/oidc')}/`];

  it('keeps the device page behind the sign-in whatever the spelling of its path', async () => {
    const anonymous = new Browser(server.url);
    for (const path of spellings('/oidc/device')) {
      const get = await anonymous.fetch(path);
      expect(get.status, path).toBe(303);
      expect(get.headers.get('location'), path).toMatch(/^\/login\?return_to=%2Foidc%2Fdevice/);
      expect((await anonymous.fetch(path, { method: 'HEAD' })).status, `HEAD ${path}`).toBe(303);
      const post = await anonymous.post(path, { user_code: 'BCDF-GHJK' });
      expect(post.status, path).toBe(303);
      expect(post.headers.get('location'), path).toMatch(/^\/login\?/);
    }
    // The mount itself is /oidc exactly: nothing under /OIDC reaches the provider.
    expect((await anonymous.fetch('/OIDC/device')).status).toBe(404);
  });

  it('limits wrong device user codes however the path is spelled', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'dave');
    let page = await expectPage(await browser.fetch('/oidc/device/'), 200, /Enter the code your device shows/);
    const [plain, slash, upper, upperSlash] = spellings('/oidc/device');
    for (const path of [slash!, upper!, upperSlash!]) {
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
      page = await expectPage(await browser.post(path, { xsrf, user_code: 'BCDF-GHJK' }), 200, /That code is not right/);
    }
    for (const path of [slash!, upper!, upperSlash!, plain!]) {
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
      await expectPage(await browser.post(path, { xsrf, user_code: 'BCDF-GHJK' }), 429, /Too many wrong codes/);
    }
  });

  it('sends the page security headers on every spelling of the browser paths', async () => {
    for (const path of [...spellings('/oidc/auth'), ...spellings('/oidc/session/end'), ...spellings('/oidc/device')]) {
      const res = await signedIn.fetch(path);
      await res.body?.cancel();
      expect(res.headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });

  it('sees client changes at the next request (no stale cache) and refuses clients with invalid settings', async () => {
    const extra = `${RP}/other-callback`;
    const first = await signedIn.fetch(authUrl({ redirect_uri: extra }));
    expect(first.status).toBe(400);
    await first.body?.cancel();
    // 'web' is declared in the configuration (helpers.ts): changing it here is an override.
    const patch = await server.api('/api/v1/applications/web?force=true', { method: 'PATCH', json: { settings: { redirectUris: [CALLBACK, extra], postLogoutRedirectUris: [`${RP}/signed-out`], grantTypes: ['authorization_code', 'refresh_token'] } } });
    expect(patch.status).toBe(200);
    const second = await signedIn.fetch(authUrl({ redirect_uri: extra }));
    expect(second.status).toBe(303);
    expect(second.headers.get('location')).toMatch(/^\/oidc\/interaction\//);
    // Settings that break the rules (http on a non-loopback host): the client does not exist for OIDC.
    await server.api('/api/v1/applications', { method: 'POST', json: { name: 'sloppy', type: 'oidc', groups: ['staff'], settings: { redirectUris: ['http://sloppy.example/cb'] } } });
    await expectPage(await fetch(authUrl({ client_id: 'sloppy', redirect_uri: 'http://sloppy.example/cb' }), { redirect: 'manual' }), 400);
  });
});
