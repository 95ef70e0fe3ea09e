/**
 * Extended operations (RFC 4511 §4.12) other than StartTLS, which changes the transport and so
 * lives in server.ts: Who am I? (RFC 4532) and Password Modify (RFC 3062).
 */
import type { Core } from '../../src/core.ts';
import type { Bound, BoundUser } from './bind.ts';
import { PASSWORD_MODIFY, PPOLICY_ERROR, RESULT, START_TLS, WHO_AM_I } from './codes.ts';
import { parseDn, sameDn } from './dn.ts';

/** The extended operations this server implements, for the root DSE's supportedExtension. */
export const SUPPORTED_EXTENSIONS: readonly string[] = [WHO_AM_I, PASSWORD_MODIFY, START_TLS];

/** PasswdModifyRequestValue (RFC 3062 §2), as decoded by @ldapjs/messages. */
export interface PasswdModifyRequest {
  userIdentity?: string | undefined;
  oldPassword?: string | undefined;
  newPassword?: string | undefined;
}

/** `ppolicy`: the error of a password policy response control (draft-behera §6.2), when one applies. */
export type ExtendedOutcome = { status: number; message?: string; ppolicy?: number };

/**
 * RFC 3062 as self-service: the bound user changes their own password, proving the old one. No
 * administrator resets (the admin API does those) and no server-generated passwords.
 */
export async function passwordModify(core: Core, bound: Bound | undefined, secure: boolean, clientIp: string | undefined, request: PasswdModifyRequest | undefined): Promise<ExtendedOutcome> {
  // RFC 3062 §5: passwords are to be protected by confidentiality services.
  if (!secure) return { status: RESULT.confidentialityRequired, message: 'Password Modify needs TLS (StartTLS or LDAPS)' };
  // As OpenLDAP: "only authenticated users may change passwords".
  if (!bound) return { status: RESULT.unwillingToPerform, message: 'only authenticated users may change passwords' };
  // A service account's credential is its application's secret: rotated through the admin API.
  if (bound.kind === 'service') return { status: RESULT.unwillingToPerform, message: 'a service account has no password to change: rotate its secret with `gatehouse app secret` or the admin API', ppolicy: PPOLICY_ERROR.passwordModNotAllowed };
  const { userIdentity, oldPassword, newPassword } = request ?? {};
  if (userIdentity !== undefined && !isSelf(userIdentity, bound)) {
    return { status: RESULT.insufficientAccessRights, message: 'a user may change only their own password (userIdentity must be absent or the bound user)' };
  }
  if (oldPassword === undefined || oldPassword === '') return { status: RESULT.unwillingToPerform, message: 'oldPasswd is required', ppolicy: PPOLICY_ERROR.mustSupplyOldPassword };
  // RFC 3062 §3.2 lets a server generate the password when newPasswd is absent; we do not.
  if (newPassword === undefined || newPassword === '') return { status: RESULT.unwillingToPerform, message: 'newPasswd is required: the server does not generate passwords' };

  const context = { actor: { type: 'user' as const, id: bound.userId, name: bound.username }, ...(clientIp ? { sourceIp: clientIp } : {}), protocol: 'ldap' };
  // Through the core like the portal's: the old password checked like a bind's (throttled,
  // audited, so this cannot become a guessing oracle), the policy applied, the person's sessions
  // elsewhere (web, OpenID Connect) ended.
  const changed = await core.signIn.changeOwnPassword(context, { userId: bound.userId, current: oldPassword, next: newPassword });
  if (changed.ok) return { status: RESULT.success };
  switch (changed.reason.code) {
    case 'store_unavailable':
      return { status: RESULT.unavailable, message: 'the directory is unavailable' };
    case 'weak_password':
      // The password policy (length, common passwords, history) refused it.
      return { status: RESULT.constraintViolation, message: (changed.problems ?? [changed.reason.description]).join('; '), ppolicy: qualityError(changed.problemCodes ?? []) };
    case 'throttled':
    case 'suspended':
      // Backed off (too many wrong old passwords) or suspended since binding: as a bind would be.
      return { status: RESULT.invalidCredentials, message: 'oldPasswd is not the current password', ppolicy: PPOLICY_ERROR.accountLocked };
    case 'declared_password':
      // The configuration file sets it: the reconciler would put it back at the next reload.
      return { status: RESULT.unwillingToPerform, message: changed.reason.description, ppolicy: PPOLICY_ERROR.passwordModNotAllowed };
    default:
      return { status: RESULT.invalidCredentials, message: 'oldPasswd is not the current password' };
  }
}

/**
 * The password policy error for the policy's problems with a new password (draft-behera §6.2 has
 * one error per response): too short first, then reused, else insufficient quality (too common,
 * contains the username, …).
 */
function qualityError(codes: readonly string[]): number {
  if (codes.includes('too_short')) return PPOLICY_ERROR.passwordTooShort;
  if (codes.includes('reused')) return PPOLICY_ERROR.passwordInHistory;
  return PPOLICY_ERROR.insufficientPasswordQuality;
}

/** userIdentity is an LDAP DN or an authzId (RFC 4513 §5.2.1.8: "dn:<DN>" or "u:<username>"). */
function isSelf(identity: string, bound: BoundUser): boolean {
  if (identity.startsWith('u:')) return identity.slice(2).trim().toLowerCase() === bound.username;
  const rdns = parseDn(identity.startsWith('dn:') ? identity.slice(3) : identity);
  const own = parseDn(bound.dn);
  return rdns !== undefined && own !== undefined && sameDn(rdns, own);
}
