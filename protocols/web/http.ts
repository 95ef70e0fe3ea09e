/**
 * HTTP plumbing of the web front-end, in one place: the security headers every page gets, the
 * cookies it sets, reading form (and WebAuthn JSON) bodies with a size cap, and WebError, the one
 * way a handler ends a request with an error page.
 */
import type Koa from 'koa';
import type { RequestState } from '../../src/http/types.ts';

export { originOf, securityHeaders } from '../../src/http/headers.ts';

export type Ctx = Koa.ParameterizedContext<RequestState>;

/** A request that ends with an error page (HTML), e.g. 400, 403, 404, 413, 429. */
export class WebError extends Error {
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;
  /** Where the error page points the person next (default: the start page). */
  readonly action: { href: string; label: string } | undefined;
  constructor(status: number, title: string, message: string, headers: Record<string, string> = {}, action?: { href: string; label: string }) {
    super(message);
    this.status = status;
    this.title = title;
    this.headers = headers;
    this.action = action;
  }
}

// ---------------------------------------------------------------------------------------------
// Cookies

/**
 * Our own cookies: Secure, HttpOnly, SameSite=Lax, host-only with the __Host- prefix, so a sibling
 * subdomain cannot plant one. Koa refuses Secure cookies on plain HTTP unless told otherwise;
 * browsers accept them on http://localhost, and behind a TLS proxy the browser sees https.
 */
export function setCookie(ctx: Ctx, name: string, value: string, maxAgeMs: number): void {
  ctx.cookies.secure = true;
  ctx.cookies.set(name, value, { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: maxAgeMs, overwrite: true, signed: false });
}

/** Expires one of our cookies, when the browser sent it. */
export function clearCookie(ctx: Ctx, name: string): void {
  if (ctx.cookies.get(name) === undefined) return;
  ctx.cookies.secure = true;
  ctx.cookies.set(name, '', { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: 0, overwrite: true, signed: false });
}

/** A cookie value, if present and made of base64url characters only (anything else is tampering). */
export function cookieValue(ctx: Ctx, name: string, maxLength = 128): string | undefined {
  const value = ctx.cookies.get(name);
  return value && value.length <= maxLength && /^[A-Za-z0-9_-]+$/.test(value) ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Bodies

const MAX_FIELDS = 64;

/** A parsed application/x-www-form-urlencoded body: one value per field. */
export class Form {
  private readonly fields: Map<string, string>;
  constructor(fields: Map<string, string>) {
    this.fields = fields;
  }
  get(name: string): string | undefined {
    return this.fields.get(name);
  }
}

/**
 * Reads a form body: application/x-www-form-urlencoded only, at most `maxBytes`, strict UTF-8 and
 * percent-encoding, each field once. 413, 415 or 400 otherwise.
 */
export async function readForm(ctx: Ctx, maxBytes: number): Promise<Form> {
  const type = ctx.request.type;
  if (type !== 'application/x-www-form-urlencoded') {
    throw new WebError(415, 'Unsupported form', 'The form was not sent the way this page sends it. Go back, reload the page and try again.');
  }
  const text = await readText(ctx, maxBytes);
  const fields = new Map<string, string>();
  if (text === '') return new Form(fields);
  const pairs = text.split('&');
  if (pairs.length > MAX_FIELDS) throw malformed();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const [rawName, rawValue] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
      value = decodeURIComponent(rawValue.replaceAll('+', ' '));
    } catch {
      throw malformed();
    }
    if (fields.has(name)) throw malformed();
    fields.set(name, value);
  }
  return new Form(fields);
}

/** Reads a JSON body (the WebAuthn endpoints only), at most `maxBytes`. */
export async function readJsonBody(ctx: Ctx, maxBytes: number): Promise<unknown> {
  if (ctx.request.type !== 'application/json') throw new WebError(415, 'Unsupported request', 'Send application/json.');
  const text = await readText(ctx, maxBytes);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw malformed();
  }
}

async function readText(ctx: Ctx, maxBytes: number): Promise<string> {
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > maxBytes) throw tooLarge(ctx);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(ctx);
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw malformed();
  }
}

function malformed(): WebError {
  return new WebError(400, 'Bad request', 'The form could not be read. Go back, reload the page and try again.');
}

function tooLarge(ctx: Ctx): WebError {
  // The rest of the body is not read: the connection is closed after the answer.
  ctx.set('Connection', 'close');
  return new WebError(413, 'Too much data', 'The form sent more data than this page accepts.');
}
