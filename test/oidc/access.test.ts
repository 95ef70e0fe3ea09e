/**
 * The access hook at every issuance and the session ties: an unassigned user is denied, a policy
 * demanding MFA sends the person to step-up, prompt=login / max_age / prompt=none, the refresh
 * re-check after a group change, suspension revoking everything at once, RP-initiated logout ending
 * the Gatehouse session, and back-channel logout tokens (received by a real HTTP listener and
 * verified with the JWKS) when a Gatehouse session ends.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { auditEvents, authorize, Browser, CALLBACK, expectPage, jwksOf, relyingParty, RP, SECRET, signInTo, startOidcServer, verifyJws } from './helpers.ts';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };
/** The users here are declared in the configuration (helpers.ts): suspending one is an override. */
const DECLARED = { force: true };

describe.each(backends)('OpenID Connect access and sessions ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  let web: client.Configuration;
  let logoutTokens: string[];
  let receiver: Server;
  /** The private_key_jwt client's key; its public half is served by the receiver at /jwks. */
  const clientKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  beforeAll(async () => {
    logoutTokens = [];
    receiver = createServer((req, res) => {
      if (req.url === '/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...clientKey.publicKey.export({ format: 'jwk' }), kid: 'client-1', alg: 'ES256', use: 'sig' }] }));
        return;
      }
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const bclUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/backchannel-logout`;
    server = await startOidcServer(backend);
    await server.gh.core.directory.resources.create(CLI, 'applications', {
      name: 'bcl', type: 'oidc', groups: ['staff'], secret: SECRET,
      settings: { redirectUris: [CALLBACK], postLogoutRedirectUris: [`${RP}/signed-out`], backchannelLogoutUri: bclUri },
    });
    await server.gh.core.directory.resources.create(CLI, 'applications', {
      name: 'keyed', type: 'oidc', groups: [],
      settings: { grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/jwks` },
    });
    web = await relyingParty(server.issuer, 'web', SECRET);
  });
  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  it('denies a user whose groups are not assigned to the client: a page with a reference, then access_denied', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'alice');
    const locked = await relyingParty(server.issuer, 'locked', SECRET);
    const auth = await authorize(browser, locked);
    const html = await expectPage(auth.response, 403, /You do not have access to App locked/);
    const reference = /Reference: <code>([^<]+)<\/code>/.exec(html)![1];
    const [decision] = await auditEvents(server, { type: 'access.decision', user: 'alice' });
    expect(decision).toMatchObject({ outcome: 'denied', target: { name: 'app:locked' }, protocol: 'oidc', requestId: reference, reasons: [expect.objectContaining({ code: 'not_assigned' })] });
    expect(html).not.toContain('not_assigned');
    const uid = browser.jar.get('_interaction')!;
    const back = await browser.post(`/oidc/interaction/${uid}/abort`, {});
    const callback = new URL((await browser.fetch(back.headers.get('location')!)).headers.get('location')!);
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'access_denied', state: auth.state, iss: server.issuer });
    expect(callback.searchParams.get('code')).toBeNull();
  });

  it('denies an unassigned user on their first sign-in too: the sign-in page\'s denial returns access_denied to the client', async () => {
    const browser = new Browser(server.url);
    const locked = await relyingParty(server.issuer, 'locked', SECRET);
    const auth = await authorize(browser, locked, { username: 'alice' });
    const html = await expectPage(auth.response, 403, /You cannot use this right now/);
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    expect(action).toMatch(/^\/oidc\/interaction\/[\w-]+\/abort$/);
    // No session was started by a denied sign-in.
    expect(browser.jar.get('__Host-gatehouse_session') ?? '').toBe('');
    const back = await browser.post(action!, {});
    const callback = new URL((await browser.fetch(back.headers.get('location')!)).headers.get('location')!);
    expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'access_denied', state: auth.state, iss: server.issuer });
  });

  it('sends the person to step-up when a policy demands a second factor for the client', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'alice');
    const vault = await relyingParty(server.issuer, 'vault', SECRET);
    const url = client.buildAuthorizationUrl(vault, { redirect_uri: CALLBACK, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const interaction = await browser.fetch(url);
    const stepUp = await browser.fetch(interaction.headers.get('location')!);
    expect(stepUp.status).toBe(303);
    const to = new URL(stepUp.headers.get('location')!, server.url);
    expect(to.pathname).toBe('/login/step-up');
    expect(to.searchParams.get('resource')).toBe('app:vault');
    expect(to.searchParams.get('return_to')).toMatch(/^\/oidc\/interaction\/[\w-]+$/);
  });

  it('asks for the password again for prompt=login and max_age, and answers prompt=none silently', async () => {
    const browser = new Browser(server.url);
    await signInTo(browser, web, 'alice');
    const toLogin = (location: URL) => location.pathname.startsWith('/login');
    const forced = await authorize(browser, web, { params: { prompt: 'login' }, stopAt: toLogin });
    const login = new URL(forced.response.headers.get('location')!, server.url);
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('force')).toBe('1');
    // Signing in again finishes the same request.
    const posted = await browser.signIn(login, 'alice');
    const again = await browser.navigate(posted.headers.get('location')!);
    expect(again.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);
    const old = await authorize(browser, web, { params: { max_age: '0' }, stopAt: toLogin });
    expect(new URL(old.response.headers.get('location')!, server.url).searchParams.get('force')).toBe('1');
    await old.response.body?.cancel();
    const silent = await authorize(browser, web, { params: { prompt: 'none' } });
    expect(silent.callback?.searchParams.get('code')).toEqual(expect.any(String));
    const anonymous = await authorize(new Browser(server.url), web, { params: { prompt: 'none' } });
    expect(anonymous.callback?.searchParams.get('error')).toBe('login_required');
  });

  it('switches accounts cleanly when someone else signs in after the Gatehouse session ran out', async () => {
    const browser = new Browser(server.url);
    const first = await signInTo(browser, web, 'alice');
    // The Gatehouse session times out (no logout: the provider session is still there).
    const [session] = await server.gh.core.sessions.list(first.claims()!.sub);
    await server.gh.store.ttl.delete(`session:${session!.handle}`);
    const auth = await authorize(browser, web, { username: 'erin' });
    // oidc-provider ends the previous person's provider session with an auto-submitted form first.
    const html = await auth.response.text();
    expect(auth.response.status, html.slice(0, 300)).toBe(200);
    const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!;
    const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((m) => [m[1]!, m[2]!]));
    expect(fields.logout).toBe('yes');
    const back = await browser.navigate((await browser.post(action, fields)).headers.get('location')!);
    const callback = new URL(back.headers.get('location')!);
    const tokens = await client.authorizationCodeGrant(web, callback, { pkceCodeVerifier: auth.codeVerifier, expectedState: auth.state, expectedNonce: auth.nonce });
    expect(tokens.claims()?.preferred_username).toBe('erin');
    // Erin's Gatehouse session was not ended by the switch.
    expect(await server.gh.core.sessions.list(tokens.claims()!.sub)).toHaveLength(1);
    // Alice's tokens of that provider session went with it.
    await expect(client.refreshTokenGrant(web, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('authenticates a client with private_key_jwt against the keys it publishes, and refuses another key', async () => {
    const keyed = await client.discovery(new URL(server.issuer), 'keyed', undefined, client.PrivateKeyJwt({ key: clientKey.privateKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']), kid: 'client-1' }), { execute: [client.allowInsecureRequests] });
    expect((await client.clientCredentialsGrant(keyed, {})).access_token).toEqual(expect.any(String));
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await client.discovery(new URL(server.issuer), 'keyed', undefined, client.PrivateKeyJwt({ key: stranger.privateKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']), kid: 'client-1' }), { execute: [client.allowInsecureRequests] });
    await expect(client.clientCredentialsGrant(forged, {})).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it('re-checks the assignment at refresh: removed from the group, the refresh token stops working', async () => {
    await server.gh.core.directory.groups.addMember(CLI, 'admins', 'user', 'dave');
    const locked = await relyingParty(server.issuer, 'locked', SECRET);
    const tokens = await signInTo(new Browser(server.url), locked, 'dave');
    const refreshed = await client.refreshTokenGrant(locked, tokens.refresh_token!);
    await server.gh.core.directory.groups.removeMember(CLI, 'admins', 'user', 'dave');
    await expect(client.refreshTokenGrant(locked, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [refused] = await auditEvents(server, { type: 'oidc.token.refused' });
    expect(refused).toMatchObject({ outcome: 'denied', actor: { name: 'dave' }, reasons: [{ code: 'not_assigned' }], details: { client: 'locked', grantType: 'refresh_token' } });
  });

  it('revokes sessions, grants and refresh tokens at once when the user is suspended', async () => {
    const browser = new Browser(server.url);
    const tokens = await signInTo(browser, web, 'bob');
    const offline = await signInTo(browser, web, undefined, { scope: 'openid offline_access', prompt: 'consent' });
    expect(offline.refresh_token).toEqual(expect.any(String));
    await server.gh.core.directory.users.suspend(CLI, 'bob', DECLARED);
    for (const refresh of [tokens.refresh_token!, offline.refresh_token!]) {
      await expect(client.refreshTokenGrant(web, refresh)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
    expect((await client.tokenIntrospection(web, tokens.access_token)).active).toBe(false);
    const bob = await server.gh.core.directory.users.find('bob');
    expect(await server.gh.core.sessions.list(bob.id)).toEqual([]);
    expect(await server.gh.core.kv('oidc').listTagged({ subject: bob.id }, '')).toEqual([]);
    // The browser's next authorization starts from the sign-in page again.
    const next = await authorize(browser, web);
    await expectPage(next.response, 200, /<h1>Sign in<\/h1>/);
    await server.gh.core.directory.users.activate(CLI, 'bob', DECLARED);
  });

  it('sends back-channel logout when the user is suspended, and audits the sessions ended', async () => {
    const browser = new Browser(server.url);
    const bcl = await relyingParty(server.issuer, 'bcl', SECRET);
    const tokens = await signInTo(browser, bcl, 'carol');
    logoutTokens.length = 0;
    await server.gh.core.directory.users.suspend(CLI, 'carol', DECLARED);
    expect(logoutTokens).toHaveLength(1);
    expect(verifyJws(logoutTokens[0]!, await jwksOf(server.issuer)).payload).toMatchObject({ aud: 'bcl', sub: tokens.claims()!.sub, sid: tokens.claims()!.sid });
    const [ended] = await auditEvents(server, { type: 'session.ended', user: 'carol' });
    expect(ended).toMatchObject({ details: { reason: 'suspended' } });
    await server.gh.core.directory.users.activate(CLI, 'carol', DECLARED);
  });

  it('ends the Gatehouse session with RP-initiated logout, and back-channel logout reaches the other clients', async () => {
    const browser = new Browser(server.url);
    const bcl = await relyingParty(server.issuer, 'bcl', SECRET);
    const bclTokens = await signInTo(browser, bcl, 'carol');
    const tokens = await signInTo(browser, web);
    const handle = (await server.gh.core.sessions.list(bclTokens.claims()!.sub))[0]!.handle;
    logoutTokens.length = 0;
    const end = client.buildEndSessionUrl(web, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${RP}/signed-out`, state: 'bye' });
    const confirm = await expectPage(await browser.fetch(end), 200, /App web<\/strong> asks to sign you out/);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm)![1]!;
    const done = await browser.post('/oidc/session/end/confirm', { xsrf, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`${RP}/signed-out?state=bye`);
    expect(browser.jar.has('__Host-gatehouse_session')).toBe(false);
    expect(await server.gh.core.sessions.get(handle)).toBeUndefined();
    const [ended] = await auditEvents(server, { type: 'session.ended', user: 'carol' });
    expect(ended).toMatchObject({ details: { reason: 'logout' }, protocol: 'oidc' });
    // The bcl client got its logout token, signed with a published key.
    expect(logoutTokens).toHaveLength(1);
    const { header, payload } = verifyJws(logoutTokens[0]!, await jwksOf(server.issuer));
    expect(header.typ).toBe('logout+jwt');
    expect(payload).toMatchObject({ iss: server.issuer, aud: 'bcl', sub: bclTokens.claims()!.sub, sid: bclTokens.claims()!.sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(payload).not.toHaveProperty('nonce');
    // Both grants went with the session (no offline_access).
    await expect(client.refreshTokenGrant(web, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(bcl, bclTokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('sends back-channel logout when the Gatehouse session ends elsewhere (the portal sign-out)', async () => {
    const browser = new Browser(server.url);
    const bcl = await relyingParty(server.issuer, 'bcl', SECRET);
    const tokens = await signInTo(browser, bcl, 'erin');
    expect(tokens.claims()?.sid).toEqual(expect.any(String));
    logoutTokens.length = 0;
    const page = await (await browser.fetch('/logout')).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    expect((await browser.post('/logout', { csrf })).status).toBe(303);
    expect(logoutTokens).toHaveLength(1);
    const { payload } = verifyJws(logoutTokens[0]!, await jwksOf(server.issuer));
    expect(payload).toMatchObject({ aud: 'bcl', sub: tokens.claims()!.sub, sid: tokens.claims()!.sid });
    await expect(client.refreshTokenGrant(bcl, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [delivered] = await auditEvents(server, { type: 'oidc.backchannel_logout' });
    expect(delivered).toMatchObject({ outcome: 'success', target: { name: 'bcl' } });
  });
});
