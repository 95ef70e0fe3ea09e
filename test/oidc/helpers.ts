/**
 * What the OpenID Connect tests share: a Gatehouse with a few users, groups and clients; a small
 * browser (cookie jar, redirects looked at one by one) that signs in through the real /login form;
 * openid-client as the relying party; and a JWS verifier over the published JWKS (node:crypto only).
 */
import { createPublicKey, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import * as client from 'openid-client';
import { expect } from 'vitest';
import type { AuditEvent } from '../../src/directory/model.ts';
import type { AuditQuery } from '../../src/store/types.ts';
import type { Backend } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

export const PASSWORD = 'copper-kettle-drifts-north-81';
export const SECRET = 'a-client-secret-that-is-long-enough-0123456789';
/** Redirect targets on the loopback interface; nothing listens there, the tests read the Location. */
export const RP = 'http://127.0.0.1:9';
export const CALLBACK = `${RP}/callback`;

const confidential = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  displayName: `App ${name}`,
  type: 'oidc',
  groups: ['staff'],
  secret: SECRET,
  settings: { redirectUris: [CALLBACK], postLogoutRedirectUris: [`${RP}/signed-out`], grantTypes: ['authorization_code', 'refresh_token'], ...extra },
});

/** The directory every OIDC test server starts with. */
export function oidcOverrides(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { http: { host: '127.0.0.1', port: 0 }, trustedProxies: ['127.0.0.1/32'] },
    ldap: { enabled: false },
    oidc: { keys: { reloadSeconds: 1 } },
    throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100_000 },
    directory: {
      groups: [{ name: 'staff' }, { name: 'admins' }],
      users: ['alice', 'bob', 'carol', 'dave', 'erin'].map((username) => ({ username, email: `${username}@example.test`, displayName: `${username[0]!.toUpperCase()}${username.slice(1)} Example`, password: PASSWORD, groups: ['staff'], attributes: { givenName: username, familyName: 'Example' } })),
      applications: [
        confidential('web'),
        confidential('wiki'),
        confidential('locked', { redirectUris: [CALLBACK] }),
        confidential('vault'),
        { name: 'spa', type: 'oidc', groups: ['staff'], settings: { public: true, redirectUris: [CALLBACK], grantTypes: ['authorization_code', 'refresh_token'] } },
        { name: 'service', type: 'oidc', secret: SECRET, settings: { grantTypes: ['client_credentials'] } },
        { name: 'tv', type: 'oidc', groups: ['staff'], settings: { public: true, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'] } },
        { name: 'api', type: 'oidc', secret: SECRET, settings: { grantTypes: ['client_credentials'], introspectAnyToken: true } },
        { name: 'posty', type: 'oidc', groups: ['staff'], secret: SECRET, settings: { redirectUris: [CALLBACK], tokenEndpointAuthMethod: 'client_secret_post' } },
      ].map((app) => (app.name === 'locked' ? { ...app, groups: ['admins'] } : app)),
      policies: [{ name: 'vault-needs-mfa', resources: { include: ['app:vault'] }, action: 'mfa' }],
    },
    ...extra,
  };
}

export async function startOidcServer(backend: Backend, extra: Record<string, unknown> = {}): Promise<TestServer & { issuer: string }> {
  const server = await startTestServer(backend, oidcOverrides(extra));
  return Object.assign(server, { issuer: server.gh.oidc!.issuer! });
}

/** The relying party for `clientId`, from discovery. */
export async function relyingParty(issuer: string, clientId: string, secret?: string, auth: 'basic' | 'post' | 'none' = secret ? 'basic' : 'none'): Promise<client.Configuration> {
  const method = auth === 'basic' ? client.ClientSecretBasic(secret) : auth === 'post' ? client.ClientSecretPost(secret) : client.None();
  return client.discovery(new URL(issuer), clientId, undefined, method, { execute: [client.allowInsecureRequests] });
}

