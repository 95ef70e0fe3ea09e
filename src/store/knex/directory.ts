/**
 * The directory store over knex: the collections, memberships, passwords and the audit log, all
 * bound to one connection or one transaction.
 */
import type {
  AuditEvent, Device, Group, ManagedBy, Member, MemberKind, Network, NewAuditEvent, Policy, Reason, User,
} from '../../directory/model.ts';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../errors.ts';
import type {
  AuditLog, AuditQuery, Collection, DirectoryStore, Memberships, Page, PasswordRecord, Passwords, StoredApiKey, StoredApplication, StoredRadiusClient,
} from '../types.ts';
import type { Knex } from 'knex';
import { KnexCiphertexts } from './ciphertexts.ts';
import { KnexCollection, type CollectionDef, type InTransaction, type LinkDef } from './collection.ts';
import { KnexFactors } from './factors.ts';
import { KnexNetworkSessions } from './network-sessions.ts';
import { KnexPki } from './pki.ts';
import { KnexSigningKeys } from './signing-keys.ts';
import { decodeCursor, isPostgres, iso, mapDriverError, now, pageLimit, rowsOf, type Db } from './sql.ts';
import { mapRejection, sqliteTransaction, Statement } from './statements.ts';

const groupLink = (table: string, ownerColumn: string): LinkDef => ({
  field: 'groups', table, ownerColumn, targetColumn: 'group_id', targetTable: 'groups', targetKey: 'name', targetKind: 'group',
});

const DEFS = {
  users: {
    kind: 'user', table: 'users', key: 'username', keyField: 'username', keyUnique: true,
    columns: (u) => ({ email: u.email ?? null, status: u.status, uid_number: u.uidNumber ?? null }),
    filters: { status: 'status', email: 'email' },
    searchColumns: ['email'],
  },
  groups: {
    kind: 'group', table: 'groups', key: 'name', keyField: 'name', keyUnique: true,
    columns: (g) => ({ gid_number: g.gidNumber ?? null }),
  },
  applications: { kind: 'application', table: 'applications', key: 'name', keyField: 'name', keyUnique: true, links: [groupLink('assignments', 'resource_id')] },
  radiusClients: { kind: 'RADIUS client', table: 'radius_clients', key: 'name', keyField: 'name', keyUnique: true, links: [groupLink('assignments', 'resource_id')] },
  networks: { kind: 'network', table: 'networks', key: 'name', keyField: 'name', keyUnique: true },
  devices: {
    kind: 'device', table: 'devices', key: 'name', keyField: 'name', keyUnique: false,
    columns: (d) => ({ serial: d.serial ?? null }),
    filters: { serial: 'serial' },
    links: [{ field: 'owners', table: 'device_owners', ownerColumn: 'device_id', targetColumn: 'user_id', targetTable: 'users', targetKey: 'username', targetKind: 'user' }],
  },
  policies: { kind: 'policy', table: 'policies', key: 'name', keyField: 'name', keyUnique: true },
  apiKeys: { kind: 'API key', table: 'api_keys', key: 'name', keyField: 'name', keyUnique: true, columnOnly: { secretHash: 'secret_hash' } },
} satisfies Record<string, CollectionDef>;

class ApiKeyCollection extends KnexCollection<StoredApiKey> {
  findBySecretHash(hash: string): Promise<StoredApiKey | undefined> {
    return this.findBy('secret_hash', hash);
  }
}

export class KnexDirectory implements DirectoryStore {
  readonly users: Collection<User>;
  readonly groups: Collection<Group>;
  readonly applications: Collection<StoredApplication>;
  readonly radiusClients: Collection<StoredRadiusClient>;
  readonly networks: Collection<Network>;
  readonly devices: Collection<Device>;
  readonly policies: Collection<Policy>;
  readonly apiKeys: ApiKeyCollection;
  readonly memberships: Memberships;
  readonly passwords: Passwords;
  readonly factors: KnexFactors;
  readonly pki: KnexPki;
  readonly signingKeys: KnexSigningKeys;
  readonly audit: AuditLog;
  readonly networkSessions: KnexNetworkSessions;
  readonly ciphertexts: KnexCiphertexts;
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    const inTx: InTransaction = (work) => (db.isTransaction ? work(db) : db.transaction((trx) => work(trx)));
    this.users = new KnexCollection<User>(db, DEFS.users, inTx);
    this.groups = new KnexCollection<Group>(db, DEFS.groups, inTx);
    this.applications = new KnexCollection<StoredApplication>(db, DEFS.applications, inTx);
    this.radiusClients = new KnexCollection<StoredRadiusClient>(db, DEFS.radiusClients, inTx);
    this.networks = new KnexCollection<Network>(db, DEFS.networks, inTx);
    this.devices = new KnexCollection<Device>(db, DEFS.devices, inTx);
    this.policies = new KnexCollection<Policy>(db, DEFS.policies, inTx);
    this.apiKeys = new ApiKeyCollection(db, DEFS.apiKeys, inTx);
    this.memberships = new KnexMemberships(db, inTx);
    this.passwords = new KnexPasswords(db, inTx);
    this.factors = new KnexFactors(db);
    this.pki = new KnexPki(db);
    this.signingKeys = new KnexSigningKeys(db);
    this.audit = new KnexAuditLog(db);
    this.networkSessions = new KnexNetworkSessions(db);
    this.ciphertexts = new KnexCiphertexts(db);
  }

  transaction<R>(work: (tx: DirectoryStore) => Promise<R>): Promise<R> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction((trx) => work(new KnexDirectory(trx)));
  }
}

