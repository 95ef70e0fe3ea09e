/**
 * The TTL key-value store over one table. Atomicity comes from single statements (upsert with
 * RETURNING, DELETE … RETURNING), which both SQLite (3.35+) and PostgreSQL execute atomically, so
 * it holds across processes sharing one PostgreSQL too. The statements every sign-in runs (the
 * throttle's counters, the risk memory's reads and writes) are prepared ones (statements.ts).
 */
import type { Counter, TtlEntry, TtlStore, TtlTags } from '../types.ts';
import { mapDriverError, now, type Db } from './sql.ts';
import type { Knex } from 'knex';
import { mapRejection, Statement, sqliteTransaction, type SqliteRun, type StatementResult } from './statements.ts';

const MAX_TTL_SECONDS = 366 * 24 * 3600;
/** Keys of one incrementAll or counters call (a throttle has two scopes). */
const MAX_KEYS = 16;

function expiry(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new RangeError(`ttl must be between 0 and ${MAX_TTL_SECONDS} seconds, got ${ttlSeconds}`);
  }
  return now() + Math.ceil(ttlSeconds * 1000);
}

export class KnexTtlStore implements TtlStore {
  private readonly db: Db;
  private readonly sql: ReturnType<typeof statements>;
  constructor(db: Db) {
    this.db = db;
    this.sql = statements(db);
  }

  async put(key: string, value: unknown, ttlSeconds: number, tags: TtlTags = {}): Promise<void> {
    const r = this.row(key, value, ttlSeconds, tags);
    await this.guard(() => this.sql.put.run([r.key, r.value, r.subject, r.grp, r.expires_at, r.updated_at]));
  }

  async get<T>(key: string): Promise<T | undefined> {
    const row = await this.guard(() => this.sql.get.first([key, now()]));
    return row?.value == null ? undefined : (JSON.parse(row.value) as T);
  }

  async add(key: string, value: unknown, ttlSeconds: number, tags: TtlTags = {}): Promise<boolean> {
    const r = this.row(key, value, ttlSeconds, tags);
    // Inserts, or takes over an expired row; a live row is left alone and nothing is returned.
    const rows = await this.guard(() => this.sql.add.rows([r.key, r.value, r.subject, r.grp, r.expires_at, r.updated_at, r.updated_at]));
    return rows.length === 1;
  }

  async consume<T>(key: string): Promise<T | undefined> {
    const row = await this.guard(() => this.sql.consume.first([key, now()]));
    return row?.value == null ? undefined : (JSON.parse(row.value) as T);
  }

  async delete(key: string): Promise<boolean> {
    return (await this.guard(() => this.sql.delete.run([key]))).changes > 0;
  }

  async deleteTagged(tags: TtlTags): Promise<number> {
    if (tags.subject === undefined && tags.group === undefined) throw new RangeError('deleteTagged needs a subject or a group');
    return this.guard(() => {
      const q = this.db('kv').where('expires_at', '>', now());
      if (tags.subject !== undefined) q.andWhere('subject', tags.subject);
      if (tags.group !== undefined) q.andWhere('grp', tags.group);
      return q.delete();
    });
  }

  async listTagged<T>(tags: TtlTags, keyPrefix: string, limit = 1000): Promise<Array<TtlEntry<T>>> {
    if (tags.subject === undefined && tags.group === undefined) throw new RangeError('listTagged needs a subject or a group');
    const rows: Array<{ key: string; value: string | null; expires_at: number | string }> = await this.guard(() => {
      const q = this.db('kv').where('expires_at', '>', now()).andWhereRaw('substr(key, 1, ?) = ?', [keyPrefix.length, keyPrefix]);
      if (tags.subject !== undefined) q.andWhere('subject', tags.subject);
      if (tags.group !== undefined) q.andWhere('grp', tags.group);
      return q.orderBy('expires_at', 'desc').limit(Math.max(1, Math.min(limit, 1000))).select('key', 'value', 'expires_at');
    });
    return rows.map((r) => ({ key: r.key, value: (r.value == null ? undefined : JSON.parse(r.value)) as T, expiresAt: Number(r.expires_at) }));
  }

