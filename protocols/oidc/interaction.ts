/**
 * The interaction routes, where every authorization request is decided by Gatehouse:
 *
 *   GET  /oidc/interaction/:uid        no Gatehouse session, prompt=login or max_age exceeded → /login;
 *                                      otherwise the access decision for app:<client>: allow → back to
 *                                      oidc-provider (login + consent granted), mfa → /login/step-up,
 *                                      deny → a denial page
 *   POST /oidc/interaction/:uid/abort  the denial page's "Return to <app>": access_denied to the client
 */
import Provider, { errors } from 'oidc-provider';
import { authnContext } from './account.ts';
import { artifactKey } from './adapter.ts';
import { MOUNT_PATH, type Ctx, type OidcContext } from './context.ts';
import * as pages from './pages.ts';
import { INTERACTION_PATH } from './provider.ts';
import { html, seeOther, signIn } from './respond.ts';

/** The interaction routes under the mount: the uid, and `/abort` for the abort. */
export const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/abort)?$/;

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

async function interactionPage(front: OidcContext, ctx: Ctx, uid: string): Promise<void> {
  const provider = front.live!.provider;
  const interaction = await loadInteraction(provider, ctx, uid);
  if (!interaction) return html(ctx, 400, pages.expiredPage(ctx.state.requestId));
  const clientId = String(interaction.params.client_id ?? '');
  const client = await provider.Client.find(clientId).catch(() => undefined);
  if (!client) return html(ctx, 400, pages.errorPage({ status: 400, error: 'invalid_client', description: 'the client is no longer registered', requestId: ctx.state.requestId }));
  const resource = `app:${clientId}`;
  const here = `${MOUNT_PATH}${INTERACTION_PATH}/${uid}`;

  // When this request sends the person to sign in, it remembers when: a sign-in after that is
  // fresh for this request (prompt=login, max_age, even max_age=0), so nobody is asked twice.
  const reauthKey = artifactKey('Reauth', uid);
  const sendToSignIn = async (force: boolean) => {
    await front.kv.put(reauthKey, Date.now(), Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
    seeOther(ctx, signIn(here, resource, { ...(force ? { force: '1' } : {}), cancel: `${here}/abort` }));
  };
  const current = await front.sessionOf(ctx);
  const user = current && (await front.userOf(current.session));
  if (!current || !user) return sendToSignIn(false);

  const { authTime } = authnContext(current.session.authn, current.session.createdAt);
  const prompts = new Set(String(interaction.params.prompt ?? '').split(' '));
  const maxAge = interaction.params.max_age === undefined ? undefined : Number(interaction.params.max_age);
  // prompt=login: an authentication during this request; max_age: one recent enough (OpenID Connect Core §3.1.2.1).
  if (prompts.has('login') || (maxAge !== undefined && Number.isFinite(maxAge) && Math.floor(Date.now() / 1000) - authTime > maxAge)) {
    const since = await front.kv.get<number>(reauthKey);
    const latest = Math.max(...current.session.authn.map((a) => Date.parse(a.at)).filter(Number.isFinite), 0);
    if (since === undefined || latest < since) return sendToSignIn(true);
  }
  const hint = interaction.params.id_token_hint;
  if (typeof hint === 'string' && subjectOf(hint) !== user.id) {
    return finish(ctx, provider, { error: 'login_required', error_description: 'the signed-in user is not the one id_token_hint names' });
  }

  const { decision, authn } = await front.decide(ctx, current.session, clientId);
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

async function abort(front: OidcContext, ctx: Ctx, uid: string): Promise<void> {
  const provider = front.live!.provider;
  // The interaction cookie (SameSite=Lax, scoped to this path) binds the form to this browser; a
  // replayed or cross-site post finds no interaction.
  if (!(await loadInteraction(provider, ctx, uid))) return html(ctx, 400, pages.expiredPage(ctx.state.requestId));
  return finish(ctx, provider, { error: 'access_denied', error_description: 'access to this application is denied' });
}

export async function interactionRoute(front: OidcContext, ctx: Ctx, uid: string, isAbort: boolean): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}${INTERACTION_PATH}/:uid${isAbort ? '/abort' : ''}`;
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
  if (method !== (isAbort ? 'POST' : 'GET')) {
    ctx.set('Allow', isAbort ? 'POST' : 'GET, HEAD');
    return html(ctx, 405, pages.errorPage({ status: 405, requestId: ctx.state.requestId }));
  }
  try {
    await (isAbort ? abort(front, ctx, uid) : interactionPage(front, ctx, uid));
  } catch (err) {
    if (err instanceof errors.SessionNotFound) return html(ctx, 400, pages.expiredPage(ctx.state.requestId));
    front.core.logger.error({ err, requestId: ctx.state.requestId }, 'OpenID Connect interaction failed');
    return html(ctx, 500, pages.errorPage({ status: 500, requestId: ctx.state.requestId }));
  }
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
