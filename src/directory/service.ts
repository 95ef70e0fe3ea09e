/**
 * The directory service: every change to the directory goes through here, whoever asks (admin
 * API, CLI, config reconciler). It checks what the store cannot (password policy, references from
 * policies), and writes each change and its audit event in one transaction.
 *
 * Inputs arrive parsed (zod, at the edge); this layer never re-parses them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hashSecret } from '../secrets/digest.ts';
import type { z } from 'zod';
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import {
  checkPasswordPolicy, passwordContextWords, validatePasswordInput, type PasswordHasher, type PasswordPolicy, type PasswordProblem,
} from '../credentials/password.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { ConflictError, NotFoundError } from '../store/errors.ts';
import type { Collection, DirectoryStore, Fields, ListQuery, Page, Store, StoredApiKey, StoredApplication, StoredRadiusClient } from '../store/types.ts';
import type {
  ApiKey, ApiKeyInput, ApiScope, Application, ApplicationInput, ApplicationPatch, Device, DeviceInput, DevicePatch, Group, GroupInput, GroupPatch, ManagedBy,
  MemberKind, Network, NetworkInput, NetworkPatch, Policy, PolicyInput, PolicyPatch, RadiusClient, RadiusClientInput, RadiusClientPatch, User, UserInput, UserPatch,
} from './model.ts';

/** Input refused for a reason the schema cannot see (password policy, dangling reference). */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  readonly problems: Array<{ path: string; code: string; message: string }>;
  constructor(problems: Array<{ path: string; code: string; message: string }>) {
    // "password: password must be …" reads badly: the path is left out when the message names it.
    super(problems.map((p) => (p.path && !p.message.startsWith(p.path) ? `${p.path}: ${p.message}` : p.message)).join('; '));
    this.problems = problems;
  }
}

export interface WriteOptions {
  expectVersion?: number;
  managedBy?: ManagedBy;
}

type Parsed<S extends z.ZodType> = z.output<S>;

/** The simple kinds: created, patched and deleted the same way. */
export interface ResourceKinds {
  applications: { entity: Application; input: Parsed<typeof ApplicationInput>; patch: ApplicationPatch };
  networks: { entity: Network; input: Parsed<typeof NetworkInput>; patch: NetworkPatch };
  devices: { entity: Device; input: Parsed<typeof DeviceInput>; patch: DevicePatch };
  policies: { entity: Policy; input: Parsed<typeof PolicyInput>; patch: PolicyPatch };
  radiusClients: { entity: RadiusClient; input: Parsed<typeof RadiusClientInput>; patch: RadiusClientPatch };
}
export type ResourceKind = keyof ResourceKinds;

/** Audit event prefix and display name of each kind. */
export const KIND_INFO: Record<ResourceKind | 'users' | 'groups' | 'apiKeys', { event: string; label: string }> = {
  users: { event: 'user', label: 'user' },
  groups: { event: 'group', label: 'group' },
  applications: { event: 'application', label: 'application' },
  networks: { event: 'network', label: 'network' },
  devices: { event: 'device', label: 'device' },
  policies: { event: 'policy', label: 'policy' },
  radiusClients: { event: 'radius_client', label: 'RADIUS client' },
  apiKeys: { event: 'apikey', label: 'API key' },
};

export interface DirectoryServiceDeps {
  store: Store;
  auditor: Auditor;
  hasher: PasswordHasher;
  passwordPolicy: PasswordPolicy;
  keyring: Keyring;
  /**
   * Ends a user's sessions through the session service (so front-ends hear of it: OIDC sends
   * back-channel logout) before everything tagged with the user is deleted.
   */
  endSessions?: (ctx: AuditContext, userId: string, reason: 'suspended' | 'deleted') => Promise<unknown>;
}

/**
 * A front-end's check of the application settings it defines (`settings` is free-form in the
 * directory; each protocol owns its keys). Registered by the process's composition root (the
 * server, the CLI), run on every create and update, so a bad client is refused at once (400).
 */
export type SettingsCheck = (app: { name: string; type: Application['type']; settings: Record<string, unknown> }) => Array<{ path: string; message: string }>;

export const RADIUS_SECRET_PURPOSE = 'radius-client-secret';
const API_KEY_PREFIX = 'ghk_';

