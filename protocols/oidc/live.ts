/**
 * The provider for a key set: oidc-provider built with Gatehouse's hooks (the adapter's lineage and
 * reuse reports, prompt=none, audit of client authentication and grant revocation, end_session,
 * server errors), rebuilt when the signing keys change in the store, checked every
 * oidc.keys.reloadSeconds.
 */
import { reason } from '../../src/reasons.ts';
import type Koa from 'koa';
import Provider, { errors } from 'oidc-provider';
import type { RequestState } from '../../src/http/types.ts';
import type { KeySet } from '../../src/keys/signing.ts';
import { lineageOf, type Ctx, type Live, type OidcContext } from './context.ts';
import { auditContext, buildProvider } from './provider.ts';
import { DEVICE_CODE_GRANT } from './settings.ts';

function compose(middleware: Koa.Middleware[]): Live['dispatch'] {
  return (ctx, next) => {
    const run = (i: number): Promise<void> => (i === middleware.length ? next() : Promise.resolve(middleware[i]!(ctx, () => run(i + 1))));
    return run(0);
  };
}

export function build(front: OidcContext, keySet: KeySet): Live {
  const { core, config, kv } = front;
  const provider = buildProvider({
    core,
    config,
    sessions: core.config.sessions,
    issuer: front.issuer!,
    keys: keySet,
    kv,
    invalidClient: (name, problems) => front.invalidClient(name, problems),
    hooks: {
      adapter: {
        async lineage(accountId) {
          // oidc-provider keeps the request it is serving in an AsyncLocalStorage.
          const ctx = Provider.ctx;
          if (!ctx || !accountId) return undefined;
          const current = await front.sessionOf(ctx);
          return current && current.session.userId === accountId ? lineageOf(current.session) : undefined;
        },
        async reused(model, payload) {
          await front.record(auditContext(Provider.ctx ?? {}), {
            type: 'oidc.token.reuse_detected',
            outcome: 'denied',
            target: { type: 'application', name: String(payload.clientId ?? '') },
            ...(typeof payload.accountId === 'string' ? { actor: { type: 'user', id: payload.accountId } } : {}),
            reasons: [{ code: 'concurrent_reuse', description: `one ${model} was redeemed twice at once: the grant is revoked` }],
            details: { artifact: model, grantId: payload.grantId, concurrent: true },
          });
        },
      },
      async silent(ctx) {
        const c = ctx as unknown as Ctx;
        const current = await front.sessionOf(c);
        const accountId = ctx.oidc.session?.accountId;
        if (!current || current.session.userId !== accountId) return false;
        const user = await front.userOf(current.session);
        if (!user) return false;
        const { decision } = await front.decide(c, current.session, ctx.oidc.client!.clientId);
        if (decision.action === 'allow') return true;
        if (decision.action === 'mfa') throw new errors.InteractionRequired('a second factor is required');
        throw new errors.AccessDenied('access to this application is denied');
      },
      clientAuthFailed(ctx, err) {
        void front.record(auditContext(ctx), {
          type: 'oidc.client.auth_failed',
          outcome: 'failure',
          target: { type: 'application', name: String(ctx.oidc.params?.client_id ?? ctx.oidc.client?.clientId ?? '') },
          reasons: [err.retryAfterSeconds !== undefined ? reason('throttled', `per ${err.per ?? 'address'}`) : { code: err.error ?? 'invalid_client', description: err.error_description ?? 'client authentication failed' }],
          details: { endpoint: ctx.oidc.route, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) },
        });
      },
      grantRevoked(ctx, grantId) {
        // At the token endpoint oidc-provider revokes a grant only when a used code or refresh token comes back.
        if (ctx.oidc.route !== 'token') return;
        const grantType = ctx.oidc.params?.grant_type;
        const [artifact, label] = grantType === 'refresh_token' ? ['RefreshToken', 'refresh token'] : grantType === DEVICE_CODE_GRANT ? ['DeviceCode', 'device code'] : ['AuthorizationCode', 'authorization code'];
        void front.record(auditContext(ctx), {
          type: 'oidc.token.reuse_detected',
          outcome: 'denied',
          target: { type: 'application', name: ctx.oidc.client?.clientId ?? '' },
          reasons: [{ code: 'reuse', description: `a ${label} that was already used was presented again: the grant is revoked` }],
          details: { artifact, grantId, concurrent: false },
        });
      },
      endSession(ctx) {
        (ctx.state as { oidcEndSession?: unknown }).oidcEndSession = { accountId: ctx.oidc.session?.accountId, everywhere: Boolean(ctx.oidc.params?.logout) };
      },
      serverError(ctx, err) {
        core.logger.error({ err, requestId: (ctx.state as RequestState).requestId, path: ctx.path }, 'OpenID Connect request failed');
      },
    },
  });
  return { provider, keys: keySet, dispatch: compose(provider.middleware as Koa.Middleware[]) };
}

/** Rebuilds the provider if the keys changed in the store. */
export async function refresh(front: OidcContext): Promise<void> {
  if (!front.issuer) return;
  const live = front.live;
  if (live && !(await front.keys.changedSince(live.keys.fingerprint))) return;
  const next = await front.keys.load();
  front.install(build(front, next));
}

/** Calls `refresh` every oidc.keys.reloadSeconds (without keeping the process alive). */
export function reloadEvery(front: OidcContext): NodeJS.Timeout {
  const timer = setInterval(() => {
    refresh(front).catch((err: unknown) => front.core.logger.warn({ err }, 'could not reload the OpenID Connect signing keys'));
  }, front.config.keys.reloadSeconds * 1000);
  timer.unref();
  return timer;
}
