/**
 * The sign-in flow (the contract OIDC and SAML build on):
 *
 *   GET  /login?return_to=&resource=&force=1   password page (and passkey button); a live session without force → 303 return_to
 *   POST /login                                password → access decision → allow: session, 303 return_to
 *                                                                          → mfa: pending sign-in, 303 /login/mfa
 *                                                                          → deny: 403 page with a reference
 *   POST /login/passkey/options  (JSON)        challenge for a usernameless passkey sign-in
 *   POST /login/passkey                        passkey assertion → the same decision steps as a password
 *   GET  /login/mfa                            the second-factor page: the methods the decision accepts that the user has
 *   POST /login/mfa                            TOTP or recovery code → decision again → session (or step-up) → 303 return_to
 *   POST /login/mfa/webauthn/options (JSON)    challenge bound to the pending user
 *   POST /login/mfa/webauthn                   security key or passkey as the second factor
 *   GET  /login/step-up?return_to=&resource=   decide with the session's factors; mfa → the MFA page, then the session is
 *                                              elevated (token rotated) → 303 return_to
 *   GET  /logout, POST /logout                 confirm, then end the session everywhere (core.sessions.end) → signed-out page
 *                                              (through the applications told in the browser first: core.sessions.signOutPath)
 *
 * Every POST checks its CSRF token first, every credential POST answers 303 on success, and the
 * state between the factors is a pending sign-in in the shared store (pending.ts).
 */
import type { AuthMethod, Decision, SecondFactor } from '../../src/access/types.ts';
import type { Decided, Presented, SignInResult } from '../../src/authn/attempt.ts';
import type { Device, Protocol, User } from '../../src/directory/model.ts';
import type { Session } from '../../src/sessions/service.ts';
import { audit, auditContext, decideForSession, render, rememberPortalAllowed, seeOther, signInContext, type Web } from './context.ts';
import { CSRF_FIELD, CSRF_HEADER } from './csrf.ts';
import { clearCookie, originOf, readForm, readJsonBody, securityHeaders, WebError, type Ctx, type Form } from './http.ts';
import { parseResource, safeCancel, safeReturnTo, signInQuery, type SignInParams, type SignInResource } from './params.ts';
import { SIGNIN_COOKIE, type PendingSignIn } from './pending.ts';
import { clearSessionCookie, currentSession, setSessionCookie } from '../../src/http/session-cookie.ts';
import { deniedPage, loginPage, logoutConfirmPage, mfaPage, signedOutPage, type MfaChoices } from './views.ts';

/** WebAuthn responses carry base64url blobs; the rest of the forms are small. */
const WEBAUTHN_FORM_BYTES = 64 * 1024;
const JSON_BYTES = 4 * 1024;
/** WebAuthn challenges one client address may ask for per minute (each is a row in the store). */
const CHALLENGES_PER_MINUTE = 60;

type Authn = Array<{ method: AuthMethod; at: string }>;

// ---------------------------------------------------------------------------------------------
// Parameters

function paramsFrom(get: (name: string) => unknown): SignInParams {
  const resource = parseResource(get('resource'));
  if (!resource) throw new WebError(400, 'Bad request', 'The link you followed names something that cannot be signed in to.');
  const cancel = safeCancel(get('cancel'));
  return { returnTo: safeReturnTo(get('return_to')), resource, force: get('force') === '1', ...(cancel ? { cancel } : {}) };
}

const queryParams = (ctx: Ctx) => paramsFrom((name) => ctx.query[name]);
const formParams = (form: Form) => paramsFrom((name) => form.get(name));

/**
 * The origins a sign-in for this resource may be redirected on to after the form is posted: the
 * application's redirect URIs (Chrome applies the CSP form-action to the whole redirect chain).
 */
async function formActionFor(web: Web, resource: SignInResource): Promise<string[]> {
  if (resource === 'portal') return [];
  const app = await web.core.directory.applications.byName(resource.slice(4));
  const uris = app?.settings.redirectUris;
  if (!Array.isArray(uris)) return [];
  return [...new Set(uris.map(formActionSource).filter((o): o is string => o !== undefined))].slice(0, 32);
}

/** A CSP source for a redirect URI: its origin, or for a native app's private-use scheme the scheme. */
function formActionSource(uri: unknown): string | undefined {
  const origin = originOf(uri);
  if (origin || typeof uri !== 'string') return origin;
  const scheme = /^([a-z][a-z0-9+.-]{0,63}):/i.exec(uri)?.[1]?.toLowerCase();
  return scheme && !['javascript', 'data', 'blob', 'file', 'filesystem', 'vbscript'].includes(scheme) ? `${scheme}:` : undefined;
}

