/**
 * Single sign-on, after the request is accepted (SP-initiated: inbound.ts validated it; IdP-initiated:
 * the portal's tile). A request that needs the sign-in pages waits in the TTL store under a random id
 * while the person signs in, exactly as an OpenID Connect interaction does:
 *
 *   proceed                   the request on a top-level GET (HTTP-Redirect, the portal's tile): the
 *                             session cookie is there, so a person already signed in and allowed gets
 *                             the response at once; otherwise the request is stored and the sign-in
 *                             pages come back to GET /saml/continue/:id
 *   begin                     an HTTP-POST request: stored, 303 → GET /saml/continue/:id (a top-level
 *                             GET, so the SameSite=Lax session cookie comes along after the SP's
 *                             cross-site POST)
 *   GET  /saml/continue/:id   proceed with the stored request. No session, or ForceAuthn and no
 *                             sign-in since the request → /login (force=1 for ForceAuthn); IsPassive
 *                             instead → NoPassive; then the access decision for app:<name> (protocol
 *                             saml): allow → the signed Response, auto-posted to the ACS; mfa →
 *                             /login/step-up (IsPassive: NoPassive); deny → RequestDenied to the SP
 *                             (IdP-initiated: a page with the reference)
 *   POST /saml/continue/:id/cancel   the sign-in pages' "Return to the application": RequestDenied
 *
 * A stored request is consumed when it is answered, so one request yields at most one response (an
 * SP-initiated request's ID is single-use besides, inbound.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { errorPage } from '../../src/http/html.ts';
import { authnContextClasses, authnInstant, MOUNT_PATH, type Ctx, type Registered, type SamlContext } from './context.ts';
import { AUTHN_CONTEXT, AUTO_SUBMIT_SCRIPT, loginResponse, postForm, STATUS, statusResponseXml } from './messages.ts';
import { signElement } from './xml-sign.ts';
import { decodePost, decodeRedirect, readAuthnRequest, SamlRequestError, type AuthnRequest } from './inbound.ts';
import { auditRefusal, inboundOptions, readSamlForm } from './inbound-http.ts';
import { addParticipant } from './participants.ts';
import type { SchemaValidator } from './xml-schema.ts';

export interface Pending {
  app: string;
  flow: 'sp-initiated' | 'idp-initiated';
  /** The AuthnRequest's ID (InResponseTo); none for IdP-initiated. */
  requestId?: string;
  acsUrl: string;
  relayState?: string;
  forceAuthn: boolean;
  isPassive: boolean;
  /** RequestedAuthnContext (SAML Core §3.3.2.2.1), when the SP sent one. */
  requestedAuthnContext?: { comparison: 'exact' | 'minimum' | 'maximum' | 'better'; classRefs: string[] };
  createdAt: number;
}

/** How strong each class Gatehouse issues is, for the comparisons of RequestedAuthnContext. */
const STRENGTH: Record<string, number> = {
  [AUTHN_CONTEXT.unspecified]: 0,
  [AUTHN_CONTEXT.password]: 1,
  [AUTHN_CONTEXT.x509]: 1,
  [AUTHN_CONTEXT.mfa]: 2,
};

/**
 * Whether the class the assertion would carry satisfies the SP's RequestedAuthnContext: exact → one
 * of the classes named; minimum → at least as strong as one of them; better → stronger; maximum →
 * no stronger. Classes Gatehouse does not know satisfy only `exact` by name.
 */
export function satisfies(issued: string, requested: NonNullable<Pending['requestedAuthnContext']>): boolean {
  if (requested.comparison === 'exact') return requested.classRefs.includes(issued);
  const mine = STRENGTH[issued] ?? 0;
  return requested.classRefs.some((ref) => {
    const theirs = STRENGTH[ref];
    if (theirs === undefined) return false;
    return requested.comparison === 'minimum' ? mine >= theirs : requested.comparison === 'better' ? mine > theirs : mine <= theirs;
  });
}

/**
 * The class the assertion carries: without a RequestedAuthnContext the strongest the sign-in
 * provides; with `exact`, the first of the SP's classes (its order of preference, SAML Core
 * §3.3.2.2.1) the sign-in provides — so an SP asking for PasswordProtectedTransport (node-saml's
 * default) gets it after a password and a second factor too; with a comparison, the strongest
 * provided class that satisfies it. Undefined when none does (NoAuthnContext).
 */
export function chooseAuthnContext(provided: readonly string[], requested: Pending['requestedAuthnContext']): string | undefined {
  if (!requested) return provided[0];
  if (requested.comparison === 'exact') return requested.classRefs.find((ref) => provided.includes(ref));
  return provided.find((issued) => satisfies(issued, requested));
}

