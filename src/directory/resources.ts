/**
 * The simple kinds — applications, networks, devices, policies, RADIUS clients — created, patched
 * and deleted the same way, each change audited in its transaction. Secrets given with an
 * application (stored as SHA-256) or a RADIUS client (encrypted) never come back out: objects are
 * shown as interfaces show them.
 */
import { timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { AuditContext } from '../audit/audit.ts';
import { hashSecret } from '../secrets/digest.ts';
import type { Collection, DirectoryStore, Fields, ListQuery, Page, StoredApplication, StoredRadiusClient } from '../store/types.ts';
import { applyPatch, changedFields, DirectoryPart, findByRef, forcedDetail, stripBookkeeping, ValidationError, whenForced, type Forced, type WriteOptions } from './common.ts';
import type {
  Application, ApplicationInput, ApplicationPatch, Device, DeviceInput, DevicePatch, ManagedBy, Network, NetworkInput, NetworkPatch, Policy, PolicyInput, PolicyPatch,
  RadiusClient, RadiusClientInput, RadiusClientPatch,
} from './model.ts';
import { assertPolicyReferences, assertUnreferenced } from './references.ts';

type Parsed<S extends z.ZodType> = z.output<S>;

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

/**
 * A front-end's check of the application settings it defines (`settings` is free-form in the
 * directory; each protocol owns its keys). Registered from the list of front-ends by the process's
 * composition root (the server, the CLI), run on every create and update, so a bad client is
 * refused at once (400).
 */
export type SettingsCheck = (app: { name: string; type: Application['type']; settings: Record<string, unknown> }) => Array<{ path: string; message: string }>;

/** The same for a RADIUS client's `settings` (the RADIUS front-end defines `settings.radius`). */
export type RadiusClientSettingsCheck = (client: { name: string; settings: Record<string, unknown> }) => Array<{ path: string; message: string }>;

export const RADIUS_SECRET_PURPOSE = 'radius-client-secret';

export function withoutSecret(client: StoredRadiusClient): RadiusClient {
  const { secretEncrypted: _s, ...rest } = client;
  return rest;
}

export function withoutSecretHash(app: StoredApplication): Application {
  const { secretHash, ...rest } = app;
  return { ...rest, hasSecret: secretHash !== undefined };
}

export const resourceTarget = (kind: ResourceKind, r: { id: string; name: string }) => ({ type: KIND_INFO[kind].event, id: r.id, name: r.name });
/** "application 'wiki'", as refusals name an object. */
export const named = (kind: ResourceKind, r: { name: string }) => `${KIND_INFO[kind].label} '${r.name}'`;

function referenceKind(kind: ResourceKind): 'network' | 'app' | 'radius' {
  return kind === 'networks' ? 'network' : kind === 'applications' ? 'app' : 'radius';
}

type Named = { id: string; name: string; managedBy: ManagedBy };

export class Resources extends DirectoryPart {
  private readonly settingsChecks: SettingsCheck[] = [];
  private readonly radiusClientChecks: RadiusClientSettingsCheck[] = [];

  registerSettingsCheck(check: SettingsCheck): void {
    this.settingsChecks.push(check);
  }

  registerRadiusClientSettingsCheck(check: RadiusClientSettingsCheck): void {
    this.radiusClientChecks.push(check);
  }

  /** A page of objects as interfaces show them (no secrets, no hashes). */
  async list<K extends ResourceKind>(kind: K, query: ListQuery = {}): Promise<Page<ResourceKinds[K]['entity']>> {
    const page = await this.collection(kind).list(query);
    return { ...page, items: page.items.map((item) => this.shown(kind, item) as ResourceKinds[K]['entity']) };
  }

  /** Every object of a kind as interfaces show them, a page at a time. */
  async all<K extends ResourceKind>(kind: K, query: Omit<ListQuery, 'limit' | 'after'> = {}): Promise<Array<ResourceKinds[K]['entity']>> {
    return (await this.collection(kind).all(query)).map((item) => this.shown(kind, item) as ResourceKinds[K]['entity']);
  }

  /** By id or name. @throws NotFoundError */
  async find<K extends ResourceKind>(kind: K, ref: string): Promise<ResourceKinds[K]['entity']> {
    return this.shown(kind, await this.stored(kind, ref)) as ResourceKinds[K]['entity'];
  }

  async create<K extends ResourceKind>(ctx: AuditContext, kind: K, input: ResourceKinds[K]['input'], options: WriteOptions = {}): Promise<ResourceKinds[K]['entity']> {
    const fields = this.toStored(kind, input as Record<string, unknown>);
    return this.change(ctx, async (tx, emit) => {
      if (kind === 'policies') await assertPolicyReferences(tx, fields as Fields<Policy>);
      if (kind === 'applications') this.checkSettings(fields as unknown as StoredApplication);
      if (kind === 'radiusClients') await this.checkRadiusClient(tx, fields as unknown as StoredRadiusClient);
      const created = await (tx[kind] as unknown as Collection<Named>).create(fields as never, options.managedBy);
      const shown = this.shown(kind, created);
      await emit({ type: `${KIND_INFO[kind].event}.created`, outcome: 'success', target: resourceTarget(kind, created), details: { object: shown } });
      return shown as ResourceKinds[K]['entity'];
    });
  }

  /** A declared object is the reconciler's to change (WriteOptions.force overrides). @throws ManagedByConfigError */
  async update<K extends ResourceKind>(ctx: AuditContext, kind: K, ref: string, patch: ResourceKinds[K]['patch'], options: WriteOptions = {}): Promise<ResourceKinds[K]['entity']> {
    const current = (await this.stored(kind, ref)) as Named;
    const patchFields = this.toStored(kind, patch as Record<string, unknown>);
    const forced = this.guardUpdate(ctx, kind, current, patchFields, options);
    return this.change(ctx, async (tx, emit) => {
      const renamed = typeof patchFields.name === 'string' && patchFields.name !== current.name;
      if (renamed && kind !== 'devices' && kind !== 'policies') await assertUnreferenced(tx, referenceKind(kind), current.name, 'renamed');
      const collection = tx[kind] as unknown as Collection<Named>;
      const updated = await collection.update(
        current.id,
        async (cur) => {
          const next = applyPatch(stripBookkeeping(cur), patchFields);
          if (kind === 'policies') await assertPolicyReferences(tx, next as unknown as Fields<Policy>);
          if (kind === 'applications') this.checkSettings(next as unknown as StoredApplication);
          if (kind === 'radiusClients') await this.checkRadiusClient(tx, next as unknown as StoredRadiusClient, current.id);
          return next;
        },
        options,
      );
      const changed = changedFields(current, updated);
      if ((patchFields.secretEncrypted !== undefined || patchFields.secretHash !== undefined) && !changed.includes('secret')) changed.push('secret');
      if (changed.length) await emit({ type: `${KIND_INFO[kind].event}.updated`, outcome: 'success', target: resourceTarget(kind, updated), details: { changed, ...forcedDetail(forced) } });
      return this.shown(kind, updated) as ResourceKinds[K]['entity'];
    });
  }

  /** @throws ManagedByConfigError for a declared object (WriteOptions.force overrides) */
  async delete<K extends ResourceKind>(ctx: AuditContext, kind: K, ref: string, options: WriteOptions = {}): Promise<ResourceKinds[K]['entity']> {
    const current = (await this.stored(kind, ref)) as Named;
    const forced = this.declared.check(ctx, current.managedBy, named(kind, current), 'delete', options);
    const deleted = await this.change(ctx, async (tx, emit) => {
      if (kind !== 'devices' && kind !== 'policies') await assertUnreferenced(tx, referenceKind(kind), current.name, 'deleted');
      const gone = await (tx[kind] as unknown as Collection<Named>).delete(current.id, options);
      await emit({ type: `${KIND_INFO[kind].event}.deleted`, outcome: 'success', target: resourceTarget(kind, gone), ...whenForced(forced) });
      return this.shown(kind, gone) as ResourceKinds[K]['entity'];
    });
    // Committed: a device's live network sessions end now (a failure leaves them to the next review).
    if (kind === 'devices' && this.deps.onDeviceDeleted) {
      const device = deleted as Device;
      await this.deps.onDeviceDeleted(ctx, device).catch((err: unknown) => this.deps.auditor.warn(`device ${device.name} was deleted, but its network sessions could not be queued to end now; the next review ends them`, err));
    }
    return deleted;
  }

  /**
   * The guard for a patch of a declared object: any field it changes is the file's, and so is the
   * secret of a RADIUS client (always declared) and of an application whose declaration sets one
   * (the reconciler leaves an application's other secrets alone).
   */
  private guardUpdate(ctx: AuditContext, kind: ResourceKind, current: Named, patchFields: Record<string, unknown>, options: WriteOptions): Forced {
    if (current.managedBy !== 'config') return false;
    if (changedFields(current, applyPatch(current, patchFields)).length) return this.declared.check(ctx, current.managedBy, named(kind, current), 'change', options);
    const secret = patchFields.secretEncrypted !== undefined || patchFields.secretHash !== undefined;
    if (secret && (kind !== 'applications' || this.declared.declaresSecret(current.name))) {
      return this.declared.check(ctx, current.managedBy, `the secret of ${named(kind, current)}`, 'change', options);
    }
    return false;
  }

  private collection(kind: ResourceKind): Collection<Named> {
    return this.dir[kind] as unknown as Collection<Named>;
  }

  private stored(kind: ResourceKind, ref: string): Promise<Named> {
    return findByRef(this.collection(kind), ref, KIND_INFO[kind].label);
  }

  /** @throws ValidationError naming every problem the front-ends find in the application's settings */
  private checkSettings(app: { name: string; type: Application['type']; settings: Record<string, unknown> }): void {
    const problems = this.settingsChecks.flatMap((check) => check(app)).map((p) => ({ ...p, code: 'invalid' }));
    if (problems.length) throw new ValidationError(problems);
  }

  /**
   * A RADIUS client's settings (the front-end's checks) and its secret: the same secret on two
   * clients is refused (issue 13), since a NAS that knows it could then sign packets as the other
   * one. Secrets are stored encrypted with a random nonce, so they are compared decrypted.
   * @throws ValidationError
   */
  private async checkRadiusClient(tx: Pick<DirectoryStore, 'radiusClients'>, client: StoredRadiusClient, selfId?: string): Promise<void> {
    const problems: Array<{ path: string; message: string; code: string }> = this.radiusClientChecks
      .flatMap((check) => check({ name: client.name, settings: client.settings ?? {} }))
      .map((p) => ({ ...p, code: 'invalid' }));
    if (client.secretEncrypted !== undefined) {
      const secret = Buffer.from(this.deps.keyring.decrypt(client.secretEncrypted, RADIUS_SECRET_PURPOSE));
      for (const other of await tx.radiusClients.all()) {
        // One of the same name is a conflict the store reports (409), not a second client.
        if (other.id === selfId || other.name === client.name) continue;
        const theirs = Buffer.from(this.deps.keyring.decrypt(other.secretEncrypted, RADIUS_SECRET_PURPOSE));
        if (theirs.length === secret.length && timingSafeEqual(theirs, secret)) {
          problems.push({ path: 'secret', message: `RADIUS client '${other.name}' has the same secret: give each client its own`, code: 'duplicate_secret' });
        }
      }
    }
    if (problems.length) throw new ValidationError(problems);
  }

  private toStored(kind: ResourceKind, input: Record<string, unknown>): Record<string, unknown> {
    if ((kind !== 'radiusClients' && kind !== 'applications') || input.secret === undefined) return input;
    const { secret, ...rest } = input;
    if (kind === 'applications') return { ...rest, secretHash: secret === null ? null : hashSecret(String(secret)) };
    return { ...rest, secretEncrypted: this.deps.keyring.encrypt(String(secret), RADIUS_SECRET_PURPOSE) };
  }

  private shown(kind: ResourceKind, entity: object): object {
    if (kind === 'radiusClients') return withoutSecret(entity as StoredRadiusClient);
    if (kind === 'applications') return withoutSecretHash(entity as StoredApplication);
    return entity;
  }
}