// ---------------------------------------------------------------------------------------------

interface MembershipRow {
  group_id: string;
  member_kind: MemberKind;
  member_id: string;
  managed_by: ManagedBy;
}

class KnexMemberships implements Memberships {
  private readonly db: Db;
  private readonly inTx: InTransaction;
  private readonly groups: KnexCollection<Group>;
  /** A user's groups, nested ones included, in one statement (every sign-in reads them). */
  private readonly userGroups: Statement<Parameters<KnexCollection<Group>['fromRows']>[0][number]>;
  constructor(db: Db, inTx: InTransaction) {
    this.db = db;
    this.inTx = inTx;
    this.groups = new KnexCollection<Group>(db, DEFS.groups, inTx);
    this.userGroups = new Statement(db, `with recursive up(id) as (
         select group_id from memberships where member_kind = 'user' and member_id = ?
         union
         select m.group_id from memberships m join up on m.member_kind = 'group' and m.member_id = up.id
       ) select * from groups where id in (select id from up) order by name, id`);
  }

  async add(groupId: string, kind: MemberKind, memberId: string, managedBy: ManagedBy = 'api'): Promise<void> {
    await guard('membership', () =>
      this.inTx(async (db) => {
        const group = await db('groups').where({ id: groupId }).first('name');
        if (!group) throw new NotFoundError('group', groupId);
        const member = await db(kind === 'user' ? 'users' : 'groups').where({ id: memberId }).first('id');
        if (!member) throw new NotFoundError(kind, memberId);
        if (kind === 'group' && (memberId === groupId || (await this.descendantGroups(db, memberId)).has(groupId))) {
          throw new ConflictError(`adding this group would make group '${group.name as string}' contain itself`);
        }
        const existing = await db('memberships').where({ group_id: groupId, member_kind: kind, member_id: memberId }).first();
        if (existing) throw new AlreadyExistsError('membership', memberId, `already a member of group '${group.name as string}'`);
        await db('memberships').insert({ group_id: groupId, member_kind: kind, member_id: memberId, managed_by: managedBy });
      }),
    );
  }

  async remove(groupId: string, kind: MemberKind, memberId: string): Promise<boolean> {
    return guard('membership', async () => (await this.db('memberships').where({ group_id: groupId, member_kind: kind, member_id: memberId }).delete()) > 0);
  }

  async members(groupId: string): Promise<Member[]> {
    return guard('membership', async () => {
      const rows: Array<{ kind: MemberKind; id: string; name: string; managed_by: ManagedBy }> = await this.db
        .select({ kind: 'm.member_kind', id: 'm.member_id', managed_by: 'm.managed_by' })
        .select(this.db.raw('coalesce(u.username, g.name) as name'))
        .from('memberships as m')
        .leftJoin('users as u', (j) => j.on('u.id', 'm.member_id').andOnVal('m.member_kind', 'user'))
        .leftJoin('groups as g', (j) => j.on('g.id', 'm.member_id').andOnVal('m.member_kind', 'group'))
        .where('m.group_id', groupId)
        .orderBy([{ column: 'm.member_kind', order: 'desc' }, { column: 'name' }]);
      return rows.map((r) => ({ kind: r.kind, id: r.id, name: r.name, managedBy: r.managed_by }));
    });
  }

  async groupsOf(kind: MemberKind, memberId: string): Promise<Group[]> {
    return guard('membership', async () => {
      const ids = this.db('memberships').select('group_id').where({ member_kind: kind, member_id: memberId });
      return this.groupsById(await this.db('groups').whereIn('id', ids).orderBy('name').select('id'));
    });
  }

  async resolveUserGroups(userId: string): Promise<Group[]> {
    // One recursive query walks up nested groups; UNION (not UNION ALL) stops at cycles.
    return guard('membership', async () => this.groups.fromRows(await this.userGroups.rows([userId])));
  }

