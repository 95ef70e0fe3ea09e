/**
 * What every handler of the front-end is given (the core and the front-end's own services), and the
 * small steps they share: answering with a page or a redirect, the audit context of a request, and
 * what a sign-in step hands the core's sign-in pipeline.
 */
import type { SignInRequest, SignInResult } from '../../src/authn/attempt.ts';
import type { AuditContext, EventDraft } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import { decideForSession as sessionDecision, signInContext as httpSignInContext } from '../../src/http/sign-in.ts';
import type { Protocol, User } from '../../src/directory/model.ts';
import type { Session } from '../../src/sessions/service.ts';
import type { WebConfig } from './config.ts';
import type { Csrf } from './csrf.ts';
import type { Ctx } from './http.ts';
import type { SignInResource } from './params.ts';
import type { PendingSignIns } from './pending.ts';
import type { WebSecrets } from './secrets.ts';

export interface Web {
  core: Core;
  /** The `web` section of the configuration. */
  config: WebConfig;
  csrf: Csrf;
  pending: PendingSignIns;
  secrets: WebSecrets;
}

export function render(ctx: Ctx, status: number, document: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = document;
}

/** 303 See Other: after a POST the browser follows with a GET (no resubmission on reload). */
export function seeOther(ctx: Ctx, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

export function auditContext(ctx: Ctx, user?: Pick<User, 'id' | 'username'>, protocol: Protocol = 'portal'): AuditContext {
  return {
    actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'anonymous' },
    ...(ctx.state.clientIp ? { sourceIp: ctx.state.clientIp } : {}),
    requestId: ctx.state.requestId,
    protocol,
  };
}

/** Records an event of the front-end's own (the core records authentication and decisions). */
export async function audit(web: Web, ctx: AuditContext, draft: EventDraft): Promise<void> {
  await web.core.audit.record(ctx, draft);
}

/**
 * What the core's sign-in pipeline needs from an HTTP request besides the credential: where it
 * comes from, its request id, and the device behind it (a Gatehouse device certificate over mTLS
 * or from a trusted proxy's header), looked up only once a credential is verified.
 */
export function signInContext(web: Web, ctx: Ctx): Pick<SignInRequest, 'clientIp' | 'requestId' | 'device'> {
  return httpSignInContext(web.core, ctx);
}

/** The decision for a signed-in person (the portal's gate, a step-up): the session's factors, nothing new presented. */
export async function decideForSession(web: Web, ctx: Ctx, session: Pick<Session, 'userId' | 'authn'>, resource: SignInResource): Promise<SignInResult> {
  return sessionDecision(web.core, ctx, session, resource);
}

// ---------------------------------------------------------------------------------------------
// The portal's own decision, remembered for a while per session

const PORTAL_DECISION_SECONDS = 600;

/** Remembers that this session was allowed into the portal (for a few minutes; then decided again). */
export async function rememberPortalAllowed(web: Web, handle: string, userId: string): Promise<void> {
  await web.core.kv('web').put(`portal-allowed:${handle}`, true, PORTAL_DECISION_SECONDS, { subject: userId });
}

export async function portalAllowed(web: Web, handle: string): Promise<boolean> {
  return (await web.core.kv('web').get<boolean>(`portal-allowed:${handle}`)) === true;
}