/** A browser: a cookie jar and no automatic redirects. */
export class Browser {
  readonly base: string;
  readonly jar = new Map<string, string>();
  constructor(base: string) {
    this.base = base;
  }

  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url, this.base);
    const headers = new Headers(init.headers);
    if (target.origin === new URL(this.base).origin && this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a))) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  post(url: string | URL, fields: Record<string, string>): Promise<Response> {
    return this.fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  }

  /**
   * Follows redirects while they stay on Gatehouse, signing in on /login when asked to (with
   * `credentials`), and stops at the first answer that is not a redirect to Gatehouse: a redirect
   * to the relying party, or a page.
   */
  async navigate(url: string | URL, credentials?: { username: string; password?: string }, stopAt?: (location: URL) => boolean): Promise<Response> {
    let res = await this.fetch(url);
    for (let hops = 0; hops < 20; hops++) {
      if (res.status !== 303 && res.status !== 302) return res;
      const location = new URL(res.headers.get('location')!, this.base);
      if (location.origin !== new URL(this.base).origin || stopAt?.(location)) return res;
      await res.body?.cancel();
      if (location.pathname === '/login' && credentials) {
        res = await this.signIn(location, credentials.username, credentials.password ?? PASSWORD);
        continue;
      }
      res = await this.fetch(location);
    }
    throw new Error('too many redirects');
  }

  /** The real sign-in form: GET the page, post username and password with its CSRF token. */
  async signIn(loginUrl: string | URL, username: string, password = PASSWORD): Promise<Response> {
    const url = new URL(loginUrl, this.base);
    const page = await this.fetch(url);
    const html = await page.text();
    expect(page.status, html.slice(0, 500)).toBe(200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const fields: Record<string, string> = { csrf, username, password };
    for (const name of ['return_to', 'resource', 'force', 'cancel']) {
      const value = url.searchParams.get(name);
      if (value !== null) fields[name] = value;
    }
    return this.post('/login', fields);
  }
}

export interface Authorization {
  /** Where Gatehouse sent the browser back to (the relying party's callback), or undefined. */
  callback: URL | undefined;
  response: Response;
  codeVerifier: string;
  state: string;
  nonce: string;
}

/** The authorization code flow in a browser, up to the redirect back to the relying party. */
export async function authorize(browser: Browser, rp: client.Configuration, options: { username?: string; params?: Record<string, string>; stopAt?: (location: URL) => boolean } = {}): Promise<Authorization> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid profile email groups',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...options.params,
  });
  const response = await browser.navigate(url, options.username ? { username: options.username } : undefined, options.stopAt);
  const location = response.headers.get('location');
  const callback = location && location.startsWith(RP) ? new URL(location) : undefined;
  return { callback, response, codeVerifier, state, nonce };
}

/** Authorization and code redemption: the tokens. */
export async function signInTo(browser: Browser, rp: client.Configuration, username?: string, params: Record<string, string> = {}) {
  const auth = await authorize(browser, rp, { ...(username ? { username } : {}), params });
  expect(auth.callback, `no callback; got ${auth.response.status} ${auth.response.headers.get('location')} ${(await auth.response.clone().text()).slice(0, 300)}`).toBeDefined();
  return client.authorizationCodeGrant(rp, auth.callback!, { pkceCodeVerifier: auth.codeVerifier, expectedState: auth.state, expectedNonce: auth.nonce });
}

/** A form post to an endpoint with client_secret_basic, as raw as a client can send it. */
export async function postForm(url: string, fields: Record<string, string>, auth?: { id: string; secret: string }): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: `Basic ${Buffer.from(`${encodeURIComponent(auth.id)}:${encodeURIComponent(auth.secret)}`).toString('base64')}` } : {}) },
    body: new URLSearchParams(fields).toString(),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

/** Verifies a compact JWS (RS256, PS256, ES256, ES384, EdDSA) against a JWKS; returns its payload. */
export function verifyJws(jwt: string, jwks: { keys: Array<JsonWebKey & { kid?: string }> }): { header: { kid?: string; alg: string; typ?: string }; payload: Record<string, unknown> } {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h!, 'base64url').toString()) as { kid?: string; alg: string };
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no key ${header.kid} in the JWKS`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s!, 'base64url');
  const ok =
    header.alg === 'RS256' ? verifySignature('sha256', data, key, signature)
    : header.alg === 'PS256' ? verifySignature('sha256', data, { key, padding: 6, saltLength: 32 }, signature)
    : header.alg === 'ES256' ? verifySignature('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    : header.alg === 'ES384' ? verifySignature('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    : verifySignature(null, data, key, signature);
  if (!ok) throw new Error('bad signature');
  return { header, payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown> };
}

export async function jwksOf(issuer: string): Promise<{ keys: Array<JsonWebKey & { kid?: string; alg?: string; key_ops?: string[] }> }> {
  const res = await fetch(`${issuer}/jwks`);
  expect(res.status).toBe(200);
  return (await res.json()) as { keys: Array<JsonWebKey & { kid?: string; alg?: string }> };
}

export async function auditEvents(server: TestServer, query: AuditQuery = {}): Promise<AuditEvent[]> {
  return (await server.gh.core.audit.query({ limit: 1000, ...query })).items;
}

/** An HTML page from the layout, with no stack trace and no oidc-provider default page. */
export async function expectPage(res: Response, status: number, contains?: RegExp): Promise<string> {
  const html = await res.text();
  expect(res.status, html.slice(0, 600)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).toContain('/assets/gatehouse.css');
  expect(html).not.toMatch(/\bat [\w.<>]+ \(|node:internal|file:\/\/|oops! something went wrong/);
  if (contains) expect(html).toMatch(contains);
  return html;
}
