/**
 * Reconciliation of the objects declared in the configuration file into the store, at start and
 * on reload (SIGHUP). Declared objects are created or updated and marked managed by the config;
 * config-managed objects the file no longer declares are removed; objects made through the API are
 * never touched — a declaration that collides with one is refused before anything changes.
 *
 * Running it twice with the same file changes nothing the second time. Each change is audited by
 * the directory service; the run as a whole is one `config.reconciled` event and one log line with
 * the counts per kind (the per-object events reach the process log at debug only).
 */
import { createHash } from 'node:crypto';
import type { AuditContext } from '../audit/audit.ts';
import type { Core } from '../core.ts';
import { type Declarations, type DirectoryService, type ResourceKind, applyPatch, changedFields } from '../directory/service.ts';
import { hashSecret } from '../secrets/digest.ts';
import type { DirectoryStore, Store, StoredRadiusClient } from '../store/types.ts';
import type { Group, ManagedBy, User } from '../directory/model.ts';
import type { CoreConfig, DeclaredGroup, DeclaredUser } from './schema.ts';

export interface ReconcileSummary {
  created: number;
  updated: number;
  deleted: number;
}

/** A change the run made, as counted per kind: objects are created, updated, deleted; memberships added, removed. */
type Change = 'created' | 'updated' | 'deleted' | 'added' | 'removed';

/**
 * What one run changed: the totals (the run's audit event and the caller's summary; a membership
 * added or removed counts as an update of its group) and the counts per kind, for the one log line
 * that stands for the run's per-object events (those reach the log at debug only, see Auditor).
 */
class Tally {
  readonly summary: ReconcileSummary = { created: 0, updated: 0, deleted: 0 };
  readonly kinds: Record<string, Partial<Record<Change, number>>> = {};

  count(kind: string, change: Change): void {
    const counts = (this.kinds[kind] ??= {});
    counts[change] = (counts[change] ?? 0) + 1;
    this.summary[change === 'added' || change === 'removed' ? 'updated' : change]++;
  }

  /** 'networks 1 created, groups 2 created, memberships 2 added', or 'no changes'. */
  describe(): string {
    const parts = Object.entries(this.kinds).map(([kind, counts]) => `${kind} ${Object.entries(counts).map(([change, n]) => `${n} ${change}`).join(' ')}`);
    return parts.length ? parts.join(', ') : 'no changes';
  }
}

export class ReconcileError extends Error {
  override readonly name = 'ReconcileError';
}

/** Fingerprint of a declared password hash, so an imported hash is not re-imported after a rehash. */
const fingerprint = (hash: string) => createHash('sha256').update(hash).digest('hex');

/**
 * How every write of a run says it is the reconciler's: the directory refuses changes of declared
 * objects from anyone else (unforced), and marks what a run creates as managed by the config.
 */
const AS_CONFIG = { managedBy: 'config' } as const;

interface Named {
  id: string;
  name: string;
  managedBy: ManagedBy;
}

export async function reconcile(core: Core, storage: Store, config: CoreConfig, ctx: AuditContext, source: string): Promise<ReconcileSummary> {
  const service = core.directory;
  const store = storage.directory;
  const declared = config.directory;
  const tally = new Tally();

  await preflight(core, store, config);

  // Create and update, in dependency order: networks and groups before what refers to them.
  await reconcileKind(service, store, ctx, 'networks', declared.networks, tally);
  for (const group of declared.groups) {
    const { memberOf: _m, ...fields } = group;
    const current = await store.groups.findByName(group.name);
    if (!current) {
      await service.groups.create(ctx, fields, AS_CONFIG);
      tally.count('groups', 'created');
    } else if (changedFields(comparable(current), { ...comparable(current), ...fields }).length) {
      await service.groups.update(ctx, current.id, nullify(current, fields), AS_CONFIG);
      tally.count('groups', 'updated');
    }
  }
  for (const user of declared.users) await reconcileUser(service, store, ctx, user, tally);
  await reconcileMemberships(service, store, ctx, declared.users, declared.groups, tally);
  await reconcileKind(service, store, ctx, 'applications', declared.applications, tally);
  await reconcileKind(service, store, ctx, 'radiusClients', declared.radiusClients, tally);
  await reconcileKind(service, store, ctx, 'policies', declared.policies, tally);

  // Remove config-managed objects no longer declared, dependents first.
  await prune(service, store, ctx, 'policies', declared.policies, tally);
  await prune(service, store, ctx, 'radiusClients', declared.radiusClients, tally);
  await prune(service, store, ctx, 'applications', declared.applications, tally);
  for (const user of await store.users.all({ managedBy: 'config' })) {
    if (!declared.users.some((u) => u.username === user.username)) {
      await service.users.delete(ctx, user.id, AS_CONFIG);
      tally.count('users', 'deleted');
    }
  }
  for (const group of await store.groups.all({ managedBy: 'config' })) {
    if (!declared.groups.some((g) => g.name === group.name)) {
      await service.groups.delete(ctx, group.id, AS_CONFIG);
      tally.count('groups', 'deleted');
    }
  }
  await prune(service, store, ctx, 'networks', declared.networks, tally);

  const { summary } = tally;
  await service.change(ctx, async (_tx, emit) => emit({ type: 'config.reconciled', outcome: 'success', details: { file: source, ...summary } }));
  core.logger.info({ file: source, ...summary, kinds: tally.kinds }, `configuration reconciled: ${tally.describe()}`);
  return summary;
}

