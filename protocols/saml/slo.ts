/**
 * Single Logout (SAML Profiles §4.4), SP-initiated, front-channel:
 *
 *   GET|POST /saml/slo  SAMLRequest   a LogoutRequest from an SP (validated by inbound.ts). Unsigned, it
 *                                     is believed only when it names the NameID this browser's session
 *                                     gave that SP. The Gatehouse session ends at once (core.sessions:
 *                                     the OIDC clients get their back-channel logout), then the other SPs
 *                                     of the session are told one after another:
 *   GET  /saml/slo/next/:id           sends the next SP a signed LogoutRequest (its SLO binding), with
 *                                     RelayState = the logout's id; when none is left, the LogoutResponse
 *                                     to the SP that asked (Success, or PartialLogout when one failed)
 *   GET|POST /saml/slo  SAMLResponse  an SP's LogoutResponse to our LogoutRequest: matched by RelayState
 *                                     and InResponseTo, then on to the next
 *
 * IdP-initiated: signing out on the sign-in pages (POST /logout) starts the same chain without an
 * initiator (startSignOut, a core.sessions.onSignOut step); it ends at /logout/done.
 *
 * The logout in progress lives in the TTL store (the list of SPs copied from the ended session) for
 * saml.requestLifetimeSeconds.
 */
import { randomBytes } from 'node:crypto';
import { clearSessionCookie } from '../../src/http/session-cookie.ts';
import type { Session } from '../../src/sessions/service.ts';
import { MOUNT_PATH, type Ctx, type SamlContext } from './context.ts';
import { decodePost, decodeRedirect, readLogoutRequest, readLogoutResponse, SamlRequestError, type InboundMessage } from './inbound.ts';
import { inboundOptions, readSamlForm } from './inbound-http.ts';
import { logoutRequestXml, logoutResponseXml, redirectUrl, STATUS } from './messages.ts';
import { signElement } from './xml-sign.ts';
import { participantsOf, type Participant } from './participants.ts';
import { errorFor, refuse, seeOther, sendPost } from './sso.ts';
import type { SchemaValidator } from './xml-schema.ts';

export const SLO_NEXT = /^\/slo\/next\/([A-Za-z0-9_-]{22})$/;

interface Logout {
  initiator?: { app: string; requestId: string; relayState?: string };
  remaining: Participant[];
  notified: string[];
  partial: boolean;
  /** Our LogoutRequest waiting for its answer. */
  waiting?: { app: string; entityId: string; requestId: string };
  user: { id: string; name: string };
}

const logoutKey = (id: string) => `logout:${id}`;

/** A message to an SP's SLO endpoint, on its binding: a signed redirect, or a signed POST form. */
async function sendToSlo(front: SamlContext, ctx: Ctx, app: string, field: 'SAMLRequest' | 'SAMLResponse', xml: string, relayState: string | undefined): Promise<boolean> {
  const registered = await front.byName(app);
  const slo = registered?.sp.slo;
  if (!registered || !slo) return false;
  const algorithm = front.algorithmFor(registered.sp);
  if (slo.binding === 'redirect') seeOther(ctx, redirectUrl(slo.url, field, xml, relayState, front.keys.current, algorithm));
  else sendPost(ctx, slo.url, field, Buffer.from(signElement(xml, front.keys.current, algorithm)).toString('base64'), relayState);
  return true;
}

async function readMessage(front: SamlContext, ctx: Ctx): Promise<InboundMessage> {
  if (ctx.method === 'GET' || ctx.method === 'HEAD') {
    const param = /(^|&)SAMLResponse=/.test(ctx.querystring) ? 'SAMLResponse' : 'SAMLRequest';
    return decodeRedirect(ctx.querystring, param);
  }
  const form = await readSamlForm(ctx, front.config.maxMessageBytes * 2);
  return decodePost(form, form.SAMLResponse !== undefined ? 'SAMLResponse' : 'SAMLRequest');
}

