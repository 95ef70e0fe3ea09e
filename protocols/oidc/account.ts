/**
 * Who the tokens are about: the claims a person's tokens carry, how the factors of their Gatehouse
 * session become `acr` and `amr`, and the re-check that runs at every issuance after the first
 * (code redemption, refresh, device code, userinfo): the user still exists, is active and is still
 * assigned to the client's application.
 */
import type { AuthMethod } from '../../src/access/types.ts';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import type { Reason, User } from '../../src/directory/model.ts';
import { reason } from '../../src/reasons.ts';

/**
 * Authentication Context Class References Gatehouse issues (`acr`), weakest first:
 *  - pwd: one factor (a password, or a passkey standing in for one);
 *  - mfa: two or more factors, at least one of them not phishing-resistant (e.g. password + TOTP);
 *  - phr: phishing-resistant: a WebAuthn authenticator or a device certificate was among the factors,
 *    together with a second factor.
 */
export const ACR = {
  pwd: 'urn:gatehouse:acr:pwd',
  mfa: 'urn:gatehouse:acr:mfa',
  phr: 'urn:gatehouse:acr:phr',
} as const;

/** Authentication Method Reference values (RFC 8176 §2) for each Gatehouse factor. */
const AMR: Record<AuthMethod, string> = {
  password: 'pwd',
  totp: 'otp',
  webauthn: 'hwk',
  // A device certificate proves possession of the device's key (mTLS).
  certificate: 'pop',
};

export interface AuthnContext {
  acr: string;
  amr: string[];
  /** When the person last actively authenticated (epoch seconds): OpenID Connect's auth_time. */
  authTime: number;
}

export function authnContext(authn: ReadonlyArray<{ method: AuthMethod; at: string }>, fallbackMs: number): AuthnContext {
  const methods = new Set(authn.map((a) => a.method));
  const amr = [...methods].map((m) => AMR[m]);
  if (methods.size >= 2) amr.push('mfa');
  const phishingResistant = methods.has('webauthn') || methods.has('certificate');
  const acr = methods.size >= 2 ? (phishingResistant ? ACR.phr : ACR.mfa) : ACR.pwd;
  const times = authn.map((a) => Date.parse(a.at)).filter(Number.isFinite);
  const authTime = Math.floor((times.length ? Math.max(...times) : fallbackMs) / 1000);
  return { acr, amr, authTime };
}

export interface Claims {
  sub: string;
  [claim: string]: unknown;
}

function stringAttribute(user: User, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = user.attributes[name];
    if (typeof value === 'string' && value) return value;
  }
  return undefined;
}

/**
 * Every claim Gatehouse can say about a user; oidc-provider passes on only those the granted scopes
 * cover (see CLAIMS in provider.ts). Groups are resolved only when asked for.
 */
export async function claimsOf(core: Core, user: User, scope: string): Promise<Claims> {
  const scopes = new Set(scope.split(' '));
  const given = stringAttribute(user, 'givenName', 'given_name');
  const family = stringAttribute(user, 'familyName', 'family_name', 'sn', 'surname');
  return {
    sub: user.id,
    preferred_username: user.username,
    ...(user.displayName ? { name: user.displayName } : {}),
    ...(given ? { given_name: given } : {}),
    ...(family ? { family_name: family } : {}),
    updated_at: Math.floor(Date.parse(user.updatedAt) / 1000),
    // The directory is managed by administrators (people cannot change their own address), so an
    // address it holds is one the organisation vouches for.
    ...(user.email ? { email: user.email, email_verified: true } : {}),
    ...(scopes.has('groups') ? { groups: (await core.directory.users.groupsOf(user.id)).map((g) => g.name).sort() } : {}),
  };
}

export type AccountCheck = { ok: true; user: User } | { ok: false; reason: Reason; user?: User };

/**
 * Whether tokens may still be issued to `clientId` for this user: the user exists and is active, and
 * one of the application's groups is among the user's (nested) groups (least privilege, as the
 * access core decides it at sign-in).
 */
export async function checkAccount(core: Core, userId: string, clientId: string | undefined): Promise<AccountCheck> {
  const user = await core.directory.users.byId(userId);
  if (!user) return { ok: false, reason: reason('unknown_user') };
  if (user.status !== 'active') return { ok: false, user, reason: reason('suspended') };
  if (clientId === undefined) return { ok: true, user };
  const [app, groups] = await Promise.all([core.directory.applications.byName(clientId), core.directory.users.groupsOf(user.id)]);
  if (!app || app.type !== 'oidc') return { ok: false, user, reason: { code: 'unknown_resource', description: `application '${clientId}' no longer exists as an OpenID Connect client` } };
  const mine = new Set(groups.map((g) => g.name));
  if (!app.groups.some((g) => mine.has(g))) {
    return { ok: false, user, reason: { code: 'not_assigned', description: `none of the user's groups is assigned to application '${clientId}'` } };
  }
  return { ok: true, user };
}

/** Records a refused issuance (the reasons say why) in the audit log. */
export async function auditRefusal(core: Core, ctx: AuditContext, check: Extract<AccountCheck, { ok: false }>, details: Record<string, unknown>): Promise<void> {
  await core.audit.record({ ...ctx, protocol: 'oidc' }, {
    type: 'oidc.token.refused',
    outcome: 'denied',
    ...(check.user ? { actor: { type: 'user', id: check.user.id, name: check.user.username } } : {}),
    target: { type: 'application', name: String(details.client ?? '') },
    reasons: [check.reason],
    details,
  });
}
