/**
 * The web front-end under bad input, on every backend: security headers, CSRF (missing, wrong,
 * crossed between browsers), oversized and malformed bodies, tampered cookies, open-redirect
 * attempts, rate limits (password, second factor, passkey challenges), bounded MFA attempts, and
 * errors that never show a stack trace.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { User } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awayFromStepEdge, Client, csrfOf, expectPage, expectSeeOther, PASSWORD, postCode, postPassword, signIn, totpCode } from './support.ts';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };

const CONFIG = {
  server: { http: { host: '127.0.0.1', port: 0, publicUrl: 'https://id.example.test' }, trustedProxies: ['127.0.0.1/32'] },
  throttle: { freeAttempts: 3, freeAttemptsPerIp: 3, baseDelaySeconds: 30 },
  web: { mfaAttempts: 2 },
  directory: {
    groups: [{ name: 'staff' }, { name: 'secure' }],
    policies: [{ name: 'secure-mfa', users: { groups: ['secure'] }, action: 'mfa' }],
  },
};

describe.each(backends)('web front-end under bad input ($name)', (backend) => {
  let server: TestServer;
  let n = 0;
  /** Each test its own client address, so the per-address limits of one do not reach another. */
  const client = () => new Client(server.url, `203.0.113.${++n}`);

  async function newUser(groups: string[] = ['staff'], totp = false): Promise<{ user: User; secret?: string }> {
    const username = `h${randomBytes(3).toString('hex')}`;
    const user = await server.gh.core.directory.users.create(CLI, { username, status: 'active', sshPublicKeys: [], attributes: {}, groups, password: PASSWORD });
    if (!totp) return { user };
    await awayFromStepEdge();
    const { secret } = await server.gh.core.totp.enrol(CLI, user.id, username);
    await server.gh.core.totp.confirm(CLI, user.id, totpCode(secret, -1));
    return { user, secret };
  }

  beforeAll(async () => {
    server = await startTestServer(backend, CONFIG);
  });
  afterAll(async () => server?.stop());

  describe('headers', () => {
    const expectSecure = (res: Response) => {
      const csp = res.headers.get('content-security-policy')!;
      for (const directive of ["default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'", "object-src 'none'", "script-src 'self'"]) expect(csp).toContain(directive);
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
    };

    it('on the sign-in page, the portal, error pages and redirects; no-store wherever a person is concerned', async () => {
      const { user } = await newUser();
      const c = client();
      const login = await c.get('/login');
      expectSecure(login);
      expect(login.headers.get('cache-control')).toBe('no-store');
      await signIn(c, user.username);
      for (const path of ['/', '/account', '/account/security', '/account/sessions', '/account/nothing-here', '/logout']) {
        const res = await c.get(path);
        expectSecure(res);
        expect(res.headers.get('cache-control'), path).toBe('no-store');
      }
      const redirect = await new Client(server.url).get('/');
      expect(redirect.status).toBe(303);
      expectSecure(redirect);
    });

    it('assets: cacheable, typed, revalidated by ETag', async () => {
      const css = await client().get('/assets/gatehouse.css');
      expect(css.status).toBe(200);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(css.headers.get('cache-control')).toBe('public, max-age=3600');
      expectSecure(css);
      const etag = css.headers.get('etag')!;
      expect((await client().get('/assets/gatehouse.css', { 'if-none-match': etag })).status).toBe(304);
      const js = await client().get('/assets/webauthn.js');
      expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await js.text()).toContain('navigator.credentials');
      const traversal = await client().get('/assets/%2e%2e/src/core.ts');
      expect(traversal.status).toBe(404);
      expect(await traversal.text()).not.toContain('createCore');
      await expectPage(await client().get('/assets/secret.key'), 404);
    });

    it('an HTML 404 under our paths, 405 with Allow for other methods, and other paths left to the rest of the server', async () => {
      await expectPage(await client().get('/login/nowhere'), 404, 'Page not found');
      const put = await client().fetch('/login', { method: 'PUT' });
      await expectPage(put, 405);
      expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
      const head = await client().fetch('/login', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
      const elsewhere = await client().get('/elsewhere');
      expect(elsewhere.status).toBe(404);
      expect(elsewhere.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });
  });

  describe('CSRF', () => {
    it('refuses a sign-in form without the token, with a wrong one, or with another browser\'s', async () => {
      const { user } = await newUser();
      const a = client();
      const b = client();
      const { csrf: tokenA } = await a.page('/login');
      await b.page('/login');
      const form = { username: user.username, password: PASSWORD };
      await expectPage(await a.post('/login', form), 403, 'Request refused');
      await expectPage(await a.post('/login', { ...form, csrf: 'A'.repeat(43) }), 403);
      await expectPage(await b.post('/login', { ...form, csrf: tokenA }), 403);
      const noCookie = new Client(server.url, a.ip);
      await expectPage(await noCookie.post('/login', { ...form, csrf: tokenA }), 403);
      // A tampered nonce cookie no longer matches its token.
      a.jar.set('__Host-gatehouse_csrf', `${a.jar.get('__Host-gatehouse_csrf')!.slice(0, -2)}xx`);
      await expectPage(await a.post('/login', { ...form, csrf: tokenA }), 403);
      expect(a.jar.has('__Host-gatehouse_session') || b.jar.has('__Host-gatehouse_session')).toBe(false);
    });

    it('refuses portal forms and WebAuthn calls without the session\'s token; the pre-sign-in token is not it', async () => {
      const { user } = await newUser();
      const c = client();
      await signIn(c, user.username);
      const anonymous = csrfOf(await (await client().get('/login')).text());
      for (const csrf of [undefined, 'x', anonymous]) {
        await expectPage(await c.post('/account/password', { ...(csrf ? { csrf } : {}), current_password: PASSWORD, new_password: 'a-brand-new-passphrase-9', confirm_password: 'a-brand-new-passphrase-9' }), 403);
        await expectPage(await c.post('/logout', csrf ? { csrf } : {}), 403);
      }
      const json = await c.postJson('/account/webauthn/options', {}, 'nope');
      expect(json.status).toBe(403);
      expect(json.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await json.json()).toMatchObject({ error: 'Request refused', reference: json.headers.get('x-request-id') });
      expect((await client().postJson('/login/passkey/options', {}, undefined)).status).toBe(403);
      await expectPage(await c.get('/'), 200);
    });
  });

  describe('bodies', () => {
    it('refuses oversized, malformed, mistyped and duplicated forms with a page, never a crash', async () => {
      const c = client();
      const { csrf } = await c.page('/login');
      await expectPage(await c.post('/login', { csrf, username: 'x', password: 'y'.repeat(20_000) }), 413, 'Too much data');
      const raw = (body: string | Uint8Array, type = 'application/x-www-form-urlencoded') => c.fetch('/login', { method: 'POST', headers: { 'content-type': type }, body });
      await expectPage(await raw(`csrf=${csrf}&username=%E0%A4%A&password=x`), 400, 'Bad request');
      await expectPage(await raw(new Uint8Array([0x63, 0x73, 0x72, 0x66, 0x3d, 0xff, 0xfe])), 400);
      await expectPage(await raw(`csrf=${csrf}&csrf=${csrf}&username=a&password=b`), 400);
      await expectPage(await raw(JSON.stringify({ csrf, username: 'a' }), 'application/json'), 415);
      await expectPage(await raw('--x\r\ncontent-disposition: form-data; name="a"\r\n\r\nb\r\n--x--', 'multipart/form-data; boundary=x'), 415);
      await expectPage(await raw(`${'a=b&'.repeat(100)}csrf=${csrf}`), 400);
      // A streamed body with no declared length is cut off too.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`csrf=${csrf}&password=${'z'.repeat(30_000)}`));
          controller.close();
        },
      });
      const streamed = await c.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: stream, duplex: 'half' } as RequestInit);
      await expectPage(streamed, 413);
    });

    it('refuses malformed WebAuthn JSON and credentials cleanly', async () => {
      const c = client();
      const { csrf } = await c.page('/login');
      const bad = await c.fetch('/login/passkey/options', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{"a":' });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: 'Bad request' });
      const big = await c.fetch('/login/passkey/options', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ pad: 'x'.repeat(10_000) }) });
      expect(big.status).toBe(413);
      for (const response of ['not json', '{}', JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'A'.repeat(60), signature: 'AAAA' } })]) {
        await expectPage(await c.post('/login/passkey', { csrf, challengeId: 'nonexistent-challenge-id', response }), 401, 'could not sign you in');
      }
      // Three failures from one address (throttle.freeAttemptsPerIp): the next attempt waits.
      const limited = await c.post('/login/passkey', { csrf, challengeId: 'x', response: '[]' });
      await expectPage(limited, 429, 'Too many attempts');
    });
  });

  describe('cookies', () => {
    it('a tampered or unknown session cookie is no session', async () => {
      const { user } = await newUser();
      const c = client();
      await signIn(c, user.username);
      const token = c.jar.get('__Host-gatehouse_session')!;
      for (const forged of [`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'not a token', 'x'.repeat(500), '%00%0d%0a']) {
        const other = new Client(server.url, c.ip);
        other.jar.set('__Host-gatehouse_session', forged);
        await expectSeeOther(await other.get('/account'), /^\/login\?/);
      }
    });
  });

  describe('redirects', () => {
    it('return_to never leads off the site', async () => {
      const { user } = await newUser();
      for (const returnTo of ['//evil.example/', '/\\evil.example', 'https://evil.example/', '/\t/evil.example', 'javascript:alert(1)', `/${'a'.repeat(3000)}`]) {
        const c = client();
        const { csrf } = await c.page(`/login?return_to=${encodeURIComponent(returnTo)}`);
        await expectSeeOther(await c.post('/login', { csrf, username: user.username, password: PASSWORD, return_to: returnTo }), '/');
        await expectSeeOther(await c.get(`/login?return_to=${encodeURIComponent(returnTo)}`), '/');
      }
      await expectPage(await client().get('/login?resource=radius:vpn'), 400, 'Bad request');
    });
  });

  describe('rate limits', () => {
    it('password guessing on one account is slowed down: 429 with Retry-After', async () => {
      const { user } = await newUser();
      for (let i = 0; i < 3; i++) await expectPage(await postPassword(client(), user.username, `wrong-${i}-password-here`), 401);
      const res = await postPassword(client(), user.username, PASSWORD);
      await expectPage(res, 429, 'Too many failed attempts');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('second-factor guessing from one address is slowed down, across sign-ins and accounts', async () => {
      const ip = `198.18.0.${++n}`;
      const first = await newUser(['secure'], true);
      const second = await newUser(['secure'], true);
      const a = new Client(server.url, ip);
      await expectSeeOther(await postPassword(a, first.user.username, PASSWORD), '/login/mfa');
      await expectPage(await postCode(a, '000001'), 401, 'did not work');
      // web.mfaAttempts is 2: the second wrong answer ends this sign-in.
      await expectPage(await postCode(a, '000002'), 401, 'Too many wrong answers');
      await expectPage(await a.get('/login/mfa'), 400, 'Sign-in expired');
      const b = new Client(server.url, ip);
      await expectSeeOther(await postPassword(b, second.user.username, PASSWORD), '/login/mfa');
      await expectPage(await postCode(b, '000003'), 401);
      const limited = await postCode(b, totpCode(second.secret!));
      await expectPage(limited, 429, 'Too many attempts from your network');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
      expect(b.jar.has('__Host-gatehouse_session')).toBe(false);
    });

    it('passkey challenges per address are capped', async () => {
      const c = client();
      const { csrf } = await c.page('/login');
      const statuses: number[] = [];
      // A fixed one-minute window: near its end the count could restart midway, so wait for the next one.
      if (Date.now() % 60_000 > 55_000) await new Promise((r) => setTimeout(r, 60_500 - (Date.now() % 60_000)));
      for (let i = 0; i < 62; i++) statuses.push((await c.postJson('/login/passkey/options', {}, csrf)).status);
      expect(statuses.slice(0, 60).every((s) => s === 200)).toBe(true);
      expect(statuses.slice(60)).toEqual([429, 429]);
    });
  });

  describe('errors', () => {
    it('an unexpected failure is a generic page with the reference, never the error', async () => {
      const { user } = await newUser();
      const c = client();
      await signIn(c, user.username);
      const spy = vi.spyOn(server.gh.core.sessions, 'list').mockRejectedValueOnce(new Error('database exploded at /secret/place'));
      try {
        const res = await c.get('/account/sessions');
        const html = await expectPage(res, 500, 'Something went wrong');
        expect(html).not.toContain('exploded');
        expect(html).toContain(res.headers.get('x-request-id')!);
      } finally {
        spy.mockRestore();
      }
    });
  });
});
