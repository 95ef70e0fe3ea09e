/**
 * Simple bind (RFC 4511 §4.2, RFC 4513 §5.1) through the core: identify the user, verify the
 * password (throttling, constant cost, audit are the core's), then ask conditional access about the
 * resource `ldap`. A policy demanding MFA is met by a current TOTP code appended to the password.
 */
import type { Core } from '../../src/core.ts';
import type { Group, User } from '../../src/directory/model.ts';
import { RESULT } from './codes.ts';
import { parseDn, sameDn } from './dn.ts';
import type { LdapOptions } from './options.ts';
import { userDn } from './tree.ts';

export interface BoundUser {
  userId: string;
  username: string;
  dn: string;
}

export type BindOutcome =
  | { status: typeof RESULT.success; bound?: BoundUser }
  | { status: number; message: string };

const INVALID = { status: RESULT.invalidCredentials, message: 'invalid credentials' } as const;
const TOTP_DIGITS = 6;

export async function simpleBind(core: Core, options: LdapOptions, name: string, password: string, clientIp: string | undefined): Promise<BindOutcome> {
  if (name === '' && password === '') {
    // RFC 4513 §5.1.1: anonymous bind. Refused like OpenLDAP's `disallow bind_anon` when turned off.
    return options.anonymous ? { status: RESULT.success } : { status: 48, message: 'anonymous bind is disabled (ldap.anonymous)' };
  }
  if (password === '') {
    // RFC 4513 §5.1.2: an unauthenticated bind must not be mistaken for a successful one.
    return { status: RESULT.unwillingToPerform, message: 'unauthenticated bind (a name without a password) is not allowed' };
  }
  const { username, user } = await loginName(core, options, name);
  const ctx = { actor: { type: 'anonymous' as const }, ...(clientIp ? { sourceIp: clientIp } : {}), protocol: 'ldap' };
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
      return decide(core, options, first.user, first.groups, clientIp, [{ method: 'password', at }, { method: 'totp', at }]);
    }
  }
  const result = await attempt(password);
  if (result.outcome !== 'success') return result.outcome === 'error' ? { status: RESULT.unavailable, message: 'the directory is unavailable' } : INVALID;
  return decide(core, options, result.user, result.groups, clientIp, [{ method: 'password', at: new Date().toISOString() }]);
}

async function decide(core: Core, options: LdapOptions, user: User, groups: Group[], clientIp: string | undefined, authn: Array<{ method: 'password' | 'totp'; at: string }>): Promise<BindOutcome> {
  const ctx = { actor: { type: 'user' as const, id: user.id, name: user.username }, ...(clientIp ? { sourceIp: clientIp } : {}), protocol: 'ldap' };
  const { decision } = await core.access.decide(ctx, { user, groups, resource: 'ldap', protocol: 'ldap', ...(clientIp ? { clientIp } : {}), authn });
  if (decision.action === 'allow') return { status: RESULT.success, bound: { userId: user.id, username: user.username, dn: userDn(user.username, options.baseDn) } };
  // Deny and an unmet MFA requirement look the same to the client (DESIGN.md: invalidCredentials).
  return INVALID;
}

/**
 * The username behind a bind name: `uid=<username>,ou=people,<baseDn>`, or a bare name looked up
 * by the configured attributes. Anything else is passed on as is, so it fails in the core with the
 * same cost as an unknown user.
 */
async function loginName(core: Core, options: LdapOptions, name: string): Promise<{ username: string; user?: User }> {
  if (name.includes('=')) {
    const rdns = parseDn(name);
    const base = parseDn(options.baseDn) ?? [];
    if (rdns && rdns.length === base.length + 2 && sameDn(rdns.slice(1), ['ou=people', ...base]) && rdns[0]!.startsWith('uid=')) return { username: rdns[0]!.slice(4) };
    return { username: name };
  }
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