  async increment(key: string, ttlSeconds: number): Promise<Counter> {
    const expiresAt = expiry(ttlSeconds);
    const at = now();
    const row = await this.guard(() => this.sql.increment.first([key, expiresAt, at, at]));
    return counterOf(row!);
  }

  async incrementAll(keys: readonly string[], ttlSeconds: number): Promise<Counter[]> {
    if (new Set(keys).size !== keys.length || keys.length > MAX_KEYS) throw new RangeError(`incrementAll needs at most ${MAX_KEYS} distinct keys`);
    if (keys.length === 0) return [];
    if (keys.length === 1) return [await this.increment(keys[0]!, ttlSeconds)];
    const expiresAt = expiry(ttlSeconds);
    const at = now();
    // Rows are locked in key order, whoever asks: two of these statements cannot deadlock on PostgreSQL.
    const sorted = [...keys].sort();
    const rows = await this.guard(() => this.incrementMany(sorted.length).rows([...sorted.flatMap((key) => [key, expiresAt, at]), at]));
    const byKey = new Map(rows.map((row) => [row.key, counterOf(row)]));
    return keys.map((key) => byKey.get(key)!);
  }

  async decrement(key: string, undo?: Undo): Promise<Counter | undefined> {
    return this.guard(() => drive(this.decrementSteps(key, undo, now()), (statement, binds) => statement.run(binds)));
  }

  async deleteAndDecrement(deletes: readonly string[], decrements: ReadonlyArray<{ key: string; undo?: Undo | undefined }>): Promise<void> {
    if (decrements.some(({ key }) => deletes.includes(key))) throw new RangeError('deleteAndDecrement needs distinct keys');
    const at = now();
    if (this.db.client.config.client !== 'pg') {
      // SQLite: one transaction, one commit for them all.
      await this.guard(() =>
        sqliteTransaction(this.db as Knex, (run) => {
          for (const key of deletes) run(this.sql.delete, [key]);
          for (const { key, undo } of decrements) driveSync(this.decrementSteps(key, undo, at), run);
        }),
      );
      return;
    }
    // PostgreSQL: the deletes go with the first decrement's first statement (a data-modifying WITH),
    // one round trip for the usual case; the statement is atomic as a whole.
    let pending: readonly string[] = deletes;
    for (const { key, undo } of decrements) {
      await this.guard(() =>
        drive(this.decrementSteps(key, undo, at), (statement, binds) => {
          if (pending.length === 0) return statement.run(binds);
          const withDeletes = this.withDeletes(statement);
          const keys = pending;
          pending = [];
          return withDeletes.run([keys, ...binds]);
        }),
      );
    }
    if (pending.length) for (const key of pending) await this.delete(key);
  }

  /**
   * The statements of a decrement, as steps that the caller runs (asynchronously, or in a
   * synchronous SQLite transaction): each yields a statement and its binds, and gets its result.
   */
  private *decrementSteps(key: string, undo: Undo | undefined, at: number): Generator<[Statement<CounterRow>, unknown[]], Counter | undefined, StatementResult<CounterRow>> {
    // The last count goes with its row: one statement for the usual case, taking back the increment
    // that made the counter. When the increment being taken back left more than one (an address's
    // counter under concurrent attempts), the update comes first: one statement too.
    if (!(undo && undo.after.count > 1)) {
      const deleted = yield [this.sql.deleteLast as Statement<CounterRow>, [key, at]];
      if (deleted.changes === 1) return undefined;
    }
    // SET expressions read the row as it was (SQL), so `counter` and `updated_at` below are the
    // values the increment being taken back left, when nothing has changed them since.
    const restore = undo?.before !== undefined;
    const { rows } = yield restore
      ? [this.sql.decrementRestoring, [undo.after.count, undo.after.updatedAt, undo.before!.updatedAt, undo.after.count, undo.after.updatedAt, undo.before!.expiresAt, key, at]]
      : [this.sql.decrement, [key, at]];
    const row = rows[0];
    if (!row) return undefined;
    const counter = counterOf(row);
    if (counter.count > 0) return counter;
    // Brought to zero (by a decrement between the two statements, or by this one when it came
    // first). Only a counter still at zero is deleted: an increment that came in between keeps its row.
    yield [this.sql.deleteSpent as Statement<CounterRow>, [key]];
    return undefined;
  }

