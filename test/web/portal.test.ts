/**
 * The user portal over real HTTP, on every backend: applications by (nested) group with launch
 * links, password change (policy, other sessions end), TOTP enrolment with a QR code, recovery
 * codes shown once, security keys added and removed, sessions listed and revoked, own devices, the
 * recent-sign-in rule for changing sign-in methods, and a portal denied by policy.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../src/directory/model.ts';
import { SoftwareAuthenticator } from '../helpers/authenticator.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { auditEvents, awayFromStepEdge, Client, expectPage, expectSeeOther, ORIGIN, OTHER_PASSWORD, PASSWORD, postPassword, signIn, totpCode } from './support.ts';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };

const CONFIG = {
  server: { http: { host: '127.0.0.1', port: 0 }, trustedProxies: ['127.0.0.1/32'] },
  directory: {
    groups: [{ name: 'staff' }, { name: 'engineering', memberOf: ['staff'] }, { name: 'finance' }, { name: 'kiosk' }],
    applications: [
      { name: 'wiki', displayName: 'Team wiki', description: 'Notes and how-tos', type: 'oidc', groups: ['staff'], settings: { initiateLoginUri: 'https://wiki.example.test/login', url: 'https://wiki.example.test/' } },
      { name: 'ci', displayName: 'CI', groups: ['engineering'], settings: { url: 'https://ci.example.test/' } },
      { name: 'ledger', displayName: 'Ledger', groups: ['finance'], settings: { url: 'https://ledger.example.test/' } },
      { name: 'sneaky', displayName: 'Sneaky', groups: ['staff'], settings: { url: 'javascript:alert(1)' } },
    ],
    policies: [{ name: 'kiosk-no-portal', users: { groups: ['kiosk'] }, resources: { include: ['portal'] }, action: 'deny' }],
  },
};

describe.each(backends)('user portal ($name)', (backend) => {
  let server: TestServer;

  async function newUser(groups: string[]): Promise<User> {
    const username = `p${randomBytes(3).toString('hex')}`;
    return server.gh.core.directory.users.create(CLI, { username, displayName: `Person ${username}`, status: 'active', sshPublicKeys: [], attributes: {}, groups, password: PASSWORD });
  }

  async function signedIn(groups: string[] = ['staff']): Promise<{ user: User; c: Client }> {
    const user = await newUser(groups);
    const c = new Client(server.url);
    await signIn(c, user.username);
    return { user, c };
  }

  beforeAll(async () => {
    server = await startTestServer(backend, CONFIG);
  });
  afterAll(async () => server?.stop());

  it('needs a session: / sends to the sign-in page and back', async () => {
    await expectSeeOther(await new Client(server.url).get('/account/sessions?x=1'), `/login?return_to=${encodeURIComponent('/account/sessions?x=1')}&resource=portal`);
  });

  it('lists the applications of the person\'s (nested) groups, with safe launch links', async () => {
    const { c } = await signedIn(['engineering']);
    const html = await expectPage(await c.get('/'), 200, 'Your applications');
    expect(html).toContain('Team wiki');
    expect(html).toContain('Notes and how-tos');
    expect(html).toContain('href="https://wiki.example.test/login"'); // initiateLoginUri first
    expect(html).toContain('href="https://ci.example.test/"'); // through staff ⊂ engineering
    expect(html).not.toContain('Ledger');
    expect(html).toContain('Sneaky');
    expect(html).not.toContain('javascript:');
  });

  it('changes the password: current one required, policy enforced, other sessions end, this one stays', async () => {
    const { user, c } = await signedIn();
    const elsewhere = new Client(server.url);
    await signIn(elsewhere, user.username);
    const { csrf } = await c.page('/account');

    await expectPage(await c.post('/account/password', { csrf, current_password: 'wrong-wrong-wrong-wrong', new_password: OTHER_PASSWORD, confirm_password: OTHER_PASSWORD }), 400, 'current password is not right');
    await expectPage(await c.post('/account/password', { csrf, current_password: PASSWORD, new_password: OTHER_PASSWORD, confirm_password: 'different' }), 400, 'not the same');
    await expectPage(await c.post('/account/password', { csrf, current_password: PASSWORD, new_password: 'short', confirm_password: 'short' }), 400, /<li>[^<]*at least 15 characters/);
    await expectPage(await c.post('/account/password', { csrf, current_password: PASSWORD, new_password: 'password12345678', confirm_password: 'password12345678' }), 400, /<li>[^<]*common/);
    await expectPage(await elsewhere.get('/'), 200);

    await expectSeeOther(await c.post('/account/password', { csrf, current_password: PASSWORD, new_password: OTHER_PASSWORD, confirm_password: OTHER_PASSWORD }), '/account?done=password');
    await expectPage(await c.get('/account?done=password'), 200, 'Your password was changed');
    await expectSeeOther(await elsewhere.get('/'), /^\/login\?/);
    const [set] = await auditEvents(server.gh, { type: 'user.password.set', user: user.username });
    expect(set).toMatchObject({ actor: { type: 'user', id: user.id } });
    const [ended] = await auditEvents(server.gh, { type: 'session.ended', user: user.username });
    expect(ended).toMatchObject({ details: { reason: 'password_changed' } });
    await expectPage(await postPassword(new Client(server.url), user.username, PASSWORD), 401);
    await signIn(new Client(server.url), user.username, OTHER_PASSWORD);
  });

  it('refuses to change a password the configuration file sets, saying who changes it', async () => {
    const username = `d${randomBytes(3).toString('hex')}`;
    await server.gh.core.directory.users.create(CLI, { username, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'], password: PASSWORD }, { managedBy: 'config' });
    // As the server does after a reload of a file declaring this user with a password.
    server.gh.core.directory.declare({ file: 'gatehouse.yaml', passwords: new Set([username]), secrets: new Set() });
    const c = new Client(server.url);
    await signIn(c, username);
    const { csrf } = await c.page('/account');
    await expectPage(await c.post('/account/password', { csrf, current_password: PASSWORD, new_password: OTHER_PASSWORD, confirm_password: OTHER_PASSWORD }), 400, 'Your password is managed by your administrator: ask them to change it.');
    expect(await auditEvents(server.gh, { type: 'user.password.set', user: username })).toEqual([]);
    await signIn(new Client(server.url), username, PASSWORD);
  });

  it('enrols TOTP with a QR code, shows recovery codes once, and the next sign-in asks for a code', async () => {
    const { user, c } = await signedIn();
    const security = await c.page('/account/security');
    expect(security.html).toContain('Set up an authenticator app');
    await expectSeeOther(await c.post('/account/totp/enrol', { csrf: security.csrf }), '/account/security/totp');
    const enrol = await c.page('/account/security/totp');
    expect(enrol.html).toMatch(/<figure class="qr" role="img" aria-label="[^"]+"><svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const secret = /<code class="secret">([A-Z2-7 ]+)<\/code>/.exec(enrol.html)![1]!.replaceAll(' ', '');
    await expectPage(await c.post('/account/totp/confirm', { csrf: enrol.csrf, code: '000000' === totpCode(secret) ? '111111' : '000000' }), 400, 'did not work');
    await awayFromStepEdge();
    await expectSeeOther(await c.post('/account/totp/confirm', { csrf: enrol.csrf, code: totpCode(secret) }), '/account/security/recovery-codes');
    const codes = await c.page('/account/security/recovery-codes');
    const shown = [...codes.html.matchAll(/<li><code>([a-z2-7-]{19})<\/code><\/li>/g)].map((m) => m[1]);
    expect(shown).toHaveLength(10);
    await expectPage(await c.get('/account/security/recovery-codes'), 200, 'shown only once');
    expect(await server.gh.core.totp.status(user.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
    // Nothing of the secret stays readable in the store.
    expect(JSON.stringify(await server.gh.core.kv('web').listTagged({ subject: user.id }, 'flash:'))).not.toContain(secret);

    const regenerate = await c.page('/account/security');
    expect(regenerate.html).toContain('10 of your recovery codes are left');
    await expectSeeOther(await c.post('/account/recovery-codes', { csrf: regenerate.csrf }), '/account/security/recovery-codes');
    const fresh = [...(await c.page('/account/security/recovery-codes')).html.matchAll(/<li><code>([a-z2-7-]{19})<\/code><\/li>/g)].map((m) => m[1]);
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(shown[0]);
  });

  it('makes a WiFi network password, shown once, replaced by the next; a POST without the CSRF token changes nothing', async () => {
    const { user, c } = await signedIn();
    const security = await c.page('/account/security');
    expect(security.html).toContain('WiFi network password');
    expect(security.html).toContain('Make a network password');
    expect((await c.post('/account/network-password', { csrf: 'forged' })).status).toBe(403);
    expect(await server.gh.core.networkPasswords.has(user.id)).toBe(false);
    await expectSeeOther(await c.post('/account/network-password', { csrf: security.csrf }), '/account/security/network-password');
    const shown = /<code class="secret">([a-z2-9-]{24})<\/code>/.exec((await c.page('/account/security/network-password')).html)?.[1];
    expect(shown).toBeDefined();
    await expectPage(await c.get('/account/security/network-password'), 200, 'shown only once');
    expect(JSON.stringify(await server.gh.core.kv('web').listTagged({ subject: user.id }, 'flash:'))).not.toContain(shown);
    const again = await c.page('/account/security');
    expect(again.html).toContain('Make a new network password');
    await expectSeeOther(await c.post('/account/network-password', { csrf: again.csrf }), '/account/security/network-password');
    const next = /<code class="secret">([a-z2-9-]{24})<\/code>/.exec((await c.page('/account/security/network-password')).html)?.[1];
    expect(next).toBeDefined();
    expect(next).not.toBe(shown);
  });

  it('adds a security key through the WebAuthn endpoints and removes it', async () => {
    const { user, c } = await signedIn();
    const { csrf } = await c.page('/account/security');
    expect((await c.postJson('/account/webauthn/options', {}, undefined)).status).toBe(403);
    const answer = await c.postJson('/account/webauthn/options', {}, csrf);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const { challengeId, options } = (await answer.json()) as { challengeId: string; options: Parameters<SoftwareAuthenticator['register']>[0] };
    const key = new SoftwareAuthenticator({ origin: ORIGIN });
    await expectSeeOther(await c.post('/account/webauthn', { csrf, challengeId, response: JSON.stringify(key.register(options)), name: 'Blue key' }), '/account/security?done=key-added');
    const listed = await c.page('/account/security?done=key-added');
    expect(listed.html).toContain('Blue key');
    expect(listed.html).toContain('The security key or passkey was added.');
    // The same challenge again is spent.
    await expectPage(await c.post('/account/webauthn', { csrf, challengeId, response: JSON.stringify(key.register(options, { ignoreExcludeCredentials: true })), name: 'again' }), 400, 'could not be added');
    const [credential] = await server.gh.core.webauthn.list(user.id);
    await expectSeeOther(await c.post('/account/webauthn/remove', { csrf, id: credential!.id }), '/account/security?done=key-removed');
    expect(await server.gh.core.webauthn.list(user.id)).toEqual([]);
  });

  it('changing sign-in methods needs a recent sign-in', async () => {
    const user = await newUser(['staff']);
    const { token } = await server.gh.core.sessions.create({ user, authn: [{ method: 'password', at: new Date(Date.now() - 3_600_000).toISOString() }] });
    const c = new Client(server.url);
    c.jar.set('__Host-gatehouse_session', token);
    const { html, csrf } = await c.page('/account/security');
    expect(html).toContain('sign in again');
    const reauth = '/login?return_to=%2Faccount%2Fsecurity&resource=portal&force=1';
    await expectSeeOther(await c.post('/account/totp/enrol', { csrf }), reauth);
    await expectSeeOther(await c.post('/account/network-password', { csrf }), reauth);
    expect(await server.gh.core.networkPasswords.has(user.id)).toBe(false);
    const json = await c.postJson('/account/webauthn/options', {}, csrf);
    expect(json.status).toBe(401);
    expect(await json.json()).toMatchObject({ error: 'reauthenticate', location: reauth });
    expect(await server.gh.core.totp.status(user.id)).toMatchObject({ totp: 'none' });
  });

  it('lists the person\'s sessions and devices, and signs out another session', async () => {
    const { user, c } = await signedIn();
    const other = new Client(server.url);
    other.userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
    await signIn(other, user.username);
    await server.gh.core.directory.resources.create(CLI, 'devices', { name: `${user.username}-laptop`, owners: [user.username], platform: 'linux', managed: true, posture: {}, attributes: {} });
    await server.gh.core.directory.resources.create(CLI, 'devices', { name: 'someone-elses', owners: [], platform: 'macos', managed: false, posture: {}, attributes: {} });
    const { html, csrf } = await c.page('/account/sessions');
    expect(html).toContain('Chrome on Linux');
    expect(html).toContain('Firefox on Windows');
    expect(html).toContain('This session');
    expect(html).toContain(`${user.username}-laptop`);
    expect(html).not.toContain('someone-elses');
    const otherHandle = (await server.gh.core.sessions.resolve(other.jar.get('__Host-gatehouse_session')))!.handle;
    const mine = (await server.gh.core.sessions.resolve(c.jar.get('__Host-gatehouse_session')))!.handle;
    expect(html).toContain(`value="${otherHandle}"`);
    expect(html).not.toContain(`value="${mine}"`);
    // Someone else's session cannot be ended from here.
    const stranger = await signedIn();
    const strangerHandle = (await server.gh.core.sessions.resolve(stranger.c.jar.get('__Host-gatehouse_session')))!.handle;
    await expectSeeOther(await c.post('/account/sessions/revoke', { csrf, session: strangerHandle }), '/account/sessions?done=revoked');
    await expectPage(await stranger.c.get('/'), 200);
    await expectSeeOther(await c.post('/account/sessions/revoke', { csrf, session: otherHandle }), '/account/sessions?done=revoked');
    await expectSeeOther(await other.get('/'), /^\/login\?/);
    await expectPage(await c.get('/'), 200);
    const [ended] = await auditEvents(server.gh, { type: 'session.ended', user: user.username });
    expect(ended).toMatchObject({ details: { reason: 'revoked' } });
  });

  it("shows the person's own live network connections (RADIUS accounting), not ended ones nor anyone else's", async () => {
    const { user, c } = await signedIn();
    const stranger = await newUser(['staff']);
    const record = (username: string, acctSessionId: string, kind: 'start' | 'interim' | 'stop', extra: Record<string, unknown> = {}) =>
      server.gh.core.networkSessions.account(CLI, { kind, client: 'office-vpn', nasIdentifier: 'gw-7', acctSessionId, username, at: Date.now(), ...extra });
    await record(user.username, 'mine-live', 'start', { framedIpAddress: '10.20.30.40', callingStationId: '203.0.113.50' });
    await record(user.username, 'mine-live', 'interim', { sessionTime: 60, inputOctets: 5 * 1_048_576, outputOctets: 1_048_576 });
    await record(user.username, 'mine-ended', 'start', { framedIpAddress: '10.20.30.41' });
    await record(user.username, 'mine-ended', 'stop', { sessionTime: 5 });
    await record(stranger.username, 'theirs', 'start', { framedIpAddress: '10.20.30.42' });
    const { html } = await c.page('/account/sessions');
    expect(html).toContain('Network connections');
    expect(html).toContain('office-vpn (gw-7)');
    expect(html).toContain('10.20.30.40');
    expect(html).toContain('203.0.113.50');
    expect(html).toContain('5.0 MB / 1.0 MB');
    expect(html).not.toContain('10.20.30.41');
    expect(html).not.toContain('10.20.30.42');
    const { c: other } = await signedIn();
    expect((await other.page('/account/sessions')).html).toContain('No live VPN or WiFi connections.');
  });

  it('a policy may keep someone out of the portal (403 with a reference) while they keep their session', async () => {
    const user = await newUser(['kiosk']);
    const c = new Client(server.url);
    const res = await postPassword(c, user.username, PASSWORD, { resource: 'portal' });
    await expectPage(res, 403, 'Access denied');
    const { token } = await server.gh.core.sessions.create({ user, authn: [{ method: 'password', at: new Date().toISOString() }] });
    c.jar.set('__Host-gatehouse_session', token);
    const html = await expectPage(await c.get('/account'), 403, 'You cannot use the portal right now.');
    expect(html).toContain('action="/logout"');
  });
});
