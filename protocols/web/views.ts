/**
 * The sign-in pages and the error pages, as HTML (escaped by `html`, laid out by `page`). Views get
 * plain values and return the document; they decide nothing.
 */
import { html, page, type SafeHtml } from '../../src/http/html.ts';
import { signInQuery, type SignInParams } from './params.ts';

export const WEBAUTHN_SCRIPT = '/assets/webauthn.js';

export const hidden = (name: string, value: string) => html`<input type="hidden" name="${name}" value="${value}">`;

function signInFields(params: SignInParams): SafeHtml {
  return html`${hidden('return_to', params.returnTo)}${hidden('resource', params.resource)}${params.force ? hidden('force', '1') : ''}${params.cancel ? hidden('cancel', params.cancel) : ''}`;
}

export function alert(message: string | undefined): SafeHtml {
  return message ? html`<p class="alert" role="alert">${message}</p>` : html``;
}

/** A WebAuthn ceremony run by /assets/webauthn.js: the form posts the credential once it has one. */
export function webauthnForm(options: { action: string; optionsUrl: string; ceremony: 'get' | 'create'; csrf: string; label: string; fields?: SafeHtml; className?: string }): SafeHtml {
  return html`<div class="webauthn" data-webauthn-container hidden>
<form method="post" action="${options.action}" data-webauthn="${options.ceremony}" data-options="${options.optionsUrl}" class="stack">
${hidden('csrf', options.csrf)}${hidden('challengeId', '')}${hidden('response', '')}${options.fields ?? ''}
<button type="submit" class="${options.className ?? 'secondary'}">${options.label}</button>
</form>
<p class="alert" role="alert" data-webauthn-error hidden></p>
</div>
<noscript><p class="muted">Security keys and passkeys need JavaScript.</p></noscript>`;
}

export function loginPage(options: { params: SignInParams; csrf: string; username?: string; error?: string; signedInAs?: string }): string {
  const { params, csrf } = options;
  const body = html`<div class="card">
${options.signedInAs ? html`<p class="muted">You are signed in as <strong>${options.signedInAs}</strong>. Sign in again to continue.</p>` : ''}
${alert(options.error)}
<form method="post" action="/login" class="stack">
${hidden('csrf', csrf)}${signInFields(params)}
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" maxlength="256" required autofocus value="${options.username ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>
<button type="submit" class="primary">Sign in</button>
</form>
<div class="or"><span>or</span></div>
${webauthnForm({ action: '/login/passkey', optionsUrl: '/login/passkey/options', ceremony: 'get', csrf, label: 'Sign in with a passkey', fields: signInFields(params) })}
</div>`;
  return page({ title: 'Sign in', body, scripts: [WEBAUTHN_SCRIPT] });
}

export interface MfaChoices {
  totp: boolean;
  recovery: boolean;
  webauthn: boolean;
}

export function mfaPage(options: { username: string; csrf: string; choices: MfaChoices; params: SignInParams; stepUp: boolean; error?: string }): string {
  const { csrf, choices } = options;
  const cancel = options.stepUp ? '/' : `/login?${signInQuery(options.params)}`;
  const body = html`<div class="card">
<p>${options.stepUp ? html`<strong>${options.username}</strong>, this needs a second step` : html`Hello <strong>${options.username}</strong>, one more step`}: confirm it is you.</p>
${alert(options.error)}
${choices.webauthn ? webauthnForm({ action: '/login/mfa/webauthn', optionsUrl: '/login/mfa/webauthn/options', ceremony: 'get', csrf, label: 'Use a security key or passkey', className: choices.totp ? 'secondary' : 'primary' }) : ''}
${choices.totp ? html`<form method="post" action="/login/mfa" class="stack">
${hidden('csrf', csrf)}
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required autofocus>
<button type="submit" class="primary">Verify</button>
</form>` : ''}
${choices.recovery ? html`<details>
<summary>Use a recovery code</summary>
<form method="post" action="/login/mfa" class="stack">
${hidden('csrf', csrf)}
<label for="recovery">Recovery code</label>
<input id="recovery" name="code" autocomplete="off" autocapitalize="none" spellcheck="false" maxlength="64" required>
<button type="submit" class="secondary">Use recovery code</button>
</form>
</details>` : ''}
<p class="muted"><a href="${cancel}">Cancel</a></p>
</div>`;
  return page({ title: 'Verify it is you', body, scripts: choices.webauthn ? [WEBAUTHN_SCRIPT] : [] });
}

/** The page for a denial: generic for the person, the reasons are in the audit log under the reference. */
export function deniedPage(options: { reference: string; message?: string; signedInAs?: { name: string; csrf: string }; cancel?: string }): string {
  // The cancel form goes to the protocol that sent the person here (bound to this browser by that
  // protocol's own cookie), which tells the application the sign-in was refused.
  const body = html`<div class="card">
<p>${options.message ?? 'You cannot use this right now.'} If you think you should be able to, contact your administrator and give them this reference:</p>
<p class="reference"><code>${options.reference}</code></p>
${options.cancel ? html`<form method="post" action="${options.cancel}" class="stack"><button type="submit" class="primary">Return to the application</button></form>` : ''}
<p><a href="/">Go to your applications</a></p>
</div>`;
  return page({ title: 'Access denied', body, ...(options.signedInAs ? { signedInAs: options.signedInAs } : {}) });
}

export function logoutConfirmPage(options: { name: string; csrf: string }): string {
  const body = html`<div class="card">
<p>You are signed in as <strong>${options.name}</strong>. Signing out ends your Gatehouse session: applications you signed in to through it are told to sign you out too.</p>
<form method="post" action="/logout" class="stack">
${hidden('csrf', options.csrf)}
<button type="submit" class="primary">Sign out</button>
</form>
<p class="muted"><a href="/">Cancel</a></p>
</div>`;
  return page({ title: 'Sign out', body });
}

export function signedOutPage(): string {
  const body = html`<div class="card">
<p>You are signed out of Gatehouse. Close the browser if this is a shared computer.</p>
<p><a href="/login">Sign in again</a></p>
</div>`;
  return page({ title: 'Signed out', body });
}