async function signInHeaders(web: Web, ctx: Ctx, resource: SignInResource): Promise<void> {
  securityHeaders(ctx, await formActionFor(web, resource));
}

// ---------------------------------------------------------------------------------------------
// Password

export async function getLogin(web: Web, ctx: Ctx): Promise<void> {
  const params = queryParams(ctx);
  const current = await currentSession(web.core, ctx);
  if (current && !params.force) return seeOther(ctx, params.returnTo);
  await signInHeaders(web, ctx, params.resource);
  render(ctx, 200, loginPage({ params, csrf: await web.csrf.anonymousToken(ctx), ...(current ? { signedInAs: current.session.username } : {}) }));
}

export async function postLogin(web: Web, ctx: Ctx): Promise<void> {
  const form = await readForm(ctx, web.config.maxFormBytes);
  await web.csrf.checkAnonymous(ctx, form.get(CSRF_FIELD));
  const params = formParams(form);
  await signInHeaders(web, ctx, params.resource);
  const username = form.get('username') ?? '';
  const result = await web.core.signIn.attempt({ ...signInContext(web, ctx), presented: { kind: 'password', login: username, password: form.get('password') ?? '' }, resource: params.resource });
  if (result.ok) return proceed(web, ctx, result, params);
  const again = async (status: number, error: string) =>
    render(ctx, status, loginPage({ params, csrf: await web.csrf.anonymousToken(ctx), username: username.slice(0, 256), error }));
  if (result.reason.code === 'suspended') return denied(ctx, params);
  if (result.reason.code === 'store_unavailable') throw unavailable();
  if (result.retryAfterSeconds !== undefined) {
    ctx.set('Retry-After', String(result.retryAfterSeconds));
    return again(429, `Too many failed attempts. Wait ${waitText(result.retryAfterSeconds)} before trying again.`);
  }
  return again(401, 'Wrong username or password.');
}

// ---------------------------------------------------------------------------------------------
// Passkey (usernameless)

export async function postPasskeyOptions(web: Web, ctx: Ctx): Promise<void> {
  await web.csrf.checkAnonymous(ctx, ctx.get(CSRF_HEADER));
  await readJsonBody(ctx, JSON_BYTES);
  await checkIpThrottle(web, ctx, 'passkey');
  await capChallenges(web, ctx);
  const { challengeId, options } = await web.core.webauthn.authenticationOptions(auditContext(ctx));
  ctx.body = { challengeId, options };
}

export async function postPasskey(web: Web, ctx: Ctx): Promise<void> {
  const form = await readForm(ctx, WEBAUTHN_FORM_BYTES);
  await web.csrf.checkAnonymous(ctx, form.get(CSRF_FIELD));
  const params = formParams(form);
  await signInHeaders(web, ctx, params.resource);
  await checkIpThrottle(web, ctx, 'passkey');
  const result = await web.core.signIn.attempt({ ...signInContext(web, ctx), presented: { kind: 'passkey', challengeId: form.get('challengeId') ?? '', response: parseCredential(form) }, resource: params.resource });
  if (result.ok) return proceed(web, ctx, result, params);
  const again = async (error: string) => render(ctx, 401, loginPage({ params, csrf: await web.csrf.anonymousToken(ctx), error }));
  // A passkey that did not verify the person is the person's own: it does not count against the address.
  if (result.reason.code === 'user_not_verified') return again('Your passkey did not verify you (PIN or biometrics). Sign in with your password.');
  await web.core.throttle.failure(ipKey(ctx, 'passkey'));
  if (result.reason.code === 'suspended') return denied(ctx, params);
  if (result.reason.code === 'store_unavailable') throw unavailable();
  return again('That passkey could not sign you in. Try again, or sign in with your password.');
}

// ---------------------------------------------------------------------------------------------
// After a factor: decide, then a session, the MFA page or a denial

/** What follows a first sign-in's decision: a session, the second-factor page, or a denial. */
async function proceed(web: Web, ctx: Ctx, result: Decided, params: SignInParams): Promise<void> {
  const { decision, user } = result;
  if (decision.action === 'allow') return startSession(web, ctx, user, params, result.proven, result.device?.device, result.protocol);
  if (decision.action === 'deny') return denied(ctx, params);
  return askForSecondFactor(web, ctx, { kind: 'login', userId: user.id, username: user.username, authn: result.proven, methods: decision.methods, params });
}

