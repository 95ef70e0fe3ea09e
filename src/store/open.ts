/**
 * Opens the store named by a URL:
 *   sqlite:./data/gatehouse.db   (embedded default; the file and its folder are created)
 *   sqlite::memory:              (tests)
 *   postgres://user:pass@host:5432/db   (production; several processes may share it)
 */
import { dirname, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { migrations } from '../../migrations/index.ts';
import { makePrivateDir, makePrivateFile, restrictFile } from '../private-files.ts';
import { StoreUnavailableError } from './errors.ts';
import { KnexDirectory } from './knex/directory.ts';
import { mapDriverError } from './knex/sql.ts';
import { KnexTtlStore } from './knex/ttl.ts';
import type { Store } from './types.ts';

// int8 columns (epoch milliseconds, audit ids) fit in a double: read them as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

export interface StoreOptions {
  /** Pool size for PostgreSQL (SQLite always uses one connection). */
  poolMax?: number;
  /** Milliseconds to wait for a connection before failing closed. */
  acquireTimeoutMs?: number;
  /** SQLite's synchronous setting in WAL mode (default normal: see storage.sqliteSynchronous). */
  sqliteSynchronous?: 'normal' | 'full';
  /** Where knex's and the driver's own warnings go (default: nowhere; errors reach callers anyway). */
  log?: { warn(message: string): void; error(message: string): void };
}

/** The URL with any password replaced by `***`, safe for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:/@]+):[^@]*@/, '://$1:***@');
  }
}

export function parseStoreUrl(url: string): { dialect: 'sqlite'; filename: string } | { dialect: 'postgres'; connectionString: string } {
  if (url.startsWith('sqlite:')) {
    const filename = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!filename) throw new Error(`store URL '${url}' names no file (use sqlite:./data/gatehouse.db or sqlite::memory:)`);
    return { dialect: 'sqlite', filename };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: 'postgres', connectionString: url };
  throw new Error(`store URL '${redactUrl(url)}' is neither sqlite:<file> nor postgres://…`);
}

class KnexMigrationSource implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return migrations.map((m) => m.name);
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    const found = migrations.find((m) => m.name === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found.migration;
  }
}

const MIGRATIONS: Knex.MigratorConfig = { migrationSource: new KnexMigrationSource(), tableName: 'knex_migrations' };

export function knexConfig(url: string, options: StoreOptions = {}): Knex.Config {
  const target = parseStoreUrl(url);
  const acquireConnectionTimeout = options.acquireTimeoutMs ?? 10_000;
  const sink = options.log;
  const log = {
    warn: (m: unknown) => sink?.warn(String(m)),
    error: (m: unknown) => sink?.error(String(m)),
    deprecate: (m: unknown) => sink?.warn(String(m)),
    debug: () => undefined,
  };
  if (target.dialect === 'sqlite') {
    const filename = target.filename === ':memory:' ? ':memory:' : resolve(target.filename);
    if (filename !== ':memory:') prepareSqliteFiles(filename);
    return {
      client: 'better-sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      acquireConnectionTimeout,
      log,
      // One connection: SQLite has one writer anyway, and knex then serialises transactions.
      pool: {
        min: 1,
        max: 1,
        idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
        afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) => {
          try {
            cachePreparedStatements(conn);
            conn.pragma('journal_mode = WAL');
            conn.pragma(`synchronous = ${options.sqliteSynchronous === 'full' ? 'FULL' : 'NORMAL'}`);
            conn.pragma('foreign_keys = ON');
            // Other processes (the CLI next to a running server) wait for the write lock instead of failing.
            conn.pragma('busy_timeout = 5000');
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
      migrations: MIGRATIONS,
    };
  }
  return {
    client: 'pg',
    connection: { connectionString: target.connectionString, application_name: 'gatehouse', connectionTimeoutMillis: acquireConnectionTimeout },
    acquireConnectionTimeout,
    log,
    pool: { min: 0, max: options.poolMax ?? 10 },
    migrations: MIGRATIONS,
  };
}

/**
 * The database file exists with mode 0600 before SQLite opens it, in a directory made 0700 if
 * Gatehouse creates it: SQLite gives the -wal and -shm files it creates the database file's mode,
 * so they are private too. Existing ones (an earlier version made them 0644) are set to 0600.
 */
function prepareSqliteFiles(filename: string): void {
  makePrivateDir(dirname(filename));
  makePrivateFile(filename);
  for (const suffix of ['-wal', '-shm', '-journal']) restrictFile(`${filename}${suffix}`);
}

export class KnexStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly url: string;
  readonly directory: KnexDirectory;
  readonly ttl: KnexTtlStore;
  readonly knex: Knex;

  constructor(url: string, options: StoreOptions = {}) {
    this.url = redactUrl(url);
    this.dialect = parseStoreUrl(url).dialect;
    this.knex = knexFactory(knexConfig(url, options));
    this.directory = new KnexDirectory(this.knex);
    this.ttl = new KnexTtlStore(this.knex);
  }

  async migrate(): Promise<{ applied: string[] }> {
    try {
      const [, applied] = (await this.knex.migrate.latest()) as [number, string[]];
      return { applied };
    } catch (err) {
      throw mapDriverError(err, 'migration');
    }
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    try {
      await this.knex.raw('select 1');
      const [, pending] = (await this.knex.migrate.list()) as [unknown[], unknown[]];
      if (pending.length > 0) return { ok: false, detail: `${pending.length} migration(s) pending: run 'gatehouse migrate'` };
      return { ok: true, detail: `${this.dialect} reachable, migrations current` };
    } catch (err) {
      const mapped = mapDriverError(err, 'store');
      return { ok: false, detail: mapped instanceof Error ? mapped.message : String(mapped) };
    }
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}

/**
 * Opens the store and checks that it answers, so a store that is down at start gives one clear
 * error naming the URL (password redacted) instead of a stack trace later.
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<KnexStore> {
  const store = new KnexStore(url, options);
  try {
    await store.knex.raw('select 1');
  } catch (err) {
    await store.close().catch(() => undefined);
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new StoreUnavailableError(`cannot reach the store at ${store.url}: ${reason}`, { cause: err });
  }
  return store;
}

interface SqliteConnection {
  pragma(sql: string): unknown;
  prepare(sql: string): unknown;
}

/** Prepared statements kept per connection (knex prepares every query anew; the hot paths repeat a few dozen). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * knex's better-sqlite3 dialect prepares each query's SQL again, which costs more than running
 * it. Queries are parameterised, so their SQL repeats: keep the statements (least recently used
 * out). Safe because every statement runs to completion synchronously (knex never iterates), and
 * SQLite re-prepares a statement itself after a schema change.
 */
function cachePreparedStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    const hit = cache.get(sql);
    if (hit !== undefined) {
      cache.delete(sql);
      cache.set(sql, hit);
      return hit;
    }
    const statement = prepare(sql);
    cache.set(sql, statement);
    if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return statement;
  };
}
