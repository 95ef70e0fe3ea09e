/**
 * The user portal: what a signed-in person sees and manages themselves.
 *
 *   GET  /                                the applications assigned to the person's groups, with launch links
 *   GET  /account                         profile; POST /account/password (current password, policy, other sessions end)
 *   GET  /account/security                TOTP, security keys and passkeys, recovery codes
 *   POST /account/totp/enrol              → GET /account/security/totp (QR code) → POST /account/totp/confirm
 *   POST /account/recovery-codes          new codes → GET /account/security/recovery-codes (shown once)
 *   POST /account/network-password       a new WiFi network password → GET /account/security/network-password (shown once)
 *   POST /account/webauthn/options (JSON) → POST /account/webauthn (register); POST /account/webauthn/remove
 *   GET  /account/sessions                own sessions (revoke others: POST /account/sessions/revoke), live network connections (RADIUS accounting) and devices
 *
 * Every page needs a session and the portal's own access decision (resource `portal`, remembered
 * per session for a few minutes); every POST needs the session's CSRF token; changing sign-in
 * methods needs a recent sign-in (`web.reauthMinutes`). Secrets shown once (a new TOTP seed,
 * recovery codes) pass from the POST to the page that shows them encrypted in the shared store,
 * so every credential POST can answer 303.
 */
import type { Application, Device, User } from '../../src/directory/model.ts';
import { ValidationError } from '../../src/directory/service.ts';
import { TotpError } from '../../src/mfa/totp.ts';
import { WebAuthnRegistrationError } from '../../src/mfa/webauthn.ts';
import { AlreadyExistsError, NotFoundError } from '../../src/errors.ts';
import type { Session } from '../../src/sessions/service.ts';
import { auditContext, decideForSession, portalAllowed, rememberPortalAllowed, render, seeOther, type Web } from './context.ts';
import { CSRF_FIELD, CSRF_HEADER } from './csrf.ts';
import { html, page, raw, type SafeHtml } from '../../src/http/html.ts';
import { originOf, readForm, readJsonBody, securityHeaders, WebError, type Ctx, type Form } from './http.ts';
import { safeReturnTo, signInQuery } from './params.ts';
import { currentSession } from '../../src/http/session-cookie.ts';
import { alert, deniedPage, hidden, WEBAUTHN_SCRIPT, webauthnForm } from './views.ts';

const WEBAUTHN_FORM_BYTES = 64 * 1024;
const FLASH_PURPOSE = 'web-flash';

interface Signed {
  session: Session;
  token: string;
  user: User;
  csrf: string;
}

// ---------------------------------------------------------------------------------------------
// The gate

/**
 * The signed-in person for a portal request, or undefined when the answer (a redirect to sign in,
 * a step-up, a denial) has been given already.
 */
async function signedIn(web: Web, ctx: Ctx): Promise<Signed | undefined> {
  securityHeaders(ctx);
  const returnTo = ctx.method === 'GET' ? safeReturnTo(ctx.originalUrl) : '/';
  const current = await currentSession(web.core, ctx);
  if (!current) {
    seeOther(ctx, `/login?${signInQuery({ returnTo, resource: 'portal', force: false })}`);
    return undefined;
  }
  const { session, token } = current;
  const user = await web.core.directory.users.byId(session.userId);
  if (!user) {
    seeOther(ctx, `/login?${signInQuery({ returnTo, resource: 'portal', force: true })}`);
    return undefined;
  }
  const csrf = await web.csrf.sessionToken(session.handle);
  if (!(await portalAllowed(web, session.handle))) {
    const result = await decideForSession(web, ctx, session, 'portal');
    const decision = result.ok ? result.decision : { action: 'deny' as const };
    if (decision.action === 'mfa') {
      seeOther(ctx, `/login/step-up?${signInQuery({ returnTo, resource: 'portal', force: false })}`);
      return undefined;
    }
    if (decision.action === 'deny') {
      render(ctx, 403, deniedPage({ reference: ctx.state.requestId, message: 'You cannot use the portal right now.', signedInAs: { name: user.displayName ?? user.username, csrf } }));
      return undefined;
    }
    await rememberPortalAllowed(web, session.handle, user.id);
  }
  return { session, token, user, csrf };
}

