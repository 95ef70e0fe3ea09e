/**
 * API key authentication for the admin API: `Authorization: Bearer <key>` (RFC 6750 §2.1).
 *
 * Steps: read the header → reserve an attempt for the client IP in the shared throttle → verify
 * the key and its scope. A guess that fails (unknown, revoked or expired key) counts against the
 * client IP, on a counter of API key guesses only (failed sign-ins from the same address do not
 * hold back a valid key), so keys cannot be brute-forced; every refusal is one `authn.apikey` audit
 * event. Successful use is not an event of its own: each change the key makes is.
 */
import { reason } from '../reasons.ts';
import type { AuditContext } from '../audit/audit.ts';
import type { Core } from '../core.ts';
import type { ApiKey, ApiScope, Outcome, Reason } from '../directory/model.ts';
import { HttpProblem } from '../http/problem.ts';

export const REALM = 'gatehouse';

export interface Credentials {
  /** The Authorization header, '' when absent. */
  authorization: string;
  clientIp: string | undefined;
  requestId: string;
}

const REASONS = {
  missing: reason('missing_credentials', 'no Authorization: Bearer header'),
  malformed: reason('malformed_credentials', 'the Authorization header is not "Bearer <key>"'),
  throttled: reason('throttled', 'per ip'),
  unknown: reason('unknown_key'),
  expired: reason('expired_key'),
  scope: reason('insufficient_scope'),
} satisfies Record<string, Reason>;

// RFC 6750 §2.1 b64token; the length cap keeps hashing cheap for junk.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,512}=*) *$/i;

/** The key behind the request if it may use `scope`; otherwise throws the 401, 403 or 429 to answer with. */
export async function authenticate(core: Core, request: Credentials, scope: ApiScope): Promise<ApiKey> {
  const refuse = async (outcome: Outcome, reason: Reason, key?: ApiKey) => {
    const actor = key ? { type: 'apikey' as const, id: key.id, name: key.name } : { type: 'anonymous' as const };
    const ctx: AuditContext = { actor, sourceIp: request.clientIp, requestId: request.requestId, protocol: 'admin' };
    await core.audit.record(ctx, { type: 'authn.apikey', outcome, reasons: [reason], details: { scope } });
  };

  if (request.authorization.trim() === '') {
    await refuse('failure', REASONS.missing);
    throw unauthorized('an API key is required: send Authorization: Bearer <key>');
  }
  const token = BEARER.exec(request.authorization)?.[1];
  if (token === undefined) {
    await refuse('failure', REASONS.malformed);
    throw unauthorized('the Authorization header must be "Bearer <key>"', 'invalid_request');
  }

  const keys = { kind: 'apikey' as const, ...(request.clientIp === undefined ? {} : { ip: request.clientIp }) };
  const reserved = await core.throttle.reserve(keys);
  if (!reserved.allowed) {
    await refuse('failure', REASONS.throttled);
    throw new HttpProblem(429, 'Too many requests', `too many failed API key attempts from this address; retry in ${reserved.retryAfterSeconds} s`, {
      headers: { 'Retry-After': String(reserved.retryAfterSeconds) },
    });
  }

  const result = await core.directory.apiKeys.verify(token, scope);
  if (result.ok || result.code === 'scope') await reserved.reservation.release();
  if (result.ok) return result.apiKey;
  if (result.code === 'scope') {
    // A valid key asking for more than it has is not a guess: not throttled, but denied and audited.
    await refuse('denied', REASONS.scope, result.apiKey);
    throw new HttpProblem(403, 'Forbidden', `the API key '${result.apiKey?.name}' does not have the '${scope}' scope`, {
      headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${scope}"` },
    });
  }
  // The reservation stands as the failure.
  await refuse('failure', REASONS[result.code], result.apiKey);
  throw unauthorized(result.code === 'expired' ? 'the API key has expired' : 'the API key is unknown or revoked', 'invalid_token');
}

/** RFC 6750 §3: no error code when no credentials were sent; otherwise say what was wrong. */
function unauthorized(detail: string, error?: 'invalid_request' | 'invalid_token'): HttpProblem {
  const challenge = `Bearer realm="${REALM}"${error ? `, error="${error}"` : ''}`;
  return new HttpProblem(401, 'Unauthorized', detail, { headers: { 'WWW-Authenticate': challenge } });
}
