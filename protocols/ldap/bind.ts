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
import type { ThrottleCounters } from '../../src/authn/throttle.ts';
import { AttemptAudit, type AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import type { Application, Group, User } from '../../src/directory/model.ts';
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
  | { status: number; message: string };

const INVALID = { status: RESULT.invalidCredentials, message: 'invalid credentials' } as const;
const UNAVAILABLE = { status: RESULT.unavailable, message: 'the directory is unavailable' } as const;
const TOTP_DIGITS = 6;

/** Where a bind comes from: the client's address, and the request id its audit events share. */
export interface BindPeer {
  clientIp?: string | undefined;
  requestId?: string;
  /** The bind's authentication attempt (set by simpleBind). */
  attempt?: AttemptAudit;
}

/** The audit context of a bind: one request id links its events (the factor, the decision). */
function contextOf(peer: BindPeer, actor: AuditContext['actor']): AuditContext {
  return { actor, ...(peer.clientIp ? { sourceIp: peer.clientIp } : {}), protocol: 'ldap', ...(peer.requestId ? { requestId: peer.requestId } : {}), ...(peer.attempt ? { attempt: peer.attempt } : {}) };
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
  const attempt = new AttemptAudit();
  try {
    return await authenticatedBind(core, options, name, password, { ...peer, attempt });
  } finally {
    // Checks no decision took (e.g. a right password with a wrong code) are recorded on their own.
    await core.auditor.settle(core.directory.dir, attempt);
  }
}

async function authenticatedBind(core: Core, options: LdapOptions, name: string, password: string, peer: BindPeer): Promise<BindOutcome> {
  // A DN is parsed once, here (bare names are login names).
  const rdns = name.includes('=') ? parseDn(name) : undefined;
  const service = serviceName(options, rdns);
  if (service !== undefined) return serviceBind(core, options, service, password, peer);
  const { username, user } = await loginName(core, options, name, rdns);
  const ctx = contextOf(peer, { type: 'anonymous' });
  const attempt = (pw: string) => core.passwords.authenticate({ username, password: pw, context: ctx });

  // A user with active TOTP probably appended a code: try that split first, so a correct
  // password+code never also counts as one failed password attempt.
  const split = await splitCode(core, options, username, user, password);
  if (split) {
    const first = await attempt(split.password);
    if (first.outcome === 'success') {
      const verified = await core.totp.verify(ctx, first.user.id, split.code);
      if (!verified.ok) return INVALID;
      const at = new Date().toISOString();
      return decide(core, options, first, peer, [{ method: 'password', at }, { method: 'totp', at }]);
    }
  }
  const result = await attempt(password);
  if (result.outcome !== 'success') return result.outcome === 'error' ? UNAVAILABLE : INVALID;
  return decide(core, options, result, peer, [{ method: 'password', at: new Date().toISOString() }]);
}

/** The access decision after a verified password, reusing what the password check read (user, groups, failure counters). */
async function decide(core: Core, options: LdapOptions, verified: { user: User; groups: Group[]; failures: ThrottleCounters }, peer: BindPeer, authn: Array<{ method: 'password' | 'totp'; at: string }>): Promise<BindOutcome> {
  const { user, groups, failures } = verified;
  const clientIp = peer.clientIp;
  const ctx = contextOf(peer, { type: 'user', id: user.id, name: user.username });
  const { decision } = await core.access.decide(ctx, { user, groups, failures, resource: 'ldap', protocol: 'ldap', ...(clientIp ? { clientIp } : {}), authn });
  if (decision.action === 'allow') return { status: RESULT.success, bound: { kind: 'user', userId: user.id, username: user.username, dn: userDn(user.username, options.baseDn) } };
  // Deny and an unmet MFA requirement look the same to the client (DESIGN.md: invalidCredentials).
  return INVALID;
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

async function serviceBind(core: Core, options: LdapOptions, name: string, secret: string, peer: BindPeer): Promise<BindOutcome> {
  const clientIp = peer.clientIp;
  // The principal name app:<name> cannot be a username (usernames have no ':'), so the throttle
  // and the risk signals count a service account's failures apart from every user's.
  const principal = `app:${name}`;
  const keys = { user: principal, ...(clientIp ? { ip: clientIp } : {}) };
  const ctx = contextOf(peer, { type: 'anonymous', name: principal });
  // authn.password, as for a person's bind: the secret is this account's LDAP password (a success
  // is carried by the decision's event).
  const record = (outcome: 'success' | 'failure' | 'error', app: Application | undefined, reason: { code: string; description: string }, details: Record<string, unknown> = {}) =>
    core.auditor.record(core.directory.dir, ctx, {
      type: 'authn.password',
      outcome,
      ...(app ? { actor: { type: 'application' as const, id: app.id, name: app.name } } : {}),
      target: { type: 'application', ...(app ? { id: app.id } : {}), name },
      reasons: [reason],
      details: { username: principal, ...details },
    });

  let app: Application | undefined;
  try {
    const verdict = await core.throttle.check(keys);
    if (!verdict.allowed) {
      await record('failure', undefined, { code: 'throttled', description: `too many failed attempts: wait before trying again (per ${verdict.scope})` }, { retryAfterSeconds: verdict.retryAfterSeconds });
      return INVALID;
    }
    app = await core.directory.verifyApplicationSecret(name, secret);
    const account = app ? serviceAccountOf(app) : undefined;
    if (!app || !account || 'problem' in account) {
      await core.throttle.failure(keys);
      await record('failure', undefined, { code: 'bad_credentials', description: app ? 'the application is not an LDAP service account (settings.ldap)' : 'unknown service account or wrong secret' });
      return INVALID;
    }
    await core.throttle.success(keys);
  } catch (err) {
    // Fail closed.
    await record('error', undefined, { code: 'store_unavailable', description: `the directory is unavailable; refusing (fail closed): ${err instanceof Error ? err.message : String(err)}` });
    return UNAVAILABLE;
  }
  await record('success', app, { code: 'password_ok', description: 'service account secret verified' });
  const { decision } = await core.access.decide(
    { ...ctx, actor: { type: 'application', id: app.id, name: app.name } },
    { application: app, resource: principal, protocol: 'ldap', ...(clientIp ? { clientIp } : {}), authn: [{ method: 'password', at: new Date().toISOString() }] },
  );
  if (decision.action !== 'allow') return INVALID;
  return { status: RESULT.success, bound: { kind: 'service', applicationId: app.id, name: app.name, dn: serviceDn(app.name, options.baseDn) } };
}

/**
 * The username behind a bind name: `uid=<username>,ou=people,<baseDn>`, or a bare name looked up
 * by the configured attributes. Anything else is passed on as is, so it fails in the core with the
 * same cost as an unknown user.
 */
async function loginName(core: Core, options: LdapOptions, name: string, rdns: string[] | undefined): Promise<{ username: string; user?: User }> {
  if (name.includes('=')) return { username: nameUnder(options, rdns, 'people', 'uid') ?? name };
  const lower = name.trim().toLowerCase();
  for (const attribute of options.loginAttributes) {
    if (attribute === 'uid') {
      const user = await core.directory.dir.users.findByName(lower);
      if (user) return { username: lower, user };
    }
    if (attribute === 'mail' && lower.includes('@')) {
      const { items } = await core.directory.dir.users.list({ q: lower, limit: 10 });
      const user = items.find((u) => u.email === lower);
      if (user) return { username: user.username, user };
    }
  }
  return { username: lower };
}

/** `known` is the user when the bind name lookup found them already (one read less on the bind path). */
async function splitCode(core: Core, options: LdapOptions, username: string, known: User | undefined, password: string): Promise<{ password: string; code: string } | undefined> {
  const suffix = options.otpSeparator.length + TOTP_DIGITS;
  if (password.length <= suffix) return undefined;
  const code = password.slice(-TOTP_DIGITS);
  if (!/^[0-9]{6}$/.test(code) || password.slice(-suffix, -TOTP_DIGITS) !== options.otpSeparator) return undefined;
  const user = known ?? (await core.directory.dir.users.findByName(username));
  if (!user || (await core.totp.status(user.id)).totp !== 'active') return undefined;
  return { password: password.slice(0, -suffix), code };
}