/** For POSTs: the gate, then the form and its CSRF token. */
async function signedInForm(web: Web, ctx: Ctx, maxBytes = web.config.maxFormBytes): Promise<{ me: Signed; form: Form } | undefined> {
  const me = await signedIn(web, ctx);
  if (!me) return undefined;
  const form = await readForm(ctx, maxBytes);
  await web.csrf.checkSession(me.session.handle, form.get(CSRF_FIELD));
  return { me, form };
}

/** Changing sign-in methods needs a recent sign-in: a stolen session must not add its own key. */
function recentlySignedIn(web: Web, session: Session): boolean {
  const newest = Math.max(...session.authn.map((a) => Date.parse(a.at)));
  return Date.now() - newest <= web.config.reauthMinutes * 60_000;
}

const REAUTH_URL = `/login?${signInQuery({ returnTo: '/account/security', resource: 'portal', force: true })}`;

function view(ctx: Ctx, me: Signed, title: string, section: string, body: SafeHtml, options: { status?: number; scripts?: string[] } = {}): void {
  const tabs: Array<[string, string, string]> = [['/', 'Applications', 'apps'], ['/account', 'Account', 'account'], ['/account/security', 'Security', 'security'], ['/account/sessions', 'Sessions and devices', 'sessions']];
  const nav = html`<nav class="tabs" aria-label="Portal">${tabs.map(([href, label, key]) => html`<a href="${href}"${key === section ? raw(' aria-current="page"') : ''}>${label}</a>`)}</nav>`;
  render(ctx, options.status ?? 200, page({ title, body: html`${nav}${body}`, signedInAs: { name: me.user.displayName ?? me.user.username, csrf: me.csrf }, ...(options.scripts ? { scripts: options.scripts } : {}) }));
}

const DONE: Record<string, string> = {
  password: 'Your password was changed. Your other sessions were signed out.',
  totp: 'Your authenticator app is set up.',
  'key-added': 'The security key or passkey was added.',
  'key-removed': 'The security key or passkey was removed.',
  revoked: 'The session was signed out.',
};

function notice(ctx: Ctx): SafeHtml {
  const key = typeof ctx.query.done === 'string' ? ctx.query.done : undefined;
  const text = key ? DONE[key] : undefined;
  return text ? html`<p class="notice" role="status">${text}</p>` : html``;
}

const when = (iso: string | number | undefined) => {
  if (iso === undefined) return html`<span class="muted">never</span>`;
  const date = new Date(iso);
  return html`<time datetime="${date.toISOString()}">${date.toISOString().slice(0, 16).replace('T', ' ')} UTC</time>`;
};

// ---------------------------------------------------------------------------------------------
// Applications

export async function getHome(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (!me) return;
  const [groups, apps] = await Promise.all([web.core.directory.users.groupsOf(me.user.id), web.core.directory.applications.all()]);
  const mine = new Set(groups.map((g) => g.name));
  const assigned = apps.filter((app) => app.groups.some((g) => mine.has(g)));
  const body = html`${assigned.length === 0
    ? html`<p class="muted">No applications are assigned to you yet.</p>`
    : html`<ul class="apps">${assigned.map((app) => appCard(app))}</ul>`}`;
  view(ctx, me, 'Your applications', 'apps', body);
}

function appCard(app: Pick<Application, 'name' | 'type' | 'displayName' | 'description' | 'settings'>): SafeHtml {
  const launch = launchUrl(app);
  const name = app.displayName ?? app.name;
  return html`<li class="app">
<h2>${name}</h2>
${app.description ? html`<p class="muted">${app.description}</p>` : ''}
${launch ? html`<a class="button primary" href="${launch}" rel="noopener" aria-label="Open ${name}">Open</a>` : html`<p class="muted">Open it from the application itself.</p>`}
</li>`;
}

