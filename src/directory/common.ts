/**
 * What every part of the directory service shares: the dependencies, the audited change, lookups
 * by name or id, patches and the validation error. Each object kind has its own part (users.ts,
 * groups.ts, resources.ts, applications.ts, radius-clients.ts, api-keys.ts); directory.ts puts
 * them together.
 */
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import type { PasswordHasher, PasswordPolicy } from '../credentials/password.ts';
import { NotFoundError } from '../errors.ts';
import type { Keyring } from '../secrets/keyring.ts';
import type { Collection, DirectoryStore, Fields, Store } from '../store/types.ts';
import type { ManagedBy } from './model.ts';

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
}

/** The base of every part: its dependencies, the audited change and lookups. */
export abstract class DirectoryPart {
  protected readonly deps: DirectoryDeps;
  constructor(deps: DirectoryDeps) {
    this.deps = deps;
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
