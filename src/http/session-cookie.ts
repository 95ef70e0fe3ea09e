/**
 * The Gatehouse session cookie, read and written in one place for every front-end that shares the
 * session (the sign-in pages and portal, OIDC, SAML). Secure, HttpOnly, SameSite=Lax, host-only.
 */
import type Koa from 'koa';
import type { Core } from '../core.ts';
import type { Session } from '../sessions/service.ts';

export const SESSION_COOKIE = 'gatehouse_session';

/** The live session of this request, if any. */
export async function currentSession(core: Core, ctx: Koa.Context): Promise<{ token: string; session: Session } | undefined> {
  const token = ctx.cookies.get(SESSION_COOKIE);
  if (!token) return undefined;
  const session = await core.sessions.resolve(token);
  return session ? { token, session } : undefined;
}

export function setSessionCookie(ctx: Koa.Context, token: string, maxAgeMs: number): void {
  // Koa refuses Secure cookies on a plain-HTTP socket; behind a TLS-terminating proxy, or on
  // localhost (which browsers treat as secure), the cookie must still be marked Secure.
  ctx.cookies.secure = true;
  ctx.cookies.set(SESSION_COOKIE, token, { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: maxAgeMs, overwrite: true, signed: false });
}

export function clearSessionCookie(ctx: Koa.Context): void {
  ctx.cookies.secure = true;
  ctx.cookies.set(SESSION_COOKIE, '', { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: 0, overwrite: true, signed: false });
}