/**
 * Where the launch button goes: a SAML application's IdP-initiated sign-in (/saml/start/<name>, the
 * SAML front-end's path), else the OIDC third-party login URI, else the application's URL; http(s) only.
 */
function launchUrl(app: Pick<Application, 'name' | 'type' | 'settings'>): string | undefined {
  if (app.type === 'saml') return `/saml/start/${encodeURIComponent(app.name)}`;
  for (const value of [app.settings.initiateLoginUri, app.settings.url]) {
    if (originOf(value)) return value as string;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Account and password

export async function getAccount(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (me) showAccount(web, ctx, me, 200, notice(ctx));
}

function showAccount(web: Web, ctx: Ctx, me: Signed, status: number, message: SafeHtml, problems: string[] = []): void {
  const { user } = me;
  const policy = web.core.config.passwords.policy;
  const body = html`${message}
<section class="card">
<h2>Profile</h2>
<dl class="facts">
<dt>Username</dt><dd>${user.username}</dd>
${user.displayName ? html`<dt>Name</dt><dd>${user.displayName}</dd>` : ''}
${user.email ? html`<dt>E-mail</dt><dd>${user.email}</dd>` : ''}
</dl>
<p class="muted">Ask your administrator to change these.</p>
</section>
<section class="card">
<h2>Change your password</h2>
${problems.length ? html`<div class="alert" role="alert"><p>The password was not changed:</p><ul>${problems.map((p) => html`<li>${p}</li>`)}</ul></div>` : ''}
<form method="post" action="/account/password" class="stack">
${hidden(CSRF_FIELD, me.csrf)}
<input type="text" name="username" autocomplete="username" value="${user.username}" hidden>
<label for="current_password">Current password</label>
<input id="current_password" name="current_password" type="password" autocomplete="current-password" maxlength="1024" required>
<label for="new_password">New password</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="${policy.minLength}" maxlength="${policy.maxLength}" required aria-describedby="password-help">
<p id="password-help" class="muted">At least ${policy.minLength} characters. A few unrelated words make a good one; common and breached passwords are refused.</p>
<label for="confirm_password">New password again</label>
<input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" maxlength="${policy.maxLength}" required>
<button type="submit" class="primary">Change password</button>
</form>
<p class="muted">Your other sessions are signed out when the password changes.</p>
</section>`;
  view(ctx, me, 'Account', 'account', body, { status });
}

export async function postPassword(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me, form } = got;
  const audit = auditContext(ctx, me.user);
  const next = form.get('new_password') ?? '';
  if (next !== (form.get('confirm_password') ?? '')) return showAccount(web, ctx, me, 400, html``, ['The two new passwords are not the same.']);
  const changed = await web.core.signIn.changeOwnPassword(audit, { userId: me.user.id, current: form.get('current_password') ?? '', next, keepSession: me.session.handle });
  if (!changed.ok) {
    if (changed.retryAfterSeconds !== undefined) {
      ctx.set('Retry-After', String(changed.retryAfterSeconds));
      return showAccount(web, ctx, me, 429, html``, ['Too many failed attempts. Wait a while before trying again.']);
    }
    if (changed.reason.code === 'store_unavailable') throw new WebError(503, 'Unavailable', 'Your password cannot be changed right now. Try again in a few minutes.');
    return showAccount(web, ctx, me, 400, html``, changed.problems ?? ['Your current password is not right.']);
  }
  seeOther(ctx, '/account?done=password');
}

// ---------------------------------------------------------------------------------------------
// Security: TOTP, keys, recovery codes

export async function getSecurity(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (me) await showSecurity(web, ctx, me, 200, notice(ctx));
}

async function showSecurity(web: Web, ctx: Ctx, me: Signed, status: number, message: SafeHtml): Promise<void> {
  const [totp, keys, networkPassword] = await Promise.all([web.core.totp.status(me.user.id), web.core.webauthn.list(me.user.id), web.core.networkPasswords.status(me.user.id)]);
  const recent = recentlySignedIn(web, me.session);
  const body = html`${message}
${recent ? '' : html`<p class="notice">To add or remove sign-in methods, <a href="${REAUTH_URL}">sign in again</a> first (your sign-in is more than ${web.config.reauthMinutes} minutes old).</p>`}
<section class="card">
<h2>Authenticator app</h2>
${totp.totp === 'active'
    ? html`<p>An authenticator app is set up. Ask your administrator to reset it if you lose the device.</p>`
    : html`<p>Use an app such as Aegis, Google Authenticator or 1Password to make sign-in codes.</p>
<form method="post" action="/account/totp/enrol">${hidden(CSRF_FIELD, me.csrf)}<button type="submit" class="primary">${totp.totp === 'pending' ? 'Start again' : 'Set up an authenticator app'}</button></form>`}
</section>
<section class="card">
<h2>Security keys and passkeys</h2>
${keys.length === 0 ? html`<p class="muted">None yet.</p>` : html`<table class="list">
<thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${keys.map((key) => html`<tr>
<td>${key.name}</td><td>${key.discoverable ? 'passkey' : 'security key'}${key.backedUp ? ' (synced)' : ''}</td><td>${when(key.createdAt)}</td><td>${when(key.lastUsedAt)}</td>
<td><form method="post" action="/account/webauthn/remove">${hidden(CSRF_FIELD, me.csrf)}${hidden('id', key.id)}<button type="submit" class="link danger">Remove</button></form></td>
</tr>`)}</tbody></table>`}
${webauthnForm({
    action: '/account/webauthn', optionsUrl: '/account/webauthn/options', ceremony: 'create', csrf: me.csrf, label: 'Add a security key or passkey',
    fields: html`<label for="key-name">Name it</label><input id="key-name" name="name" maxlength="64" placeholder="e.g. YubiKey, laptop">`,
  })}
</section>
<section class="card">
<h2>Recovery codes</h2>
${totp.totp === 'active'
    ? html`<p>${totp.recoveryCodesLeft} of your recovery codes are left. Each signs you in once when you do not have your authenticator app.</p>
<form method="post" action="/account/recovery-codes">${hidden(CSRF_FIELD, me.csrf)}<button type="submit" class="secondary">Make new recovery codes</button></form>
<p class="muted">New codes replace all the old ones.</p>`
    : html`<p class="muted">You get recovery codes when you set up an authenticator app.</p>`}
</section>
<section class="card">
<h2>WiFi network password</h2>
<p>For WiFi that asks for a user name and password (PEAP with MSCHAPv2): a separate password Gatehouse makes for you, never your sign-in password.</p>
${networkPassword.networkPassword ? html`<p>You have one, made ${when(networkPassword.createdAt)}. A new one replaces it: your devices need the new one.</p>` : html`<p class="muted">You have none yet.</p>`}
<form method="post" action="/account/network-password">${hidden(CSRF_FIELD, me.csrf)}<button type="submit" class="secondary">${networkPassword.networkPassword ? 'Make a new network password' : 'Make a network password'}</button></form>
</section>`;
  view(ctx, me, 'Security', 'security', body, { status, scripts: [WEBAUTHN_SCRIPT] });
}

interface TotpFlash {
  secret: string;
  uri: string;
  qrSvg: string;
}

export async function postTotpEnrol(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me } = got;
  if (!recentlySignedIn(web, me.session)) return seeOther(ctx, REAUTH_URL);
  try {
    const enrolment = await web.core.totp.enrol(auditContext(ctx, me.user), me.user.id, me.user.email ?? me.user.username);
    await putFlash<TotpFlash>(web, me, 'totp', { secret: enrolment.secret, uri: enrolment.uri, qrSvg: enrolment.qrSvg }, web.config.signInMinutes * 60 * 2);
  } catch (err) {
    if (err instanceof TotpError && err.code === 'already_active') return seeOther(ctx, '/account/security');
    throw err;
  }
  seeOther(ctx, '/account/security/totp');
}

