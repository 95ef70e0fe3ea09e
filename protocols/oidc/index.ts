/**
 * The OpenID Connect front-end: oidc-provider mounted at /oidc in the HTTP listener's Koa app, the
 * interaction routes that connect it to the Gatehouse session and the access core, and the logout
 * wiring both ways.
 *
 *   GET  /oidc/interaction/:uid        no Gatehouse session, prompt=login or max_age exceeded → /login;
 *                                      otherwise the access decision for app:<client>: allow → back to
 *                                      oidc-provider (login + consent granted), mfa → /login/step-up,
 *                                      deny → a denial page
 *   POST /oidc/interaction/:uid/abort  the denial page's "Return to <app>": access_denied to the client
 *   GET  /oidc/device                  the device verification page needs a Gatehouse session first
 *   everything else under /oidc        oidc-provider (discovery, JWKS, auth, token, userinfo, …)
 *
 * Logout: RP-initiated logout (confirmed on our page) ends the Gatehouse session too; when a
 * Gatehouse session ends anywhere (logout, revocation, password change, a new sign-in), the
 * provider sessions made from it end, their clients get back-channel logout tokens, and the grants
 * that do not outlive the session (no offline_access) are revoked.
 *
 * Mounting notes (oidc-provider runs in the parent app's context): the parent's `app.keys` are the
 * provider's cookie keys (`start` keeps them equal, also across key rotation), and every URL the
 * provider builds comes from the configured issuer, never from the request's Host header or
 * forwarded headers (the parent app keeps `proxy` off; see pinOrigin).
 */
