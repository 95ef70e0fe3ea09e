/**
 * Errors as RFC 9457 problem details (`application/problem+json`), mapped in one place from the
 * core's typed errors: 400 invalid input, 401/403, 404, 409 duplicate, conflict or declared in the
 * configuration file, 412 stale ETag, 413 too large, 429 throttled, 503 store unavailable.
 */
import { z } from 'zod';
import { ValidationError } from '../directory/service.ts';
import { TotpError } from '../mfa/totp.ts';
import { AlreadyExistsError, ConflictError, ManagedByConfigError, NotFoundError, StoreUnavailableError } from '../errors.ts';
import { InvalidCursorError, InvalidQueryError } from '../store/knex/sql.ts';
import { SecretError } from '../secrets/keyring.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Field-level problems for 400s: JSON path and message. */
  errors?: Array<{ path: string; message: string; code?: string }>;
}

/** An error that already knows its HTTP answer. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly errors: Problem['errors'];
  readonly headers: Record<string, string>;
  constructor(status: number, title: string, detail: string, options: { errors?: Problem['errors']; headers?: Record<string, string> } = {}) {
    super(detail);
    this.status = status;
    this.title = title;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
  }
}

const TYPE_BASE = 'https://gatehouse.dev/problems/';

function problem(status: number, slug: string, title: string, detail: string, errors?: Problem['errors']): Problem {
  return { type: `${TYPE_BASE}${slug}`, title, status, detail, ...(errors ? { errors } : {}) };
}

export function zodPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

/** A ZodError's issues as field problems; an unknown-keys issue is one problem per key. */
export function zodProblems(err: z.ZodError): Array<{ path: string; message: string; code: string }> {
  return err.issues.flatMap((i): Array<{ path: string; message: string; code: string }> =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => ({ path: zodPath([...i.path, k]), message: `unknown field '${k}'`, code: i.code })) : [{ path: zodPath(i.path), message: i.message, code: i.code }],
  );
}

export function toProblem(err: unknown): { problem: Problem; headers: Record<string, string>; unexpected: boolean } {
  const plain = (p: Problem) => ({ problem: p, headers: {}, unexpected: false });
  if (err instanceof HttpProblem) {
    return { problem: problem(err.status, slugOf(err.title), err.title, err.message, err.errors), headers: err.headers, unexpected: false };
  }
  if (err instanceof z.ZodError) {
    const errors = zodProblems(err);
    return plain(problem(400, 'invalid-input', 'Invalid input', errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; '), errors));
  }
  if (err instanceof ValidationError) return plain(problem(400, 'invalid-input', 'Invalid input', err.message, err.problems));
  if (err instanceof InvalidCursorError || err instanceof InvalidQueryError) return plain(problem(400, 'invalid-input', 'Invalid input', err.message));
  if (err instanceof TotpError) return totpProblem(err);
  if (err instanceof NotFoundError) return plain(problem(404, 'not-found', 'Not found', err.message));
  if (err instanceof AlreadyExistsError) return plain(problem(409, 'already-exists', 'Already exists', err.message));
  // Its own type, so a client can tell "declared in the configuration file: ?force=true" from other conflicts.
  if (err instanceof ManagedByConfigError) return plain(problem(409, 'managed-by-config', 'Conflict', err.message));
  if (err instanceof ConflictError) {
    return err.reason === 'stale'
      ? plain(problem(412, 'stale', 'Precondition failed', `${err.message}: fetch the object again and retry with its current ETag`))
      : plain(problem(409, 'conflict', 'Conflict', err.message));
  }
  if (err instanceof StoreUnavailableError) return plain(problem(503, 'unavailable', 'Service unavailable', 'the directory store is unavailable'));
  if (err instanceof SecretError) return { problem: problem(500, 'internal', 'Internal error', 'a stored secret could not be decrypted'), headers: {}, unexpected: true };
  return { problem: problem(500, 'internal', 'Internal error', 'an unexpected error occurred; it has been logged'), headers: {}, unexpected: true };
}

/** A refused TOTP step: bad input 400, the factor in the wrong state 409, too many attempts 429. */
function totpProblem(err: TotpError): { problem: Problem; headers: Record<string, string>; unexpected: boolean } {
  switch (err.code) {
    case 'invalid_label':
    case 'invalid_format':
    case 'invalid_code':
      return { problem: problem(400, 'invalid-input', 'Invalid input', err.message), headers: {}, unexpected: false };
    case 'already_active':
    case 'not_pending':
    case 'not_active':
      return { problem: problem(409, 'conflict', 'Conflict', err.message), headers: {}, unexpected: false };
    case 'throttled':
      return {
        problem: problem(429, 'too-many-requests', 'Too many requests', err.message),
        headers: err.retryAfterSeconds !== undefined ? { 'Retry-After': String(err.retryAfterSeconds) } : {},
        unexpected: false,
      };
  }
}

function slugOf(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}
