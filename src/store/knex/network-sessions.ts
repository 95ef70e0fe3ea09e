/**
 * Network sessions (RADIUS accounting) over knex, and the Disconnect / CoA work queued in their
 * rows. Every change that must not race is one conditional statement or one transaction with the
 * row locked: a retransmitted or concurrent Accounting-Request, two processes sweeping stale
 * sessions, two processes claiming the same Disconnect (exactly one wins).
 */
import { randomUUID } from 'node:crypto';
import type { DisconnectReason, DisconnectState, NetworkSession } from '../../network-sessions/model.ts';
import { AlreadyExistsError, NotFoundError } from '../errors.ts';
import type { AccountingOutcome, AccountingRecord, DisconnectResult, NasRef, NetworkSessionQuery, NetworkSessions, Page } from '../types.ts';
import { decodeCursor, encodeCursor, iso, locked, mapDriverError, pageLimit, type Db } from './sql.ts';

interface Row {
  id: string;
  client: string;
  nas_key: string;
  acct_session_id: string;
  nas_identifier: string | null;
  nas_ip_address: string | null;
  acct_multi_session_id: string | null;
  username: string;
  user_id: string | null;
  device_id: string | null;
  certificate_serial: string | null;
  nas_port: number | string | null;
  nas_port_id: string | null;
  framed_ip_address: string | null;
  calling_station_id: string | null;
  called_station_id: string | null;
  input_octets: number | string;
  output_octets: number | string;
  input_packets: number | string;
  output_packets: number | string;
  session_time: number | string;
  started_at: number | string;
  updated_at: number | string;
  stopped_at: number | string | null;
  terminate_cause: string | null;
  live: boolean | number;
  stale_at: number | string | null;
  disconnect_state: DisconnectState | null;
  disconnect_reason: DisconnectReason | null;
  disconnect_requested_by: string | null;
  disconnect_requested_at: number | string | null;
  disconnect_owner: string | null;
  disconnect_lease_until: number | string | null;
  disconnect_attempts: number | string;
  disconnect_completed_at: number | string | null;
  disconnect_detail: string | null;
}

const TABLE = 'network_sessions';
/** States in which a Disconnect is open: a new one is not queued, and the row is not pruned. */
const OPEN = ['pending', 'sending'] as const;

/** The NAS within a client: NAS-Identifier, else NAS-IP-Address (RFC 2866 §5.5 keys Acct-Session-Id per NAS). */
export function nasKey(nas: NasRef): string {
  return nas.nasIdentifier ?? nas.nasIpAddress ?? '';
}

export class KnexNetworkSessions implements NetworkSessions {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async record(record: AccountingRecord, options: { maxLive: number }): Promise<AccountingOutcome> {
    try {
      return await this.guard(() => this.inTx((db) => this.apply(db, record, options)));
    } catch (err) {
      // Two processes created the same session at once (a retransmission reached both): the loser
      // applies its record to the winner's row.
      if (!(err instanceof AlreadyExistsError)) throw err;
      return this.guard(() => this.inTx((db) => this.apply(db, record, options)));
    }
  }

