/**
 * People: reads for the front-ends (by id, by login name, their groups) and every change to a
 * person (create, update, delete, passwords, suspend, activate), each audited in its transaction.
 */
import type { AuditContext } from '../audit/audit.ts';
import { checkPasswordPolicy, passwordContextWords, validatePasswordInput, type PasswordProblem } from '../credentials/password.ts';
import { NotFoundError } from '../errors.ts';
import type { ListQuery, Page } from '../store/types.ts';
import { applyPatch, changedFields, DirectoryPart, findByRef, forcedDetail, groupTarget, stripBookkeeping, userTarget, ValidationError, whenForced, type Forced, type WriteOptions } from './common.ts';
import type { Group, User, UserInput, UserPatch } from './model.ts';
import type { z } from 'zod';

/** How a login name that is not a DN is looked up, in order: the username, or the e-mail address. */
export type LoginAttribute = 'uid' | 'mail';

type NewUser = z.output<typeof UserInput> & { passwordHash?: string | undefined; passwordSource?: string };
type Person = { username?: string; email?: string | undefined; displayName?: string | undefined };
const named = (user: { username: string }) => `user '${user.username}'`;

export class Users extends DirectoryPart {
  // -------------------------------------------------------------------------------------------
  // Reads

  /** A user by id or username. @throws NotFoundError */
  find(ref: string): Promise<User> {
    return findByRef(this.dir.users, ref, 'user');
  }

