/**
 * The security headers in one place: those of every response of the HTTP listeners
 * (transportHeaders, set by the listener itself) and those of every page Gatehouse shows a browser
 * (securityHeaders: the sign-in pages, the portal, error pages).
 */
import type Koa from 'koa';
import type { TLSSocket } from 'node:tls';
import type { CoreConfig } from '../config/schema.ts';
import type { RequestState } from './types.ts';

type Ctx = Koa.ParameterizedContext<RequestState>;

/**
 * Headers for every response of an HTTP listener, whatever answers it: pages, the admin API's JSON,
 * problem+json errors, metrics, the OpenID Connect endpoints, assets.
 */
export function transportHeaders(ctx: Ctx, config: CoreConfig): void {
  // A response is only ever what its Content-Type says: a JSON or text answer carrying markup is
  // never run as a page or a script (Fetch, "X-Content-Type-Options").
  ctx.set('X-Content-Type-Options', 'nosniff');
  // Browsers ignore HSTS received over plain HTTP (RFC 6797 §8.1), so the configured public URL
  // being https is enough to send it when a TLS-terminating proxy sits in front.
  if ((ctx.req.socket as TLSSocket).encrypted || config.server.http.publicUrl?.startsWith('https://')) {
    ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  }
}

/**
 * Headers for every page (on top of transportHeaders, which the listener sets). The CSP allows same-origin scripts, styles and
 * images only (no inline script or style at all); forms may post to this origin and, on sign-in
 * pages, to the origins the sign-in may be redirected on to (Chrome applies form-action to the
 * redirects that follow a form submission).
 */
export function securityHeaders(ctx: Ctx, formAction: readonly string[] = []): void {
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    `form-action 'self'${formAction.map((o) => ` ${o}`).join('')}`,
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
  ctx.set('Content-Security-Policy', csp);
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cache-Control', 'no-store');
}

/** The origin of an http(s) URL, for CSP source lists; undefined for anything else. */
export function originOf(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