  private async apply(db: Db, r: AccountingRecord, options: { maxLive: number }): Promise<AccountingOutcome> {
    const key = { client: r.client, nas_key: nasKey(r), acct_session_id: r.acctSessionId };
    const row: Row | undefined = await locked(db, db<Row>(TABLE).where(key)).first();
    let counters = countersOf(r);
    if (!row) {
      if (r.kind !== 'stop') {
        const live = await this.countLiveIn(db, r.client);
        if (live >= options.maxLive) return { outcome: 'refused', live };
      }
      const sessionMs = (r.sessionTime ?? 0) * 1000;
      const created = {
        id: randomUUID(),
        ...key,
        nas_identifier: r.nasIdentifier ?? null,
        nas_ip_address: r.nasIpAddress ?? null,
        acct_multi_session_id: r.acctMultiSessionId ?? null,
        username: r.username,
        user_id: r.userId ?? null,
        device_id: r.deviceId ?? null,
        certificate_serial: r.certificateSerial ?? null,
        nas_port: r.nasPort ?? null,
        nas_port_id: r.nasPortId ?? null,
        framed_ip_address: r.framedIpAddress ?? null,
        calling_station_id: r.callingStationId ?? null,
        called_station_id: r.calledStationId ?? null,
        input_octets: 0, output_octets: 0, input_packets: 0, output_packets: 0, session_time: 0,
        ...counters,
        // An Interim-Update or Stop without its Start (lost): the session began Acct-Session-Time before it.
        started_at: r.at - sessionMs,
        updated_at: r.at,
        stopped_at: r.kind === 'stop' ? r.at : null,
        terminate_cause: r.kind === 'stop' ? (r.terminateCause ?? null) : null,
        live: r.kind !== 'stop',
        stale_at: r.kind === 'stop' ? null : r.staleAt,
        disconnect_attempts: 0,
      };
      await db(TABLE).insert(created);
      return { outcome: 'created', session: toSession((await db<Row>(TABLE).where({ id: created.id }).first())!) };
    }
    const live = Boolean(row.live);
    const storedTime = Number(row.session_time);
    const time = r.sessionTime ?? storedTime;
    // A retransmitted Start; an Interim-Update after the Stop or overtaken by a later one.
    if (r.kind === 'start' || (r.kind === 'interim' && (!live || time < storedTime))) {
      return { outcome: 'ignored', session: toSession(row) };
    }
    // A Stop always ends the session, but never takes counters back (it was overtaken by a later record).
    if (r.kind === 'stop' && time < storedTime) counters = {};
    const details = {
      ...(r.framedIpAddress !== undefined ? { framed_ip_address: r.framedIpAddress } : {}),
      ...(r.acctMultiSessionId !== undefined ? { acct_multi_session_id: r.acctMultiSessionId } : {}),
      ...(r.callingStationId !== undefined ? { calling_station_id: r.callingStationId } : {}),
    };
    if (r.kind === 'interim') {
      const changed = { ...counters, ...details, updated_at: Math.max(r.at, Number(row.updated_at)), stale_at: r.staleAt };
      if (sameValues(row, { ...counters, ...details })) {
        // A retransmission: only the stale deadline moves.
        await db(TABLE).where({ id: row.id }).update({ stale_at: r.staleAt });
        return { outcome: 'ignored', session: toSession(row) };
      }
      await db(TABLE).where({ id: row.id }).update(changed);
    } else {
      const cause = r.terminateCause ?? row.terminate_cause ?? null;
      if (!live && sameValues(row, { ...counters, terminate_cause: cause })) return { outcome: 'ignored', session: toSession(row) };
      await db(TABLE).where({ id: row.id }).update({
        ...counters, ...details, terminate_cause: cause, live: false, stale_at: null,
        stopped_at: live ? r.at : Number(row.stopped_at ?? r.at), updated_at: Math.max(r.at, Number(row.updated_at)),
      });
    }
    return { outcome: 'updated', session: toSession((await db<Row>(TABLE).where({ id: row.id }).first())!) };
  }

  async clearNas(nas: NasRef, at: number, terminateCause: string): Promise<number> {
    return this.guard(() =>
      this.db(TABLE).where({ client: nas.client, nas_key: nasKey(nas), live: true }).update({ live: false, stopped_at: at, terminate_cause: terminateCause, stale_at: null, updated_at: at }),
    );
  }

  async get(id: string): Promise<NetworkSession> {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new NotFoundError('network session', id);
    const row: Row | undefined = await this.guard(() => this.db<Row>(TABLE).where({ id }).first());
    if (!row) throw new NotFoundError('network session', id);
    return toSession(row);
  }

