/**
 * The Gatehouse session cookie, read and written in one place for every front-end that shares the
 * session (the sign-in pages and portal, OIDC, SAML). Secure, HttpOnly, SameSite=Lax, host-only.
 */
import type Koa from 'koa';
import type { Core } from '../core.ts';
import type { Session } from '../sessions/service.ts';

/**
 * The __Host- prefix (RFC 6265bis §4.1.3.2) makes browsers accept the cookie only when it is
 * Secure, for path /, without a Domain, from a secure origin: a sibling subdomain cannot plant a
 * session of its choosing (session fixation). Always, as the CSRF and sign-in cookies are: browsers
 * treat http://localhost as secure, and behind a TLS-terminating proxy the browser sees https.
 */
export const SESSION_COOKIE = '__Host-gatehouse_session';

/**
 * The name before the prefix. It is never read (a planted one would be believed); a browser that
 * still sends one has it expired when its session cookie is next set or cleared.
 */
const UNPREFIXED_COOKIE = 'gatehouse_session';

/** The live session of this request, if any. */
export async function currentSession(core: Core, ctx: Koa.Context): Promise<{ token: string; session: Session } | undefined> {
  const token = ctx.cookies.get(SESSION_COOKIE);
  if (!token) return undefined;
  const session = await core.sessions.resolve(token);
  return session ? { token, session } : undefined;
}

export function setSessionCookie(ctx: Koa.Context, token: string, maxAgeMs: number): void {
  write(ctx, SESSION_COOKIE, token, maxAgeMs);
  if (ctx.cookies.get(UNPREFIXED_COOKIE) !== undefined) write(ctx, UNPREFIXED_COOKIE, '', 0);
}

export function clearSessionCookie(ctx: Koa.Context): void {
  write(ctx, SESSION_COOKIE, '', 0);
  if (ctx.cookies.get(UNPREFIXED_COOKIE) !== undefined) write(ctx, UNPREFIXED_COOKIE, '', 0);
}

function write(ctx: Koa.Context, name: string, value: string, maxAgeMs: number): void {
  // Koa refuses Secure cookies on a plain-HTTP socket; behind a TLS-terminating proxy, or on
  // localhost (which browsers treat as secure), the cookie must still be marked Secure.
  ctx.cookies.secure = true;
  ctx.cookies.set(name, value, { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: maxAgeMs, overwrite: true, signed: false });
}
