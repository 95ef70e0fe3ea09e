/**
 * Simple Paged Results (RFC 2696), without per-connection state: the cookie is signed.
 *
 * A cookie carries the position (the sort key of the last entry sent, and how many were sent in
 * all) and an HMAC over that position *and* a fingerprint of the search (requester, base, scope,
 * filter, attributes, typesOnly, sizeLimit). So:
 * - the server keeps nothing per connection: nothing to free on abandon or disconnect, no memory a
 *   client can pin by opening pagings and never finishing them;
 * - a client that changes the search mid-way (RFC 2696 §3 demands the same request, only the
 *   cookie and size may change) or forges a cookie fails the signature check → unwillingToPerform;
 * - the position is a key, not an offset: every page re-reads the directory (like every search),
 *   and an entry added or removed between pages does not shift the others (no duplicates, no skips
 *   of unchanged entries);
 * - a cookie is valid for `COOKIE_TTL_SECONDS` and only in this process (the key is random per
 *   start): after a restart the client gets an error and starts again.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PAGED_RESULTS = '1.2.840.113556.1.4.319';
export const COOKIE_TTL_SECONDS = 3600;
const MAC_BYTES = 16;
const KEY = randomBytes(32);

/** A request control as @ldapjs/messages decodes it (only what is read here). */
export interface RequestControl {
  readonly type: string;
  readonly criticality?: boolean;
  readonly value?: unknown;
}

/** The client's paged results request, parsed. */
export interface PageRequest {
  size: number;
  cookie: Buffer;
}

/** Where a paged search stands, as signed into a cookie. */
export interface Position {
  /** Sort key of the last entry sent. */
  after: string;
  /** Entries sent so far, over all pages (the size limit caps the whole search). */
  sent: number;
}

/**
 * The paged results control of a request, if any. @ldapjs/messages already parses it into
 * `{ size, cookie }`; a raw value (a control it did not recognize) is decoded here.
 * Returns an error string when the value is malformed.
 */
export function pageRequestOf(controls: readonly RequestControl[] | undefined): PageRequest | string | undefined {
  const control = controls?.find((c) => c.type === PAGED_RESULTS);
  if (!control) return undefined;
  const value = control.value as { size?: unknown; cookie?: unknown } | undefined;
  if (!value || typeof value !== 'object' || typeof value.size !== 'number' || !Number.isInteger(value.size) || value.size < 0) {
    return 'malformed paged results control value';
  }
  const cookie = Buffer.isBuffer(value.cookie) ? value.cookie : typeof value.cookie === 'string' ? Buffer.from(value.cookie, 'latin1') : Buffer.alloc(0);
  return { size: value.size, cookie };
}

function mac(fingerprint: string, payload: Buffer): Buffer {
  return createHmac('sha256', KEY).update(fingerprint).update('\0').update(payload).digest().subarray(0, MAC_BYTES);
}

export function issueCookie(fingerprint: string, position: Position, now = Date.now()): Buffer {
  const payload = Buffer.from(JSON.stringify({ a: position.after, n: position.sent, t: Math.floor(now / 1000) }), 'utf8');
  return Buffer.concat([mac(fingerprint, payload), payload]);
}

/** The position in a cookie issued for this very search, or undefined (forged, other search, expired). */
export function readCookie(fingerprint: string, cookie: Buffer, now = Date.now()): Position | undefined {
  if (cookie.length <= MAC_BYTES) return undefined;
  const payload = cookie.subarray(MAC_BYTES);
  if (!timingSafeEqual(cookie.subarray(0, MAC_BYTES), mac(fingerprint, payload))) return undefined;
  try {
    const { a, n, t } = JSON.parse(payload.toString('utf8')) as { a: unknown; n: unknown; t: unknown };
    if (typeof a !== 'string' || typeof n !== 'number' || typeof t !== 'number') return undefined;
    if (Math.floor(now / 1000) - t > COOKIE_TTL_SECONDS) return undefined;
    return { after: a, sent: n };
  } catch {
    return undefined;
  }
}
