/**
 * One generic collection over knex. Each directory object is a row with a few indexed columns
 * (its unique name, lookup fields) and the whole object as JSON in `data`; links to other objects
 * (groups assigned to a resource, owners of a device) live in join tables so deletes cascade.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { ManagedBy } from '../../directory/model.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Collection, Fields, ListQuery, Page, UpdateOptions } from '../types.ts';
import { decodeCursor, encodeCursor, InvalidQueryError, iso, likePrefix, locked, mapDriverError, now, pageLimit, type Db } from './sql.ts';
import { mapRejection, Statement } from './statements.ts';

/** A many-to-many link stored in a join table and exposed as a list of the targets' names. */
export interface LinkDef {
  field: string;
  table: string;
  ownerColumn: string;
  targetColumn: string;
  targetTable: string;
  targetKey: string;
  targetKind: string;
}

export interface CollectionDef {
  kind: string;
  table: string;
  /** The column holding the object's name (unique when `keyUnique`). */
  key: string;
  keyField: string;
  keyUnique: boolean;
  /** Indexed columns derived from the object (column → value). */
  columns?: (fields: Record<string, unknown>) => Record<string, unknown>;
  /** Filterable fields for ListQuery.where (field → column). */
  filters?: Record<string, string>;
  /** Additional columns matched by ListQuery.q. */
  searchColumns?: string[];
  links?: LinkDef[];
  /** Fields the store keeps in their own columns only (never in `data`), e.g. secret hashes. */
  columnOnly?: Record<string, string>;
}

interface Row {
  id: string;
  data: string;
  managed_by: string;
  version: number;
  created_at: number | string;
  updated_at: number | string;
  [column: string]: unknown;
}

/** Runs work inside a transaction (reusing the current one), with a collection bound to it. */
export type InTransaction = <R>(work: (db: Db) => Promise<R>) => Promise<R>;

export class KnexCollection<T extends { id: string }> implements Collection<T> {
  readonly kind: string;
  protected readonly db: Db;
  protected readonly def: CollectionDef;
  private readonly inTransaction: InTransaction;
  /** The lookup by name every sign-in makes, and every object (policies, networks: each access decision reads them): prepared statements (statements.ts). */
  private readonly byName: Statement<Row>;
  private readonly everyRow: Statement<Row>;
  /** One object by id, and its links' targets (a sign-in hydrates its RADIUS client or application, EAP-TLS its device). */
  private readonly byId: Statement<Row>;
  private readonly linksOfOne: Map<string, Statement<{ owner: string; name: string }>>;

  constructor(db: Db, def: CollectionDef, inTransaction: InTransaction) {
    this.db = db;
    this.def = def;
    this.kind = def.kind;
    this.inTransaction = inTransaction;
    this.byName = new Statement<Row>(db, `select * from ${def.table} where ${def.key} = ? order by id limit 1`);
    this.everyRow = new Statement<Row>(db, `select * from ${def.table} order by ${def.key}, id`);
    this.byId = new Statement<Row>(db, `select * from ${def.table} where id = ? limit 1`);
    this.linksOfOne = new Map((def.links ?? []).map((l) => [l.field, new Statement<{ owner: string; name: string }>(db,
      `select ${l.table}.${l.ownerColumn} as owner, ${l.targetTable}.${l.targetKey} as name from ${l.table} ` +
      `join ${l.targetTable} on ${l.targetTable}.id = ${l.table}.${l.targetColumn} where ${l.table}.${l.ownerColumn} = ? order by ${l.targetTable}.${l.targetKey}`)]));
  }

  async create(fields: Fields<T>, managedBy: ManagedBy = 'api'): Promise<T> {
    const values = fields as Record<string, unknown>;
    return this.guard(values, () =>
      this.inTransaction(async (db) => {
        const id = randomUUID();
        const at = now();
        await db(this.def.table).insert({ id, ...this.toColumns(values), managed_by: managedBy, version: 1, created_at: at, updated_at: at });
        await this.writeLinks(db, id, values);
        return this.load(db, id);
      }),
    );
  }

  async get(id: string): Promise<T> {
    return this.guard({}, () => this.load(this.db, id));
  }

  async getMany(ids: string[]): Promise<T[]> {
    if (ids.length === 0) return [];
    return this.guard({}, async () => this.hydrate(this.db, await this.db<Row>(this.def.table).whereIn('id', ids).orderBy([this.def.key, 'id'])));
  }