async function askForSecondFactor(web: Web, ctx: Ctx, pending: Omit<PendingSignIn, 'expiresAt'>): Promise<void> {
  const choices = await choicesFor(web, pending.userId, pending.methods);
  if (!choices.totp && !choices.webauthn) {
    // Nothing this person has is accepted: a dead end for now, which an administrator can open.
    clearCookie(ctx, SIGNIN_COOKIE);
    return denied(ctx, pending.params, 'This needs a second factor you have not set up (an authenticator app or a security key).');
  }
  await web.pending.start(ctx, pending);
  seeOther(ctx, '/login/mfa');
}

async function startSession(web: Web, ctx: Ctx, user: User, params: SignInParams, authn: Authn, device: Device | undefined, protocol: Protocol): Promise<void> {
  const previous = await currentSession(web.core, ctx);
  const { token, session } = await web.core.sessions.create({
    user,
    authn,
    ...(device ? { deviceId: device.id } : {}),
    ...(ctx.state.clientIp ? { ip: ctx.state.clientIp } : {}),
    ...(ctx.get('user-agent') ? { userAgent: ctx.get('user-agent') } : {}),
  });
  setSessionCookie(ctx, token, session.expiresAt - Date.now());
  clearCookie(ctx, SIGNIN_COOKIE);
  const actx = auditContext(ctx, user, protocol);
  await audit(web, actx, {
    type: 'session.started',
    outcome: 'success',
    target: { type: 'user', id: user.id, name: user.username },
    details: { session: session.handle.slice(0, 16), methods: authn.map((a) => a.method), resource: params.resource, ...(device ? { device: device.id } : {}) },
  });
  // Rotated at login: whatever session this browser had before is over.
  if (previous) await web.core.sessions.end(actx, previous.session.handle, 'logout');
  if (params.resource === 'portal') await rememberPortalAllowed(web, session.handle, user.id);
  seeOther(ctx, params.returnTo);
}

// ---------------------------------------------------------------------------------------------
// Second factor

export async function getMfa(web: Web, ctx: Ctx): Promise<void> {
  const { pending } = await requirePending(web, ctx);
  securityHeaders(ctx, await formActionFor(web, pending.params.resource));
  return showMfa(web, ctx, pending, 200);
}

async function showMfa(web: Web, ctx: Ctx, pending: PendingSignIn, status: number, error?: string): Promise<void> {
  const choices = await choicesFor(web, pending.userId, pending.methods);
  render(ctx, status, mfaPage({ username: pending.username, csrf: await web.csrf.anonymousToken(ctx), choices, params: pending.params, stepUp: pending.kind === 'step-up', ...(error ? { error } : {}) }));
}

export async function postMfaCode(web: Web, ctx: Ctx): Promise<void> {
  const form = await readForm(ctx, web.config.maxFormBytes);
  await web.csrf.checkAnonymous(ctx, form.get(CSRF_FIELD));
  const { id, pending } = await requirePending(web, ctx);
  securityHeaders(ctx, await formActionFor(web, pending.params.resource));
  if (!pending.methods.includes('totp')) throw new WebError(400, 'Bad request', 'This sign-in does not accept a code.');
  await checkIpThrottle(web, ctx, 'mfa');
  const result = await secondFactor(web, ctx, pending, { kind: 'totp', userId: pending.userId, code: form.get('code') ?? '' });
  if (result.ok) return secondFactorDone(web, ctx, id, result);
  if (result.reason.code === 'store_unavailable') throw unavailable();
  if (result.reason.code === 'suspended') return denied(ctx, pending.params);
  await web.core.throttle.failure(ipKey(ctx, 'mfa'));
  if (result.reason.code === 'throttled') throw tooMany(result.retryAfterSeconds ?? 60);
  return wrongAnswer(web, ctx, id, pending, result.reason.code === 'replayed' ? 'That code was used already. Wait for the next one.' : 'That code did not work. Try the current one.');
}

export async function postMfaWebAuthnOptions(web: Web, ctx: Ctx): Promise<void> {
  await web.csrf.checkAnonymous(ctx, ctx.get(CSRF_HEADER));
  await readJsonBody(ctx, JSON_BYTES);
  const { pending } = await requirePending(web, ctx);
  if (!pending.methods.includes('webauthn')) throw new WebError(400, 'Bad request', 'This sign-in does not accept a security key.');
  await checkIpThrottle(web, ctx, 'mfa');
  await capChallenges(web, ctx);
  const user = await web.core.directory.users.byId(pending.userId);
  if (!user) throw expired();
  const { challengeId, options } = await web.core.webauthn.authenticationOptions(auditContext(ctx, user), user);
  ctx.body = { challengeId, options };
}