export async function getTotp(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (!me) return;
  const flash = await getFlash<TotpFlash>(web, me, 'totp', false);
  const status = await web.core.totp.status(me.user.id);
  if (!flash || status.totp !== 'pending') return seeOther(ctx, '/account/security');
  showTotp(ctx, me, flash, 200);
}

function showTotp(ctx: Ctx, me: Signed, flash: TotpFlash, status: number, error?: string): void {
  const grouped = flash.secret.match(/.{1,4}/g)!.join(' ');
  const body = html`<section class="card">
<ol class="steps">
<li>Scan this code with your authenticator app.
<figure class="qr" role="img" aria-label="QR code to scan with an authenticator app">${raw(flash.qrSvg)}</figure>
<details><summary>Cannot scan it?</summary><p>Type this key into the app instead:</p><p><code class="secret">${grouped}</code></p></details></li>
<li>Enter the 6-digit code the app shows.
${alert(error)}
<form method="post" action="/account/totp/confirm" class="stack">
${hidden(CSRF_FIELD, me.csrf)}
<label for="code">Code</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required autofocus>
<button type="submit" class="primary">Turn on</button>
</form></li>
</ol>
</section>`;
  view(ctx, me, 'Set up an authenticator app', 'security', body, { status });
}

export async function postTotpConfirm(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me, form } = got;
  if (!recentlySignedIn(web, me.session)) return seeOther(ctx, REAUTH_URL);
  const flash = await getFlash<TotpFlash>(web, me, 'totp', false);
  if (!flash) return seeOther(ctx, '/account/security');
  let codes: string[];
  try {
    ({ recoveryCodes: codes } = await web.core.totp.confirm(auditContext(ctx, me.user), me.user.id, form.get('code') ?? ''));
  } catch (err) {
    if (!(err instanceof TotpError)) throw err;
    if (err.code === 'throttled') throw new WebError(429, 'Too many attempts', 'Too many wrong codes. Wait a while and try again.', { 'Retry-After': String(err.retryAfterSeconds ?? 60) });
    if (err.code === 'not_pending') return seeOther(ctx, '/account/security');
    return showTotp(ctx, me, flash, 400, 'That code did not work. Check the time on your device and enter the current code.');
  }
  await deleteFlash(web, me, 'totp');
  await putFlash(web, me, 'recovery', codes, 300);
  seeOther(ctx, '/account/security/recovery-codes');
}

