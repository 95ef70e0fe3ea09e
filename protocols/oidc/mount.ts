/**
 * The mount: everything under /oidc on the HTTP listener. It pins the request's origin to the
 * issuer's, sets the security headers on the paths a browser is sent to, serves the interaction
 * routes, keeps the device verification page for a signed-in person (and throttles wrong user
 * codes), and hands the rest to oidc-provider (discovery, JWKS, auth, token, userinfo, …).
 *
 *   GET  /oidc/device                  the device verification page needs a Gatehouse session first
 *   everything else under /oidc        oidc-provider
 *
 * oidc-provider's router ignores letter case and a trailing slash; the decisions taken here read
 * the path the same way (routedPath), so no other spelling of a route escapes them.
 */
import type { HttpMount } from '../../src/http/types.ts';
import { HttpProblem } from '../../src/http/problem.ts';
import { MOUNT_PATH, type Ctx, type OidcContext } from './context.ts';
import { INTERACTION, interactionRoute } from './interaction.ts';
import { afterEndSession } from './logout.ts';
import * as pages from './pages.ts';
import { html, seeOther, signIn } from './respond.ts';

/** Paths a browser is sent to (HTML, cookies), in their routed form: they get the security headers. */
const BROWSER_PATHS = /^\/(auth|interaction|session\/end|device(?!\/auth))(\/|$)/;

/**
 * A path as oidc-provider's router matches it (lib/helpers/router.js): letters in any case, and one
 * trailing slash dropped when nothing matches with it. Its routes are ASCII and its case folding
 * never turns another character into an ASCII one, so folding ASCII letters only gives the route
 * a path reaches. Every decision taken here in front of the router (the security headers, the
 * device page's sign-in gate and its throttle) reads this form: `/oidc/DEVICE/` is the device page.
 */
function routedPath(sub: string): string {
  const folded = sub.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return folded.length > 1 && folded.endsWith('/') ? folded.slice(0, -1) : folded;
}

/**
 * oidc-provider builds absolute URLs (redirects, discovery) from the request's origin and decides
 * whether cookies are Secure from it. Pinning the request's origin to the issuer's makes both
 * follow the configuration: a forged Host header cannot point anyone elsewhere, and behind a
 * TLS-terminating proxy (server.http.publicUrl https://…) the URLs are https and the cookies Secure.
 */
function pinOrigin(ctx: Ctx, origin: URL): void {
  const secure = origin.protocol === 'https:';
  Object.defineProperties(ctx.request, {
    protocol: { value: origin.protocol.slice(0, -1), configurable: true },
    secure: { value: secure, configurable: true },
    host: { value: origin.host, configurable: true },
    hostname: { value: origin.hostname, configurable: true },
    origin: { value: origin.origin, configurable: true },
  });
  ctx.cookies.secure = secure;
}

/** The page headers (the listener sets nosniff and HSTS on every response). */
function browserHeaders(ctx: Ctx): void {
  // No inline script or style (oidc-provider adds the hash of its one auto-submit script itself).
  ctx.set('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
}

export function createMount(front: OidcContext): HttpMount {
  const { core, config } = front;
  return async (ctx, next) => {
    const path = ctx.path;
    if (path !== MOUNT_PATH && !path.startsWith(`${MOUNT_PATH}/`)) return next();
    const current = front.live;
    const issuer = front.issuer;
    if (!current || !issuer) throw new HttpProblem(503, 'Service unavailable', 'the OpenID Connect provider is starting');
    pinOrigin(ctx, new URL(issuer));
    const sub = path.slice(MOUNT_PATH.length) || '/';
    const routed = routedPath(sub);
    if (BROWSER_PATHS.test(routed)) browserHeaders(ctx);

    // Gatehouse's own routes, matched exactly: any other spelling goes on to the router, which has none.
    const interaction = INTERACTION.exec(sub);
    if (interaction) return interactionRoute(front, ctx, interaction[1]!, interaction[2] !== undefined);

    // The router serves HEAD with the GET route: it is the page too.
    const read = ctx.method === 'GET' || ctx.method === 'HEAD';
    const deviceForm = routed === '/device' && config.deviceFlow && (read || ctx.method === 'POST');
    if (deviceForm && !(await front.sessionOf(ctx))) {
      // The verification page is for a signed-in person: sign in first, then enter (or confirm) the code.
      const userCode = read ? ctx.query.user_code : undefined;
      const back = `${MOUNT_PATH}/device${typeof userCode === 'string' && userCode.length <= 64 ? `?${new URLSearchParams({ user_code: userCode })}` : ''}`;
      ctx.state.route = `${MOUNT_PATH}/device`;
      return seeOther(ctx, signIn(back, 'portal'));
    }

    // RFC 8628 §5.1: wrong user codes are rate limited (the shared throttle, per person and address,
    // device codes apart from other kinds), each reserved before the code is looked up.
    const codeKeys = deviceForm && ctx.method === 'POST' ? { kind: 'device-code' as const, user: `device-code:${(await front.sessionOf(ctx))!.session.userId}`, ...(ctx.state.clientIp ? { ip: ctx.state.clientIp } : {}) } : undefined;
    const reserved = codeKeys ? await core.throttle.reserve(codeKeys) : undefined;
    if (reserved && !reserved.allowed) {
      ctx.state.route = `${MOUNT_PATH}/device`;
      ctx.set('Retry-After', String(reserved.retryAfterSeconds));
      return html(ctx, 429, pages.errorPage({ status: 429, error: 'too_many_attempts', requestId: ctx.state.requestId }));
    }

    ctx.path = sub;
    (ctx as Ctx & { mountPath?: string }).mountPath = new URL(issuer).pathname.replace(/\/+$/, '');
    try {
      await current.dispatch(ctx, async () => {
        ctx.path = path;
        await next();
      });
    } finally {
      ctx.path = path;
    }
    const matched = (ctx as Ctx & { _matchedRoute?: string })._matchedRoute;
    if (matched) ctx.state.route = `${MOUNT_PATH}${matched}`;
    if ((ctx.state as { oidcEndSession?: unknown }).oidcEndSession) await afterEndSession(front, ctx);
    // A wrong code: the reservation stands as the failure; anything else was no guess.
    if (reserved?.allowed && !(ctx.state as { oidcWrongUserCode?: boolean }).oidcWrongUserCode) await reserved.reservation.release();
  };
}
