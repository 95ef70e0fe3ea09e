/**
 * The sign-in flow over real HTTP against a started Gatehouse, on every backend: password only,
 * password + TOTP, recovery code, security key, usernameless passkey, the denial page, step-up,
 * force, logout, suspension, expired and replayed sign-ins, adaptive MFA on a trusted network.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/directory/model.ts';
import { SoftwareAuthenticator } from '../helpers/authenticator.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  auditEvents, awayFromStepEdge, Client, expectPage, expectSeeOther, loginPath, ORIGIN, PASSWORD, postCode, postPassword, signIn, totpCode, webauthnGet,
} from './support.ts';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };

const SIGNIN_CONFIG = {
  server: { http: { host: '127.0.0.1', port: 0 }, trustedProxies: ['127.0.0.1/32'] },
  directory: {
    groups: [{ name: 'staff' }, { name: 'engineering', memberOf: ['staff'] }, { name: 'contractors' }, { name: 'kiosk' }],
    networks: [{ name: 'office', cidrs: ['192.168.10.0/24'] }],
    applications: [
      { name: 'wiki', displayName: 'Wiki', type: 'oidc', groups: ['staff'], settings: { redirectUris: ['https://wiki.example.test/callback'], initiateLoginUri: 'https://wiki.example.test/login' } },
      { name: 'payroll', groups: ['staff'], settings: { url: 'https://payroll.example.test/' } },
      { name: 'vault', groups: ['staff'] },
    ],
    policies: [
      { name: 'eng-mfa', description: 'Engineering needs MFA except in the office', users: { groups: ['engineering'] }, except: { network: { in: ['office'] } }, action: 'mfa' },
      { name: 'vault-totp', resources: { include: ['app:vault'] }, action: 'mfa', methods: ['totp'] },
      { name: 'kiosk-deny', description: 'Kiosk accounts may not sign in', users: { groups: ['kiosk'] }, action: 'deny' },
    ],
  },
};

describe.each(backends)('sign-in pages ($name)', (backend) => {
  let server: TestServer;
  let n = 0;
  const client = () => new Client(server.url, `198.51.100.${++n % 250}`);

  async function newUser(groups: string[], options: { totp?: boolean } = {}): Promise<{ user: User; secret?: string; recoveryCodes?: string[] }> {
    const username = `w${randomBytes(3).toString('hex')}`;
    const user = await server.gh.core.directory.users.create(CLI, { username, status: 'active', sshPublicKeys: [], attributes: {}, groups, password: PASSWORD });
    if (!options.totp) return { user };
    await awayFromStepEdge();
    const { secret } = await server.gh.core.totp.enrol(CLI, user.id, username);
    // Confirmed with the previous step's code, so this step's and the next one's are left for the test.
    const { recoveryCodes } = await server.gh.core.totp.confirm(CLI, user.id, totpCode(secret, -1));
    return { user, secret, recoveryCodes };
  }

  async function registerKey(user: User): Promise<SoftwareAuthenticator> {
    const key = new SoftwareAuthenticator({ origin: ORIGIN });
    const { challengeId, options } = await server.gh.core.webauthn.registrationOptions(CLI, user);
    await server.gh.core.webauthn.verifyRegistration(CLI, user, challengeId, key.register(options), 'test key');
    return key;
  }

  const sessionOf = async (c: Client) => server.gh.core.sessions.resolve(c.jar.get('__Host-gatehouse_session'));

  beforeAll(async () => {
    server = await startTestServer(backend, SIGNIN_CONFIG);
  });
  afterAll(async () => server?.stop());

  it('password only: a session cookie (Secure, HttpOnly, SameSite=Lax), 303 to return_to, and the portal opens', async () => {
    const { user } = await newUser(['staff']);
    const c = client();
    const login = await c.get('/login?return_to=/account');
    const html = await expectPage(login, 200, /<form method="post" action="\/login"/);
    expect(html).toContain('name="return_to" value="/account"');
    const res = await c.post('/login', { csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]!, username: user.username.toUpperCase(), password: PASSWORD, return_to: '/account', resource: 'portal' });
    // __Host- (RFC 6265bis §4.1.3.2): Secure, path /, no Domain, so no sibling subdomain can plant one.
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-gatehouse_session='))!;
    expect(cookie).not.toMatch(/; domain=/i);
    expect(cookie).toMatch(/; path=\//);
    expect(cookie).toMatch(/; samesite=lax/);
    expect(cookie).toMatch(/; secure/);
    expect(cookie).toMatch(/; httponly/);
    await expectSeeOther(res, '/account');
    await expectPage(await c.get('/account'), 200, new RegExp(user.username));
    const session = (await sessionOf(c))!;
    expect(session).toMatchObject({ userId: user.id, ip: c.ip, authn: [{ method: 'password' }] });
    expect(session.userAgent).toContain('Chrome');
    const [started] = await auditEvents(server.gh, { type: 'session.started', user: user.username });
    expect(started).toMatchObject({ outcome: 'success', details: { session: session.handle.slice(0, 16), methods: ['password'], resource: 'portal' }, sourceIp: c.ip });
    // With a live session the login page goes straight on.
    await expectSeeOther(await c.get('/login?return_to=/account/sessions'), '/account/sessions');
  });

  it('does not believe a session cookie without the __Host- prefix, and expires one at the next sign-in', async () => {
    const { user } = await newUser(['staff']);
    const owner = client();
    await signIn(owner, user.username);
    const token = owner.jar.get('__Host-gatehouse_session')!;
    // The same live session token under the unprefixed name (planted by a sibling subdomain, or left
    // by an earlier version): no session.
    const c = client();
    c.jar.set('gatehouse_session', token);
    await expectSeeOther(await c.get('/account'), /^\/login\?/);
    const res = await postPassword(c, user.username, PASSWORD);
    expect(res.headers.getSetCookie().find((line) => line.startsWith('gatehouse_session='))).toMatch(/expires=Thu, 01 Jan 1970/);
    await expectSeeOther(res);
    expect([...c.jar.keys()].filter((name) => name.includes('gatehouse_session'))).toEqual(['__Host-gatehouse_session']);
  });

  it('a wrong password re-shows the page with a generic message and sets no session', async () => {
    const { user } = await newUser(['staff']);
    const c = client();
    const html = await expectPage(await postPassword(c, user.username, 'not-the-password-at-all'), 401, 'Wrong username or password.');
    expect(html).toContain(`value="${user.username}"`);
    expect(html).not.toContain('not-the-password-at-all');
    await expectPage(await postPassword(c, 'nobody-here', PASSWORD), 401, 'Wrong username or password.');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
  });

  it('password + TOTP: the MFA page, a code, a session with both factors; the same code again is refused', async () => {
    const { user, secret } = await newUser(['engineering'], { totp: true });
    const c = client();
    const passwordStep = await postPassword(c, user.username, PASSWORD, { returnTo: '/account' });
    await expectSeeOther(passwordStep, '/login/mfa');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
    expect(c.jar.get('__Host-gatehouse_signin')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const page = await c.page('/login/mfa');
    expect(page.html).toContain('autocomplete="one-time-code"');
    expect(page.html).toContain('Use a recovery code');
    expect(page.html).not.toContain('security key'); // no key registered

    const code = totpCode(secret!);
    const pendingCookie = c.jar.get('__Host-gatehouse_signin')!;
    const done = await c.post('/login/mfa', { csrf: page.csrf, code });
    await expectSeeOther(done, '/account');
    expect((await sessionOf(c))!.authn.map((a) => a.method)).toEqual(['password', 'totp']);
    // Each step is one attempt and one event: the decision, carrying the factor the step checked.
    const eventsOf = async (res: Response) => (await server.gh.core.audit.query({ requestId: res.headers.get('x-request-id')! })).items;
    const [passwordDecision, ...noMore] = await eventsOf(passwordStep);
    expect(noMore).toEqual([]);
    expect(passwordDecision).toMatchObject({ type: 'access.decision', outcome: 'denied', actor: { name: user.username }, details: { decision: 'mfa', checks: [{ type: 'authn.password', reasons: [{ code: 'password_ok' }] }] } });
    expect((await eventsOf(done)).map((e) => e.type)).toEqual(['session.started', 'access.decision']);
    expect((await eventsOf(done))[1]!.details).toMatchObject({ decision: 'allow', authn: ['password', 'totp'], checks: [{ type: 'authn.totp', details: { method: 'totp' } }] });
    expect(c.jar.has('__Host-gatehouse_signin')).toBe(false);

    // The same form again: the pending sign-in is gone.
    c.jar.set('__Host-gatehouse_signin', pendingCookie);
    await expectPage(await c.post('/login/mfa', { csrf: page.csrf, code }), 400, 'Sign-in expired');

    // The same code in a new sign-in: replayed.
    const other = client();
    await expectSeeOther(await postPassword(other, user.username, PASSWORD), '/login/mfa');
    await expectPage(await postCode(other, code), 401, 'used already');
    const [replay] = await auditEvents(server.gh, { type: 'authn.totp', user: user.username });
    expect(replay).toMatchObject({ outcome: 'failure', reasons: [{ code: 'replayed' }] });
    // A later code still works in that sign-in.
    await expectSeeOther(await postCode(other, totpCode(secret!, 1)), '/');
  });

  it('password + recovery code, once', async () => {
    const { user, recoveryCodes } = await newUser(['engineering'], { totp: true });
    const c = client();
    await expectSeeOther(await postPassword(c, user.username, PASSWORD), '/login/mfa');
    await expectSeeOther(await postCode(c, recoveryCodes![0]!.toUpperCase()), '/');
    expect((await sessionOf(c))!.authn.map((a) => a.method)).toEqual(['password', 'totp']);
    const again = client();
    await expectSeeOther(await postPassword(again, user.username, PASSWORD), '/login/mfa');
    await expectPage(await postCode(again, recoveryCodes![0]!), 401, 'did not work');
  });

  it('password + security key (WebAuthn as the second factor)', async () => {
    const { user } = await newUser(['engineering']);
    const key = await registerKey(user);
    const c = client();
    await expectSeeOther(await postPassword(c, user.username, PASSWORD, { returnTo: '/account/security' }), '/login/mfa');
    const page = await c.page('/login/mfa');
    expect(page.html).toContain('data-options="/login/mfa/webauthn/options"');
    expect(page.html).not.toContain('one-time-code'); // no TOTP
    await expectSeeOther(await webauthnGet(c, key, '/login/mfa', '/login/mfa/webauthn/options', '/login/mfa/webauthn'), '/account/security');
    expect((await sessionOf(c))!.authn.map((a) => a.method)).toEqual(['password', 'webauthn']);
  });

  it('a passkey signs in without a username, and a broken assertion does not', async () => {
    const { user } = await newUser(['staff']);
    const passkey = await registerKey(user);
    const c = client();
    const params = { return_to: '/account', resource: 'portal' };
    const bad = new SoftwareAuthenticator({ origin: ORIGIN });
    await expectPage(await webauthnGet(c, bad, loginPath({ returnTo: '/account' }), '/login/passkey/options', '/login/passkey', params), 401, 'could not sign you in');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
    await expectSeeOther(await webauthnGet(c, passkey, loginPath({ returnTo: '/account' }), '/login/passkey/options', '/login/passkey', params), '/account');
    expect(await sessionOf(c)).toMatchObject({ userId: user.id, authn: [{ method: 'webauthn' }] });
    // One event for the passkey sign-in: the decision, carrying the assertion it checked.
    const [decision] = await auditEvents(server.gh, { type: 'access.decision', user: user.username });
    expect(decision).toMatchObject({ outcome: 'success', details: { decision: 'allow', checks: [{ type: 'authn.webauthn', details: { passkey: true, userVerified: true } }] } });
    expect((await auditEvents(server.gh, { type: 'authn.webauthn', user: user.username })).filter((e) => e.outcome === 'success')).toEqual([]);
  });

  it('a passkey without user verification does not stand in for a password', async () => {
    const { user } = await newUser(['staff']);
    const key = new SoftwareAuthenticator({ origin: ORIGIN, userVerification: false });
    const { challengeId, options } = await server.gh.core.webauthn.registrationOptions(CLI, user);
    await server.gh.core.webauthn.verifyRegistration(CLI, user, challengeId, key.register(options));
    const c = client();
    const res = await webauthnGet(c, key, '/login', '/login/passkey/options', '/login/passkey');
    await expectPage(res, 401, 'did not verify you');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
    // No decision followed the check, so the check is the attempt's one event (settled at the end of the request).
    const events = (await server.gh.core.audit.query({ requestId: res.headers.get('x-request-id')! })).items;
    expect(events).toMatchObject([{ type: 'authn.webauthn', outcome: 'success', details: { passkey: true, userVerified: false } }]);
  });

  it('a denial: 403, a generic page with the request id as reference, the reasons in the audit log, no session', async () => {
    const { user } = await newUser(['staff', 'kiosk']);
    const c = client();
    const res = await postPassword(c, user.username, PASSWORD, { returnTo: '/oidc/auth/x', resource: 'app:wiki' });
    const reference = res.headers.get('x-request-id')!;
    const html = await expectPage(res, 403, 'Access denied');
    expect(html).toContain(`<code>${reference}</code>`);
    expect(html).not.toContain('kiosk');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
    const [decision] = await auditEvents(server.gh, { type: 'access.decision', user: user.username });
    expect(decision).toMatchObject({ requestId: reference, outcome: 'denied', protocol: 'oidc', target: { name: 'app:wiki' }, reasons: expect.arrayContaining([expect.objectContaining({ code: 'policy_deny', policy: 'kiosk-deny' })]) });

    // Not assigned: same page.
    const outsider = (await newUser(['contractors'])).user;
    await expectPage(await postPassword(client(), outsider.username, PASSWORD, { resource: 'app:payroll' }), 403, 'Access denied');
    // A second factor the person does not have: a dead end, said so.
    const noFactor = (await newUser(['engineering'])).user;
    await expectPage(await postPassword(client(), noFactor.username, PASSWORD), 403, 'have not set up');
  });

  it('the sign-in page for an application lets the form post lead on to its redirect URIs (CSP form-action)', async () => {
    const res = await client().get('/login?resource=app:wiki&return_to=/oidc/auth/1');
    await expectPage(res, 200);
    expect(res.headers.get('content-security-policy')).toContain("form-action 'self' https://wiki.example.test;");
  });

  it('step-up: a session asked for TOTP by an application gets it, and its token is rotated', async () => {
    const { user, secret } = await newUser(['staff'], { totp: true });
    const c = client();
    await signIn(c, user.username);
    const before = c.jar.get('__Host-gatehouse_session')!;
    // Allowed already: straight on.
    await expectSeeOther(await c.get('/login/step-up?resource=app:wiki&return_to=/oidc/auth/1'), '/oidc/auth/1');
    await expectSeeOther(await c.get('/login/step-up?resource=app:vault&return_to=/oidc/auth/2'), '/login/mfa');
    const page = await c.page('/login/mfa');
    expect(page.html).toContain('this needs a second step');
    await expectSeeOther(await c.post('/login/mfa', { csrf: page.csrf, code: totpCode(secret!) }), '/oidc/auth/2');
    const after = c.jar.get('__Host-gatehouse_session')!;
    expect(after).not.toBe(before);
    expect(await server.gh.core.sessions.resolve(before)).toBeUndefined();
    expect((await sessionOf(c))!.authn.map((a) => a.method)).toEqual(['password', 'totp']);
    await expectSeeOther(await c.get('/login/step-up?resource=app:vault&return_to=/oidc/auth/3'), '/oidc/auth/3');
    const [elevated] = await auditEvents(server.gh, { type: 'session.elevated', user: user.username });
    expect(elevated).toMatchObject({ details: { methods: ['totp'], resource: 'app:vault' } });
    // Without a session: to the sign-in page with the same parameters.
    const anonymous = await client().get('/login/step-up?resource=app:vault&return_to=/oidc/auth/4');
    expect(new URL(await expectSeeOther(anonymous), server.url).searchParams.get('return_to')).toBe('/oidc/auth/4');
  });

  it('force=1 asks for the password again and replaces the session', async () => {
    const { user } = await newUser(['staff']);
    const c = client();
    await signIn(c, user.username);
    const old = c.jar.get('__Host-gatehouse_session')!;
    const page = await expectPage(await c.get(loginPath({ force: true, returnTo: '/account' })), 200, 'Sign in again to continue');
    expect(page).toContain('name="force" value="1"');
    await signIn(c, user.username, PASSWORD, { force: true, returnTo: '/account' });
    expect(c.jar.get('__Host-gatehouse_session')).not.toBe(old);
    expect(await server.gh.core.sessions.resolve(old)).toBeUndefined();
    expect(await sessionOf(c)).toMatchObject({ userId: user.id });
    const [ended] = await auditEvents(server.gh, { type: 'session.ended', user: user.username });
    expect(ended).toMatchObject({ details: { reason: 'logout' } });
  });

  it('logout: a confirmation page, then the session ends everywhere and the cookie stops working', async () => {
    const { user } = await newUser(['staff']);
    const c = client();
    await signIn(c, user.username);
    const token = c.jar.get('__Host-gatehouse_session')!;
    const ended: string[] = [];
    server.gh.core.sessions.onEnded((session, reason) => {
      if (session.userId === user.id) ended.push(reason);
    });
    const { html, csrf } = await c.page('/logout');
    expect(html).toContain('action="/logout"');
    await expectPage(await c.post('/logout', { csrf: 'wrong' }), 403);
    expect(await server.gh.core.sessions.resolve(token)).toBeDefined();
    await expectSeeOther(await c.post('/logout', { csrf }), '/logout/done');
    await expectPage(await c.get('/logout/done'), 200, 'You are signed out');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
    expect(ended).toEqual(['logout']);
    const replay = new Client(server.url);
    replay.jar.set('__Host-gatehouse_session', token);
    await expectSeeOther(await replay.get('/'), /^\/login\?/);
    // Signed out already: the page says so.
    await expectPage(await c.get('/logout'), 200, 'You are signed out');
  });

  it('suspension ends the session at once', async () => {
    const { user } = await newUser(['staff']);
    const c = client();
    await signIn(c, user.username);
    await expectPage(await c.get('/'), 200);
    await server.gh.core.directory.users.suspend(CLI, user.id);
    await expectSeeOther(await c.get('/'), '/login?return_to=%2F&resource=portal');
    await expectPage(await postPassword(client(), user.username, PASSWORD), 403, 'Access denied');
  });

  it('an expired or unknown pending sign-in starts over', async () => {
    const { user, secret } = await newUser(['engineering'], { totp: true });
    const c = client();
    await expectSeeOther(await postPassword(c, user.username, PASSWORD), '/login/mfa');
    const { csrf } = await c.page('/login/mfa');
    const kv = server.gh.core.kv('web');
    const key = `signin:${c.jar.get('__Host-gatehouse_signin')}`;
    const pending = await kv.get<Record<string, unknown>>(key);
    await kv.put(key, { ...pending, expiresAt: Date.now() - 1000 }, 60);
    await expectPage(await c.get('/login/mfa'), 400, 'Sign-in expired');
    await expectPage(await c.post('/login/mfa', { csrf, code: totpCode(secret!) }), 400, 'Sign-in expired');
    c.jar.set('__Host-gatehouse_signin', 'forged-forged-forged-forged-forged-forged-fo');
    await expectPage(await c.get('/login/mfa'), 400, 'Sign-in expired');
    expect(c.jar.has('__Host-gatehouse_session')).toBe(false);
  });

  it('adaptive MFA: engineering signs in with the password alone from the office, and needs a second factor elsewhere', async () => {
    const { user } = await newUser(['engineering'], { totp: true });
    await expectSeeOther(await postPassword(new Client(server.url, '192.168.10.7'), user.username, PASSWORD), '/');
    await expectSeeOther(await postPassword(new Client(server.url, '203.0.113.9'), user.username, PASSWORD), '/login/mfa');
  });
});