export async function postMfaWebAuthn(web: Web, ctx: Ctx): Promise<void> {
  const form = await readForm(ctx, WEBAUTHN_FORM_BYTES);
  await web.csrf.checkAnonymous(ctx, form.get(CSRF_FIELD));
  const { id, pending } = await requirePending(web, ctx);
  securityHeaders(ctx, await formActionFor(web, pending.params.resource));
  if (!pending.methods.includes('webauthn')) throw new WebError(400, 'Bad request', 'This sign-in does not accept a security key.');
  await checkIpThrottle(web, ctx, 'mfa');
  const result = await secondFactor(web, ctx, pending, { kind: 'webauthn', userId: pending.userId, challengeId: form.get('challengeId') ?? '', response: parseCredential(form) });
  if (result.ok) return secondFactorDone(web, ctx, id, result);
  if (result.reason.code === 'store_unavailable') throw unavailable();
  if (result.reason.code === 'suspended') return denied(ctx, pending.params);
  await web.core.throttle.failure(ipKey(ctx, 'mfa'));
  return wrongAnswer(web, ctx, id, pending, 'That security key could not confirm it is you. Try again.');
}

async function wrongAnswer(web: Web, ctx: Ctx, id: string, pending: PendingSignIn, message: string): Promise<void> {
  if (await web.pending.failed(ctx, id)) return showMfa(web, ctx, pending, 401, message);
  throw new WebError(401, 'Sign-in stopped', 'Too many wrong answers. Start again.', {}, { href: `/login?${signInQuery(pending.params)}`, label: 'Sign in again' });
}

/** A second factor, presented to the core with the factors the pending sign-in (or the session) holds. */
function secondFactor(web: Web, ctx: Ctx, pending: PendingSignIn, presented: Extract<Presented, { kind: 'totp' | 'webauthn' }>): Promise<SignInResult> {
  return web.core.signIn.attempt({ ...signInContext(web, ctx), presented, proven: pending.authn, resource: pending.params.resource });
}

/**
 * A second factor was proven and the decision made with it: the pending sign-in is taken (once);
 * a first sign-in goes on as after its first factor, a step-up elevates the session and follows
 * the decision.
 */
async function secondFactorDone(web: Web, ctx: Ctx, id: string, result: Decided): Promise<void> {
  const pending = await web.pending.take(ctx, id);
  if (!pending || result.user.id !== pending.userId) throw expired();
  if (pending.kind === 'login') return proceed(web, ctx, result, pending.params);
  const user = result.user;
  const factor = result.proven[result.proven.length - 1]!;
  const current = await currentSession(web.core, ctx);
  if (!current || current.session.handle !== pending.sessionHandle) throw expired();
  const elevated = await web.core.sessions.elevate(current.token, [factor]);
  if (!elevated) throw expired();
  setSessionCookie(ctx, elevated.token, elevated.session.expiresAt - Date.now());
  await audit(web, auditContext(ctx, user, result.protocol), {
    type: 'session.elevated',
    outcome: 'success',
    target: { type: 'user', id: user.id, name: user.username },
    details: { session: elevated.session.handle.slice(0, 16), previous: current.session.handle.slice(0, 16), methods: [factor.method], resource: pending.params.resource },
  });
  return followSessionDecision(web, ctx, user, elevated.session, pending.params, result.decision);
}

// ---------------------------------------------------------------------------------------------
// Step-up

export async function getStepUp(web: Web, ctx: Ctx): Promise<void> {
  const params = queryParams(ctx);
  const current = await currentSession(web.core, ctx);
  if (!current) return seeOther(ctx, `/login?${signInQuery(params)}`);
  await signInHeaders(web, ctx, params.resource);
  const result = await decideForSession(web, ctx, current.session, params.resource);
  if (!result.ok || !result.user) throw expired();
  return followSessionDecision(web, ctx, result.user, current.session, params, result.decision);
}

/** What follows a signed-in person's decision: on to where they were going, a second factor, or a denial. */
async function followSessionDecision(web: Web, ctx: Ctx, user: User, session: Session, params: SignInParams, decision: Decision): Promise<void> {
  if (decision.action === 'deny') return denied(ctx, params, undefined, { name: session.username, csrf: await web.csrf.sessionToken(session.handle) });
  if (decision.action === 'allow') {
    if (params.resource === 'portal') await rememberPortalAllowed(web, session.handle, user.id);
    return seeOther(ctx, params.returnTo);
  }
  return askForSecondFactor(web, ctx, { kind: 'step-up', userId: user.id, username: user.username, authn: session.authn, methods: decision.methods, params, sessionHandle: session.handle });
}