export const CONTINUE = /^\/continue\/([A-Za-z0-9_-]{22})(\/cancel)?$/;
const pendingKey = (id: string) => `pending:${id}`;
const SCRIPT_HASH = `'sha256-${createHash('sha256').update(AUTO_SUBMIT_SCRIPT).digest('base64')}'`;

export function html(ctx: Ctx, status: number, document: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = document;
}

export function seeOther(ctx: Ctx, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
  ctx.set('Cache-Control', 'no-store');
}

/** An error page for the browser (never a message to an unverified destination). */
export function errorFor(ctx: Ctx, status: number, title: string, message: string): void {
  html(ctx, status, errorPage({ title, message, reference: ctx.state.requestId }));
}

/** The HTTP-POST binding's page: its script allowed by hash, its form allowed to post to `target` only. */
export function sendPost(ctx: Ctx, target: string, field: 'SAMLRequest' | 'SAMLResponse', base64: string, relayState: string | undefined): void {
  ctx.status = 200;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', `default-src 'none'; script-src ${SCRIPT_HASH}; form-action ${new URL(target).origin}; frame-ancestors 'none'; base-uri 'none'`);
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = postForm(target, field, base64, relayState);
}

/** Stores a request for the sign-in pages to come back to; its id. */
async function park(front: SamlContext, pending: Pending): Promise<string> {
  const id = randomBytes(16).toString('base64url');
  await front.kv.put(pendingKey(id), pending, front.config.requestLifetimeSeconds);
  return id;
}

/** An HTTP-POST AuthnRequest (or a HEAD): stored, then a top-level GET to /saml/continue/:id (which has the session cookie). */
async function begin(front: SamlContext, ctx: Ctx, pending: Pending): Promise<void> {
  seeOther(ctx, `${MOUNT_PATH}/continue/${await park(front, pending)}`);
}

/** A signed status Response (no assertion) to the SP's ACS. */
async function sendStatus(front: SamlContext, ctx: Ctx, registered: Registered, pending: Pending, status: string, reasonCode: string, message?: string, subStatus?: string): Promise<void> {
  const session = await front.sessionOf(ctx);
  await front.core.audit.record(front.auditContext(ctx, session?.session), {
    type: 'saml.response.refused',
    outcome: 'denied',
    target: { type: 'application', id: registered.app.id, name: registered.app.name },
    reasons: [{ code: reasonCode, description: message ?? reasonCode }],
    details: { status: subStatus ?? status, flow: pending.flow, ...(pending.requestId ? { inResponseTo: pending.requestId } : {}) },
  });
  const xml = statusResponseXml({
    idpEntityId: front.entityId,
    destination: pending.acsUrl,
    ...(pending.requestId ? { inResponseTo: pending.requestId } : {}),
    status,
    ...(subStatus ? { subStatus } : {}),
    ...(message ? { message } : {}),
  });
  const signed = signElement(xml, front.keys.current, front.algorithmFor(registered.sp));
  sendPost(ctx, pending.acsUrl, 'SAMLResponse', Buffer.from(signed).toString('base64'), pending.relayState);
}

async function continuePage(front: SamlContext, ctx: Ctx, id: string): Promise<void> {
  const pending = await front.kv.get<Pending>(pendingKey(id));
  if (!pending) return errorFor(ctx, 400, 'Sign-in expired', 'This sign-in request has expired or was already answered. Start again from the application.');
  return proceed(front, ctx, pending, id);
}

/**
 * A request, stored under `id`, or not stored (`undefined`: it came on a top-level GET, so the
 * session cookie is here, and it is answered at once when the session and the decision allow): the
 * response; else the sign-in pages, the request stored first for them to come back to.
 */