  async all(): Promise<Array<{ groupId: string; kind: MemberKind; memberId: string; managedBy: ManagedBy }>> {
    return guard('membership', async () => {
      const rows: MembershipRow[] = await this.db('memberships').select('*');
      return rows.map((r) => ({ groupId: r.group_id, kind: r.member_kind, memberId: r.member_id, managedBy: r.managed_by }));
    });
  }

  private async groupsById(ids: Array<{ id: string }>): Promise<Group[]> {
    return new KnexCollection<Group>(this.db, DEFS.groups, this.inTx).getMany(ids.map((r) => r.id));
  }

  /** Every group nested (directly or not) inside the given group. */
  private async descendantGroups(db: Db, groupId: string): Promise<Set<string>> {
    const result = await db.raw(
      `with recursive down(id) as (
         select member_id from memberships where member_kind = 'group' and group_id = ?
         union
         select m.member_id from memberships m join down on m.member_kind = 'group' and m.group_id = down.id
       ) select id from down`,
      [groupId],
    );
    return new Set(rowsOf<{ id: string }>(result).map((r) => r.id));
  }
}

// ---------------------------------------------------------------------------------------------

class KnexPasswords implements Passwords {
  private readonly db: Db;
  private readonly inTx: InTransaction;
  private readonly byUser: Statement;
  constructor(db: Db, inTx: InTransaction) {
    this.db = db;
    this.inTx = inTx;
    this.byUser = new Statement(db, 'select * from passwords where user_id = ?');
  }

  async get(userId: string): Promise<PasswordRecord | undefined> {
    return guard('password', async () => {
      const row = await this.byUser.first([userId]);
      if (!row) return undefined;
      return {
        hash: row.hash as string,
        changedAt: iso(row.changed_at as number)!,
        history: JSON.parse(row.history as string) as string[],
        ...(row.source ? { source: row.source as string } : {}),
      };
    });
  }

  async set(userId: string, hash: string, keepHistory: number, source?: string): Promise<void> {
    await guard('password', () =>
      this.inTx(async (db) => {
        const user = await db('users').where({ id: userId }).first('id');
        if (!user) throw new NotFoundError('user', userId);
        const row = await db('passwords').where({ user_id: userId }).first();
        const history = row ? [row.hash as string, ...(JSON.parse(row.history as string) as string[])].slice(0, keepHistory) : [];
        const values = { hash, history: JSON.stringify(history), changed_at: now(), source: source ?? null };
        if (row) await db('passwords').where({ user_id: userId }).update(values);
        else await db('passwords').insert({ user_id: userId, ...values });
      }),
    );
  }

  async rehash(userId: string, expected: string, hash: string): Promise<boolean> {
    return guard('password', async () => (await this.db('passwords').where({ user_id: userId, hash: expected }).update({ hash })) === 1);
  }

  async delete(userId: string): Promise<void> {
    await guard('password', () => this.db('passwords').where({ user_id: userId }).delete());
  }
}

// ---------------------------------------------------------------------------------------------

interface AuditRow {
  id: number | string;
  time: number | string;
  type: string;
  actor_type: AuditEvent['actor']['type'];
  actor_id: string | null;
  actor_name: string | null;
  target_type: string | null;
  target_id: string | null;
  target_name: string | null;
  source_ip: string | null;
  protocol: string | null;
  outcome: AuditEvent['outcome'];
  reasons: string;
  details: string;
  request_id: string | null;
}

/** An event waiting for the next batch (SQLite). */
interface PendingAppend {
  binds: unknown[];
  resolve: (row: { id: number | string }) => void;
  reject: (err: unknown) => void;
}

class KnexAuditLog implements AuditLog {
  private readonly db: Db;
  /** Every attempt appends one event. */
  private readonly insert: Statement<{ id: number | string }>;
  /** SQLite: the events appended since the last batch was written. */
  private pending: PendingAppend[] = [];
  constructor(db: Db) {
    this.db = db;
    this.insert = new Statement(db, `insert into audit_events (time, type, actor_type, actor_id, actor_name, target_type, target_id, target_name, source_ip, protocol, outcome, reasons, details, request_id)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id`);
  }