/**
 * What a run puts back, for the directory to refuse changes it would undo (DirectoryService.declare):
 * the declared users whose password the file sets, the declared applications whose secret it sets
 * (the others keep what was set through the API), and the file to name.
 */
export function declarationsOf(config: Pick<CoreConfig, 'directory'>, file: string | undefined): Declarations {
  const d = config.directory;
  return {
    ...(file !== undefined ? { file } : {}),
    passwords: new Set(d.users.filter((u) => u.password !== undefined || u.passwordHash !== undefined).map((u) => u.username)),
    secrets: new Set(d.applications.filter((a) => a.secret !== undefined).map((a) => a.name)),
  };
}

/**
 * Everything that would make the run fail half-way is checked first: declarations colliding with
 * API-managed objects, and declared passwords the policy refuses.
 */
async function preflight(core: Core, store: DirectoryStore, config: CoreConfig): Promise<void> {
  const problems: string[] = [];
  const service = core.directory;
  const collide = async (label: string, path: string, names: string[], find: (name: string) => Promise<{ managedBy: ManagedBy } | undefined>) => {
    for (const [i, name] of names.entries()) {
      const existing = await find(name);
      if (existing && existing.managedBy !== 'config') problems.push(`directory.${path}[${i}]: ${label} '${name}' already exists and was made through the API; rename the declaration or delete the object`);
    }
  };
  const d = config.directory;
  await collide('user', 'users', d.users.map((u) => u.username), (n) => store.users.findByName(n));
  await collide('group', 'groups', d.groups.map((g) => g.name), (n) => store.groups.findByName(n));
  await collide('network', 'networks', d.networks.map((n) => n.name), (n) => store.networks.findByName(n));
  await collide('application', 'applications', d.applications.map((a) => a.name), (n) => store.applications.findByName(n));
  await collide('RADIUS client', 'radiusClients', d.radiusClients.map((r) => r.name), (n) => store.radiusClients.findByName(n));
  await collide('policy', 'policies', d.policies.map((p) => p.name), (n) => store.policies.findByName(n));
  for (const [i, user] of d.users.entries()) {
    if (user.password === undefined) continue;
    for (const p of service.users.checkPassword(user.password, user)) problems.push(`directory.users[${i}].password: ${p.message}`);
  }
  const groupNames = new Set(d.groups.map((g) => g.name));
  for (const [i, user] of d.users.entries()) {
    for (const g of user.groups ?? []) if (!groupNames.has(g) && !(await store.groups.findByName(g))) problems.push(`directory.users[${i}].groups: group '${g}' is not declared`);
  }
  for (const [i, group] of d.groups.entries()) {
    for (const g of group.memberOf) if (!groupNames.has(g) && !(await store.groups.findByName(g))) problems.push(`directory.groups[${i}].memberOf: group '${g}' is not declared`);
  }
  if (problems.length) throw new ReconcileError(problems.join('\n'));
}

async function reconcileUser(service: DirectoryService, store: DirectoryStore, ctx: AuditContext, declared: DeclaredUser, tally: Tally): Promise<void> {
  const { password, passwordHash, groups: _g, status, ...fields } = declared;
  let user = await store.users.findByName(declared.username);
  if (!user) {
    user = await service.users.create(ctx, { ...fields, status, ...(password !== undefined ? { password } : {}), ...(passwordHash ? { passwordHash, passwordSource: fingerprint(passwordHash) } : {}) }, AS_CONFIG);
    tally.count('users', 'created');
    return;
  }
  let changed = false;
  const { status: _s, ...current } = comparable(user);
  if (changedFields(current, { ...current, ...fields }).length || droppedFields(current, fields).length) {
    user = await service.users.update(ctx, user.id, nullify(current, fields), AS_CONFIG);
    changed = true;
  }
  // Status goes through suspend/activate so a suspension revokes sessions like any other.
  if (status !== user.status) {
    user = status === 'suspended' ? await service.users.suspend(ctx, user.id, AS_CONFIG) : await service.users.activate(ctx, user.id, AS_CONFIG);
    changed = true;
  }
  const record = await store.passwords.get(user.id);
  if (password !== undefined && !(record && (await service.users.isCurrentPassword(user.id, password)))) {
    await service.users.setPassword(ctx, user.id, password, AS_CONFIG);
    changed = true;
  } else if (passwordHash !== undefined && record?.source !== fingerprint(passwordHash)) {
    await service.users.importPasswordHash(ctx, user.id, passwordHash, fingerprint(passwordHash), AS_CONFIG);
    changed = true;
  }
  if (changed) tally.count('users', 'updated');
}