/** Applies a patch: `undefined` keeps a field, `null` removes it. */
export function applyPatch<T extends object>(current: T, patch: object): T {
  const next = { ...current } as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next as T;
}

/** Names of the fields whose values differ (for the audit event's `changed`). */
export function changedFields(before: object, after: object): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const skip = new Set(['id', 'version', 'createdAt', 'updatedAt', 'managedBy', 'secretEncrypted', 'secretHash']);
  return [...keys].filter((k) => !skip.has(k) && JSON.stringify((before as Record<string, unknown>)[k]) !== JSON.stringify((after as Record<string, unknown>)[k])).sort();
}

function stripBookkeeping<T extends { id: string }>(entity: T): Fields<T> {
  const { id: _id, managedBy: _m, version: _v, createdAt: _c, updatedAt: _u, ...fields } = entity as T & { managedBy: unknown; version: unknown; createdAt: unknown; updatedAt: unknown };
  return fields as unknown as Fields<T>;
}

export class DirectoryService {
  private readonly store: Store;
  private readonly auditor: Auditor;
  readonly hasher: PasswordHasher;
  private readonly passwordPolicy: PasswordPolicy;
  private readonly keyring: Keyring;
  private readonly endSessions: DirectoryServiceDeps['endSessions'];
  private readonly settingsChecks: SettingsCheck[] = [];

  constructor(deps: DirectoryServiceDeps) {
    this.endSessions = deps.endSessions;
    this.store = deps.store;
    this.auditor = deps.auditor;
    this.hasher = deps.hasher;
    this.passwordPolicy = deps.passwordPolicy;
    this.keyring = deps.keyring;
  }

  /** Read access for the admin API and other core modules. */
  get dir(): DirectoryStore {
    return this.store.directory;
  }