  /** PostgreSQL: the statement, with keys to delete first (`?` of a text array) in a data-modifying WITH. */
  private readonly deleting = new Map<Statement<CounterRow>, Statement<CounterRow>>();
  private withDeletes(statement: Statement<CounterRow>): Statement<CounterRow> {
    let combined = this.deleting.get(statement);
    if (!combined) {
      combined = new Statement<CounterRow>(this.db, `with forgotten as (delete from kv where key = any(?::text[])) ${statement.sql}`);
      this.deleting.set(statement, combined);
    }
    return combined;
  }

  async counter(key: string): Promise<Counter | undefined> {
    const row = await this.guard(() => this.sql.counter.first([key, now()]));
    return row ? counterOf(row) : undefined;
  }

  async counters(keys: readonly string[]): Promise<Array<Counter | undefined>> {
    if (keys.length > MAX_KEYS) throw new RangeError(`counters reads at most ${MAX_KEYS} keys`);
    if (keys.length === 0) return [];
    if (keys.length === 1) return [await this.counter(keys[0]!)];
    const rows = await this.guard(() => this.countersOf(keys.length).rows([...keys, now()]));
    const byKey = new Map(rows.map((row) => [row.key, counterOf(row)]));
    return keys.map((key) => byKey.get(key));
  }

  /** The multi-key statements, one per number of keys (a throttle uses two). */
  private readonly many = new Map<string, Statement<CounterRow & { key: string }>>();
  private incrementMany(n: number): Statement<CounterRow & { key: string }> {
    return this.statementFor(`increment:${n}`, () => `insert into kv (key, value, counter, expires_at, updated_at) values ${Array.from({ length: n }, () => '(?, null, 1, ?, ?)').join(', ')}
       on conflict (key) do update set
         counter = case when kv.expires_at <= ? then 1 else kv.counter + 1 end,
         expires_at = excluded.expires_at, updated_at = excluded.updated_at
       returning key, counter, updated_at, expires_at`);
  }
  private countersOf(n: number): Statement<CounterRow & { key: string }> {
    return this.statementFor(`counters:${n}`, () => `select key, counter, updated_at, expires_at from kv where key in (${Array.from({ length: n }, () => '?').join(', ')}) and expires_at > ?`);
  }
  private statementFor(name: string, sql: () => string): Statement<CounterRow & { key: string }> {
    let statement = this.many.get(name);
    if (!statement) {
      // At most two per key count up to MAX_KEYS.
      statement = new Statement(this.db, sql());
      this.many.set(name, statement);
    }
    return statement;
  }

  async sweep(): Promise<number> {
    return this.guard(() => this.db('kv').where('expires_at', '<=', now()).delete());
  }

  private row(key: string, value: unknown, ttlSeconds: number, tags: TtlTags) {
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) throw new RangeError('keys are 1 to 512 characters');
    return {
      key,
      value: value === undefined ? null : JSON.stringify(value),
      counter: 0,
      subject: tags.subject ?? null,
      grp: tags.group ?? null,
      expires_at: expiry(ttlSeconds),
      updated_at: now(),
    };
  }

  private guard<R>(work: () => PromiseLike<R>): Promise<R> {
    return mapRejection(work, mapKeyError);
  }
}

