/**
 * The security headers of every page Gatehouse shows a browser (the sign-in pages, the portal, the
 * OpenID Connect pages, error pages), in one place.
 */
import type Koa from 'koa';
import type { TLSSocket } from 'node:tls';
import type { CoreConfig } from '../config/schema.ts';
import type { RequestState } from './types.ts';

type Ctx = Koa.ParameterizedContext<RequestState>;

/**
 * Headers for every response of the front-end. The CSP allows same-origin scripts, styles and
 * images only (no inline script or style at all); forms may post to this origin and, on sign-in
 * pages, to the origins the sign-in may be redirected on to (Chrome applies form-action to the
 * redirects that follow a form submission).
 */
export function securityHeaders(ctx: Ctx, config: CoreConfig, formAction: readonly string[] = []): void {
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
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cache-Control', 'no-store');
  // Browsers ignore HSTS received over plain HTTP (RFC 6797 §8.1), so the configured public URL
  // being https is enough to send it when a TLS-terminating proxy sits in front.
  if ((ctx.req.socket as TLSSocket).encrypted || config.server.http.publicUrl?.startsWith('https://')) {
    ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  }
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
