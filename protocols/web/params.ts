/**
 * The sign-in pages' query parameters, parsed once at the edge:
 *
 *   return_to  where to go after signing in: a local path only (no open redirect). One leading '/',
 *              never '//' or '/\' (a scheme-relative URL to another host), no scheme, no control
 *              characters or backslashes, at most 2048 characters. Anything else becomes '/'.
 *   resource   what the sign-in is for: 'portal' (default) or 'app:<name>'.
 *   force      '1': ask for the password even with a live session (OIDC prompt=login, max_age).
 *   cancel     where the protocol that sent the person here takes a refusal back to the application
 *              (OIDC: its interaction's abort, which answers the client access_denied): a local path
 *              like return_to, else none. The denial page offers it as "Return to the application".
 */
export const MAX_RETURN_TO = 2048;
const BASE = 'http://gatehouse.invalid';

/** A safe local path to redirect to, or '/'. */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO) return '/';
  if (value[0] !== '/' || value[1] === '/' || value[1] === '\\') return '/';
  // Control characters and backslashes: URL parsers strip tabs and newlines and read '\' as '/',
  // so '/\t/evil.example' or '/\\evil.example' would turn into another host.
  if (/[\u0000-\u001f\u007f\\]/.test(value) || !value.isWellFormed()) return '/';
  try {
    const url = new URL(value, BASE);
    if (url.origin !== BASE) return '/';
  } catch {
    return '/';
  }
  return value;
}

/** `portal` or `app:<name>` (names as the directory spells them). */
const RESOURCE = /^(portal|app:[a-z0-9][a-z0-9._-]{0,127})$/;

export type SignInResource = 'portal' | `app:${string}`;

/** The resource a sign-in is for; undefined when it is malformed. A missing one is the portal. */
export function parseResource(value: unknown): SignInResource | undefined {
  if (value === undefined || value === '') return 'portal';
  return typeof value === 'string' && RESOURCE.test(value) ? (value as SignInResource) : undefined;
}

export interface SignInParams {
  returnTo: string;
  resource: SignInResource;
  force: boolean;
  cancel?: string;
}

/** The cancel path: a safe local path, or undefined (never the '/' fallback of return_to). */
export function safeCancel(value: unknown): string | undefined {
  const path = safeReturnTo(value);
  return path === '/' ? undefined : path;
}

/** The query string that carries the same parameters to another sign-in page. */
export function signInQuery(params: SignInParams): string {
  const query = new URLSearchParams({ return_to: params.returnTo, resource: params.resource });
  if (params.force) query.set('force', '1');
  if (params.cancel) query.set('cancel', params.cancel);
  return query.toString();
}
