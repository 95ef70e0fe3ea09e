/**
 * Fixed statements for the hot paths (a sign-in's throttle counters, the user and password reads,
 * the audit insert), run on a connection of knex's own pool without building the query through
 * knex each time: knex's query builder, its runner and promise chain cost several times what the
 * statement itself costs (about 30 µs against 6 to 10 µs on SQLite), and a sign-in runs a dozen.
 *
 * - SQLite: the connection's prepared statement (open.ts keeps them) run synchronously; the
 *   connection is taken from the pool and given back like knex does, so a transaction holding the
 *   only connection is waited for, never joined. While the pool holds it idle, it is used without
 *   the pool's round (idleSqliteConnection below).
 * - PostgreSQL: a named prepared statement (the extended protocol's Parse once per connection,
 *   then Bind/Execute only), through node-postgres' own query on the pooled connection.
 *
 * Inside a transaction (a store bound to one) the statement goes through the transaction with
 * knex.raw, as any other. The SQL is written once with `?` placeholders, numbered for PostgreSQL.
 * Each run is reported on knex's `query` event like knex's own queries (when anyone listens).
 */
import type { Knex } from 'knex';
import { isPostgres, rowsOf, type Db } from './sql.ts';

export interface StatementResult<Row> {
  rows: Row[];
  /** Rows the statement changed (inserts, updates, deletes). */
  changes: number;
}

interface SqliteStatement {
  reader: boolean;
  all(...binds: unknown[]): unknown[];
  run(...binds: unknown[]): { changes: number };
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  /** False once closed (the pool destroyed it). */
  readonly open: boolean;
  readonly inTransaction: boolean;
}
interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}
/** The part of knex's client the pool is reached through (public methods of knex's Client). */
interface PoolClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
  /** tarn's pool (public counters only); undefined once knex is destroyed. */
  pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number; numPendingCreates(): number };
}

/**
 * SQLite's one connection (open.ts: a pool of one), as last acquired from the pool, per knex client.
 * While the pool holds it free, with nobody waiting, a statement runs on it synchronously without
 * going through the pool: nothing else can take it before the statement returns (it does not
 * yield), so this is what acquire-run-release would do, minus the pool's promises and timers
 * (a third of a statement's cost). A transaction holding it, or anyone waiting, takes the pool's way.
 */
const sqliteConnections = new WeakMap<object, SqliteConnection>();

function idleSqliteConnection(client: PoolClient): SqliteConnection | undefined {
  const connection = sqliteConnections.get(client);
  const pool = client.pool;
  if (!connection || !pool || !connection.open) return undefined;
  // A pool of one: free and unused, the one connection it holds is the one acquired before (a
  // replaced connection was closed first).
  return pool.numFree() === 1 && pool.numUsed() === 0 && pool.numPendingAcquires() === 0 && pool.numPendingCreates() === 0 ? connection : undefined;
}

let names = 0;

export class Statement<Row = Record<string, unknown>> {
  private readonly db: Db;
  readonly sql: string;
  private readonly pg: { name: string; text: string } | undefined;

  constructor(db: Db, sql: string) {
    this.db = db;
    this.sql = sql;
    if (isPostgres(db)) {
      let n = 0;
      // No `?` appears in these statements but as a placeholder (they are fixed text, not user input).
      this.pg = { name: `gatehouse_${++names}`, text: sql.replace(/\?/g, () => `$${++n}`) };
    }
  }

  run(binds: readonly unknown[]): Promise<StatementResult<Row>> {
    const db = this.db;
    if (!this.pg && !db.isTransaction) {
      const connection = idleSqliteConnection(db.client as unknown as PoolClient);
      if (connection) {
        try {
          return Promise.resolve(this.runSqlite(connection, binds));
        } catch (err) {
          return Promise.reject(err as Error);
        }
      }
    }
    return this.runPooled(binds);
  }

