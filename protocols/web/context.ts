/**
 * What every handler of the front-end is given (the core and the front-end's own services), and the
 * small steps they share: answering with a page or a redirect, the audit context of a request, the
 * device behind it, and the access decision as the sign-in pages ask it.
 */
import type { AuthMethod, Decision } from '../../src/access/types.ts';
import { AttemptAudit, type AuditContext, type EventDraft } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import { deviceFromRequest } from '../../src/devices/http.ts';
import type { Device, Group, Protocol, User } from '../../src/directory/model.ts';
import type { Csrf } from './csrf.ts';
import type { Ctx } from './http.ts';
import type { SignInResource } from './params.ts';
import type { PendingSignIns } from './pending.ts';
import type { WebSecrets } from './secrets.ts';

export interface Web {
  core: Core;
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

/** The authentication attempt of a sign-in step's request (signInStep). */
const attempts = new WeakMap<Ctx, AttemptAudit>();

export function auditContext(ctx: Ctx, user?: Pick<User, 'id' | 'username'>, protocol: Protocol = 'portal'): AuditContext {
  const attempt = attempts.get(ctx);
  return {
    actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'anonymous' },
    ...(ctx.state.clientIp ? { sourceIp: ctx.state.clientIp } : {}),
    requestId: ctx.state.requestId,
    protocol,
    ...(attempt ? { attempt } : {}),
  };
}

/**
 * A sign-in step (password, passkey, second factor) is one authentication attempt: the factor it
 * checks and the access decision that follows are one audit event (access.decision, details.checks).
 */
export function signInStep(handler: (web: Web, ctx: Ctx) => Promise<void>): (web: Web, ctx: Ctx) => Promise<void> {
  return async (web, ctx) => {
    const attempt = new AttemptAudit();
    attempts.set(ctx, attempt);
    try {
      await handler(web, ctx);
    } finally {
      attempts.delete(ctx);
      await web.core.auditor.settle(web.core.directory.dir, attempt);
    }
  };
}

/** Records an event of the front-end's own (the core records authentication and decisions). */
export async function audit(web: Web, ctx: AuditContext, draft: EventDraft): Promise<void> {
  await web.core.auditor.record(web.core.directory.dir, ctx, draft);
}

/**
 * The protocol a sign-in is for, as policies scope it: the portal's own, or the application's
 * (an OIDC or SAML application signs in through these pages; a generic one is launched from the portal).
 */
export async function protocolFor(web: Web, resource: SignInResource): Promise<Protocol> {
  if (resource === 'portal') return 'portal';
  const app = await web.core.directory.dir.applications.findByName(resource.slice(4));
  return app?.type === 'oidc' || app?.type === 'saml' ? app.type : 'portal';
}

/**
 * The device behind the request, identified by a Gatehouse device certificate (mTLS or a trusted
 * proxy's header). When it is one of the user's own devices, the certificate also counts as a
 * factor ('certificate') for the access decision.
 */
export async function deviceOf(web: Web, ctx: Ctx, user: User): Promise<{ device: Device; certificate: boolean; owned: boolean } | undefined> {
  const found = await deviceFromRequest(ctx, { devices: web.core.devices, config: web.core.config });
  return found ? { device: found.device, certificate: true, owned: found.device.owners.includes(user.username) } : undefined;
}

export interface SignInDecision {
  decision: Decision;
  protocol: Protocol;
  device?: { device: Device; certificate: boolean; owned: boolean };
}

/**
 * The audited access decision for a sign-in or a session. The certificate factor counts for this
 * request only (it is proven by this connection), so it is not kept in the session's factors.
 */
export async function decide(web: Web, ctx: Ctx, user: User, resource: SignInResource, authn: Array<{ method: AuthMethod; at: string }>, groups?: Group[]): Promise<SignInDecision> {
  const [protocol, device] = await Promise.all([protocolFor(web, resource), deviceOf(web, ctx, user)]);
  const withCertificate = device?.owned && !authn.some((a) => a.method === 'certificate') ? [...authn, { method: 'certificate' as const, at: new Date().toISOString() }] : authn;
  const { decision } = await web.core.access.decide(auditContext(ctx, user, protocol), {
    user,
    ...(groups ? { groups } : {}),
    resource,
    protocol,
    ...(ctx.state.clientIp ? { clientIp: ctx.state.clientIp } : {}),
    ...(device ? { device: { device: device.device, certificate: device.certificate } } : {}),
    authn: withCertificate,
  });
  return { decision, protocol, ...(device ? { device } : {}) };
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
