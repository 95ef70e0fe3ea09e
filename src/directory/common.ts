/**
 * What every part of the directory service shares: the dependencies, the audited change, lookups
 * by name or id, patches and the validation error. Each object kind has its own part (users.ts,
 * groups.ts, resources.ts, applications.ts, radius-clients.ts, api-keys.ts); directory.ts puts
 * them together.
 */
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import type { PasswordHasher, PasswordPolicy } from '../credentials/password.ts';
import { ManagedByConfigError, NotFoundError } from '../errors.ts';
import type { Keyring } from '../secrets/keyring.ts';
import type { Collection, DirectoryStore, Fields, Store } from '../store/types.ts';
import type { Device, ManagedBy } from './model.ts';

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
  /** Fail with ConflictError('stale') unless the stored version is this one (HTTP If-Match). */
  expectVersion?: number;
  /**
   * On a create, who manages the new object. On a change, who makes it: 'config' is the reconciler
   * applying the configuration file, the one writer that changes what the file declares unforced.
   */
  managedBy?: ManagedBy;
  /**
   * Change what the configuration file declares all the same (the admin API's `?force=true`, the
   * CLI's `--force`): the change lasts until the next reload or start, when the reconciler puts the
   * declaration back.
   */
  force?: boolean;
}

/**
 * What the configuration file declares, as far as the directory needs it to refuse the changes the
 * reconciler would undo (config/reconcile.ts works it out; the server and the CLI hand it over).
 */
export interface Declarations {
  /** The file, named in refusals; absent for a configuration given inline ("the configuration file"). */
  file?: string;
  /**
   * Declared users whose declaration sets `password` or `passwordHash`: the reconciler puts that
   * password back. The other declared users keep a password set through the API or by themselves.
   */
  passwords: ReadonlySet<string>;
  /** Declared applications whose declaration sets `secret`; the others keep a secret set through the API. */
  secrets: ReadonlySet<string>;
}

/** A change the guard let through: whether it overrides the configuration file (its audit event says `forced`). */
export type Forced = boolean;

/**
 * The rule every writer (admin API, CLI, front-ends) meets in the directory service: an object, a
 * membership, a password or a secret the configuration file declares (managedBy 'config') is changed
 * by the reconciler only, unless the change is forced. Otherwise the reconciler would silently undo
 * the change at the next reload or start; refused, the caller learns where to make it instead.
 */
export class DeclaredObjects {
  private declarations: Declarations | undefined;

  /** What the configuration in force declares (at start, after each reload, for each CLI run). */
  set(declarations: Declarations): void {
    this.declarations = declarations;
  }

  /** Whether the file sets this declared user's password. Not told what the file declares: assume it does. */
  declaresPassword(username: string): boolean {
    return this.declarations?.passwords.has(username) ?? true;
  }

  /** Whether the file sets this declared application's secret (as declaresPassword). */
  declaresSecret(name: string): boolean {
    return this.declarations?.secrets.has(name) ?? true;
  }

  /**
   * Lets a change of something managed by `managedBy` through, or refuses it. `what` names it
   * ("user 'alice'"), `verb` what the caller was doing to it ("delete"); `source` 'environment' is
   * the API key GATEHOUSE_ADMIN_KEY keeps.
   * @returns whether the change overrides the configuration (forced)
   * @throws ManagedByConfigError
   */
  check(ctx: AuditContext, managedBy: ManagedBy, what: string, verb: string, options: WriteOptions, source: 'file' | 'environment' = 'file'): Forced {
    if (managedBy !== 'config' || options.managedBy === 'config') return false;
    if (options.force) return true;
    const retry = forceHint(ctx);
    if (source === 'environment') {
      throw new ManagedByConfigError(what, ENV_KEY, `${what} is set by ${ENV_KEY}: change the variable (and restart), or ${retry} to ${verb} it here until the next start puts it back`);
    }
    const file = this.declarations?.file ?? 'the configuration file';
    throw new ManagedByConfigError(what, file, `${what} is declared in ${file}: edit it there (and reload), or ${retry} to ${verb} it here until the next reload or start puts the declaration back`);
  }
}

const ENV_KEY = 'GATEHOUSE_ADMIN_KEY';

/** How the caller forces a change, in the words of the interface it came through. */
function forceHint(ctx: AuditContext): string {
  if (ctx.actor.type === 'cli') return 'repeat with --force';
  if (ctx.protocol === 'admin') return 'repeat with ?force=true';
  return 'force the change';
}

/** The audit details of a forced change, to spread into an event's details… */
export const forcedDetail = (forced: Forced): { forced?: true } => (forced ? { forced: true } : {});
/** …or into an event that has no details otherwise. */
export const whenForced = (forced: Forced): { details?: { forced: true } } => (forced ? { details: { forced: true } } : {});

export interface DirectoryDeps {
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
  /**
   * Told of each device deletion once it has committed, to end what the device signed in (its live
   * EAP-TLS network sessions: src/core.ts wires it). A failure is logged: the deletion stands.
   */
  onDeviceDeleted?: ((ctx: AuditContext, device: Device) => Promise<unknown>) | undefined;
}

/** What each part is given: the service's dependencies and the one guard of declared objects they share. */
export interface PartDeps extends DirectoryDeps {
  declared: DeclaredObjects;
}

/** The base of every part: its dependencies, the audited change and lookups. */
export abstract class DirectoryPart {
  protected readonly deps: PartDeps;
  constructor(deps: PartDeps) {
    this.deps = deps;
  }

  /** The guard of what the configuration file declares (see DeclaredObjects). */
  protected get declared(): DeclaredObjects {
    return this.deps.declared;
  }

  protected get dir(): DirectoryStore {
    return this.deps.store.directory;
  }

  /**
   * Runs a change and its audit events in one transaction; the events are logged once committed
   * (a rolled-back change leaves neither the change nor its events).
   */
  protected change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: (draft: EventDraft) => Promise<void>) => Promise<R>): Promise<R> {
    return this.deps.auditor.change(ctx, work);
  }
}

/** An object by name (lower-cased but for devices) or by id. @throws NotFoundError */
export async function findByRef<T extends { id: string }>(collection: Collection<T>, ref: string, label: string): Promise<T> {
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

export function stripBookkeeping<T extends { id: string }>(entity: T): Fields<T> {
  const { id: _id, managedBy: _m, version: _v, createdAt: _c, updatedAt: _u, ...fields } = entity as T & { managedBy: unknown; version: unknown; createdAt: unknown; updatedAt: unknown };
  return fields as unknown as Fields<T>;
}

export const userTarget = (u: { id: string; username: string }) => ({ type: 'user', id: u.id, name: u.username });
export const groupTarget = (g: { id: string; name: string }) => ({ type: 'group', id: g.id, name: g.name });