/** Memberships the file declares (users' `groups`, groups' `memberOf`), managed like objects. */
async function reconcileMemberships(service: DirectoryService, store: DirectoryStore, ctx: AuditContext, users: DeclaredUser[], groups: DeclaredGroup[], tally: Tally): Promise<void> {
  const want = new Map<string, { group: string; kind: 'user' | 'group'; member: string }>();
  for (const u of users) for (const g of u.groups ?? []) want.set(`${g}/user/${u.username}`, { group: g, kind: 'user', member: u.username });
  for (const child of groups) for (const parent of child.memberOf) want.set(`${parent}/group/${child.name}`, { group: parent, kind: 'group', member: child.name });

  const names = await nameIndex(store);
  const have = new Map<string, ManagedBy>();
  for (const m of await store.memberships.all()) {
    const group = names.groups.get(m.groupId);
    const member = m.kind === 'user' ? names.users.get(m.memberId) : names.groups.get(m.memberId);
    if (group && member) have.set(`${group}/${m.kind}/${member}`, m.managedBy);
  }
  for (const [key, m] of want) {
    if (have.has(key)) continue;
    await service.groups.addMember(ctx, m.group, m.kind, m.member, AS_CONFIG);
    tally.count('memberships', 'added');
  }
  for (const [key, managedBy] of have) {
    if (managedBy !== 'config' || want.has(key)) continue;
    const [group, kind, member] = key.split('/') as [string, 'user' | 'group', string];
    await service.groups.removeMember(ctx, group, kind, member, AS_CONFIG);
    tally.count('memberships', 'removed');
  }
}

async function nameIndex(store: DirectoryStore): Promise<{ users: Map<string, string>; groups: Map<string, string> }> {
  const users = new Map((await store.users.all()).map((u: User) => [u.id, u.username] as const));
  const groups = new Map((await store.groups.all()).map((g: Group) => [g.id, g.name] as const));
  return { users, groups };
}

async function reconcileKind<K extends ResourceKind>(service: DirectoryService, store: DirectoryStore, ctx: AuditContext, kind: K, declared: Array<Record<string, unknown> & { name: string }>, tally: Tally): Promise<void> {
  for (const fields of declared) {
    const current = (await store[kind].findByName(fields.name)) as unknown as (Named & Record<string, unknown>) | undefined;
    if (!current) {
      await service.resources.create(ctx, kind, fields as never, AS_CONFIG);
      tally.count(kind, 'created');
      continue;
    }
    // A RADIUS secret is stored encrypted: compare it by decrypting. An application's is stored
    // hashed: compare the hashes. A declaration without one leaves a secret set through the API.
    const { secret, ...plain } = fields as Record<string, unknown> & { secret?: string };
    const secretChanged = secret !== undefined && (
      kind === 'radiusClients' ? (await service.radiusClients.secretOf(current as unknown as StoredRadiusClient)) !== secret
      : kind === 'applications' ? (current as { secretHash?: string }).secretHash !== hashSecret(secret)
      : false);
    const differs = changedFields(comparable(current), { ...comparable(current), ...plain }).length > 0 || droppedFields(current, plain).length > 0;
    if (differs || secretChanged) {
      await service.resources.update(ctx, kind, current.id, nullify(current, secretChanged ? fields : plain) as never, AS_CONFIG);
      tally.count(kind, 'updated');
    }
  }
}

async function prune(service: DirectoryService, store: DirectoryStore, ctx: AuditContext, kind: ResourceKind, declared: Array<{ name: string }>, tally: Tally): Promise<void> {
  for (const current of (await store[kind].all({ managedBy: 'config' })) as unknown as Named[]) {
    if (declared.some((d) => d.name === current.name)) continue;
    await service.resources.delete(ctx, kind, current.id, AS_CONFIG);
    tally.count(kind, 'deleted');
  }
}

/** The stored object without bookkeeping and store-only fields, for comparison with a declaration. */
function comparable(entity: object): Record<string, unknown> {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, managedBy: _m, passwordChangedAt: _p, secretEncrypted: _s, secretHash: _h, ...rest } = entity as Record<string, unknown>;
  return rest;
}

/** Optional fields set on the object that the declaration no longer has (they are removed). */
function droppedFields(entity: object, declared: Record<string, unknown>): string[] {
  return Object.keys(comparable(entity)).filter((k) => declared[k] === undefined);
}

/** A patch making the object equal to the declaration: declared fields set, dropped ones nulled. */
function nullify(entity: object, declared: Record<string, unknown>): Record<string, unknown> {
  return applyPatch(Object.fromEntries(droppedFields(entity, declared).map((k) => [k, null])), Object.fromEntries(Object.entries(declared).filter(([, v]) => v !== undefined)));
}