export async function sloRoute(front: SamlContext, ctx: Ctx, schema: SchemaValidator | undefined): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}/slo`;
  if (!['GET', 'HEAD', 'POST'].includes(ctx.method)) {
    ctx.set('Allow', 'GET, HEAD, POST');
    return errorFor(ctx, 405, 'Method not allowed', 'This address does not take that method.');
  }
  const binding = ctx.method === 'POST' ? 'post' : 'redirect';
  let msg: InboundMessage | undefined;
  try {
    msg = await readMessage(front, ctx);
    const options = inboundOptions(front, '/slo', schema);
    if (msg.param === 'SAMLResponse') return await logoutResponse(front, ctx, await readLogoutResponse(msg, options));
    return await logoutRequest(front, ctx, await readLogoutRequest(msg, options));
  } catch (err) {
    if (err instanceof SamlRequestError) return refuse(front, ctx, err, msg?.param === 'SAMLResponse' ? 'LogoutResponse' : 'LogoutRequest', binding);
    throw err;
  }
}

async function logoutRequest(front: SamlContext, ctx: Ctx, request: Awaited<ReturnType<typeof readLogoutRequest>>): Promise<void> {
  const registered = await front.byEntityId(request.issuer);
  if (!registered) return errorFor(ctx, 400, 'Unknown application', 'This application is no longer registered.');
  const answer = async (status: string) => {
    const xml = logoutResponseXml({ idpEntityId: front.entityId, destination: registered.sp.slo?.url ?? '', inResponseTo: request.id, status });
    if (!(await sendToSlo(front, ctx, registered.app.name, 'SAMLResponse', xml, request.relayState))) errorFor(ctx, 200, 'Signed out', 'You are signed out.');
  };
  const current = await front.sessionOf(ctx);
  const participants = current ? await participantsOf(front.kv, current.session) : [];
  const me = participants.find((p) => p.app === registered.app.name && p.nameId === request.nameId.value && (request.sessionIndexes.length === 0 || request.sessionIndexes.includes(p.sessionIndex)));
  // Nothing to end here: this browser has no session (or not the one the SP names). Signed, the
  // request is answered Success (the person is signed out of Gatehouse in this browser); unsigned
  // and not matching, it proves nothing (SAML Profiles §4.4.3.1: the IdP must authenticate it).
  if (!current || !me) return answer(request.signed || !current ? STATUS.success : STATUS.requester);

  const actx = front.auditContext(ctx, current.session);
  await front.core.sessions.end(actx, current.session.handle, 'logout');
  clearSessionCookie(ctx);
  const id = randomBytes(16).toString('base64url');
  const logout: Logout = {
    initiator: { app: registered.app.name, requestId: request.id, ...(request.relayState !== undefined ? { relayState: request.relayState } : {}) },
    remaining: participants.filter((p) => p.app !== registered.app.name),
    notified: [],
    partial: false,
    user: { id: current.session.userId, name: current.session.username },
  };
  await front.kv.put(logoutKey(id), logout, front.config.requestLifetimeSeconds);
  return seeOther(ctx, `${MOUNT_PATH}/slo/next/${id}`);
}

async function logoutResponse(front: SamlContext, ctx: Ctx, response: Awaited<ReturnType<typeof readLogoutResponse>>): Promise<void> {
  const id = response.relayState;
  const logout = id && /^[A-Za-z0-9_-]{22}$/.test(id) ? await front.kv.get<Logout>(logoutKey(id)) : undefined;
  // Only the answer to the request we sent moves the logout on.
  if (!id || !logout?.waiting || logout.waiting.entityId !== response.issuer || logout.waiting.requestId !== response.inResponseTo) {
    return errorFor(ctx, 400, 'Sign-out expired', 'This sign-out has expired or was already finished.');
  }
  const next: Logout = { ...logout, partial: logout.partial || !response.success };
  delete next.waiting;
  await front.kv.put(logoutKey(id), next, front.config.requestLifetimeSeconds);
  return seeOther(ctx, `${MOUNT_PATH}/slo/next/${id}`);
}

/**
 * IdP-initiated Single Logout: the person signs out on the sign-in pages (core.sessions.signOutPath,
 * asked before the session ends). The SPs of the session are copied into a logout, told one after
 * another by /saml/slo/next/:id, which ends at /logout/done. The id is the logout's only handle: 128
 * random bits given to this browser alone, so the path cannot be forged by another site.
 */
export async function startSignOut(front: SamlContext, session: Session): Promise<string | undefined> {
  const participants = await participantsOf(front.kv, session);
  if (participants.length === 0) return undefined;
  const id = randomBytes(16).toString('base64url');
  const logout: Logout = { remaining: participants, notified: [], partial: false, user: { id: session.userId, name: session.username } };
  await front.kv.put(logoutKey(id), logout, front.config.requestLifetimeSeconds);
  return `${MOUNT_PATH}/slo/next/${id}`;
}

export async function sloNextRoute(front: SamlContext, ctx: Ctx, id: string): Promise<void> {
  ctx.state.route = `${MOUNT_PATH}/slo/next/:id`;
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.set('Allow', 'GET, HEAD');
    return errorFor(ctx, 405, 'Method not allowed', 'This address does not take that method.');
  }
  const logout = await front.kv.get<Logout>(logoutKey(id));
  if (!logout) return errorFor(ctx, 400, 'Sign-out expired', 'This sign-out has expired or was already finished.');
  let { remaining, partial } = logout;
  // An SP that did not answer the request we sent it (the browser came back here) did not confirm.
  if (logout.waiting) partial = true;
  while (remaining.length > 0) {
    const [target, ...rest] = remaining as [Participant, ...Participant[]];
    remaining = rest;
    const registered = await front.byName(target.app);
    if (!registered?.sp.slo) continue;
    const request = logoutRequestXml({ idpEntityId: front.entityId, destination: registered.sp.slo.url, nameId: target.nameId, nameIdFormat: target.nameIdFormat, spEntityId: target.entityId, sessionIndex: target.sessionIndex, lifetimeSeconds: front.config.requestLifetimeSeconds });
    const next: Logout = { ...logout, remaining, partial, notified: [...logout.notified, target.app], waiting: { app: target.app, entityId: target.entityId, requestId: request.id } };
    await front.kv.put(logoutKey(id), next, front.config.requestLifetimeSeconds);
    await sendToSlo(front, ctx, target.app, 'SAMLRequest', request.xml, id);
    return;
  }
  // Everyone was told: the answer to the SP that asked.
  if (!(await front.kv.consume(logoutKey(id)))) return errorFor(ctx, 400, 'Sign-out expired', 'This sign-out was already finished.');
  await front.core.audit.record({ ...front.auditContext(ctx), actor: { type: 'user', id: logout.user.id, name: logout.user.name } }, {
    type: 'saml.logout',
    outcome: partial ? 'failure' : 'success',
    ...(logout.initiator ? { target: { type: 'application', name: logout.initiator.app } } : {}),
    details: { initiator: logout.initiator?.app ?? 'gatehouse', notified: logout.notified, partial },
  });
  if (!logout.initiator) return seeOther(ctx, '/logout/done');
  const initiator = await front.byName(logout.initiator.app);
  const xml = logoutResponseXml({ idpEntityId: front.entityId, destination: initiator?.sp.slo?.url ?? '', inResponseTo: logout.initiator.requestId, status: STATUS.success, ...(partial ? { subStatus: STATUS.partialLogout } : {}) });
  if (!(await sendToSlo(front, ctx, logout.initiator.app, 'SAMLResponse', xml, logout.initiator.relayState))) return seeOther(ctx, '/logout/done');
}