export async function postRecoveryCodes(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me } = got;
  if (!recentlySignedIn(web, me.session)) return seeOther(ctx, REAUTH_URL);
  try {
    const { recoveryCodes } = await web.core.totp.regenerateRecoveryCodes(auditContext(ctx, me.user), me.user.id);
    await putFlash(web, me, 'recovery', recoveryCodes, 300);
  } catch (err) {
    if (err instanceof TotpError && err.code === 'not_active') return seeOther(ctx, '/account/security');
    throw err;
  }
  seeOther(ctx, '/account/security/recovery-codes');
}

export async function getRecoveryCodes(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (!me) return;
  const codes = await getFlash<string[]>(web, me, 'recovery', true);
  const body = codes
    ? html`<section class="card">
<p>Save these codes somewhere safe now (a password manager, or printed). They are shown only this once; each signs you in one time.</p>
<ol class="codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<p><a class="button primary" href="/account/security">Done</a></p>
</section>`
    : html`<section class="card"><p>Recovery codes are shown only once, right after they are made. Make new ones if you did not save them.</p><p><a href="/account/security">Back to security</a></p></section>`;
  view(ctx, me, 'Your recovery codes', 'security', body);
}

export async function postWebAuthnOptions(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (!me) return;
  await web.csrf.checkSession(me.session.handle, ctx.get(CSRF_HEADER));
  await readJsonBody(ctx, 4096);
  if (!recentlySignedIn(web, me.session)) {
    ctx.status = 401;
    ctx.body = { error: 'reauthenticate', message: 'Sign in again first.', location: REAUTH_URL };
    return;
  }
  const { challengeId, options } = await web.core.webauthn.registrationOptions(auditContext(ctx, me.user), me.user);
  ctx.body = { challengeId, options };
}

