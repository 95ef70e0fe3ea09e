/**
 * Simple bind (RFC 4511 §4.2, RFC 4513 §5.1) through the core.
 *
 * A person: identify the user, verify the password (throttling, constant cost, audit are the
 * core's), then ask conditional access about the resource `ldap`. A policy demanding MFA is met by
 * a current TOTP code appended to the password.
 *
 * A service account (services.ts), cn=<app>,ou=services,<baseDn>: the same throttle (keyed
 * `app:<name>` and by client address), the application's secret checked by the core in constant
 * time, then conditional access with the application as both the principal and the resource
 * (`app:<name>`), so network conditions and deny policies apply.
 *
 * A bind is one authentication attempt, so one audit event: the access decision, carrying the
 * factor checks that led to it (details.checks); a check that fails is the event instead.
 */
import type { Refused } from '../../src/authn/attempt.ts';
import type { Core } from '../../src/core.ts';
import type { Application } from '../../src/directory/model.ts';
import { RESULT } from './codes.ts';
import { parseDn, sameDn } from './dn.ts';
import type { LdapOptions } from './options.ts';
import { serviceAccountOf } from './services.ts';
import { serviceDn, userDn } from './tree.ts';

export interface BoundUser {
  kind: 'user';
  userId: string;
  username: string;
  dn: string;
}

export interface BoundService {
  kind: 'service';
  applicationId: string;
  /** The application's name. */
  name: string;
  dn: string;
}

/** Who a connection is bound as. */
export type Bound = BoundUser | BoundService;

export type BindOutcome =
  | { status: typeof RESULT.success; bound?: Bound }
  /** `locked`: refused because the account (or the client's address) is backed off, or suspended (a password policy response says accountLocked). */
  | { status: number; message: string; locked?: true };

const INVALID = { status: RESULT.invalidCredentials, message: 'invalid credentials' } as const;
const UNAVAILABLE = { status: RESULT.unavailable, message: 'the directory is unavailable' } as const;

/** Where a bind comes from: the client's address, and the request id its audit events share. */
export interface BindPeer {
  clientIp?: string | undefined;
  requestId?: string;
}

export async function simpleBind(core: Core, options: LdapOptions, name: string, password: string, peer: BindPeer = {}): Promise<BindOutcome> {
  if (name === '' && password === '') {
    // RFC 4513 §5.1.1: anonymous bind. Refused like OpenLDAP's `disallow bind_anon` when turned off.
    return options.anonymous ? { status: RESULT.success } : { status: RESULT.inappropriateAuthentication, message: 'anonymous bind is disabled (ldap.anonymous)' };
  }
  if (password === '') {
    // RFC 4513 §5.1.2: an unauthenticated bind must not be mistaken for a successful one.
    return { status: RESULT.unwillingToPerform, message: 'unauthenticated bind (a name without a password) is not allowed' };
  }
  // A DN is parsed once, here (bare names are login names).
  const rdns = name.includes('=') ? parseDn(name) : undefined;
  const service = serviceName(options, rdns);
  const where = { protocol: 'ldap' as const, ...(peer.clientIp ? { clientIp: peer.clientIp } : {}), ...(peer.requestId ? { requestId: peer.requestId } : {}) };
  if (service !== undefined) {
    // A service account: the application named, with its secret, as both principal and resource.
    const accept = (app: Application) => {
      const account = serviceAccountOf(app);
      return !account ? 'the application is not an LDAP service account (settings.ldap)' : 'problem' in account ? account.problem : undefined;
    };
    const result = await core.signIn.asApplication({ ...where, name: service, secret: password, accept });
    if (!result.ok) return refused(result);
    if (result.decision.action !== 'allow') return INVALID;
    return { status: RESULT.success, bound: { kind: 'service', applicationId: result.application.id, name: result.application.name, dn: serviceDn(result.application.name, options.baseDn) } };
  }
  // uid=<username>,ou=people,<baseDn>, or a bare name looked up by the configured attributes.
  // Any other DN is passed on as is, so it fails in the core with the same cost as an unknown user.
  const login = rdns ? (nameUnder(options, rdns, 'people', 'uid') ?? name) : name;
  const result = await core.signIn.attempt({
    ...where,
    presented: { kind: 'password', login, password, loginAttributes: rdns ? ['uid'] : options.loginAttributes, appendedOtp: { separator: options.otpSeparator } },
    resource: 'ldap',
  });
  if (!result.ok) return refused(result);
  // Deny and an unmet MFA requirement look the same to the client (DESIGN.md: invalidCredentials).
  if (result.decision.action !== 'allow') return INVALID;
  return { status: RESULT.success, bound: { kind: 'user', userId: result.user.id, username: result.user.username, dn: userDn(result.user.username, options.baseDn) } };
}

/**
 * A refused attempt: the directory failing is `unavailable`, anything else `invalidCredentials`;
 * backed off (the throttle, checked before any credential) or suspended (said only once the password
 * was right) is also `locked`, for the password policy response control.
 */
function refused(result: Refused): BindOutcome {
  switch (result.reason.code) {
    case 'store_unavailable':
      return UNAVAILABLE;
    case 'throttled':
    case 'suspended':
      return { ...INVALID, locked: true };
    default:
      return INVALID;
  }
}

/** The naming context's RDNs, parsed once per configuration. */
const bases = new WeakMap<LdapOptions, string[]>();
function baseRdns(options: LdapOptions): string[] {
  let rdns = bases.get(options);
  if (!rdns) bases.set(options, (rdns = parseDn(options.baseDn) ?? []));
  return rdns;
}

/** The name under `ou=<container>,<baseDn>` with `<attr>=<name>` (case-insensitive), or undefined. */
function nameUnder(options: LdapOptions, rdns: string[] | undefined, container: string, attr: string): string | undefined {
  const base = baseRdns(options);
  if (!rdns || rdns.length !== base.length + 2 || rdns[1] !== `ou=${container}` || !sameDn(rdns.slice(2), base) || !rdns[0]!.startsWith(`${attr}=`)) return undefined;
  return rdns[0]!.slice(attr.length + 1);
}

/** The application named by `cn=<name>,ou=services,<baseDn>`, or undefined for any other name. */
function serviceName(options: LdapOptions, rdns: string[] | undefined): string | undefined {
  return nameUnder(options, rdns, 'services', 'cn');
}
