/**
 * Every page the OpenID Connect provider shows a person, in the one Gatehouse layout: errors
 * (oidc-provider's renderError), the denial page, the logout confirmation and its aftermath, and
 * the device-flow pages (enter the code, confirm it, done). Views take plain values and return the
 * document; they decide nothing. No stack trace and no default oidc-provider page is ever shown.
 */
import { html, page, raw, type SafeHtml } from '../../src/http/html.ts';

const reference = (id: string | undefined) => (id ? html`<p class="muted reference">Reference: <code>${id}</code></p>` : html``);

/** OAuth errors a person can act on, in words; anything else gets the generic text. */
const ERROR_TEXT: Record<string, string> = {
  invalid_client: 'The application that sent you here is not registered with Gatehouse, or is not set up correctly.',
  invalid_redirect_uri: 'The application asked Gatehouse to send you back to an address it has not registered.',
  invalid_request: 'The application sent an incomplete or malformed sign-in request.',
  invalid_request_uri: 'This sign-in request was already used or has expired.',
  unauthorized_client: 'The application is not allowed to sign you in this way.',
  unsupported_response_type: 'The application asked for a kind of sign-in Gatehouse does not offer.',
  invalid_scope: 'The application asked for information it is not allowed to have.',
  session_not_found: 'This sign-in request has expired or was already completed.',
  too_many_attempts: 'Too many wrong codes. Wait a moment, then try again.',
  access_denied: 'You do not have access to this application.',
  server_error: 'Something went wrong on our side.',
};

export function errorPage(options: { status: number; error?: string | undefined; description?: string | undefined; requestId?: string | undefined }): string {
  const text = (options.error && ERROR_TEXT[options.error]) ?? (options.status >= 500 ? ERROR_TEXT.server_error! : 'The request could not be completed.');
  // Descriptions of OAuth errors are written for developers and say nothing secret; server errors say nothing at all.
  const detail = options.status < 500 && options.description ? html`<details><summary>Details for the application's developers</summary><p><code>${options.error ?? ''}</code>: ${options.description}</p></details>` : html``;
  const body = html`<div class="card">
<p class="alert" role="alert">${text}</p>
<p>Return to the application and sign in again. If this keeps happening, contact your administrator with the reference below.</p>
${detail}
${reference(options.requestId)}
</div>`;
  return page({ title: options.status >= 500 ? 'Something went wrong' : 'Sign-in could not continue', body });
}

export function expiredPage(requestId: string | undefined): string {
  const body = html`<div class="card">
<p class="alert" role="alert">This sign-in request has expired or was already completed.</p>
<p>Go back to the application and start signing in again.</p>
${reference(requestId)}
</div>`;
  return page({ title: 'Sign-in expired', body });
}

/** A generic denial (the reasons are in the audit log), with a way back to the application. */
export function deniedPage(options: { appName: string; action: string; uid: string; requestId: string | undefined }): string {
  const body = html`<div class="card">
<p class="alert" role="alert">You do not have access to ${options.appName}.</p>
<p>If you think you should, contact your administrator and give them the reference below.</p>
${reference(options.requestId)}
<form method="post" action="${options.action}" class="stack">
<input type="hidden" name="uid" value="${options.uid}">
<button type="submit" class="primary">Return to ${options.appName}</button>
</form>
</div>`;
  return page({ title: 'Access denied', body });
}

/** RP-initiated logout: signing out here ends the Gatehouse session, so every application's too. */
export function logoutPage(options: { form: string; appName: string | undefined }): string {
  const body = html`<div class="card">
<p>${options.appName ? html`<strong>${options.appName}</strong> asks to sign you out.` : 'Sign out of Gatehouse?'} Signing out ends your Gatehouse session: every application you signed in to through Gatehouse is signed out too.</p>
${raw(options.form)}
<div class="stack"><button type="submit" form="op.logoutForm" name="logout" value="yes" class="primary">Sign out</button></div>
</div>`;
  return page({ title: 'Sign out', body });
}

export function signedOutPage(appName: string | undefined): string {
  const body = html`<div class="card">
<p>You are signed out${appName ? html` of ${appName}` : ''}.</p>
<p><a href="/">Sign in again</a></p>
</div>`;
  return page({ title: 'Signed out', body });
}

function deviceMessage(error: { name?: string; userCode?: unknown; error?: string } | undefined): SafeHtml {
  if (!error) return html`<p>Enter the code your device shows.</p>`;
  if (error.name === 'NoCodeError' || error.userCode !== undefined) {
    const why = error.name === 'ExpiredError' ? 'That code has expired.' : error.name === 'AlreadyUsedError' ? 'That code was already used.' : 'That code is not right.';
    return html`<p class="alert" role="alert">${why} Check it and try again.</p>`;
  }
  if (error.name === 'AbortedError') return html`<p class="alert" role="alert">The sign-in was cancelled. Start again on your device.</p>`;
  return html`<p class="alert" role="alert">The code could not be checked. Start again on your device.</p>`;
}

/** RFC 8628 §3.3: the verification page. `form` is oidc-provider's (it carries the CSRF token). */
export function userCodePage(options: { form: string; error?: { name?: string; userCode?: unknown; error?: string } | undefined }): string {
  const body = html`<div class="card stack">
${deviceMessage(options.error)}
${raw(options.form)}
<button type="submit" form="op.deviceInputForm" class="primary">Continue</button>
</div>`;
  return page({ title: 'Sign in on a device', body });
}

export function userCodeConfirmPage(options: { form: string; appName: string; userCode: string; ip?: string | undefined; userAgent?: string | undefined }): string {
  const body = html`<div class="card stack">
<p><strong>${options.appName}</strong> wants to sign in as you on a device.</p>
<p>Make sure your device shows this code: <code>${options.userCode}</code></p>
${options.ip || options.userAgent ? html`<p class="muted">Requested from ${options.ip ?? 'an unknown address'}${options.userAgent ? html` (${options.userAgent})` : ''}.</p>` : ''}
<p class="muted">If you did not start this, or the code differs, cancel.</p>
${raw(options.form)}
<button type="submit" form="op.deviceConfirmForm" class="primary">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">Cancel</button>
</div>`;
  return page({ title: 'Confirm the device', body });
}

export function deviceDonePage(appName: string | undefined): string {
  const body = html`<div class="card">
<p>You are signed in${appName ? html` to ${appName}` : ''} on your device. You can close this page.</p>
</div>`;
  return page({ title: 'Device signed in', body });
}