  async findByName(name: string): Promise<T | undefined> {
    return this.guard({}, async () => {
      const row = await this.byName.first([name]);
      return row ? (await this.hydrate(this.db, [row]))[0] : undefined;
    });
  }

  /** Looks an object up by one of its indexed columns. */
  protected async findBy(column: string, value: unknown): Promise<T | undefined> {
    return this.guard({}, async () => {
      const row = await this.db<Row>(this.def.table).where(column, value as string).first();
      return row ? (await this.hydrate(this.db, [row]))[0] : undefined;
    });
  }

  async list(query: ListQuery = {}): Promise<Page<T>> {
    const limit = pageLimit(query.limit);
    return this.guard({}, async () => {
      const q = this.filtered(query).orderBy([this.def.key, 'id']).limit(limit + 1);
      if (query.after) {
        const [key, id] = decodeCursor(query.after, 2) as [string, string];
        q.where((w) => w.where(this.def.key, '>', key).orWhere((o) => o.where(this.def.key, key).andWhere('id', '>', id)));
      }
      const rows: Row[] = await q;
      const items = await this.hydrate(this.db, rows.slice(0, limit));
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      return last ? { items, next: encodeCursor([String(last[this.def.key]), last.id]) } : { items };
    });
  }

  async all(query: Omit<ListQuery, 'limit' | 'after'> = {}): Promise<T[]> {
    const everything = Object.values(query).every((v) => v === undefined);
    return this.guard({}, async () => this.hydrate(this.db, everything ? await this.everyRow.rows([]) : await this.filtered(query).orderBy([this.def.key, 'id'])));
  }

  async update(id: string, change: (current: T) => Fields<T> | Promise<Fields<T>>, options: UpdateOptions = {}): Promise<T> {
    let next: Record<string, unknown> = {};
    try {
      return await this.inTransaction(async (db) => {
        const row = await this.lockRow(db, id, options);
        const current = (await this.hydrate(db, [row]))[0] as T;
        next = (await change(current)) as Record<string, unknown>;
        const updated = await db(this.def.table)
          .where({ id, version: row.version })
          .update({ ...this.toColumns(next), version: row.version + 1, updated_at: now() });
        if (updated !== 1) throw new ConflictError(`${this.kind} '${id}' was changed concurrently`, 'stale');
        await this.writeLinks(db, id, next);
        return this.load(db, id);
      });
    } catch (err) {
      throw mapDriverError(err, this.kind, next);
    }
  }

  async delete(id: string, options: UpdateOptions = {}): Promise<T> {
    return this.guard({}, () =>
      this.inTransaction(async (db) => {
        const row = await this.lockRow(db, id, options);
        const current = (await this.hydrate(db, [row]))[0] as T;
        await this.beforeDelete(db, id);
        await db(this.def.table).where({ id }).delete();
        return current;
      }),
    );
  }

  /** Removes rows that point at this object without a foreign key (memberships, assignments). */
  protected async beforeDelete(db: Db, id: string): Promise<void> {
    await db('memberships').where({ member_id: id }).delete();
    await db('assignments').where({ resource_id: id }).delete();
  }

  // -------------------------------------------------------------------------------------------

  private async lockRow(db: Db, id: string, options: UpdateOptions): Promise<Row> {
    const row: Row | undefined = await locked(db, db<Row>(this.def.table).where({ id }).first());
    if (!row) throw new NotFoundError(this.kind, id);
    if (options.expectVersion !== undefined && options.expectVersion !== row.version) {
      throw new ConflictError(`${this.kind} '${id}' has version ${row.version}, not ${options.expectVersion}`, 'stale');
    }
    return row;
  }

  private async load(db: Db, id: string): Promise<T> {
    const row = db === this.db ? await this.byId.first([id]) : await db<Row>(this.def.table).where({ id }).first();
    if (!row) throw new NotFoundError(this.kind, id);
    return (await this.hydrate(db, [row]))[0] as T;
  }

