/**
 * CSRF protection for every form and WebAuthn call of the front-end (OWASP CSRF cheat sheet):
 *
 *  - signed in: a synchronizer token bound to the session, HMAC(web key, session handle). It
 *    changes whenever the session does (sign-in, step-up), needs no storage, and every process
 *    computes the same one.
 *  - before sign-in (password, second factor, passkey): a signed double-submit cookie. The cookie
 *    holds a random nonce, the form carries HMAC(web key, nonce). Another site can neither read
 *    the nonce nor compute the MAC, and the __Host- prefix keeps a subdomain from planting a
 *    cookie of its own.
 *
 * A POST without the right token is refused with a 403 page before anything else runs.
 */
import { randomBytes } from 'node:crypto';
import { cookieValue, setCookie, WebError, type Ctx } from './http.ts';
import type { WebSecrets } from './secrets.ts';

export const CSRF_COOKIE = '__Host-gatehouse_csrf';
export const CSRF_FIELD = 'csrf';
export const CSRF_HEADER = 'x-csrf-token';
const COOKIE_MAX_AGE_MS = 24 * 3_600_000;

export class Csrf {
  private readonly secrets: WebSecrets;
  constructor(secrets: WebSecrets) {
    this.secrets = secrets;
  }

  /** The token for a form shown before sign-in; sets the nonce cookie when the browser has none. */
  async anonymousToken(ctx: Ctx): Promise<string> {
    let nonce = cookieValue(ctx, CSRF_COOKIE, 64);
    if (!nonce) {
      nonce = randomBytes(24).toString('base64url');
      setCookie(ctx, CSRF_COOKIE, nonce, COOKIE_MAX_AGE_MS);
    }
    return this.secrets.mac('csrf-anonymous', nonce);
  }

  /** The token for a form shown to a signed-in person. */
  sessionToken(handle: string): Promise<string> {
    return this.secrets.mac('csrf-session', handle);
  }

  async checkAnonymous(ctx: Ctx, presented: unknown): Promise<void> {
    const nonce = cookieValue(ctx, CSRF_COOKIE, 64);
    if (!nonce || !(await this.secrets.verify('csrf-anonymous', nonce, presented))) throw refused();
  }

  async checkSession(handle: string, presented: unknown): Promise<void> {
    if (!(await this.secrets.verify('csrf-session', handle, presented))) throw refused();
  }
}

function refused(): WebError {
  return new WebError(403, 'Request refused', 'This form has expired or did not come from this site. Go back, reload the page and try again.');
}
