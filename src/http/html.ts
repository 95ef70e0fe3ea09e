/**
 * Server-rendered HTML without a template engine: `html` is a tagged template that escapes every
 * interpolated value unless it is already SafeHtml (a nested `html` fragment), so markup built
 * from user input cannot inject anything. `page` wraps a body in the one layout every Gatehouse
 * page uses (sign-in, MFA, portal, OIDC end-session and device pages, errors).
 */

export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

type Value = SafeHtml | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** html`<p>${userText}</p>`: interpolations are escaped; arrays are joined; null/undefined/false render nothing. */
export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Markup that is trusted as is (constants only, never user input). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** The CSP nonce for inline scripts on this response (WebAuthn pages), if any. */
  nonce?: string;
  /** Scripts to load (same origin), e.g. '/assets/webauthn.js'. */
  scripts?: string[];
  /** Signed-in person's name for the header, with a sign-out form when set. */
  signedInAs?: { name: string; csrf: string };
}

/** The whole document. Styles come from /assets/gatehouse.css (the CSP allows no inline style). */
export function page(options: PageOptions): string {
  const header = options.signedInAs
    ? html`<form class="signout" method="post" action="/logout"><span>${options.signedInAs.name}</span><input type="hidden" name="csrf" value="${options.signedInAs.csrf}"><button type="submit" class="link">Sign out</button></form>`
    : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · Gatehouse</title>
<link rel="stylesheet" href="/assets/gatehouse.css">
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer${options.nonce ? html` nonce="${options.nonce}"` : html``}></script>`)}
</head>
<body>
<header><a class="brand" href="/">Gatehouse</a>${header}</header>
<main>
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>
`.value;
}

/** The error page: what happened, the request id as the reference, and where to go next. */
export function errorPage(options: { title: string; message: string; reference: string; action?: { href: string; label: string } }): string {
  const body = html`<div class="card">
<p>${options.message}</p>
<p class="muted">Reference: <code>${options.reference}</code></p>
<p><a href="${options.action?.href ?? '/'}">${options.action?.label ?? 'Go to the start page'}</a></p>
</div>`;
  return page({ title: options.title, body });
}
