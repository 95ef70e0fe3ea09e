/**
 * A user's second factors as administrators manage them: status, TOTP reset, new recovery codes,
 * renaming and removing WebAuthn authenticators. Shared by the admin API (/users/{id}/factors) and
 * `gatehouse user mfa`. The MFA services audit every change; nothing here ever returns a TOTP seed
 * or a WebAuthn public key.
 */
import type { z } from 'zod';
import type { AuditContext } from '../audit/audit.ts';
import type { Core } from '../core.ts';
import type { User } from '../directory/model.ts';
import { NotFoundError } from '../errors.ts';
import type { WebAuthnCredentialRecord } from '../store/types.ts';
import type { UserFactors, WebAuthnCredential } from './schemas.ts';

export type UserFactorsView = z.output<typeof UserFactors>;
export type WebAuthnCredentialView = z.output<typeof WebAuthnCredential>;

/** The user's factors. @throws NotFoundError (user) */
export async function userFactors(core: Core, ref: string): Promise<{ user: User; factors: UserFactorsView }> {
  const user = await core.directory.users.find(ref);
  const [totp, credentials] = await Promise.all([core.totp.status(user.id), core.webauthn.list(user.id)]);
  return { user, factors: { ...totp, webauthn: credentials.map(credentialView) } };
}

/**
 * Removes the TOTP factor (pending or active) and the recovery codes. A user with neither is a
 * 404, as for any other DELETE of something that is not there.
 * @throws NotFoundError (user, or no TOTP factor)
 */
export async function resetTotp(core: Core, audit: AuditContext, ref: string): Promise<User> {
  const user = await core.directory.users.find(ref);
  const status = await core.totp.status(user.id);
  if (status.totp === 'none' && status.recoveryCodesLeft === 0) throw new NotFoundError('TOTP factor of user', user.username);
  await core.totp.reset(audit, user.id);
  return user;
}

/** Fresh recovery codes, returned this once. @throws TotpError('not_active'), NotFoundError (user) */
export async function newRecoveryCodes(core: Core, audit: AuditContext, ref: string): Promise<{ user: User; recoveryCodes: string[] }> {
  const user = await core.directory.users.find(ref);
  const { recoveryCodes } = await core.totp.regenerateRecoveryCodes(audit, user.id);
  return { user, recoveryCodes };
}

/** @throws NotFoundError (user, or no such credential of this user), ValidationError (name) */
export async function renameCredential(core: Core, audit: AuditContext, ref: string, credentialId: string, name: string): Promise<WebAuthnCredentialView> {
  const user = await core.directory.users.find(ref);
  return credentialView(await core.webauthn.rename(audit, user.id, credentialId, name));
}

/** @throws NotFoundError (user, or no such credential of this user) */
export async function removeCredential(core: Core, audit: AuditContext, ref: string, credentialId: string): Promise<{ user: User; credential: WebAuthnCredentialView }> {
  const user = await core.directory.users.find(ref);
  return { user, credential: credentialView(await core.webauthn.remove(audit, user.id, credentialId)) };
}

/** What may be shown of a credential: not its public key, counter or owner's id. */
export function credentialView(record: WebAuthnCredentialRecord): WebAuthnCredentialView {
  return {
    id: record.id,
    name: record.name,
    createdAt: record.createdAt,
    ...(record.lastUsedAt !== undefined ? { lastUsedAt: record.lastUsedAt } : {}),
    deviceType: record.deviceType,
    backedUp: record.backedUp,
    discoverable: record.discoverable,
    transports: record.transports,
  };
}

/** A new network password (WiFi, PEAP/MS-CHAPv2), returned this once; it replaces any earlier one. @throws NotFoundError (user) */
export async function newNetworkPassword(core: Core, audit: AuditContext, ref: string): Promise<{ user: User; password: string; createdAt: string }> {
  const user = await core.directory.users.find(ref);
  return { user, ...(await core.networkPasswords.generate(audit, user.id)) };
}

/** Removes the user's network password. @throws NotFoundError (user, or none to remove) */
export async function removeNetworkPassword(core: Core, audit: AuditContext, ref: string): Promise<User> {
  const user = await core.directory.users.find(ref);
  if (!(await core.networkPasswords.remove(audit, user.id))) throw new NotFoundError('network password of user', user.username);
  return user;
}