export async function postWebAuthn(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx, WEBAUTHN_FORM_BYTES);
  if (!got) return;
  const { me, form } = got;
  if (!recentlySignedIn(web, me.session)) return seeOther(ctx, REAUTH_URL);
  let response: unknown;
  try {
    response = JSON.parse(form.get('response') ?? '');
  } catch {
    response = undefined;
  }
  try {
    await web.core.webauthn.verifyRegistration(auditContext(ctx, me.user), me.user, form.get('challengeId') ?? '', response, form.get('name') ?? '');
  } catch (err) {
    const message =
      err instanceof AlreadyExistsError ? 'That authenticator is registered already.'
      : err instanceof WebAuthnRegistrationError ? 'The authenticator could not be added. Try again.'
      : err instanceof ValidationError ? err.problems.map((p) => p.message).join('; ')
      : undefined;
    if (message === undefined) throw err;
    return showSecurity(web, ctx, me, 400, html`<p class="alert" role="alert">${message}</p>`);
  }
  seeOther(ctx, '/account/security?done=key-added');
}

export async function postWebAuthnRemove(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me, form } = got;
  if (!recentlySignedIn(web, me.session)) return seeOther(ctx, REAUTH_URL);
  try {
    await web.core.webauthn.remove(auditContext(ctx, me.user), me.user.id, form.get('id') ?? '');
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  seeOther(ctx, '/account/security?done=key-removed');
}

// ---------------------------------------------------------------------------------------------
// Sessions and devices

export async function getSessions(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (!me) return;
  const [sessions, devices, network] = await Promise.all([web.core.sessions.list(me.user.id), web.core.directory.resources.all('devices'), web.core.networkSessions.liveOf(me.user.id)]);
  const mine = devices.filter((d) => d.owners.includes(me.user.username));
  const names = new Map(devices.map((d) => [d.id, d.name] as const));
  const body = html`${notice(ctx)}
<section class="card">
<h2>Where you are signed in</h2>
<table class="list">
<thead><tr><th scope="col">Browser</th><th scope="col">Address</th><th scope="col">Device</th><th scope="col">Started</th><th scope="col">Last seen</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${sessions.map((s) => html`<tr>
<td>${browserName(s.userAgent)}</td><td>${s.ip ?? ''}</td><td>${s.deviceId ? (names.get(s.deviceId) ?? '') : ''}</td><td>${when(s.createdAt)}</td><td>${when(s.lastSeenAt)}</td>
<td>${s.handle === me.session.handle
    ? html`<strong>This session</strong>`
    : html`<form method="post" action="/account/sessions/revoke">${hidden(CSRF_FIELD, me.csrf)}${hidden('session', s.handle)}<button type="submit" class="link danger">Sign out</button></form>`}</td>
</tr>`)}</tbody>
</table>
</section>
<section class="card">
<h2>Network connections</h2>
${network.length === 0 ? html`<p class="muted">No live VPN or WiFi connections.</p>` : html`<table class="list">
<thead><tr><th scope="col">Network</th><th scope="col">Your address</th><th scope="col">Connected from</th><th scope="col">Started</th><th scope="col">Data in / out</th></tr></thead>
<tbody>${network.map((n) => html`<tr><td>${n.client}${n.nasIdentifier ? ` (${n.nasIdentifier})` : ''}</td><td>${n.framedIpAddress ?? ''}</td><td>${n.callingStationId ?? ''}</td><td>${when(n.startedAt)}</td><td>${megabytes(n.inputOctets)} / ${megabytes(n.outputOctets)}</td></tr>`)}</tbody>
</table>`}
</section>
<section class="card">
<h2>Your devices</h2>
${mine.length === 0 ? html`<p class="muted">No devices are registered to you.</p>` : html`<table class="list">
<thead><tr><th scope="col">Name</th><th scope="col">Platform</th><th scope="col">Managed</th><th scope="col">Compliant</th><th scope="col">Last seen</th></tr></thead>
<tbody>${mine.map((d) => deviceRow(web, d))}</tbody>
</table>`}
</section>`;
  view(ctx, me, 'Sessions and devices', 'sessions', body);
}

