/**
 * The directory service: every read a front-end makes of the directory and every change to it,
 * whoever asks (admin API, CLI, config reconciler, front-ends), one part per object kind. Each
 * part checks what the store cannot (password policy, references from policies, front-ends'
 * application settings) and writes each change and its audit event in one transaction. Nothing it
 * returns carries a password hash or a secret's hash; a RADIUS client's secret comes out only to
 * the RADIUS front-end (radiusClients.bySource).
 *
 * What the configuration file declares is the reconciler's to change: a change of a declared
 * object from anyone else is refused (ManagedByConfigError, a 409) unless forced (common.ts,
 * DeclaredObjects), since the next reload or start would undo it.
 *
 * Inputs arrive parsed (zod, at the edge); this layer never re-parses them.
 */
import type { AuditContext, EventDraft } from '../audit/audit.ts';
import type { DirectoryStore } from '../store/types.ts';
import { ApiKeys } from './api-keys.ts';
import { Applications } from './applications.ts';
import { DirectoryChanges } from './changes.ts';
import { DeclaredObjects, type Declarations, type DirectoryDeps } from './common.ts';
import { Groups } from './groups.ts';
import { RadiusClients } from './radius-clients.ts';
import { Resources } from './resources.ts';
import { Users } from './users.ts';

export { applyPatch, changedFields, ValidationError, type Declarations, type DirectoryDeps, type WriteOptions } from './common.ts';
export { KIND_INFO, RADIUS_SECRET_PURPOSE, type RadiusClientSettingsCheck, type ResourceKind, type ResourceKinds, type SettingsCheck } from './resources.ts';
export type { DirectorySnapshot, DirectoryWatch } from './changes.ts';
export type { LoginAttribute } from './users.ts';

export class DirectoryService {
  readonly users: Users;
  readonly groups: Groups;
  /** Applications, networks, devices, policies and RADIUS clients: the admin's view. */
  readonly resources: Resources;
  /** Applications as front-ends read them, and their secrets. */
  readonly applications: Applications;
  readonly radiusClients: RadiusClients;
  readonly apiKeys: ApiKeys;
  /** The snapshot feed (LDAP): the whole directory, and a generation that moves when it changes. */
  readonly changes: DirectoryChanges;
  private readonly deps: DirectoryDeps;
  private readonly declared = new DeclaredObjects();

  constructor(deps: DirectoryDeps) {
    this.deps = deps;
    const parts = { ...deps, declared: this.declared };
    this.users = new Users(parts);
    this.groups = new Groups(parts);
    this.resources = new Resources(parts);
    this.applications = new Applications(parts);
    this.radiusClients = new RadiusClients(parts);
    this.apiKeys = new ApiKeys(parts);
    this.changes = new DirectoryChanges(parts);
  }

  /**
   * What the configuration in force declares, from its composition root (the server at start and
   * after each reload, the CLI for each command): refusals name its file, and passwords and secrets
   * the file leaves out stay changeable. Until told, every password and secret of a declared
   * object counts as declared.
   */
  declare(declarations: Declarations): void {
    this.declared.set(declarations);
  }

  /** Runs events of a larger change (a reconcile run) in one transaction; logged once committed. */
  change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: (draft: EventDraft) => Promise<void>) => Promise<R>): Promise<R> {
    return this.deps.auditor.change(ctx, work);
  }
}
