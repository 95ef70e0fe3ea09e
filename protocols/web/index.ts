/**
 * The web front-end: the sign-in pages (signin.ts), the user portal (portal.ts) and their static
 * assets, mounted on the HTTP listener as one Koa middleware. It owns `/`, `/login…`, `/logout…`,
 * `/account…` and `/assets…`: anything else passes to the next mount (OIDC, the 404), and an
 * unknown path under these prefixes gets an HTML 404.
 *
 * Every answer carries the security headers (http.ts), every error is an HTML page with the request
 * id as its reference (JSON for the WebAuthn calls), and an unexpected error is logged and never
 * shown: no stack trace reaches a browser.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Core } from '../../src/core.ts';
import type { HttpMount } from '../../src/http/types.ts';
import { render, type Web } from './context.ts';
import type { WebConfig } from './config.ts';
import { Csrf } from './csrf.ts';
import { securityHeaders, WebError, type Ctx } from './http.ts';
import { PendingSignIns } from './pending.ts';
import * as portal from './portal.ts';
import { WebSecrets } from './secrets.ts';
import * as signin from './signin.ts';
import { errorPage } from '../../src/http/html.ts';

type Handler = (web: Web, ctx: Ctx) => Promise<void>;
interface Route {
  GET?: Handler;
  POST?: Handler;
  /** Answers (and errors) in JSON: the WebAuthn option endpoints the page script calls. */
  json?: boolean;
}

const ROUTES: Record<string, Route> = {
  '/': { GET: portal.getHome },
  '/login': { GET: signin.getLogin, POST: signin.postLogin },
  '/login/passkey/options': { POST: signin.postPasskeyOptions, json: true },
  '/login/passkey': { POST: signin.postPasskey },
  '/login/mfa': { GET: signin.getMfa, POST: signin.postMfaCode },
  '/login/mfa/webauthn/options': { POST: signin.postMfaWebAuthnOptions, json: true },
  '/login/mfa/webauthn': { POST: signin.postMfaWebAuthn },
  '/login/step-up': { GET: signin.getStepUp },
  '/logout': { GET: signin.getLogout, POST: signin.postLogout },
  '/logout/done': { GET: signin.getSignedOut },
  '/account': { GET: portal.getAccount },
  '/account/password': { POST: portal.postPassword },
  '/account/security': { GET: portal.getSecurity },
  '/account/security/totp': { GET: portal.getTotp },
  '/account/security/recovery-codes': { GET: portal.getRecoveryCodes },
  '/account/security/network-password': { GET: portal.getNetworkPassword },
  '/account/totp/enrol': { POST: portal.postTotpEnrol },
  '/account/totp/confirm': { POST: portal.postTotpConfirm },
  '/account/recovery-codes': { POST: portal.postRecoveryCodes },
  '/account/network-password': { POST: portal.postNetworkPassword },
  '/account/webauthn/options': { POST: portal.postWebAuthnOptions, json: true },
  '/account/webauthn': { POST: portal.postWebAuthn },
  '/account/webauthn/remove': { POST: portal.postWebAuthnRemove },
  '/account/sessions': { GET: portal.getSessions },
  '/account/sessions/revoke': { POST: portal.postRevokeSession },
};

const PREFIXES = ['/login', '/logout', '/account', '/assets'];

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, type] of [['gatehouse.css', 'text/css; charset=utf-8'], ['webauthn.js', 'text/javascript; charset=utf-8']] as const) {
    const body = readFileSync(new URL(`./assets/${name}`, import.meta.url));
    assets.set(`/assets/${name}`, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return assets;
}

export function createWebFrontEnd(core: Core, config: WebConfig): HttpMount {
  const secrets = new WebSecrets(core);
  const web: Web = { core, config, secrets, csrf: new Csrf(secrets), pending: new PendingSignIns(core, config) };
  const assets = loadAssets();

  return async (ctx, next) => {
    const path = ctx.path;
    if (path !== '/' && !PREFIXES.some((p) => path === p || path.startsWith(`${p}/`))) return next();
    securityHeaders(ctx);
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;

    const asset = assets.get(path);
    if (asset) {
      ctx.state.route = path;
      if (method !== 'GET') return methodNotAllowed(ctx, ['GET', 'HEAD']);
      ctx.set('Cache-Control', 'public, max-age=3600');
      ctx.set('ETag', asset.etag);
      if (ctx.get('if-none-match') === asset.etag) {
        ctx.status = 304;
        return;
      }
      ctx.type = asset.type;
      ctx.body = asset.body;
      return;
    }

    const route = ROUTES[path];
    if (!route) {
      ctx.state.route = 'web:unmatched';
      return render(ctx, 404, errorPage({ title: 'Page not found', message: 'There is no page at this address.', reference: ctx.state.requestId }));
    }
    ctx.state.route = path;
    const handler = method === 'GET' ? route.GET : method === 'POST' ? route.POST : undefined;
    if (!handler) return methodNotAllowed(ctx, [...(route.GET ? ['GET', 'HEAD'] : []), ...(route.POST ? ['POST'] : [])]);
    try {
      await handler(web, ctx);
    } catch (err) {
      const known = err instanceof WebError ? err : undefined;
      if (!known) core.logger.error({ err, requestId: ctx.state.requestId, path }, 'web request failed');
      const status = known?.status ?? 500;
      const title = known?.title ?? 'Something went wrong';
      const message = known?.message ?? 'The page could not be shown. Try again in a moment; if it keeps happening, tell your administrator the reference below.';
      if (known) ctx.set(known.headers);
      if (route.json) {
        ctx.status = status;
        ctx.body = { error: title, message, reference: ctx.state.requestId };
        return;
      }
      render(ctx, status, errorPage({ title, message, reference: ctx.state.requestId, ...(known?.action ? { action: known.action } : {}) }));
    }
  };
}

function methodNotAllowed(ctx: Ctx, allowed: string[]): void {
  ctx.set('Allow', allowed.join(', '));
  render(ctx, 405, errorPage({ title: 'Not allowed', message: 'This page cannot be used that way.', reference: ctx.state.requestId }));
}