import type Koa from 'koa';
import Provider, { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { SYSTEM, type AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import { deviceFromRequest } from '../../src/devices/http.ts';
import type { Decision } from '../../src/access/types.ts';
import type { AuthnFactor } from '../../src/authn/attempt.ts';
import type { User } from '../../src/directory/model.ts';
import { reason } from '../../src/reasons.ts';
import type { HttpMount, RequestState } from '../../src/server/http.ts';
import { HttpProblem } from '../../src/server/problem.ts';
import type { Session } from '../../src/sessions/service.ts';
import { clearSessionCookie, currentSession } from '../web/session-cookie.ts';
import { authnContext } from './account.ts';
import { lineageGroup } from './adapter.ts';
import type { KeySet, SigningKeyManager } from '../../src/keys/signing.ts';
import * as pages from './pages.ts';
import { auditContext, buildProvider, INTERACTION_PATH } from './provider.ts';
import { DEVICE_CODE_GRANT, parseSettings } from './settings.ts';

export const MOUNT_PATH = '/oidc';
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/abort)?$/;
/** Paths a browser is sent to (HTML, cookies): they get the security headers. */
const BROWSER_PATHS = /^\/(auth|interaction|session\/end|device(?!\/auth))(\/|$)/;

type Ctx = Koa.ParameterizedContext<RequestState>;

export interface OidcFrontEnd {
  readonly mount: HttpMount;
  readonly keys: SigningKeyManager;
  /** The issuer, once started. */
  readonly issuer: string | undefined;
  /** Builds the provider for `issuer` and keeps `app.keys` equal to its cookie keys (also after a rotation). */
  start(app: Koa<RequestState>, issuer: string): Promise<void>;
  /** Reloads the keys if they changed in the store (a timer does this every oidc.keys.reloadSeconds). */
  refresh(): Promise<void>;
  /** Logs every application of type oidc whose settings are invalid (such a client cannot sign in). */
  checkClients(): Promise<void>;
  close(): void;
}

interface Live {
  provider: Provider;
  keys: KeySet;
  dispatch: (ctx: Koa.Context, next: () => Promise<void>) => Promise<void>;
}

/** What identifies a Gatehouse session across its token rotations (step-up keeps it, a new sign-in does not). */
export function lineageOf(session: Pick<Session, 'userId' | 'createdAt'>): string {
  return `${session.userId}.${session.createdAt}`;
}

function compose(middleware: Koa.Middleware[]): Live['dispatch'] {
  return (ctx, next) => {
    const run = (i: number): Promise<void> => (i === middleware.length ? next() : Promise.resolve(middleware[i]!(ctx, () => run(i + 1))));
    return run(0);
  };
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

function browserHeaders(ctx: Ctx): void {
  // No inline script or style (oidc-provider adds the hash of its one auto-submit script itself).
  ctx.set('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
}

function seeOther(ctx: Ctx, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

function html(ctx: Ctx, status: number, document: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = document;
}

const signIn = (returnTo: string, resource: string, extra: Record<string, string> = {}) => `/login?${new URLSearchParams({ return_to: returnTo, resource, ...extra })}`;

export async function createOidcFrontEnd(core: Core): Promise<OidcFrontEnd> {
  const config = core.config.oidc;
  const kv = core.kv('oidc');
  const keys = core.signingKeys;
  await keys.ensure(SYSTEM);

  let live: Live | undefined;
  let issuer: string | undefined;
  let app: Koa<RequestState> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const warned = new Map<string, string>();
  /** The Gatehouse session of a request, read once. */
  const sessions = new WeakMap<object, Promise<{ token: string; session: Session } | undefined>>();
  const sessionOf = (ctx: Koa.Context) => {
    let found = sessions.get(ctx);
    if (!found) {
      found = currentSession(core, ctx);
      sessions.set(ctx, found);
    }
    return found;
  };

  const invalidClient = (name: string, problems: string[]) => {
    const text = problems.join('; ');
    if (warned.get(name) === text) return;
    warned.set(name, text);
    core.logger.warn({ application: name, problems }, `application '${name}' has invalid OpenID Connect settings and cannot sign anyone in`);
  };

  const record = (ctx: AuditContext, draft: Parameters<Core['audit']['record']>[1]) => core.audit.record(ctx, draft);

  // -------------------------------------------------------------------------------------------
  // The access decision, as the interaction and prompt=none take it

  /**
   * The core's decision for the signed-in person and this client, with the session's factors (and
   * a certificate of one of the person's own devices, as at sign-in). A person who is gone or
   * suspended is denied.
   */
  async function decide(ctx: Ctx, session: Session, clientId: string): Promise<{ decision: Decision; authn: AuthnFactor[] }> {
    const result = await core.signIn.attempt({
      presented: { kind: 'session', userId: session.userId },
      proven: session.authn,
      resource: `app:${clientId}`,
      protocol: 'oidc',
      ...(ctx.state.clientIp ? { clientIp: ctx.state.clientIp } : {}),
      ...(ctx.state.requestId ? { requestId: ctx.state.requestId } : {}),
      device: async () => {
        const found = await deviceFromRequest(ctx, { devices: core.devices, config: core.config }).catch(() => undefined);
        return found ? { device: found.device, certificate: true } : undefined;
      },
    });
    return result.ok ? { decision: result.decision, authn: result.authn } : { decision: { action: 'deny', reasons: [result.reason] }, authn: session.authn };
  }

  async function userOf(session: Session): Promise<User | undefined> {
    const user = await core.directory.users.byId(session.userId);
    return user?.status === 'active' ? user : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Provider (re)construction

  function build(keySet: KeySet): Live {
    const provider = buildProvider({
      core,
      config,
      sessions: core.config.sessions,
      issuer: issuer!,
      keys: keySet,
      kv,
      invalidClient,
      hooks: {
        adapter: {
          async lineage(accountId) {
            // oidc-provider keeps the request it is serving in an AsyncLocalStorage.
            const ctx = Provider.ctx;
            if (!ctx || !accountId) return undefined;
            const current = await sessionOf(ctx);
            return current && current.session.userId === accountId ? lineageOf(current.session) : undefined;
          },
          async reused(model, payload) {
            await record(auditContext(Provider.ctx ?? {}), {
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
          const current = await sessionOf(c);
          const accountId = ctx.oidc.session?.accountId;
          if (!current || current.session.userId !== accountId) return false;
          const user = await userOf(current.session);
          if (!user) return false;
          const { decision } = await decide(c, current.session, ctx.oidc.client!.clientId);
          if (decision.action === 'allow') return true;
          if (decision.action === 'mfa') throw new errors.InteractionRequired('a second factor is required');
          throw new errors.AccessDenied('access to this application is denied');
        },
        clientAuthFailed(ctx, err) {
          void record(auditContext(ctx), {
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
          void record(auditContext(ctx), {
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

  async function refresh(): Promise<void> {
    if (!issuer) return;
    if (live && !(await keys.changedSince(live.keys.fingerprint))) return;
    const next = await keys.load();
    live = build(next);
    if (app) app.keys = next.cookieKeys;
  }

  // -------------------------------------------------------------------------------------------
  // Logout

  async function backchannelLogout(provider: Provider, clientId: string, accountId: string, sid: string | undefined): Promise<void> {
    const client = (await provider.Client.find(clientId).catch(() => undefined)) as { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> } | undefined;
    if (!client?.backchannelLogoutUri) return;
    try {
      await client.backchannelLogout(accountId, sid ?? '');
      await record(SYSTEM, { type: 'oidc.backchannel_logout', outcome: 'success', actor: { type: 'system', name: 'gatehouse' }, target: { type: 'application', name: clientId }, details: { user: accountId, sid } });
    } catch (err) {
      await record(SYSTEM, {
        type: 'oidc.backchannel_logout',
        outcome: 'failure',
        target: { type: 'application', name: clientId },
        reasons: [{ code: 'delivery_failed', description: err instanceof Error ? err.message : String(err) }],
        details: { user: accountId, sid },
      });
    }
  }

  interface StoredSession {
    p: { uid?: string; accountId?: string; authorizations?: Record<string, { sid?: string; grantId?: string; persistsLogout?: boolean }> };
  }

  core.sessions.onEnded(async (session) => {
    const entries = await kv.listTagged<StoredSession>({ group: lineageGroup(lineageOf(session)) }, 'Session:');
    const provider = live?.provider;
    await Promise.all(
      entries.map(async (entry) => {
        const { accountId, authorizations = {}, uid } = entry.value.p;
        await kv.delete(entry.key);
        if (uid) await kv.delete(`SessionUid:${uid}`);
        await Promise.all(
          Object.entries(authorizations).map(async ([clientId, authorization]) => {
            if (provider && accountId) await backchannelLogout(provider, clientId, accountId, authorization.sid);
            // As oidc-provider's own logout does: grants that end with the session (no offline_access) are revoked.
            if (authorization.grantId && !authorization.persistsLogout) {
              await kv.deleteTagged({ group: authorization.grantId });
              await kv.delete(`Grant:${authorization.grantId}`);
            }
          }),
        );
      }),
    );
  });

  /** After oidc-provider's end_session confirmation: the Gatehouse session of the same person ends too. */
  async function afterEndSession(ctx: Ctx): Promise<void> {
    const ended = (ctx.state as { oidcEndSession?: { accountId?: string; everywhere: boolean } }).oidcEndSession;
    if (!ended?.everywhere || !ended.accountId) return;
    const current = await sessionOf(ctx);
    // Only the person who confirmed on our page, and never when oidc-provider ends its session
    // because a different person has just signed in (then accountId is the previous person's).
    if (!current || current.session.userId !== ended.accountId) return;
    const actx: AuditContext = { actor: { type: 'user', id: current.session.userId, name: current.session.username }, protocol: 'oidc', ...(ctx.state.requestId ? { requestId: ctx.state.requestId } : {}), ...(ctx.state.clientIp ? { sourceIp: ctx.state.clientIp } : {}) };
    await core.sessions.end(actx, current.session.handle, 'logout');
    clearSessionCookie(ctx);
  }

  // -------------------------------------------------------------------------------------------
  // Interactions

  type LoadedInteraction = InstanceType<Provider['Interaction']>;

  /** The interaction this browser is in, or undefined (expired, finished, or not this browser's). */
  async function loadInteraction(provider: Provider, ctx: Ctx, uid: string): Promise<LoadedInteraction | undefined> {
    // Signed with the provider's cookie keys (= app.keys); without `signed` Koa would not check the signature.
    if (ctx.cookies.get(provider.cookieName('interaction'), { signed: true }) !== uid) return undefined;
    const interaction = await provider.Interaction.find(uid);
    if (!interaction) return undefined;
    if (interaction.session?.uid && !(await provider.Session.findByUid(interaction.session.uid))) {
      // The provider session the request started in has ended (its Gatehouse session did, e.g. a
      // re-authentication replaced it): go on in a new one, as oidc-provider does when the account changes.
      delete (interaction.session as { uid?: string }).uid;
      await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
    }
    return interaction;
  }

  async function interactionPage(ctx: Ctx, uid: string): Promise<void> {
    const provider = live!.provider;
    const interaction = await loadInteraction(provider, ctx, uid);
    if (!interaction) return html(ctx, 400, pages.expiredPage(ctx.state.requestId));
    const clientId = String(interaction.params.client_id ?? '');
    const client = await provider.Client.find(clientId).catch(() => undefined);
    if (!client) return html(ctx, 400, pages.errorPage({ status: 400, error: 'invalid_client', description: 'the client is no longer registered', requestId: ctx.state.requestId }));
    const resource = `app:${clientId}`;
    const here = `${MOUNT_PATH}${INTERACTION_PATH}/${uid}`;

    // When this request sends the person to sign in, it remembers when: a sign-in after that is
    // fresh for this request (prompt=login, max_age, even max_age=0), so nobody is asked twice.
    const reauthKey = `Reauth:${uid}`;
    const sendToSignIn = async (force: boolean) => {
      await kv.put(reauthKey, Date.now(), Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
      seeOther(ctx, signIn(here, resource, { ...(force ? { force: '1' } : {}), cancel: `${here}/abort` }));
    };
    const current = await sessionOf(ctx);
    const user = current && (await userOf(current.session));
    if (!current || !user) return sendToSignIn(false);

    const { authTime } = authnContext(current.session.authn, current.session.createdAt);
    const prompts = new Set(String(interaction.params.prompt ?? '').split(' '));
    const maxAge = interaction.params.max_age === undefined ? undefined : Number(interaction.params.max_age);
    // prompt=login: an authentication during this request; max_age: one recent enough (OpenID Connect Core §3.1.2.1).
    if (prompts.has('login') || (maxAge !== undefined && Number.isFinite(maxAge) && Math.floor(Date.now() / 1000) - authTime > maxAge)) {
      const since = await kv.get<number>(reauthKey);
      const latest = Math.max(...current.session.authn.map((a) => Date.parse(a.at)).filter(Number.isFinite), 0);
      if (since === undefined || latest < since) return sendToSignIn(true);
    }
    const hint = interaction.params.id_token_hint;
    if (typeof hint === 'string' && subjectOf(hint) !== user.id) {
      return finish(ctx, provider, { error: 'login_required', error_description: 'the signed-in user is not the one id_token_hint names' });
    }

    const { decision, authn } = await decide(ctx, current.session, clientId);
    if (decision.action === 'mfa') return seeOther(ctx, `/login/step-up?${new URLSearchParams({ return_to: here, resource, cancel: `${here}/abort` })}`);
    if (decision.action === 'deny') {
      return html(ctx, 403, pages.deniedPage({ appName: client.clientName ?? clientId, action: `${here}/abort`, uid, requestId: ctx.state.requestId }));
    }

    // Allowed. These are first-party applications an administrator assigned: what they ask for (within
    // their registered scopes, which oidc-provider has checked) is granted without a consent screen.
    const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
    const reuse = existing && existing.accountId === user.id && existing.clientId === clientId;
    const grant = reuse ? existing : new provider.Grant({ accountId: user.id, clientId });
    if (typeof interaction.params.scope === 'string') grant.addOIDCScope(interaction.params.scope);
    const grantId = await grant.save();
    const context = authnContext(authn, current.session.createdAt);
    try {
      return await finish(ctx, provider, {
        login: { accountId: user.id, acr: context.acr, amr: context.amr, ts: context.authTime, remember: true },
        consent: { grantId },
      });
    } catch (err) {
      // The interaction ended meanwhile: leave no grant behind that nothing refers to.
      if (!reuse) await grant.destroy().catch(() => undefined);
      throw err;
    }
  }

  async function finish(ctx: Ctx, provider: Provider, result: Parameters<Provider['interactionResult']>[2]): Promise<void> {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    seeOther(ctx, returnTo);
  }

  async function abort(ctx: Ctx, uid: string): Promise<void> {
    const provider = live!.provider;
    // The interaction cookie (SameSite=Lax, scoped to this path) binds the form to this browser; a
    // replayed or cross-site post finds no interaction.
    if (!(await loadInteraction(provider, ctx, uid))) return html(ctx, 400, pages.expiredPage(ctx.state.requestId));
    return finish(ctx, provider, { error: 'access_denied', error_description: 'access to this application is denied' });
  }

  async function interactionRoute(ctx: Ctx, uid: string, isAbort: boolean): Promise<void> {
    ctx.state.route = `${MOUNT_PATH}${INTERACTION_PATH}/:uid${isAbort ? '/abort' : ''}`;
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    if (method !== (isAbort ? 'POST' : 'GET')) {
      ctx.set('Allow', isAbort ? 'POST' : 'GET, HEAD');
      return html(ctx, 405, pages.errorPage({ status: 405, requestId: ctx.state.requestId }));
    }
    try {
      await (isAbort ? abort(ctx, uid) : interactionPage(ctx, uid));
    } catch (err) {
      if (err instanceof errors.SessionNotFound) return html(ctx, 400, pages.expiredPage(ctx.state.requestId));
      core.logger.error({ err, requestId: ctx.state.requestId }, 'OpenID Connect interaction failed');
      return html(ctx, 500, pages.errorPage({ status: 500, requestId: ctx.state.requestId }));
    }
  }

  // -------------------------------------------------------------------------------------------
  // The mount

  const mount: HttpMount = async (ctx, next) => {
    const path = ctx.path;
    if (path !== MOUNT_PATH && !path.startsWith(`${MOUNT_PATH}/`)) return next();
    const current = live;
    if (!current || !issuer) throw new HttpProblem(503, 'Service unavailable', 'the OpenID Connect provider is starting');
    pinOrigin(ctx, new URL(issuer));
    const sub = path.slice(MOUNT_PATH.length) || '/';
    if (BROWSER_PATHS.test(sub)) browserHeaders(ctx);

    const interaction = INTERACTION.exec(sub);
    if (interaction) return interactionRoute(ctx, interaction[1]!, interaction[2] !== undefined);

    const deviceForm = sub === '/device' && config.deviceFlow && (ctx.method === 'GET' || ctx.method === 'POST');
    if (deviceForm && !(await sessionOf(ctx))) {
      // The verification page is for a signed-in person: sign in first, then enter (or confirm) the code.
      const userCode = ctx.method === 'GET' ? ctx.query.user_code : undefined;
      const back = `${MOUNT_PATH}/device${typeof userCode === 'string' && userCode.length <= 64 ? `?${new URLSearchParams({ user_code: userCode })}` : ''}`;
      ctx.state.route = `${MOUNT_PATH}/device`;
      return seeOther(ctx, signIn(back, 'portal'));
    }

    // RFC 8628 §5.1: wrong user codes are rate limited (the shared throttle, per person and address,
    // device codes apart from other kinds), each reserved before the code is looked up.
    const codeKeys = deviceForm && ctx.method === 'POST' ? { kind: 'device-code' as const, user: `device-code:${(await sessionOf(ctx))!.session.userId}`, ...(ctx.state.clientIp ? { ip: ctx.state.clientIp } : {}) } : undefined;
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
    if ((ctx.state as { oidcEndSession?: unknown }).oidcEndSession) await afterEndSession(ctx);
    // A wrong code: the reservation stands as the failure; anything else was no guess.
    if (reserved?.allowed && !(ctx.state as { oidcWrongUserCode?: boolean }).oidcWrongUserCode) await reserved.reservation.release();
  };

  return {
    mount,
    keys,
    get issuer() {
      return issuer;
    },
    async start(httpApp, issuerUrl) {
      app = httpApp;
      issuer = issuerUrl.replace(/\/+$/, '');
      const keySet = await keys.load();
      live = build(keySet);
      app.keys = keySet.cookieKeys;
      timer = setInterval(() => {
        refresh().catch((err: unknown) => core.logger.warn({ err }, 'could not reload the OpenID Connect signing keys'));
      }, config.keys.reloadSeconds * 1000);
      timer.unref();
    },
    refresh,
    async checkClients() {
      for (const app of await core.directory.applications.all()) {
        if (app.type !== 'oidc') continue;
        const parsed = parseSettings(app.settings);
        if (!parsed.ok) invalidClient(app.name, parsed.problems);
      }
    },
    close() {
      if (timer) clearInterval(timer);
    },
  };
}

/** The `sub` of an ID token (already verified by oidc-provider when it was given as id_token_hint). */
function subjectOf(jwt: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

export type { KoaContextWithOIDC };
