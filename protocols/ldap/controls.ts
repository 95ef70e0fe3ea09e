/**
 * Request controls (RFC 4511 §4.1.11): which ones this server recognises, on which operation. Every
 * request's controls are decoded by decode.ts (never by @ldapjs/controls, which throws on a control
 * it knows carrying a value it does not expect, or none), so a control can no longer cost a client
 * its connection; whether it applies is decided here, once, for every operation.
 *
 * RFC 4511 §4.1.11: a critical control the server does not recognise, or cannot apply to the
 * operation, gets unavailableCriticalExtension (12) and the operation is not performed; a
 * non-critical one is ignored. Recognised:
 *
 * - Simple Paged Results (RFC 2696) on searches (paging.ts);
 * - the password policy request control (draft-behera-ldap-password-policy-10 §6.1) on binds and
 *   on Password Modify, answered with its response control (§6.2): `accountLocked` while the
 *   account is backed off or suspended, the policy's objection to a new password. Gatehouse has no
 *   password expiry or grace logins, so no warning is ever sent;
 * - ManageDsaIT (RFC 3296) on every operation: it asks that referral objects be treated as plain
 *   entries, and this directory has none, so there is nothing to do, and it is accepted even
 *   critical (as OpenLDAP does).
 *
 * Relax (draft-zeilenga-ldap-relax) is not recognised: it relaxes schema rules on updates (add,
 * modify, modify DN), and this directory takes none over LDAP. Critical, it gets 12 like any
 * control that cannot apply; otherwise it is ignored.
 */
import { PASSWORD_MODIFY, RESULT } from './codes.ts';
import { PAGED_RESULTS, type RequestControl } from './paging.ts';

/** draft-behera-ldap-password-policy-10 §6: the request control and, with the same OID, its response control. */
export const PASSWORD_POLICY = '1.3.6.1.4.1.42.2.27.8.5.1';
/** RFC 3296 §3: ManageDsaIT. */
export const MANAGE_DSA_IT = '2.16.840.1.113730.3.4.2';

/** The controls the root DSE advertises (supportedControl, RFC 4512 §5.1.4). */
export const SUPPORTED_CONTROLS: readonly string[] = [PAGED_RESULTS, PASSWORD_POLICY, MANAGE_DSA_IT];

/** The request's type, as decoded (`SearchRequest`, `BindRequest`, …), and an extended request's name. */
export interface Operation {
  type: string;
  requestName?: string;
}

/** The controls that apply to `op`. */
function applicable(op: Operation): readonly string[] {
  switch (op.type) {
    case 'SearchRequest':
      return [PAGED_RESULTS, MANAGE_DSA_IT];
    case 'BindRequest':
      return [PASSWORD_POLICY, MANAGE_DSA_IT];
    case 'ExtensionRequest':
      return op.requestName === PASSWORD_MODIFY ? [PASSWORD_POLICY, MANAGE_DSA_IT] : [MANAGE_DSA_IT];
    default:
      return [MANAGE_DSA_IT];
  }
}

/**
 * RFC 4511 §4.1.11: the refusal of a request carrying a critical control that does not apply to
 * it, or undefined when the operation may go ahead (non-critical controls it does not know are
 * ignored).
 */
export function criticalRefusal(op: Operation, controls: readonly RequestControl[]): { status: number; message: string } | undefined {
  if (controls.length === 0) return undefined;
  const allowed = applicable(op);
  const control = controls.find((c) => c.criticality && !allowed.includes(c.type));
  if (!control) return undefined;
  const known = SUPPORTED_CONTROLS.includes(control.type);
  return {
    status: RESULT.unavailableCriticalExtension,
    message: known ? `critical control ${control.type} does not apply to this operation` : `unsupported critical control ${control.type}`,
  };
}

/** Whether the client asked for the password policy response control (draft-behera §6.1). */
export function wantsPasswordPolicy(controls: readonly RequestControl[]): boolean {
  return controls.some((c) => c.type === PASSWORD_POLICY);
}
