/**
 * Password authentication, the first factor every front-end uses: input checks, throttling,
 * constant-cost lookup, verification, transparent rehash, and exactly one audit event per attempt.
 * Any store failure refuses the attempt (fail closed).
 */
import type { Auditor, AuditContext } from '../audit/audit.ts';
import { validatePasswordInput, type PasswordHasher } from '../credentials/password.ts';
import type { Group, Reason, User } from '../directory/model.ts';
import type { Store } from '../store/types.ts';
import { reason } from '../reasons.ts';
import type { Throttle, ThrottleCounters } from './throttle.ts';

export interface PasswordAttempt {
  username: string;
  password: string;
  /**
   * The user `username` names when the caller has looked them up already (null: looked up, none),
   * so the check does not read them again.
   */
  user?: User | null | undefined;
  /** Where the attempt came from and through which protocol (audited). */
  context: AuditContext & { sourceIp?: string; protocol?: string };
  /**
   * The attempt comes from a place the person signed in from before (AccessService.familiar): the
   * throttle counts it apart from attempts elsewhere. Absent: not known (an unknown user), counted
   * with attempts from anywhere.
   */
  familiar?: boolean;
}

export type PasswordResult =
  | {
      outcome: 'success'; user: User; groups: Group[]; reasons: Reason[];
      /** The failure counters as they stand after this success (the account's are forgiven), for the risk signals. */
      failures: ThrottleCounters;
    }
  | { outcome: 'failure' | 'denied' | 'error'; user?: User; reasons: Reason[]; retryAfterSeconds?: number };

export const REASONS = {
  badCredentials: reason('bad_credentials'),
  invalidInput: reason('invalid_input'),
  suspended: reason('suspended'),
  noPassword: reason('no_password'),
  ok: reason('password_ok'),
} satisfies Record<string, Reason>;

export interface PasswordAuthenticatorDeps {
  store: Store;
  hasher: PasswordHasher;
  throttle: Throttle;
  auditor: Auditor;
}

export class PasswordAuthenticator {
  private readonly deps: PasswordAuthenticatorDeps;
  constructor(deps: PasswordAuthenticatorDeps) {
    this.deps = deps;
  }

  async authenticate(attempt: PasswordAttempt): Promise<PasswordResult> {
    let result: PasswordResult;
    let rehashedFrom: string | undefined;
    try {
      ({ result, rehashedFrom } = await this.verify(attempt));
    } catch (err) {
      // Fail closed: whatever broke, the attempt is refused.
      result = { outcome: 'error', reasons: [reason('store_unavailable', err instanceof Error ? err.message : String(err))] };
    }
    const username = normalizeUsername(attempt.username);
    await this.deps.auditor.record(attempt.context, {
      type: 'authn.password',
      outcome: result.outcome,
      actor: result.user ? { type: 'user', id: result.user.id, name: result.user.username } : { type: 'anonymous', ...(username ? { name: username } : {}) },
      // The account the attempt was made against, even when unknown or not looked up (throttled).
      ...(result.user ? { target: { type: 'user', id: result.user.id, name: result.user.username } } : username ? { target: { type: 'user', name: username } } : {}),
      reasons: result.reasons,
      details: {
        ...(username ? { username } : {}),
        ...(attempt.familiar !== undefined ? { familiar: attempt.familiar } : {}),
        ...(rehashedFrom ? { rehashed: rehashedFrom } : {}),
        ...('retryAfterSeconds' in result && result.retryAfterSeconds !== undefined ? { retryAfterSeconds: result.retryAfterSeconds } : {}),
      },
    });
    if (rehashedFrom && result.user) {
      await this.deps.auditor.record(attempt.context, { type: 'user.password.rehashed', outcome: 'success', target: { type: 'user', id: result.user.id, name: result.user.username }, details: { from: rehashedFrom } });
    }
    return result;
  }

  private async verify(attempt: PasswordAttempt): Promise<{ result: PasswordResult; rehashedFrom?: string }> {
    const { hasher, throttle, store } = this.deps;
    const username = normalizeUsername(attempt.username);
    if (!username || validatePasswordInput(attempt.password)) {
      return { result: { outcome: 'failure', reasons: [REASONS.invalidInput] } };
    }
    const keys = { user: username, ...(attempt.context.sourceIp ? { ip: attempt.context.sourceIp } : {}), ...(attempt.familiar ? { familiar: true } : {}) };
    // The attempt's place is reserved before the hash is verified: concurrent guesses cannot all pass.
    const reserved = await throttle.reserve(keys);
    if (!reserved.allowed) {
      return { result: { outcome: 'failure', reasons: [reason('throttled', `per ${reserved.scope}`)], retryAfterSeconds: reserved.retryAfterSeconds } };
    }
    const { reservation } = reserved;

    // The caller may have looked the user up already (a login name by e-mail): one read less.
    const user = attempt.user !== undefined ? (attempt.user ?? undefined) : await store.directory.users.findByName(username);
    const record = user ? await store.directory.passwords.get(user.id) : undefined;
    if (!user || !record) {
      // Same cost as a real verify, so response times do not reveal which usernames exist.
      await hasher.dummyVerify(attempt.password);
      // The reservation stands as the failure.
      return { result: { outcome: 'failure', reasons: [user ? REASONS.noPassword : REASONS.badCredentials] } };
    }
    const verification = await hasher.verify(record.hash, attempt.password);
    if (!verification.ok) {
      return { result: { outcome: 'failure', user, reasons: [REASONS.badCredentials] } };
    }
    await reservation.success();
    if (user.status !== 'active') return { result: { outcome: 'denied', user, reasons: [REASONS.suspended] } };

    let rehashedFrom: string | undefined;
    if (verification.needsRehash) {
      // Only replaces the hash we verified: a password changed meanwhile wins.
      if (await store.directory.passwords.rehash(user.id, record.hash, await hasher.hash(attempt.password))) rehashedFrom = verification.scheme;
    }
    const groups = await store.directory.memberships.resolveUserGroups(user.id);
    const failures = reservation.counters.ip ? { ip: reservation.counters.ip } : {};
    return { result: { outcome: 'success', user, groups, reasons: [REASONS.ok], failures }, ...(rehashedFrom ? { rehashedFrom } : {}) };
  }
}

function normalizeUsername(username: unknown): string {
  if (typeof username !== 'string' || username.length > 256 || !username.isWellFormed()) return '';
  return username.trim().toLowerCase();
}
