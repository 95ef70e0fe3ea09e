/**
 * Small helpers shared by the knex-backed store: dialect differences and the mapping of driver
 * errors onto the store's typed errors, written once.
 */
import type { Knex } from 'knex';
import { AlreadyExistsError, NotFoundError, StoreError, StoreUnavailableError } from '../errors.ts';

export type Db = Knex | Knex.Transaction;

export function now(): number {
  return Date.now();
}

export function iso(ms: number | string | null | undefined): string | undefined {
  return ms === null || ms === undefined ? undefined : new Date(Number(ms)).toISOString();
}

/** `knex.raw` answers with an array of rows on SQLite and with a pg result on PostgreSQL. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

export function isPostgres(db: Db): boolean {
  return db.client.config.client === 'pg';
}

/** `SELECT … FOR UPDATE` where the dialect has row locks; SQLite serialises writers instead. */
export function locked<T extends Knex.QueryBuilder>(db: Db, query: T): T {
  return (isPostgres(db) ? query.forUpdate() : query) as T;
}

/** Escapes LIKE wildcards so user input is matched literally (with `ESCAPE '\'`). */
export function likePrefix(text: string): string {
  return `${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function encodeCursor(parts: Array<string | number>): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): Array<string | number> {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === arity && parts.every((p) => typeof p === 'string' || typeof p === 'number')) return parts;
  } catch {
    // fall through
  }
  throw new InvalidCursorError();
}

export class InvalidCursorError extends StoreError {
  override readonly name = 'InvalidCursorError';
  constructor() {
    super('the pagination cursor is not one this server issued');
  }
}

/** A list query the store cannot answer (bad limit, unknown filter): the caller's input is wrong. */
export class InvalidQueryError extends StoreError {
  override readonly name = 'InvalidQueryError';
}

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InvalidQueryError('limit must be an integer from 1 to 1000');
  return limit;
}

interface DriverError {
  code?: string;
  constraint?: string;
  detail?: string;
  message?: string;
  table?: string;
}

/** PostgreSQL SQLSTATE classes meaning "the server cannot serve us": connection (08), resources (53), operator intervention (57), system (58), authorization (28), no such database (3D000). */
const UNAVAILABLE_SQLSTATE = /^(08|53|57|58|28)...$|^3D000$/;
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_CORRUPT', 'SQLITE_FULL', 'SQLITE_READONLY']);

/**
 * Maps a driver error to the store contract: a unique violation becomes AlreadyExistsError naming the
 * field, a broken connection StoreUnavailableError. Contract errors pass through untouched.
 */
export function mapDriverError(err: unknown, kind: string, fields: Record<string, unknown> = {}): unknown {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as DriverError;
  const message = e.message ?? String(err);
  if (e.code === '23505' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const column = uniqueColumn(e);
    const field = column ? (COLUMN_FIELDS[column] ?? column) : undefined;
    const value = field !== undefined ? fields[field] : undefined;
    if (field && value !== undefined) return new AlreadyExistsError(kind, String(value), `${kind} with ${field} '${String(value)}' already exists`);
    return new AlreadyExistsError(kind, '', `${kind} already exists`);
  }
  if (e.code === '23503' || e.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new NotFoundError('referenced object', '');
  }
  if ((e.code && (UNAVAILABLE_CODES.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) || /not currently accepting connections/.test(message) || (err instanceof Error && err.name === 'KnexTimeoutError') || /Connection terminated|connect ECONNREFUSED|Client has encountered a connection error/.test(message)) {
    return new StoreUnavailableError(`store unavailable: ${message}`, { cause: err });
  }
  return err;
}

const COLUMN_FIELDS: Record<string, string> = {
  username: 'username', name: 'name', email: 'email', uid_number: 'uidNumber', gid_number: 'gidNumber', secret_hash: 'secret', id: 'id',
};

function uniqueColumn(e: DriverError): string | undefined {
  // PostgreSQL: detail "Key (email)=(a@b.c) already exists."
  const pg = e.detail?.match(/^Key \(([a-z_]+)\)=/);
  if (pg) return pg[1];
  // SQLite: "UNIQUE constraint failed: users.email"
  const lite = e.message?.match(/constraint failed: \w+\.(\w+)/);
  return lite?.[1];
}