  /**
   * Runs a change and its audit events in one transaction; the events are logged once committed.
   * `after` runs after the commit (work that must not hold the transaction, e.g. revoking sessions).
   */
  async change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: (draft: EventDraft) => Promise<void>) => Promise<R>): Promise<R> {
    return this.auditor.change(this.store.directory, ctx, work);
  }

  // -------------------------------------------------------------------------------------------
  // Users

  /** Finds a user by id or username. */
  async findUser(ref: string): Promise<User> {
    return this.find(this.store.directory.users, ref, 'user');
  }

  /** `passwordHash` imports an existing hash (with `passwordSource`, the fingerprint of its declaration). */
  async createUser(ctx: AuditContext, input: Parsed<typeof UserInput> & { passwordHash?: string | undefined; passwordSource?: string }, options: WriteOptions = {}): Promise<User> {
    const { password, passwordHash: importedHash, passwordSource, groups, ...fields } = input;
    const hash = password !== undefined ? await this.hashNewPassword(password, fields, []) : importedHash;
    return this.change(ctx, async (tx, emit) => {
      let user = await tx.users.create({ ...fields, ...(hash ? { passwordChangedAt: new Date().toISOString() } : {}) }, options.managedBy);
      if (hash) await tx.passwords.set(user.id, hash, this.passwordPolicy.history, password === undefined ? passwordSource : undefined);
      await emit({ type: 'user.created', outcome: 'success', target: userTarget(user), details: { object: user } });
      for (const name of groups ?? []) {
        const group = await this.find(tx.groups, name, 'group');
        await tx.memberships.add(group.id, 'user', user.id, options.managedBy);
        await emit({ type: 'group.member.added', outcome: 'success', target: groupTarget(group), details: { member: user.username, memberKind: 'user' } });
      }
      user = await tx.users.get(user.id);
      return user;
    });
  }

  async updateUser(ctx: AuditContext, ref: string, patch: UserPatch, options: WriteOptions = {}): Promise<User> {
    const user = await this.findUser(ref);
    return this.change(ctx, async (tx, emit) => {
      const updated = await tx.users.update(user.id, (current) => applyPatch(stripBookkeeping(current), patch), options);
      const changed = changedFields(user, updated);
      if (changed.length) await emit({ type: 'user.updated', outcome: 'success', target: userTarget(updated), details: { changed } });
      return updated;
    });
  }

  async deleteUser(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<User> {
    const user = await this.findUser(ref);
    const deleted = await this.change(ctx, async (tx, emit) => {
      const gone = await tx.users.delete(user.id, options);
      await emit({ type: 'user.deleted', outcome: 'success', target: userTarget(gone) });
      return gone;
    });
    await this.revokeAll(ctx, user.id, 'deleted');
    return deleted;
  }

  /** Sets a password chosen by an administrator (or declared in config): policy and history apply. */
  async setPassword(ctx: AuditContext, ref: string, password: string): Promise<void> {
    const user = await this.findUser(ref);
    const record = await this.store.directory.passwords.get(user.id);
    const previous = record ? [record.hash, ...record.history].slice(0, Math.max(1, this.passwordPolicy.history)) : [];
    const hash = await this.hashNewPassword(password, user, this.passwordPolicy.history > 0 ? previous : []);
    await this.change(ctx, async (tx, emit) => {
      await tx.passwords.set(user.id, hash, this.passwordPolicy.history);
      await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), passwordChangedAt: new Date().toISOString() }));
      await emit({ type: 'user.password.set', outcome: 'success', target: userTarget(user) });
    });
  }

  /** Imports an existing hash as is (config `passwordHash`, migrations from other directories). */
  async importPasswordHash(ctx: AuditContext, ref: string, hash: string, source?: string): Promise<void> {
    const user = await this.findUser(ref);
    await this.change(ctx, async (tx, emit) => {
      await tx.passwords.set(user.id, hash, this.passwordPolicy.history, source);
      await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), passwordChangedAt: new Date().toISOString() }));
      await emit({ type: 'user.password.set', outcome: 'success', target: userTarget(user), details: { imported: true } });
    });
  }

  /** Checks a candidate password without changing anything (for the policy endpoint and config checks). */
  checkPassword(password: unknown, user: { username?: string; email?: string | undefined; displayName?: string | undefined }): PasswordProblem[] {
    const inputProblem = validatePasswordInput(password);
    if (inputProblem) return [inputProblem];
    return checkPasswordPolicy(password as string, this.passwordPolicy, { words: passwordContextWords(user) });
  }

  async suspendUser(ctx: AuditContext, ref: string): Promise<User> {
    const user = await this.findUser(ref);
    const updated = await this.change(ctx, async (tx, emit) => {
      const suspended = await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), status: 'suspended' }));
      await emit({ type: 'user.suspended', outcome: 'success', target: userTarget(suspended) });
      return suspended;
    });
    // Sessions and tokens live in the TTL store: revoked once the suspension is committed, so no
    // sign-in can slip in between (every sign-in checks the status first).
    await this.revokeAll(ctx, user.id, 'suspended');
    return updated;
  }

  /** Ends the user's sessions (telling front-ends), then deletes everything tagged with the user. */
  private async revokeAll(ctx: AuditContext, userId: string, reason: 'suspended' | 'deleted'): Promise<void> {
    try {
      await this.endSessions?.(ctx, userId, reason);
    } catch (err) {
      // The deletion below still revokes everything; only the notifications are lost.
      this.auditor.warn('ending the sessions of a suspended or deleted user failed', err);
    }
    await this.store.ttl.deleteTagged({ subject: userId });
  }

  async activateUser(ctx: AuditContext, ref: string): Promise<User> {
    const user = await this.findUser(ref);
    return this.change(ctx, async (tx, emit) => {
      const updated = await tx.users.update(user.id, (current) => ({ ...stripBookkeeping(current), status: 'active' }));
      await emit({ type: 'user.activated', outcome: 'success', target: userTarget(updated) });
      return updated;
    });
  }

  private async hashNewPassword(password: string, user: { username?: string; email?: string | undefined; displayName?: string | undefined }, previous: string[]): Promise<string> {
    const problems = this.checkPassword(password, user);
    if (problems.length) throw new ValidationError(problems.map((p) => ({ path: 'password', ...p })));
    for (const old of previous) {
      if ((await this.hasher.verify(old, password)).ok) {
        throw new ValidationError([{ path: 'password', code: 'reused', message: `password must differ from the last ${this.passwordPolicy.history} passwords` }]);
      }
    }
    return this.hasher.hash(password);
  }

  // -------------------------------------------------------------------------------------------
  // Groups and memberships

  async findGroup(ref: string): Promise<Group> {
    return this.find(this.store.directory.groups, ref, 'group');
  }

  async createGroup(ctx: AuditContext, input: Parsed<typeof GroupInput>, options: WriteOptions = {}): Promise<Group> {
    return this.change(ctx, async (tx, emit) => {
      const group = await tx.groups.create(input, options.managedBy);
      await emit({ type: 'group.created', outcome: 'success', target: groupTarget(group), details: { object: group } });
      return group;
    });
  }

  async updateGroup(ctx: AuditContext, ref: string, patch: GroupPatch, options: WriteOptions = {}): Promise<Group> {
    const group = await this.findGroup(ref);
    return this.change(ctx, async (tx, emit) => {
      if (patch.name !== undefined && patch.name !== group.name) await this.assertUnreferenced(tx, 'group', group.name, 'renamed');
      const updated = await tx.groups.update(group.id, (current) => applyPatch(stripBookkeeping(current), patch), options);
      const changed = changedFields(group, updated);
      if (changed.length) await emit({ type: 'group.updated', outcome: 'success', target: groupTarget(updated), details: { changed } });
      return updated;
    });
  }

  async deleteGroup(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<Group> {
    const group = await this.findGroup(ref);
    return this.change(ctx, async (tx, emit) => {
      await this.assertUnreferenced(tx, 'group', group.name, 'deleted');
      const gone = await tx.groups.delete(group.id, options);
      await emit({ type: 'group.deleted', outcome: 'success', target: groupTarget(gone) });
      return gone;
    });
  }

  async addMember(ctx: AuditContext, groupRef: string, kind: MemberKind, memberRef: string, managedBy: ManagedBy = 'api'): Promise<void> {
    const group = await this.findGroup(groupRef);
    const member = kind === 'user' ? await this.findUser(memberRef) : await this.findGroup(memberRef);
    await this.change(ctx, async (tx, emit) => {
      await tx.memberships.add(group.id, kind, member.id, managedBy);
      await emit({ type: 'group.member.added', outcome: 'success', target: groupTarget(group), details: { member: memberName(member), memberKind: kind } });
    });
  }

  async removeMember(ctx: AuditContext, groupRef: string, kind: MemberKind, memberRef: string): Promise<void> {
    const group = await this.findGroup(groupRef);
    const member = kind === 'user' ? await this.findUser(memberRef) : await this.findGroup(memberRef);
    await this.change(ctx, async (tx, emit) => {
      if (!(await tx.memberships.remove(group.id, kind, member.id))) throw new NotFoundError('membership', `${memberName(member)} in ${group.name}`);
      await emit({ type: 'group.member.removed', outcome: 'success', target: groupTarget(group), details: { member: memberName(member), memberKind: kind } });
    });
  }

  // -------------------------------------------------------------------------------------------
  // Applications, networks, devices, policies, RADIUS clients

  collection<K extends ResourceKind>(kind: K): Collection<ResourceKinds[K]['entity'] & { id: string }> {
    return this.store.directory[kind] as unknown as Collection<ResourceKinds[K]['entity'] & { id: string }>;
  }

  registerSettingsCheck(check: SettingsCheck): void {
    this.settingsChecks.push(check);
  }

  /** @throws ValidationError naming every problem the front-ends find in the application's settings */
  private checkSettings(app: { name: string; type: Application['type']; settings: Record<string, unknown> }): void {
    const problems = this.settingsChecks.flatMap((check) => check(app)).map((p) => ({ ...p, code: 'invalid' }));
    if (problems.length) throw new ValidationError(problems);
  }

  /** A page of objects as interfaces show them (no secrets, no hashes). */
  async listResources<K extends ResourceKind>(kind: K, query: ListQuery = {}): Promise<Page<ResourceKinds[K]['entity']>> {
    const page = await (this.store.directory[kind] as unknown as Collection<{ id: string }>).list(query);
    return { ...page, items: page.items.map((item) => this.shown(kind, item) as ResourceKinds[K]['entity']) };
  }

  async findResource<K extends ResourceKind>(kind: K, ref: string): Promise<ResourceKinds[K]['entity']> {
    const found = await this.find(this.collection(kind), ref, KIND_INFO[kind].label);
    return this.shown(kind, found) as ResourceKinds[K]['entity'];
  }

  async createResource<K extends ResourceKind>(ctx: AuditContext, kind: K, input: ResourceKinds[K]['input'], options: WriteOptions = {}): Promise<ResourceKinds[K]['entity']> {
    const fields = this.toStored(kind, input as Record<string, unknown>);
    return this.change(ctx, async (tx, emit) => {
      if (kind === 'policies') await this.assertPolicyReferences(tx, fields as Fields<Policy>);
      if (kind === 'applications') this.checkSettings(fields as unknown as StoredApplication);
      const created = await (tx[kind] as unknown as Collection<{ id: string; name: string }>).create(fields as never, options.managedBy);
      const shown = this.shown(kind, created);
      await emit({ type: `${KIND_INFO[kind].event}.created`, outcome: 'success', target: resourceTarget(kind, created), details: { object: shown } });
      return shown as ResourceKinds[K]['entity'];
    });
  }

  async updateResource<K extends ResourceKind>(ctx: AuditContext, kind: K, ref: string, patch: ResourceKinds[K]['patch'], options: WriteOptions = {}): Promise<ResourceKinds[K]['entity']> {
    const current = (await this.find(this.collection(kind), ref, KIND_INFO[kind].label)) as unknown as { id: string; name: string };
    const patchFields = this.toStored(kind, patch as Record<string, unknown>);
    return this.change(ctx, async (tx, emit) => {
      const renamed = typeof patchFields.name === 'string' && patchFields.name !== current.name;
      if (renamed && kind !== 'devices' && kind !== 'policies') await this.assertUnreferenced(tx, referenceKind(kind), current.name, 'renamed');
      const collection = tx[kind] as unknown as Collection<{ id: string; name: string }>;
      const updated = await collection.update(
        current.id,
        async (cur) => {
          const next = applyPatch(stripBookkeeping(cur), patchFields);
          if (kind === 'policies') await this.assertPolicyReferences(tx, next as unknown as Fields<Policy>);
          if (kind === 'applications') this.checkSettings(next as unknown as StoredApplication);
          return next;
        },
        options,
      );
      const changed = changedFields(current, updated);
      if ((patchFields.secretEncrypted !== undefined || patchFields.secretHash !== undefined) && !changed.includes('secret')) changed.push('secret');
      if (changed.length) await emit({ type: `${KIND_INFO[kind].event}.updated`, outcome: 'success', target: resourceTarget(kind, updated), details: { changed } });
      return this.shown(kind, updated) as ResourceKinds[K]['entity'];
    });
  }

  async deleteResource<K extends ResourceKind>(ctx: AuditContext, kind: K, ref: string, options: WriteOptions = {}): Promise<ResourceKinds[K]['entity']> {
    const current = (await this.find(this.collection(kind), ref, KIND_INFO[kind].label)) as unknown as { id: string; name: string };
    return this.change(ctx, async (tx, emit) => {
      if (kind !== 'devices' && kind !== 'policies') await this.assertUnreferenced(tx, referenceKind(kind), current.name, 'deleted');
      const gone = await (tx[kind] as unknown as Collection<{ id: string; name: string }>).delete(current.id, options);
      await emit({ type: `${KIND_INFO[kind].event}.deleted`, outcome: 'success', target: resourceTarget(kind, gone) });
      return this.shown(kind, gone) as ResourceKinds[K]['entity'];
    });
  }

  /** The shared secret of a RADIUS client, decrypted (for the RADIUS front-end only). */
  async radiusSecret(client: StoredRadiusClient): Promise<string> {
    return this.keyring.decrypt(client.secretEncrypted, RADIUS_SECRET_PURPOSE);
  }

  /**
   * Rotates an application's secret (OIDC client secret, LDAP service-account password): a new
   * random one, returned this once; only its SHA-256 is stored and the old one stops working.
   */
  async rotateApplicationSecret(ctx: AuditContext, ref: string): Promise<{ application: Application; secret: string }> {
    const current = await this.find(this.store.directory.applications, ref, 'application');
    const secret = randomBytes(32).toString('base64url');
    const application = await this.change(ctx, async (tx, emit) => {
      const updated = await tx.applications.update(current.id, (cur) => ({ ...stripBookkeeping(cur), secretHash: hashSecret(secret) }));
      await emit({ type: 'application.secret_rotated', outcome: 'success', target: resourceTarget('applications', updated) });
      return withoutSecretHash(updated);
    });
    return { application, secret };
  }

  /**
   * The application named, if `secret` is its secret (constant-time compare of the hashes);
   * undefined for an unknown application, one without a secret, or a wrong secret.
   */
  async verifyApplicationSecret(name: string, secret: string): Promise<Application | undefined> {
    const app = await this.store.directory.applications.findByName(name.trim().toLowerCase());
    const presented = Buffer.from(hashSecret(secret));
    // Compare against something of the same length even when there is nothing to compare with.
    const stored = Buffer.from(app?.secretHash ?? hashSecret(randomBytes(16).toString('hex')));
    const matches = timingSafeEqual(stored, presented);
    return app?.secretHash && matches ? withoutSecretHash(app) : undefined;
  }

  private toStored(kind: ResourceKind, input: Record<string, unknown>): Record<string, unknown> {
    if ((kind !== 'radiusClients' && kind !== 'applications') || input.secret === undefined) return input;
    const { secret, ...rest } = input;
    if (kind === 'applications') return { ...rest, secretHash: secret === null ? null : hashSecret(String(secret)) };
    return { ...rest, secretEncrypted: this.keyring.encrypt(String(secret), RADIUS_SECRET_PURPOSE) };
  }

  private shown(kind: ResourceKind, entity: object): object {
    if (kind === 'radiusClients') return withoutSecret(entity as StoredRadiusClient);
    if (kind === 'applications') return withoutSecretHash(entity as StoredApplication);
    return entity;
  }

  /**
   * A policy naming a group, network or resource that does not exist would silently apply to
   * nobody (or everybody): refuse it.
   */
  private async assertPolicyReferences(tx: DirectoryStore, policy: Fields<Policy>): Promise<void> {
    const problems: Array<{ path: string; code: string; message: string }> = [];
    const check = async (path: string, names: string[] | undefined, collection: Collection<{ id: string }>, label: string) => {
      for (const [i, name] of (names ?? []).entries()) {
        if (!(await collection.findByName(name))) problems.push({ path: `${path}[${i}]`, code: 'unknown_reference', message: `${label} '${name}' does not exist` });
      }
    };
    await check('users.groups', policy.users.groups, tx.groups, 'group');
    await check('users.exclude', policy.users.exclude, tx.groups, 'group');
    await check('conditions.network.in', policy.conditions.network?.in, tx.networks, 'network');
    await check('conditions.network.notIn', policy.conditions.network?.notIn, tx.networks, 'network');
    await check('except.network.in', policy.except?.network?.in, tx.networks, 'network');
    await check('except.network.notIn', policy.except?.network?.notIn, tx.networks, 'network');
    for (const [i, ref] of (policy.resources.include ?? []).entries()) {
      const [type, name] = ref.split(':') as [string, string | undefined];
      if (name === undefined) continue;
      const collection = type === 'app' ? tx.applications : tx.radiusClients;
      if (!(await collection.findByName(name))) problems.push({ path: `resources.include[${i}]`, code: 'unknown_reference', message: `${type === 'app' ? 'application' : 'RADIUS client'} '${name}' does not exist` });
    }
    if (policy.action !== 'mfa' && policy.methods) problems.push({ path: 'methods', code: 'invalid', message: "methods only apply to action 'mfa'" });
    if (problems.length) throw new ValidationError(problems);
  }

  /** Refuses to rename or delete an object a policy refers to by name. */
  private async assertUnreferenced(tx: DirectoryStore, kind: 'group' | 'network' | 'app' | 'radius', name: string, action: string): Promise<void> {
    const users = kind === 'group';
    for (const policy of await tx.policies.all()) {
      const refs =
        kind === 'group' ? [...(policy.users.groups ?? []), ...policy.users.exclude]
        : kind === 'network' ? [policy.conditions, policy.except].flatMap((c) => [...(c?.network?.in ?? []), ...(c?.network?.notIn ?? [])])
        : (policy.resources.include ?? []).filter((r) => r.startsWith(`${kind}:`)).map((r) => r.slice(kind.length + 1));
      if (refs.includes(name)) {
        throw new ConflictError(`${users ? 'group' : kind === 'network' ? 'network' : kind === 'app' ? 'application' : 'RADIUS client'} '${name}' cannot be ${action}: policy '${policy.name}' refers to it`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Admin API keys

  /** Creates a key; the secret is returned once and only its SHA-256 is stored. */
  async createApiKey(ctx: AuditContext, input: Parsed<typeof ApiKeyInput>, secret?: string, managedBy: ManagedBy = 'api'): Promise<{ apiKey: ApiKey; secret: string }> {
    const token = secret ?? `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const apiKey = await this.change(ctx, async (tx, emit) => {
      const created = await tx.apiKeys.create({ name: input.name, scopes: [...new Set(input.scopes)], prefix: token.slice(0, 12), secretHash: hashSecret(token), ...(input.expiresAt ? { expiresAt: new Date(input.expiresAt).toISOString() } : {}) }, managedBy);
      await emit({ type: 'apikey.created', outcome: 'success', target: { type: 'apikey', id: created.id, name: created.name }, details: { scopes: created.scopes } });
      return created;
    });
    return { apiKey: withoutHash(apiKey), secret: token };
  }

  async revokeApiKey(ctx: AuditContext, ref: string): Promise<ApiKey> {
    const key = await this.find(this.store.directory.apiKeys, ref, 'API key');
    return this.change(ctx, async (tx, emit) => {
      const gone = await tx.apiKeys.delete(key.id);
      await emit({ type: 'apikey.revoked', outcome: 'success', target: { type: 'apikey', id: gone.id, name: gone.name } });
      return withoutHash(gone);
    });
  }

  /** The key a bearer token belongs to, if it is live and has the scope; else why not. */
  async verifyApiKey(token: string, scope: ApiScope): Promise<{ ok: true; apiKey: ApiKey } | { ok: false; code: 'unknown' | 'expired' | 'scope'; apiKey?: ApiKey }> {
    const hash = hashSecret(token);
    const key = await this.store.directory.apiKeys.findBySecretHash(hash);
    // The lookup is by hash of a 256-bit secret; the compare is belt and braces.
    if (!key || !timingSafeEqual(Buffer.from(key.secretHash), Buffer.from(hash))) return { ok: false, code: 'unknown' };
    const apiKey = withoutHash(key);
    if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return { ok: false, code: 'expired', apiKey };
    if (!key.scopes.includes(scope)) return { ok: false, code: 'scope', apiKey };
    return { ok: true, apiKey };
  }

  // -------------------------------------------------------------------------------------------

  private async find<T extends { id: string }>(collection: Collection<T>, ref: string, label: string): Promise<T> {
    // Names are lower-case everywhere but on devices.
    const byName = await collection.findByName(label === 'device' ? ref : ref.trim().toLowerCase());
    if (byName) return byName;
    if (/^[0-9a-f-]{36}$/i.test(ref)) {
      try {
        return await collection.get(ref.toLowerCase());
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    throw new NotFoundError(label, ref);
  }
}

function withoutSecret(client: StoredRadiusClient): RadiusClient {
  const { secretEncrypted: _s, ...rest } = client;
  return rest;
}

function withoutSecretHash(app: StoredApplication): Application {
  const { secretHash, ...rest } = app;
  return { ...rest, hasSecret: secretHash !== undefined };
}

function withoutHash(key: StoredApiKey): ApiKey {
  const { secretHash: _h, ...rest } = key;
  return rest;
}

function referenceKind(kind: ResourceKind): 'network' | 'app' | 'radius' {
  return kind === 'networks' ? 'network' : kind === 'applications' ? 'app' : 'radius';
}

const userTarget = (u: User) => ({ type: 'user', id: u.id, name: u.username });
const groupTarget = (g: Group) => ({ type: 'group', id: g.id, name: g.name });
const resourceTarget = (kind: ResourceKind, r: { id: string; name: string }) => ({ type: KIND_INFO[kind].event, id: r.id, name: r.name });
const memberName = (m: User | Group) => ('username' in m ? m.username : m.name);