  /** A user by id, or undefined when there is none (any more). */
  async byId(id: string): Promise<User | undefined> {
    try {
      return await this.dir.users.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** A user by username (case-insensitive). */
  byName(username: string): Promise<User | undefined> {
    return this.dir.users.findByName(username.trim().toLowerCase());
  }

  /**
   * The person a login name names, looked up by `attributes` in order: `uid`, the username;
   * `mail`, the e-mail address (only for a name with an '@').
   */
  async byLogin(login: string, attributes: readonly LoginAttribute[] = ['uid']): Promise<User | undefined> {
    const lower = login.trim().toLowerCase();
    if (!lower || lower.length > 256) return undefined;
    for (const attribute of attributes) {
      if (attribute === 'uid') {
        const user = await this.dir.users.findByName(lower);
        if (user) return user;
      }
      if (attribute === 'mail' && lower.includes('@')) {
        const { items } = await this.dir.users.list({ q: lower, limit: 10 });
        const user = items.find((u) => u.email === lower);
        if (user) return user;
      }
    }
    return undefined;
  }

  /** Every group the user is in, nested groups resolved. */
  groupsOf(userId: string): Promise<Group[]> {
    return this.dir.memberships.resolveUserGroups(userId);
  }

  /** The groups the user is a direct member of. */
  directGroupsOf(userId: string): Promise<Group[]> {
    return this.dir.memberships.groupsOf('user', userId);
  }

  list(query: ListQuery = {}): Promise<Page<User>> {
    return this.dir.users.list(query);
  }

  /** Checks a candidate password without changing anything (for the policy endpoint and config checks). */
  checkPassword(password: unknown, user: Person): PasswordProblem[] {
    const inputProblem = validatePasswordInput(password);
    if (inputProblem) return [inputProblem];
    return checkPasswordPolicy(password as string, this.deps.passwordPolicy, { words: passwordContextWords(user) });
  }

  /** Whether `password` is the user's current password (no throttle, no audit: for reconciling declared passwords). */
  async isCurrentPassword(userId: string, password: string): Promise<boolean> {
    const record = await this.dir.passwords.get(userId);
    return record !== undefined && (await this.deps.hasher.verify(record.hash, password)).ok;
  }

  // -------------------------------------------------------------------------------------------
  // Changes

  /** `passwordHash` imports an existing hash (with `passwordSource`, the fingerprint of its declaration). */
  async create(ctx: AuditContext, input: NewUser, options: WriteOptions = {}): Promise<User> {
    const { password, passwordHash: importedHash, passwordSource, groups, ...fields } = input;
    const hash = password !== undefined ? await this.hashNewPassword(password, fields, []) : importedHash;
    return this.change(ctx, async (tx, emit) => {
      let user = await tx.users.create({ ...fields, ...(hash ? { passwordChangedAt: new Date().toISOString() } : {}) }, options.managedBy);
      if (hash) await tx.passwords.set(user.id, hash, this.deps.passwordPolicy.history, password === undefined ? passwordSource : undefined);
      await emit({ type: 'user.created', outcome: 'success', target: userTarget(user), details: { object: user } });
      for (const name of groups ?? []) {
        const group = await findByRef(tx.groups, name, 'group');
        await tx.memberships.add(group.id, 'user', user.id, options.managedBy);
        await emit({ type: 'group.member.added', outcome: 'success', target: groupTarget(group), details: { member: user.username, memberKind: 'user' } });
      }
      user = await tx.users.get(user.id);
      return user;
    });
  }

  /** A declared user is the reconciler's to change (WriteOptions.force overrides). @throws ManagedByConfigError */
  async update(ctx: AuditContext, ref: string, patch: UserPatch, options: WriteOptions = {}): Promise<User> {
    const user = await this.find(ref);
    // A patch that changes nothing undoes nothing: let it through.
    const forced = changedFields(user, applyPatch(user, patch)).length ? this.declared.check(ctx, user.managedBy, named(user), 'change', options) : false;
    return this.change(ctx, async (tx, emit) => {
      const updated = await tx.users.update(user.id, (current) => applyPatch(stripBookkeeping(current), patch), options);
      const changed = changedFields(user, updated);
      if (changed.length) await emit({ type: 'user.updated', outcome: 'success', target: userTarget(updated), details: { changed, ...forcedDetail(forced) } });
      return updated;
    });
  }

  async delete(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<User> {
    const user = await this.find(ref);
    const forced = this.declared.check(ctx, user.managedBy, named(user), 'delete', options);
    const deleted = await this.change(ctx, async (tx, emit) => {
      const gone = await tx.users.delete(user.id, options);
      await emit({ type: 'user.deleted', outcome: 'success', target: userTarget(gone), ...whenForced(forced) });
      return gone;
    });
    await this.revokeAll(ctx, user.id, 'deleted');
    return deleted;
  }

  /**
   * Sets a password chosen by an administrator, declared in config, or by the person (policy and
   * history apply). The password of a declared user whose declaration sets one is the
   * reconciler's, the person's own change included. @throws ManagedByConfigError
   */
  async setPassword(ctx: AuditContext, ref: string, password: string, options: WriteOptions = {}): Promise<void> {
    const user = await this.find(ref);
    const forced = this.guardPassword(ctx, user, options);
    const record = await this.dir.passwords.get(user.id);
    const history = this.deps.passwordPolicy.history;
    const previous = record ? [record.hash, ...record.history].slice(0, Math.max(1, history)) : [];
    const hash = await this.hashNewPassword(password, user, history > 0 ? previous : []);
    await this.change(ctx, async (tx, emit) => {
      await tx.passwords.set(user.id, hash, history);
      await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), passwordChangedAt: new Date().toISOString() }));
      await emit({ type: 'user.password.set', outcome: 'success', target: userTarget(user), ...whenForced(forced) });
    });
  }

  /** Imports an existing hash as is (config `passwordHash`, migrations from other directories). @throws ManagedByConfigError */
  async importPasswordHash(ctx: AuditContext, ref: string, hash: string, source?: string, options: WriteOptions = {}): Promise<void> {
    const user = await this.find(ref);
    const forced = this.guardPassword(ctx, user, options);
    await this.change(ctx, async (tx, emit) => {
      await tx.passwords.set(user.id, hash, this.deps.passwordPolicy.history, source);
      await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), passwordChangedAt: new Date().toISOString() }));
      await emit({ type: 'user.password.set', outcome: 'success', target: userTarget(user), details: { imported: true, ...forcedDetail(forced) } });
    });
  }

  /** @throws ManagedByConfigError for a declared user (WriteOptions.force overrides) */
  async suspend(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<User> {
    const user = await this.find(ref);
    const forced = this.declared.check(ctx, user.managedBy, named(user), 'suspend', options);
    const updated = await this.change(ctx, async (tx, emit) => {
      const suspended = await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), status: 'suspended' }));
      await emit({ type: 'user.suspended', outcome: 'success', target: userTarget(suspended), ...whenForced(forced) });
      return suspended;
    });
    // Sessions and tokens live in the TTL store: revoked once the suspension is committed, so no
    // sign-in can slip in between (every sign-in checks the status first).
    await this.revokeAll(ctx, user.id, 'suspended');
    return updated;
  }

  /** @throws ManagedByConfigError for a declared user (WriteOptions.force overrides) */
  async activate(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<User> {
    const user = await this.find(ref);
    const forced = this.declared.check(ctx, user.managedBy, named(user), 'activate', options);
    return this.change(ctx, async (tx, emit) => {
      const updated = await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), status: 'active' }));
      await emit({ type: 'user.activated', outcome: 'success', target: userTarget(updated), ...whenForced(forced) });
      return updated;
    });
  }

  /** Ends the user's sessions (telling front-ends), then deletes everything tagged with the user. */
  private async revokeAll(ctx: AuditContext, userId: string, reason: 'suspended' | 'deleted'): Promise<void> {
    try {
      await this.deps.endSessions?.(ctx, userId, reason);
    } catch (err) {
      // The deletion below still revokes everything; only the notifications are lost.
      this.deps.auditor.warn('ending the sessions of a suspended or deleted user failed', err);
    }
    await this.deps.store.ttl.deleteTagged({ subject: userId });
  }

  /** The guard for a password: only a declared user's whose declaration sets one is the file's. */
  private guardPassword(ctx: AuditContext, user: User, options: WriteOptions): Forced {
    if (user.managedBy !== 'config' || !this.declared.declaresPassword(user.username)) return false;
    return this.declared.check(ctx, user.managedBy, `the password of ${named(user)}`, 'change', options);
  }

  private async hashNewPassword(password: string, user: Person, previous: string[]): Promise<string> {
    const problems = this.checkPassword(password, user);
    if (problems.length) throw new ValidationError(problems.map((p) => ({ path: 'password', ...p })));
    for (const old of previous) {
      if ((await this.deps.hasher.verify(old, password)).ok) {
        throw new ValidationError([{ path: 'password', code: 'reused', message: `password must differ from the last ${this.deps.passwordPolicy.history} passwords` }]);
      }
    }
    return this.deps.hasher.hash(password);
  }
}