/** Bytes as megabytes with one decimal: enough to tell a connection in use. */
function megabytes(octets: number): string {
  return `${(octets / 1_048_576).toFixed(1)} MB`;
}

function deviceRow(web: Web, device: Device): SafeHtml {
  const compliance = web.core.devices.compliance(device);
  return html`<tr><td>${device.name}</td><td>${device.platform}</td><td>${device.managed ? 'yes' : 'no'}</td><td>${compliance.compliant ? 'yes' : 'no'}</td><td>${when(device.lastSeenAt)}</td></tr>`;
}

/** A short, readable name for a user agent ("Firefox on Linux"); the full string is no use to people. */
export function browserName(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown';
  const browser = /Edg\//.test(userAgent) ? 'Edge' : /Firefox\//.test(userAgent) ? 'Firefox' : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome' : /Safari\//.test(userAgent) ? 'Safari' : undefined;
  const os = /Windows/.test(userAgent) ? 'Windows' : /Android/.test(userAgent) ? 'Android' : /iPhone|iPad/.test(userAgent) ? 'iOS' : /Mac OS X/.test(userAgent) ? 'macOS' : /Linux/.test(userAgent) ? 'Linux' : undefined;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? userAgent.slice(0, 40);
}

export async function postRevokeSession(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me, form } = got;
  const handle = form.get('session') ?? '';
  // Only the person's own sessions, and not this one (that is what signing out is for).
  const own = (await web.core.sessions.list(me.user.id)).some((s) => s.handle === handle);
  if (own && handle !== me.session.handle) await web.core.sessions.end(auditContext(ctx, me.user), handle, 'revoked');
  seeOther(ctx, '/account/sessions?done=revoked');
}

// ---------------------------------------------------------------------------------------------
export async function postNetworkPassword(web: Web, ctx: Ctx): Promise<void> {
  const got = await signedInForm(web, ctx);
  if (!got) return;
  const { me } = got;
  if (!recentlySignedIn(web, me.session)) return seeOther(ctx, REAUTH_URL);
  const { password } = await web.core.networkPasswords.generate(auditContext(ctx, me.user), me.user.id);
  await putFlash(web, me, 'network-password', password, 300);
  seeOther(ctx, '/account/security/network-password');
}

export async function getNetworkPassword(web: Web, ctx: Ctx): Promise<void> {
  const me = await signedIn(web, ctx);
  if (!me) return;
  const password = await getFlash<string>(web, me, 'network-password', true);
  const body = password
    ? html`<section class="card">
<p>Your WiFi network password. Type it into your devices' WiFi settings now, with your user name <code>${me.user.username}</code> (PEAP, MSCHAPv2). It is shown only this once.</p>
<p><code class="secret">${password}</code></p>
<p><a class="button primary" href="/account/security">Done</a></p>
</section>`
    : html`<section class="card"><p>A network password is shown only once, right after it is made. Make a new one if you did not note it.</p><p><a href="/account/security">Back to security</a></p></section>`;
  view(ctx, me, 'Your WiFi network password', 'security', body);
}

// Secrets shown once: from the POST that makes them to the page that shows them

const flashKey = (me: Signed, kind: string) => `flash:${me.session.handle}:${kind}`;

async function putFlash<T>(web: Web, me: Signed, kind: string, value: T, ttlSeconds: number): Promise<void> {
  const sealed = web.core.keyring.encrypt(JSON.stringify(value), FLASH_PURPOSE);
  await web.core.kv('web').put(flashKey(me, kind), sealed, ttlSeconds, { subject: me.user.id });
}

async function getFlash<T>(web: Web, me: Signed, kind: string, consume: boolean): Promise<T | undefined> {
  const kv = web.core.kv('web');
  const sealed = consume ? await kv.consume<string>(flashKey(me, kind)) : await kv.get<string>(flashKey(me, kind));
  return sealed === undefined ? undefined : (JSON.parse(web.core.keyring.decrypt(sealed, FLASH_PURPOSE)) as T);
}

async function deleteFlash(web: Web, me: Signed, kind: string): Promise<void> {
  await web.core.kv('web').delete(flashKey(me, kind));
}