async function proceed(front: SamlContext, ctx: Ctx, pending: Pending, id: string | undefined): Promise<void> {
  const registered = await front.byName(pending.app);
  if (!registered) {
    if (id !== undefined) await front.kv.delete(pendingKey(id));
    return errorFor(ctx, 400, 'Unknown application', 'This application is no longer registered for single sign-on.');
  }
  const resource = `app:${registered.app.name}`;
  /** Where the sign-in pages come back to, and their "Return to the application". */
  const comeBack = async () => {
    id ??= await park(front, pending);
    const here = `${MOUNT_PATH}/continue/${id}`;
    return { return_to: here, resource, cancel: `${here}/cancel` };
  };
  /** The request taken from the store, so that it yields one response: false if it was answered already. */
  const take = async () => id === undefined || (await front.kv.consume(pendingKey(id)));
  const answer = async (status: string, code: string, message: string, subStatus?: string) => {
    if (!(await take())) return errorFor(ctx, 400, 'Sign-in expired', 'This sign-in request was already answered.');
    return sendStatus(front, ctx, registered, pending, status, code, message, subStatus);
  };

  const current = await front.sessionOf(ctx);
  const user = current && (await front.userOf(current.session));
  // ForceAuthn (SAML Core §3.4.1): a sign-in after the request, not the session's earlier one.
  const fresh = current && authnInstant(current.session.authn, 0) > pending.createdAt;
  if (!current || !user || (pending.forceAuthn && !fresh)) {
    if (pending.isPassive) return answer(STATUS.responder, 'no_passive', 'the person is not signed in', STATUS.noPassive);
    return seeOther(ctx, `/login?${new URLSearchParams({ ...(await comeBack()), ...(pending.forceAuthn ? { force: '1' } : {}) })}`);
  }

  const { decision, authn, groups } = await front.decide(ctx, current.session, registered.app.name);
  if (decision.action === 'mfa') {
    if (pending.isPassive) return answer(STATUS.responder, 'no_passive', 'a second factor is required', STATUS.noPassive);
    return seeOther(ctx, `/login/step-up?${new URLSearchParams(await comeBack())}`);
  }
  if (decision.action === 'deny') {
    if (pending.flow === 'idp-initiated') {
      if (id !== undefined) await front.kv.delete(pendingKey(id));
      return errorFor(ctx, 403, 'Access denied', `You cannot use ${registered.app.displayName ?? registered.app.name}. If you think you should, give your administrator the reference below.`);
    }
    return answer(STATUS.responder, decision.reasons[0]?.code ?? 'denied', 'access denied', STATUS.requestDenied);
  }

  // Allowed; but an SP may ask for more than the policies demand (RequestedAuthnContext): what
  // cannot be given is NoAuthnContext (SAML Core §3.2.2.2), not a weaker assertion.
  const authnContext = chooseAuthnContext(authnContextClasses(authn), pending.requestedAuthnContext);
  if (!authnContext) {
    return answer(STATUS.responder, 'no_authn_context', 'the sign-in does not meet the requested authentication context', 'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext');
  }
  const identity = await front.identity(user, registered.sp, groups);
  if (!identity) return answer(STATUS.responder, 'no_name_id', 'the person has no value for the NameID format', 'urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy');
  if (!(await take())) return errorFor(ctx, 400, 'Sign-in expired', 'This sign-in request was already answered.');
  await front.refreshKeys(1000).catch(() => undefined);
  const sessionIndex = front.sessionIndex(current.session);
  const response = await loginResponse(front.entities, front.keys.current, front.algorithmFor(registered.sp), {
    idpEntityId: front.entityId,
    sp: registered.sp,
    acsUrl: pending.acsUrl,
    ...(pending.requestId ? { inResponseTo: pending.requestId } : {}),
    identity,
    authnInstant: authnInstant(authn, current.session.createdAt),
    authnContext,
    sessionIndex,
    sessionNotOnOrAfter: current.session.expiresAt,
    lifetimeSeconds: front.config.assertionLifetimeSeconds,
  });
  await addParticipant(front.kv, current.session, { app: registered.app.name, entityId: registered.sp.entityId, nameId: identity.nameId, nameIdFormat: identity.nameIdFormat, sessionIndex });
  await front.core.audit.record(front.auditContext(ctx, current.session), {
    type: 'saml.response.issued',
    outcome: 'success',
    target: { type: 'application', id: registered.app.id, name: registered.app.name },
    details: { flow: pending.flow, nameIdFormat: identity.nameIdFormat, encrypted: registered.sp.encryptAssertions, acs: pending.acsUrl, ...(pending.requestId ? { inResponseTo: pending.requestId } : {}) },
  });
  sendPost(ctx, pending.acsUrl, 'SAMLResponse', response.base64, pending.relayState);
}

async function cancelPage(front: SamlContext, ctx: Ctx, id: string): Promise<void> {
  const pending = await front.kv.get<Pending>(pendingKey(id));
  const registered = pending && (await front.byName(pending.app));
  if (!pending || !registered || !(await front.kv.consume(pendingKey(id)))) return errorFor(ctx, 400, 'Sign-in expired', 'This sign-in request has expired or was already answered.');
  if (pending.flow === 'idp-initiated') return seeOther(ctx, '/');
  return sendStatus(front, ctx, registered, pending, STATUS.responder, 'cancelled', 'the sign-in was cancelled', STATUS.requestDenied);
}