// ---------------------------------------------------------------------------------------------
// Logout

export async function getLogout(web: Web, ctx: Ctx): Promise<void> {
  securityHeaders(ctx);
  const current = await currentSession(web.core, ctx);
  if (!current) return render(ctx, 200, signedOutPage());
  render(ctx, 200, logoutConfirmPage({ name: current.session.username, csrf: await web.csrf.sessionToken(current.session.handle) }));
}

export async function postLogout(web: Web, ctx: Ctx): Promise<void> {
  securityHeaders(ctx);
  const form = await readForm(ctx, web.config.maxFormBytes);
  const current = await currentSession(web.core, ctx);
  let next: string | undefined;
  if (current) {
    await web.csrf.checkSession(current.session.handle, form.get(CSRF_FIELD));
    // Applications told in the browser (SAML Single Logout) get their turn first; they finish at /logout/done.
    next = await web.core.sessions.signOutPath(current.session);
    await web.core.sessions.end(auditContext(ctx, { id: current.session.userId, username: current.session.username }), current.session.handle, 'logout');
  }
  clearSessionCookie(ctx);
  seeOther(ctx, next ?? '/logout/done');
}

export async function getSignedOut(_web: Web, ctx: Ctx): Promise<void> {
  securityHeaders(ctx);
  render(ctx, 200, signedOutPage());
}

// ---------------------------------------------------------------------------------------------
// Shared steps

async function choicesFor(web: Web, userId: string, methods: readonly SecondFactor[]): Promise<MfaChoices> {
  const [status, keys] = await Promise.all([web.core.totp.status(userId), web.core.webauthn.list(userId)]);
  const totp = methods.includes('totp') && status.totp === 'active';
  return { totp, recovery: totp && status.recoveryCodesLeft > 0, webauthn: methods.includes('webauthn') && keys.length > 0 };
}

async function requirePending(web: Web, ctx: Ctx): Promise<{ id: string; pending: PendingSignIn }> {
  const found = await web.pending.current(ctx);
  if (!found) throw expired();
  return found;
}

/** The denial page: 403, generic words, the request id as the reference (the audit event carries it too). */
async function denied(ctx: Ctx, params: SignInParams, message?: string, signedInAs?: { name: string; csrf: string }): Promise<void> {
  clearCookie(ctx, SIGNIN_COOKIE);
  render(ctx, 403, deniedPage({ reference: ctx.state.requestId, ...(message ? { message } : {}), ...(signedInAs ? { signedInAs } : {}), ...(params.cancel ? { cancel: params.cancel } : {}) }));
}

/** The WebAuthn credential a form carries as JSON; anything unreadable goes to the core as is and is refused there. */
function parseCredential(form: Form): unknown {
  const raw = form.get('response') ?? '';
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** Per-client-address limits on the second-factor and passkey steps, through the shared throttle. */
const ipKey = (ctx: Ctx, step: 'mfa' | 'passkey') => ({ kind: step, ip: ctx.state.clientIp ?? 'unknown' });

async function checkIpThrottle(web: Web, ctx: Ctx, step: 'mfa' | 'passkey'): Promise<void> {
  const verdict = await web.core.throttle.check(ipKey(ctx, step));
  if (!verdict.allowed) throw tooMany(verdict.retryAfterSeconds);
}

/** A fixed one-minute window per client address on handing out sign-in challenges. */
async function capChallenges(web: Web, ctx: Ctx): Promise<void> {
  const minute = Math.floor(Date.now() / 60_000);
  const counter = await web.core.kv('web').increment(`challenges:${ctx.state.clientIp ?? 'unknown'}:${minute}`, 120);
  if (counter.count > CHALLENGES_PER_MINUTE) throw tooMany(60 - Math.floor((Date.now() / 1000) % 60));
}

function tooMany(retryAfterSeconds: number): WebError {
  return new WebError(429, 'Too many attempts', `Too many attempts from your network. Wait ${waitText(retryAfterSeconds)} and try again.`, { 'Retry-After': String(retryAfterSeconds) });
}

function waitText(seconds: number): string {
  return seconds < 90 ? `${seconds} second${seconds === 1 ? '' : 's'}` : `${Math.ceil(seconds / 60)} minutes`;
}

function expired(): WebError {
  return new WebError(400, 'Sign-in expired', 'This sign-in has expired or was completed already. Start again.', {}, { href: '/login', label: 'Sign in' });
}

function unavailable(): WebError {
  return new WebError(503, 'Sign-in unavailable', 'Signing in is not possible right now. Try again in a few minutes.');
}