const mapKeyError = (err: unknown) => mapDriverError(err, 'key');

type Undo = { after: Counter; before?: Counter | undefined };

/** Runs a generator of statement steps to its result, each statement awaited. */
async function drive<R, Row>(steps: Generator<[Statement<Row>, unknown[]], R, StatementResult<Row>>, run: (statement: Statement<Row>, binds: unknown[]) => Promise<StatementResult<Row>>): Promise<R> {
  let next = steps.next();
  while (!next.done) next = steps.next(await run(...next.value));
  return next.value;
}

/** Runs a generator of statement steps to its result, synchronously (inside a SQLite transaction). */
function driveSync<R, Row>(steps: Generator<[Statement<Row>, unknown[]], R, StatementResult<Row>>, run: SqliteRun): R {
  let next = steps.next();
  while (!next.done) next = steps.next(run(...next.value));
  return next.value;
}

type CounterRow = { counter: number | string; updated_at: number | string; expires_at: number | string };

/** SET expressions read the row as it was (SQL): `counter` and `updated_at` are what the increment being taken back left, when nothing changed them since. */
const UNTOUCHED = 'counter = ? and updated_at = ?';

/** The statements of every key-value operation a request may run (the rare ones stay knex queries). */
function statements(db: Db) {
  return {
    put: new Statement(db, `insert into kv (key, value, counter, subject, grp, expires_at, updated_at) values (?, ?, 0, ?, ?, ?, ?)
       on conflict (key) do update set value = excluded.value, counter = excluded.counter, subject = excluded.subject, grp = excluded.grp,
         expires_at = excluded.expires_at, updated_at = excluded.updated_at`),
    get: new Statement<{ value: string | null }>(db, 'select value from kv where key = ? and expires_at > ?'),
    add: new Statement<{ key: string }>(db, `insert into kv (key, value, counter, subject, grp, expires_at, updated_at) values (?, ?, 0, ?, ?, ?, ?)
       on conflict (key) do update set value = excluded.value, counter = 0, subject = excluded.subject, grp = excluded.grp,
         expires_at = excluded.expires_at, updated_at = excluded.updated_at
       where kv.expires_at <= ?
       returning key`),
    consume: new Statement<{ value: string | null }>(db, 'delete from kv where key = ? and expires_at > ? returning value'),
    delete: new Statement(db, 'delete from kv where key = ?'),
    counter: new Statement<CounterRow>(db, 'select counter, updated_at, expires_at from kv where key = ? and expires_at > ?'),
    increment: new Statement<CounterRow>(db, `insert into kv (key, value, counter, expires_at, updated_at) values (?, null, 1, ?, ?)
       on conflict (key) do update set
         counter = case when kv.expires_at <= ? then 1 else kv.counter + 1 end,
         expires_at = excluded.expires_at, updated_at = excluded.updated_at
       returning counter, updated_at, expires_at`),
    deleteLast: new Statement(db, 'delete from kv where key = ? and expires_at > ? and counter = 1'),
    decrement: new Statement<CounterRow>(db, `update kv set counter = counter - 1 where key = ? and expires_at > ? and counter > 0
       returning counter, updated_at, expires_at`),
    decrementRestoring: new Statement<CounterRow>(db, `update kv set counter = counter - 1,
         updated_at = case when ${UNTOUCHED} then ? else updated_at end, expires_at = case when ${UNTOUCHED} then ? else expires_at end
       where key = ? and expires_at > ? and counter > 0
       returning counter, updated_at, expires_at`),
    deleteSpent: new Statement(db, 'delete from kv where key = ? and counter <= 0'),
  };
}

/** PostgreSQL returns bigints as strings. */
function counterOf(row: CounterRow): Counter {
  return { count: Number(row.counter), updatedAt: Number(row.updated_at), expiresAt: Number(row.expires_at) };
}
