/**
 * The mount: everything under /saml on the HTTP listener.
 *
 *   GET       /saml/metadata              the IdP metadata (signed)
 *   GET|POST  /saml/sso                   an AuthnRequest, HTTP-Redirect or HTTP-POST binding (sso-inbound.ts)
 *   GET       /saml/start/:app            IdP-initiated SSO (the portal's tile)
 *   GET       /saml/continue/:id          a waiting request, after the sign-in pages (sso.ts)
 *   POST      /saml/continue/:id/cancel   the sign-in pages' "Return to the application"
 *   GET|POST  /saml/slo                   LogoutRequest and LogoutResponse, both bindings (slo.ts)
 *   GET       /saml/slo/next/:id          the next SP of a Single Logout
 *
 * Paths are matched exactly (no case folding, no trailing slash); anything else under /saml is 404.
 */
import type { HttpMount } from '../../src/http/types.ts';
import { MOUNT_PATH, type Ctx, type SamlContext } from './context.ts';
import { idpMetadata } from './metadata.ts';
import { CONTINUE, continueRoute, errorFor, startRoute } from './sso.ts';

const START = /^\/start\/([a-z0-9][a-z0-9._-]{0,127})$/;

export type Route = (front: SamlContext, ctx: Ctx) => Promise<void>;

async function metadataRoute(front: SamlContext, ctx: Ctx): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}/metadata`;
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    return errorFor(ctx, 405, 'Method not allowed', 'This address does not take that method.');
  }
  await front.refreshKeys().catch(() => undefined);
  ctx.status = 200;
  ctx.type = 'application/samlmetadata+xml';
  ctx.set('Cache-Control', 'public, max-age=3600');
  ctx.body = idpMetadata({ entityId: front.entityId, baseUrl: front.baseUrl, keys: front.keys, algorithm: front.config.signatureAlgorithm });
}

export function createMount(front: SamlContext, routes: Record<string, Route>, patterns: Array<[RegExp, (front: SamlContext, ctx: Ctx, id: string) => Promise<void>]> = []): HttpMount {
  return async (ctx, next) => {
    const path = ctx.path;
    if (path !== MOUNT_PATH && !path.startsWith(`${MOUNT_PATH}/`)) return next();
    const sub = path.slice(MOUNT_PATH.length);
    try {
      if (sub === '/metadata') return await metadataRoute(front, ctx);
      const route = routes[sub];
      if (route) return await route(front, ctx);
      const cont = CONTINUE.exec(sub);
      if (cont) return await continueRoute(front, ctx, cont[1]!, cont[2] !== undefined);
      const start = START.exec(sub);
      if (start) return await startRoute(front, ctx, start[1]!);
      for (const [pattern, handler] of patterns) {
        const m = pattern.exec(sub);
        if (m) return await handler(front, ctx, m[1]!);
      }
    } catch (err) {
      front.core.logger.error({ err, requestId: ctx.state.requestId }, 'SAML request failed');
      return errorFor(ctx, 500, 'Something went wrong', 'The sign-in could not be completed.');
    }
    ctx.state.route = `${MOUNT_PATH}/*`;
    return errorFor(ctx, 404, 'Not found', 'There is nothing at this address.');
  };
}