export async function continueRoute(front: SamlContext, ctx: Ctx, id: string, isCancel: boolean): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}/continue/:id${isCancel ? '/cancel' : ''}`;
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
  if (method !== (isCancel ? 'POST' : 'GET')) {
    ctx.set('Allow', isCancel ? 'POST' : 'GET, HEAD');
    return errorFor(ctx, 405, 'Method not allowed', 'This address does not take that method.');
  }
  return isCancel ? cancelPage(front, ctx, id) : continuePage(front, ctx, id);
}

/**
 * IdP-initiated SSO (SAML Profiles §4.1.5, unsolicited response): the portal's tile links here; the
 * response goes to the SP's default ACS, with no InResponseTo.
 */
export async function startRoute(front: SamlContext, ctx: Ctx, appName: string): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}/start/:app`;
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    return errorFor(ctx, 405, 'Method not allowed', 'This address does not take that method.');
  }
  const registered = await front.byName(appName);
  if (!registered) return errorFor(ctx, 404, 'Unknown application', 'There is no SAML application by this name.');
  const acs = registered.sp.acs.find((a) => a.isDefault) ?? [...registered.sp.acs].sort((a, b) => a.index - b.index)[0]!;
  const pending: Pending = { app: registered.app.name, flow: 'idp-initiated', acsUrl: acs.url, forceAuthn: false, isPassive: false, createdAt: Date.now() };
  // A HEAD (a link checker) never gets, nor audits, a response it would not show: it is parked.
  return ctx.method === 'GET' ? proceed(front, ctx, pending, undefined) : begin(front, ctx, pending);
}

/**
 * A refused inbound message: audited; a Requester status to the SP's registered default ACS when
 * inbound.ts says the message can be trusted that far, else an error page (400).
 */
export async function refuse(front: SamlContext, ctx: Ctx, err: SamlRequestError, message: string, binding: string): Promise<void> {
  await auditRefusal(front, ctx, err, message, binding);
  const registered = err.canRespond && err.sp ? await front.byEntityId(err.sp) : undefined;
  if (registered && message === 'AuthnRequest') {
    const acs = registered.sp.acs.find((a) => a.isDefault) ?? [...registered.sp.acs].sort((a, b) => a.index - b.index)[0]!;
    const xml = statusResponseXml({ idpEntityId: front.entityId, destination: acs.url, status: STATUS.requester, message: err.detail });
    return sendPost(ctx, acs.url, 'SAMLResponse', Buffer.from(signElement(xml, front.keys.current, front.algorithmFor(registered.sp))).toString('base64'), undefined);
  }
  return errorFor(ctx, 400, 'Sign-in request refused', 'The application sent a sign-in request Gatehouse cannot accept. Go back to the application and try again; if it keeps happening, give your administrator the reference below.');
}

/** SP-initiated SSO: an AuthnRequest on HTTP-Redirect (GET) or HTTP-POST (POST), validated by inbound.ts. */
export async function ssoRoute(front: SamlContext, ctx: Ctx, schema: SchemaValidator | undefined): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}/sso`;
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
  if (method !== 'GET' && method !== 'POST') {
    ctx.set('Allow', 'GET, HEAD, POST');
    return errorFor(ctx, 405, 'Method not allowed', 'This address does not take that method.');
  }
  const binding = method === 'GET' ? 'redirect' : 'post';
  let request: AuthnRequest;
  try {
    const msg = method === 'GET' ? decodeRedirect(ctx.querystring, 'SAMLRequest') : decodePost(await readSamlForm(ctx, front.config.maxMessageBytes * 2), 'SAMLRequest');
    request = await readAuthnRequest(msg, inboundOptions(front, '/sso', schema));
  } catch (err) {
    if (err instanceof SamlRequestError) return refuse(front, ctx, err, 'AuthnRequest', binding);
    throw err;
  }
  const registered = await front.byEntityId(request.issuer);
  if (!registered) return errorFor(ctx, 400, 'Unknown application', 'This application is no longer registered for single sign-on.');
  const pending: Pending = {
    app: registered.app.name,
    flow: 'sp-initiated',
    requestId: request.id,
    acsUrl: request.acs.url,
    ...(request.relayState !== undefined ? { relayState: request.relayState } : {}),
    forceAuthn: request.forceAuthn,
    isPassive: request.isPassive,
    ...(request.requestedAuthnContext ? { requestedAuthnContext: request.requestedAuthnContext } : {}),
    createdAt: Date.now(),
  };
  // HTTP-Redirect is a top-level GET: the SameSite=Lax session cookie is here, answer at once. An
  // HTTP-POST from the SP's site comes without it: the request waits for a GET of its own (as does
  // a HEAD, which never gets, nor audits, a response it would not show).
  return ctx.method === 'GET' ? proceed(front, ctx, pending, undefined) : begin(front, ctx, pending);
}
