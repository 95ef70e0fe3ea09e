/**
 * A small browser for the web front-end's tests: fetch with a cookie jar, no automatic redirects
 * (each 303 is looked at), forms posted as a browser posts them, and the CSRF token read from the
 * page like a browser would find it in the form. Plus the sign-in steps most tests need.
 */
import { expect } from 'vitest';
import { generateSync } from 'otplib';
import type { AuditEvent } from '../../src/directory/model.ts';
import type { AuditQuery } from '../../src/store/types.ts';
import type { Gatehouse } from '../../src/server/start.ts';
import type { SoftwareAuthenticator } from '../helpers/authenticator.ts';

/** Long, uncommon, unrelated to the test users: passes the default password policy. */
export const PASSWORD = 'copper-kettle-drifts-north-81';
export const OTHER_PASSWORD = 'silent-harbor-maple-quartz-27';

export class Client {
  readonly base: string;
  readonly jar = new Map<string, string>();
  /** Sent as X-Forwarded-For (the test servers trust 127.0.0.1 as a proxy), to be another client address. */
  ip: string | undefined;
  userAgent = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36';

  constructor(base: string, ip?: string) {
    this.base = base;
    this.ip = ip;
  }

  get cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.jar.size && !headers.has('cookie')) headers.set('cookie', this.cookieHeader);
    if (this.ip) headers.set('x-forwarded-for', this.ip);
    headers.set('user-agent', this.userAgent);
    const res = await fetch(new URL(path, this.base), { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(path, { headers });
  }

  /** A form post, application/x-www-form-urlencoded, as a browser sends it. */
  post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });
  }

  postJson(path: string, body: unknown, csrf: string | undefined): Promise<Response> {
    return this.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...(csrf ? { 'x-csrf-token': csrf } : {}) }, body: JSON.stringify(body) });
  }

  /** GETs a page that must answer 200 and returns its HTML and the CSRF token of its first form. */
  async page(path: string): Promise<{ html: string; csrf: string }> {
    const res = await this.get(path);
    const html = await res.text();
    expect(res.status, `${path}: ${html.slice(0, 500)}`).toBe(200);
    return { html, csrf: csrfOf(html) };
  }
}

export function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

/** Asserts a 303 and returns where it goes. */
export async function expectSeeOther(res: Response, location?: string | RegExp): Promise<string> {
  const body = await res.text();
  expect(res.status, body.slice(0, 800)).toBe(303);
  const to = res.headers.get('location') ?? '';
  if (typeof location === 'string') expect(to).toBe(location);
  else if (location) expect(to).toMatch(location);
  return to;
}

/** Asserts an HTML page with this status and returns it. */
export async function expectPage(res: Response, status: number, contains?: string | RegExp): Promise<string> {
  const html = await res.text();
  expect(res.status, html.slice(0, 800)).toBe(status);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/\bat [\w.<>]+ \(|node:internal|file:\/\//);
  if (contains !== undefined) expect(html).toMatch(contains);
  return html;
}

export interface SignInOptions {
  returnTo?: string;
  resource?: string;
  force?: boolean;
}

export function loginPath(options: SignInOptions = {}): string {
  const query = new URLSearchParams();
  if (options.returnTo !== undefined) query.set('return_to', options.returnTo);
  if (options.resource !== undefined) query.set('resource', options.resource);
  if (options.force) query.set('force', '1');
  const qs = query.toString();
  return qs ? `/login?${qs}` : '/login';
}

/** The password step: the login page, then its form posted. Returns the answer to the POST. */
export async function postPassword(client: Client, username: string, password: string, options: SignInOptions = {}): Promise<Response> {
  const { csrf } = await client.page(loginPath(options));
  return client.post('/login', {
    csrf, username, password,
    ...(options.returnTo !== undefined ? { return_to: options.returnTo } : {}),
    ...(options.resource !== undefined ? { resource: options.resource } : {}),
    ...(options.force ? { force: '1' } : {}),
  });
}

/** Password only, expecting a session: returns where the 303 goes. */
export async function signIn(client: Client, username: string, password = PASSWORD, options: SignInOptions = {}): Promise<string> {
  const location = await expectSeeOther(await postPassword(client, username, password, options));
  expect(client.jar.get('__Host-gatehouse_session')).toBeTruthy();
  return location;
}

/** A TOTP code for the step `offset` steps from now (otplib, RFC 6238 defaults). */
export function totpCode(secret: string, offset = 0): string {
  return generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });
}

/** Waits when a TOTP step is about to end, so codes computed now are checked in the same step. */
export async function awayFromStepEdge(): Promise<void> {
  const intoStep = (Date.now() / 1000) % 30;
  if (intoStep > 27) await new Promise((r) => setTimeout(r, (30.2 - intoStep) * 1000));
}

/** The MFA page's code form, posted. */
export async function postCode(client: Client, code: string): Promise<Response> {
  const { csrf } = await client.page('/login/mfa');
  return client.post('/login/mfa', { csrf, code });
}

/** A WebAuthn ceremony through the page's endpoints, as /assets/webauthn.js runs it. */
export async function webauthnGet(client: Client, authenticator: SoftwareAuthenticator, pagePath: string, optionsPath: string, postPath: string, extra: Record<string, string> = {}): Promise<Response> {
  const { csrf } = await client.page(pagePath);
  const answer = await client.postJson(optionsPath, {}, csrf);
  const text = await answer.text();
  expect(answer.status, text).toBe(200);
  const { challengeId, options } = JSON.parse(text);
  const response = authenticator.authenticate(options);
  return client.post(postPath, { csrf, challengeId, response: JSON.stringify(response), ...extra });
}

export async function auditEvents(gh: Gatehouse, query: AuditQuery = {}): Promise<AuditEvent[]> {
  return (await gh.core.audit.query({ limit: 1000, ...query })).items;
}

/** The portal's origin the software authenticator signs for (the default mfa.webauthn origin). */
export const ORIGIN = 'http://localhost:9090';