  private async runPooled(binds: readonly unknown[]): Promise<StatementResult<Row>> {
    const db = this.db;
    if (db.isTransaction) {
      const result: unknown = await db.raw(this.sql, binds as Knex.RawBinding[]);
      return { rows: rowsOf<Row>(result), changes: changesOf(result) };
    }
    const client = db.client as unknown as PoolClient;
    const connection = await client.acquireConnection();
    try {
      if (this.pg) {
        if (db.listenerCount('query') > 0) db.emit('query', { sql: this.sql, bindings: binds, method: 'raw' });
        const result = await (connection as PgConnection).query({ name: this.pg.name, text: this.pg.text, values: binds as unknown[] });
        return { rows: result.rows as Row[], changes: result.rowCount ?? 0 };
      }
      sqliteConnections.set(client, connection as SqliteConnection);
      return this.runSqlite(connection as SqliteConnection, binds);
    } finally {
      await client.releaseConnection(connection);
    }
  }

  /** @internal SQLite: runs on this connection, synchronously (sqliteTransaction). */
  runSqlite(connection: SqliteConnection, binds: readonly unknown[]): StatementResult<Row> {
    return runOn<Row>(this.db, connection, this.sql, binds);
  }

  // rows and first (and the stores' error guards) chain on run's promise rather than await it: an
  // async function per layer is a noticeable part of a fast statement's cost.

  /** The rows the statement returns. */
  rows(binds: readonly unknown[]): Promise<Row[]> {
    return this.run(binds).then(rowsOfResult);
  }

  /** The first row, if any. */
  first(binds: readonly unknown[]): Promise<Row | undefined> {
    return this.run(binds).then(firstOfResult);
  }
}

const rowsOfResult = <Row>(result: StatementResult<Row>): Row[] => result.rows;
const firstOfResult = <Row>(result: StatementResult<Row>): Row | undefined => result.rows[0];

/**
 * `work()`'s promise with its rejection (or its synchronous throw) mapped by `map`: what an async
 * function with try/await/catch does, without its cost.
 */
export function mapRejection<R>(work: () => PromiseLike<R>, map: (err: unknown) => unknown): Promise<R> {
  try {
    return Promise.resolve(work()).then(undefined, (err: unknown) => {
      throw map(err);
    });
  } catch (err) {
    return Promise.reject(map(err) as Error);
  }
}

function runOn<Row>(db: Db, connection: SqliteConnection, sql: string, binds: readonly unknown[]): StatementResult<Row> {
  if (db.listenerCount('query') > 0) db.emit('query', { sql, bindings: binds, method: 'raw' });
  const statement = connection.prepare(sql);
  if (statement.reader) {
    const rows = statement.all(...binds) as Row[];
    return { rows, changes: rows.length };
  }
  return { rows: [], changes: statement.run(...binds).changes };
}

/** Runs one statement on the connection a sqliteTransaction holds, synchronously. */
export type SqliteRun = <Row>(statement: Statement<Row>, binds: readonly unknown[]) => StatementResult<Row>;

/**
 * SQLite: `work` runs its statements in one transaction (BEGIN IMMEDIATE … COMMIT; rolled back if
 * it throws), synchronously, on the connection as run() takes it: several writes, one commit (a
 * commit, writing the changed pages to the WAL, is most of what a small write costs). Nothing else
 * runs on the connection meanwhile: `work` does not yield.
 */
export async function sqliteTransaction<T>(db: Knex, work: (run: SqliteRun) => T): Promise<T> {
  const client = db.client as unknown as PoolClient;
  const idle = idleSqliteConnection(client);
  if (idle) return transactionOn(db, idle, work);
  const connection = (await client.acquireConnection()) as SqliteConnection;
  try {
    sqliteConnections.set(client, connection);
    return transactionOn(db, connection, work);
  } finally {
    await client.releaseConnection(connection);
  }
}

function transactionOn<T>(db: Db, connection: SqliteConnection, work: (run: SqliteRun) => T): T {
  runOn(db, connection, 'begin immediate', []);
  try {
    const result = work((statement, binds) => statement.runSqlite(connection, binds));
    runOn(db, connection, 'commit', []);
    return result;
  } catch (err) {
    if (connection.inTransaction) runOn(db, connection, 'rollback', []);
    throw err;
  }
}

/** Rows changed, from knex.raw's answer: a pg result's rowCount; better-sqlite3 answers rows for RETURNING, else a run info. */
function changesOf(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  const r = result as { rowCount?: number | null; changes?: number };
  return r.rowCount ?? r.changes ?? 0;
}