  async list(query: NetworkSessionQuery = {}): Promise<Page<NetworkSession>> {
    const limit = pageLimit(query.limit);
    return this.guard(async () => {
      const q = this.db<Row>(TABLE).orderBy([{ column: 'started_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit + 1);
      if (query.userId !== undefined) q.where('user_id', query.userId);
      if (query.client !== undefined) q.where('client', query.client);
      if (query.live !== undefined) q.where('live', query.live);
      if (query.certificateSerial !== undefined) q.where('certificate_serial', query.certificateSerial);
      if (query.deviceId !== undefined) q.where('device_id', query.deviceId);
      if (query.after) {
        const [startedAt, id] = decodeCursor(query.after, 2) as [number, string];
        q.where((w) => w.where('started_at', '<', startedAt).orWhere((x) => x.where('started_at', startedAt).andWhere('id', '<', id)));
      }
      const rows: Row[] = await q;
      const items = rows.slice(0, limit).map(toSession);
      const last = rows.length > limit ? rows[limit - 1]! : undefined;
      return last ? { items, next: encodeCursor([Number(last.started_at), last.id]) } : { items };
    });
  }

  async countLive(client: string): Promise<number> {
    return this.guard(() => this.countLiveIn(this.db, client));
  }

  private async countLiveIn(db: Db, client: string): Promise<number> {
    const row = (await db(TABLE).where({ client, live: true }).count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  async expireStale(now: number): Promise<number> {
    return this.guard(() =>
      this.db(TABLE).where({ live: true }).whereNotNull('stale_at').andWhere('stale_at', '<', now).update({ live: false, stopped_at: now, terminate_cause: 'Stale', stale_at: null }),
    );
  }

  async prune(before: number): Promise<number> {
    return this.guard(() =>
      this.db(TABLE)
        .where({ live: false })
        .andWhere('stopped_at', '<', before)
        .andWhere((w) => w.whereNull('disconnect_state').orWhereNotIn('disconnect_state', OPEN))
        .delete(),
    );
  }

  async requestDisconnect(id: string, reason: DisconnectReason, requestedBy: string, options: { again?: boolean } = {}): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return false;
    const changed = await this.guard(() =>
      this.db(TABLE)
        .where({ id, live: true })
        .andWhere((w) => (options.again ? w.whereNull('disconnect_state').orWhereNotIn('disconnect_state', OPEN) : w.whereNull('disconnect_state')))
        .update({
          disconnect_state: 'pending', disconnect_reason: reason, disconnect_requested_by: requestedBy.slice(0, 256), disconnect_requested_at: Date.now(),
          disconnect_owner: null, disconnect_lease_until: null, disconnect_attempts: 0, disconnect_completed_at: null, disconnect_detail: null,
        }),
    );
    return changed === 1;
  }

  async claimDisconnects(owner: string, leaseUntil: number, limit: number): Promise<NetworkSession[]> {
    const now = Date.now();
    const claimable = (q: ReturnType<Db>) =>
      q.where((w) => w.where('disconnect_state', 'pending').orWhere((x) => x.where('disconnect_state', 'sending').andWhere('disconnect_lease_until', '<', now)));
    return this.guard(async () => {
      const candidates: Array<{ id: string }> = await claimable(this.db(TABLE).select('id')).orderBy('disconnect_requested_at').limit(limit);
      const claimed: NetworkSession[] = [];
      for (const { id } of candidates) {
        // The condition is checked again in the update itself: of concurrent claimants one changes the row.
        const n = await claimable(this.db(TABLE).where({ id })).update({ disconnect_state: 'sending', disconnect_owner: owner, disconnect_lease_until: leaseUntil });
        if (n === 1) claimed.push(toSession((await this.db<Row>(TABLE).where({ id }).first())!));
      }
      return claimed;
    });
  }

  async finishDisconnect(id: string, owner: string, result: DisconnectResult, at: number): Promise<boolean> {
    const ends = result.state === 'acked' && result.endsSession !== false;
    // An ACK ends a session the NAS has not reported stopped yet (its Stop then brings the final
    // counters): one statement, so no reader sees it ended without a cause.
    const ended = ends ? { live: false, stopped_at: at, stale_at: null, terminate_cause: this.db.raw(`coalesce(terminate_cause, 'Admin-Reset')`) } : {};
    const n = await this.guard(() =>
      this.db(TABLE)
        .where({ id, disconnect_state: 'sending', disconnect_owner: owner })
        .update({
          disconnect_state: result.state, disconnect_attempts: result.attempts, disconnect_completed_at: at, disconnect_detail: result.detail?.slice(0, 256) ?? null,
          disconnect_owner: null, disconnect_lease_until: null, ...ended,
        }),
    );
    return n === 1;
  }

  private inTx<R>(work: (db: Db) => Promise<R>): Promise<R> {
    return this.db.isTransaction ? work(this.db) : this.db.transaction((trx) => work(trx));
  }

  private async guard<R>(work: () => PromiseLike<R>): Promise<R> {
    try {
      return await work();
    } catch (err) {
      throw mapDriverError(err, 'network session');
    }
  }
}

/** The counters a record carries (absent ones stay as stored). */
function countersOf(r: AccountingRecord): Record<string, number> {
  const out: Record<string, number> = {};
  if (r.inputOctets !== undefined) out.input_octets = r.inputOctets;
  if (r.outputOctets !== undefined) out.output_octets = r.outputOctets;
  if (r.inputPackets !== undefined) out.input_packets = r.inputPackets;
  if (r.outputPackets !== undefined) out.output_packets = r.outputPackets;
  if (r.sessionTime !== undefined) out.session_time = r.sessionTime;
  return out;
}

function sameValues(row: Row, values: Record<string, unknown>): boolean {
  const stored = row as unknown as Record<string, unknown>;
  return Object.entries(values).every(([k, v]) => (typeof v === 'number' ? Number(stored[k]) === v : (stored[k] ?? null) === (v ?? null)));
}

const opt = <K extends string, V>(key: K, value: V | null | undefined) => (value === null || value === undefined ? {} : ({ [key]: value } as { [P in K]: V }));

function toSession(row: Row): NetworkSession {
  return {
    id: row.id,
    client: row.client,
    ...opt('nasIdentifier', row.nas_identifier),
    ...opt('nasIpAddress', row.nas_ip_address),
    acctSessionId: row.acct_session_id,
    ...opt('acctMultiSessionId', row.acct_multi_session_id),
    username: row.username,
    ...opt('userId', row.user_id),
    ...opt('deviceId', row.device_id),
    ...opt('certificateSerial', row.certificate_serial),
    ...(row.nas_port !== null ? { nasPort: Number(row.nas_port) } : {}),
    ...opt('nasPortId', row.nas_port_id),
    ...opt('framedIpAddress', row.framed_ip_address),
    ...opt('callingStationId', row.calling_station_id),
    ...opt('calledStationId', row.called_station_id),
    inputOctets: Number(row.input_octets),
    outputOctets: Number(row.output_octets),
    inputPackets: Number(row.input_packets),
    outputPackets: Number(row.output_packets),
    sessionTime: Number(row.session_time),
    startedAt: iso(row.started_at)!,
    updatedAt: iso(row.updated_at)!,
    ...opt('stoppedAt', iso(row.stopped_at)),
    ...opt('terminateCause', row.terminate_cause),
    live: Boolean(row.live),
    ...(row.disconnect_state && row.disconnect_reason
      ? {
          disconnect: {
            state: row.disconnect_state,
            reason: row.disconnect_reason,
            ...opt('requestedBy', row.disconnect_requested_by),
            requestedAt: iso(row.disconnect_requested_at)!,
            attempts: Number(row.disconnect_attempts),
            ...opt('completedAt', iso(row.disconnect_completed_at)),
            ...opt('detail', row.disconnect_detail),
          },
        }
      : {}),
  };
}