  async append(event: NewAuditEvent): Promise<AuditEvent> {
    return guard('audit event', async () => {
      const time = event.time ? Date.parse(event.time) : now();
      const row = {
        time,
        type: event.type,
        actor_type: event.actor.type,
        actor_id: event.actor.id ?? null,
        actor_name: event.actor.name ?? null,
        target_type: event.target?.type ?? null,
        target_id: event.target?.id ?? null,
        target_name: event.target?.name ?? null,
        source_ip: event.sourceIp ?? null,
        protocol: event.protocol ?? null,
        outcome: event.outcome,
        reasons: JSON.stringify(event.reasons ?? []),
        details: JSON.stringify(event.details ?? {}),
        request_id: event.requestId ?? null,
      };
      const binds = [row.time, row.type, row.actor_type, row.actor_id, row.actor_name, row.target_type, row.target_id, row.target_name, row.source_ip, row.protocol, row.outcome, row.reasons, row.details, row.request_id];
      const inserted = isPostgres(this.db) || this.db.isTransaction ? await this.insert.first(binds) : await this.batched(binds);
      // The reasons and details as stored, without parsing back the JSON just written: it is what
      // they serialise to (the process log and the admin API read it as JSON).
      return toAuditEvent({ ...row, id: inserted!.id }, { reasons: event.reasons ?? [], details: event.details ?? {} });
    });
  }

  /**
   * SQLite: the event joins the others appended in this turn of the event loop, and they are
   * written in one transaction when the turn ends (group commit). A commit, writing the changed
   * pages of the table and its indexes to the WAL, is most of what an insert costs; concurrent
   * sign-ins each append one or two events. Resolves once committed, as a lone insert would; if
   * the transaction fails, every event of the batch fails with it (the auditor logs each as not
   * persisted). PostgreSQL groups concurrent commits itself.
   */
  private batched(binds: unknown[]): Promise<{ id: number | string }> {
    return new Promise((resolve, reject) => {
      this.pending.push({ binds, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 1) {
      this.insert.first(batch[0]!.binds).then((row) => batch[0]!.resolve(row!), batch[0]!.reject);
      return;
    }
    sqliteTransaction(this.db as Knex, (run) => batch.map((p) => run(this.insert, p.binds).rows[0]!)).then(
      (rows) => rows.forEach((row, i) => batch[i]!.resolve(row)),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  }

  async query(query: AuditQuery = {}): Promise<Page<AuditEvent>> {
    const limit = pageLimit(query.limit);
    return guard('audit event', async () => {
      const q = this.db<AuditRow>('audit_events').orderBy('id', 'desc').limit(limit + 1);
      if (query.after) q.where('id', '<', Number(decodeCursor(query.after, 1)[0]));
      if (query.type) {
        // ESCAPE: SQLite has no default escape character, so `radius\_client.%` would match nothing there.
        if (query.type.endsWith('.')) q.whereRaw(`type like ? escape '\\'`, [`${query.type.replace(/[\\%_]/g, (c) => `\\${c}`)}%`]);
        else q.where('type', query.type);
      }
      if (query.outcome) q.where('outcome', query.outcome);
      if (query.requestId) q.where('request_id', query.requestId);
      if (query.since) q.where('time', '>=', Date.parse(query.since));
      if (query.until) q.where('time', '<', Date.parse(query.until));
      if (query.user) {
        const user = query.user;
        q.where((w) =>
          w
            .where((a) => a.where('actor_type', 'user').andWhere((b) => b.where('actor_id', user).orWhere('actor_name', user)))
            .orWhere((t) => t.where('target_type', 'user').andWhere((b) => b.where('target_id', user).orWhere('target_name', user))),
        );
      }
      const rows: AuditRow[] = await q;
      const items = rows.slice(0, limit).map((r) => toAuditEvent(r));
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      return last ? { items, next: Buffer.from(JSON.stringify([Number(last.id)])).toString('base64url') } : { items };
    });
  }

  async prune(before: string): Promise<number> {
    return guard('audit event', () => this.db('audit_events').where('time', '<', Date.parse(before)).delete());
  }
}

function toAuditEvent(row: AuditRow, parsed?: { reasons: Reason[]; details: Record<string, unknown> }): AuditEvent {
  const event: AuditEvent = {
    id: String(row.id),
    time: iso(row.time)!,
    type: row.type,
    actor: { type: row.actor_type, ...(row.actor_id ? { id: row.actor_id } : {}), ...(row.actor_name ? { name: row.actor_name } : {}) },
    outcome: row.outcome,
    reasons: parsed?.reasons ?? (JSON.parse(row.reasons) as Reason[]),
    details: parsed?.details ?? (JSON.parse(row.details) as Record<string, unknown>),
  };
  if (row.target_type) event.target = { type: row.target_type, ...(row.target_id ? { id: row.target_id } : {}), ...(row.target_name ? { name: row.target_name } : {}) };
  if (row.source_ip) event.sourceIp = row.source_ip;
  if (row.protocol) event.protocol = row.protocol;
  if (row.request_id) event.requestId = row.request_id;
  return event;
}

function guard<R>(kind: string, work: () => Promise<R>): Promise<R> {
  return mapRejection(work, (err) => mapDriverError(err, kind));
}