  private filtered(query: Omit<ListQuery, 'limit' | 'after'>): Knex.QueryBuilder {
    const q = this.db<Row>(this.def.table).select(`${this.def.table}.*`);
    if (query.managedBy) q.where('managed_by', query.managedBy);
    for (const [field, value] of Object.entries(query.where ?? {})) {
      const column = this.def.filters?.[field];
      if (!column) throw new InvalidQueryError(`cannot filter ${this.kind} by '${field}'`);
      q.where(column, value);
    }
    if (query.q) {
      const pattern = likePrefix(query.q);
      const columns = [this.def.key, ...(this.def.searchColumns ?? [])];
      q.where((w) => {
        for (const column of columns) w.orWhereRaw(`lower(??) like ? escape '\\'`, [column, pattern]);
      });
    }
    if (query.memberOf && query.nested) {
      // One query however deep the nesting: a recursive walk down from the group (UNION, not
      // UNION ALL, stops at cycles), then the users in any group it reached.
      q.whereRaw(
        `id in (with recursive down(id) as (
           select id from groups where id = ?
           union
           select m.member_id from memberships m join down on m.member_kind = 'group' and m.group_id = down.id
         ) select member_id from memberships where member_kind = 'user' and group_id in (select id from down))`,
        [query.memberOf],
      );
    } else if (query.memberOf) {
      q.whereIn('id', this.db('memberships').select('member_id').where({ group_id: query.memberOf, member_kind: 'user' }));
    }
    return q;
  }

  private toColumns(fields: Record<string, unknown>): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    const linkFields = new Set((this.def.links ?? []).map((l) => l.field));
    const columnOnly = this.def.columnOnly ?? {};
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined || linkFields.has(field) || field in columnOnly) continue;
      data[field] = value;
    }
    const extra: Record<string, unknown> = {};
    for (const [field, column] of Object.entries(columnOnly)) extra[column] = fields[field];
    return {
      [this.def.key]: fields[this.def.keyField],
      data: JSON.stringify(data),
      ...(this.def.columns?.(fields) ?? {}),
      ...extra,
    };
  }

  /** Objects from rows of this collection's table read elsewhere (a join, a recursive query). */
  fromRows(rows: Row[]): Promise<T[]> {
    return this.hydrate(this.db, rows);
  }

  private async hydrate(db: Db, rows: Row[]): Promise<T[]> {
    const links = new Map<string, Map<string, string[]>>();
    for (const link of this.def.links ?? []) {
      links.set(link.field, await this.readLinks(db, link, rows.map((r) => r.id)));
    }
    return rows.map((row) => {
      const entity: Record<string, unknown> = {
        ...(JSON.parse(row.data) as Record<string, unknown>),
        id: row.id,
        managedBy: row.managed_by,
        version: Number(row.version),
        createdAt: iso(row.created_at),
        updatedAt: iso(row.updated_at),
      };
      for (const [field, column] of Object.entries(this.def.columnOnly ?? {})) entity[field] = row[column];
      for (const [field, byOwner] of links) entity[field] = byOwner.get(row.id) ?? [];
      return entity as T;
    });
  }

  private async readLinks(db: Db, link: LinkDef, ids: string[]): Promise<Map<string, string[]>> {
    const byOwner = new Map<string, string[]>();
    if (ids.length === 0) return byOwner;
    const one = db === this.db && ids.length === 1 ? this.linksOfOne.get(link.field) : undefined;
    const rows: Array<{ owner: string; name: string }> = one ? await one.rows(ids) : await db(link.table)
      .join(link.targetTable, `${link.targetTable}.id`, `${link.table}.${link.targetColumn}`)
      .whereIn(`${link.table}.${link.ownerColumn}`, ids)
      .select({ owner: `${link.table}.${link.ownerColumn}`, name: `${link.targetTable}.${link.targetKey}` })
      .orderBy(`${link.targetTable}.${link.targetKey}`);
    for (const { owner, name } of rows) {
      const names = byOwner.get(owner) ?? [];
      names.push(name);
      byOwner.set(owner, names);
    }
    return byOwner;
  }

  /** Replaces an object's links with the named targets; an unknown name is a NotFoundError. */
  private async writeLinks(db: Db, id: string, fields: Record<string, unknown>): Promise<void> {
    for (const link of this.def.links ?? []) {
      const names = fields[link.field];
      if (!Array.isArray(names)) continue;
      const unique = [...new Set(names as string[])];
      const targets: Array<{ id: string; name: string }> = unique.length
        ? await db(link.targetTable).whereIn(link.targetKey, unique).select({ id: 'id', name: link.targetKey })
        : [];
      const missing = unique.find((name) => !targets.some((t) => t.name === name));
      if (missing !== undefined) throw new NotFoundError(link.targetKind, missing);
      await db(link.table).where(link.ownerColumn, id).delete();
      if (targets.length) await db(link.table).insert(targets.map((t) => ({ [link.ownerColumn]: id, [link.targetColumn]: t.id })));
    }
  }

  protected guard<R>(fields: Record<string, unknown>, work: () => Promise<R>): Promise<R> {
    return mapRejection(work, (err) => mapDriverError(err, this.kind, fields));
  }
}
