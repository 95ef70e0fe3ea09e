/**
 * Network sessions: what RADIUS accounting reports (RFC 2866), read by the admin API, the CLI and
 * the portal, and continuous verification down to the network (RFC 5176): a session whose person
 * was suspended or deleted, left every group its RADIUS client is assigned to, whose device fell
 * out of compliance, or whose device certificate (EAP-TLS) was revoked is ended by a
 * Disconnect-Request (or CoA-Request) to its NAS.
 *
 * Everything goes through the store, so it works across Gatehouse processes on one PostgreSQL:
 *  - `review` re-checks the live sessions and queues a Disconnect in the session's row (a
 *    conditional update: of processes reviewing at once, one queues it);
 *  - an administrator's `disconnect` queues one the same way, from any process (the CLI too);
 *  - so does a certificate's revocation (`certificateRevoked`, told by the device CA), for the
 *    sessions signed in with it, from any process;
 *  - a process running the RADIUS front-end `claim`s queued work (one claimant per request, with a
 *    lease so a crashed claimant's work is taken over), sends it (protocols/radius/coa.ts) and
 *    `finish`es it with the outcome, audited.
 */
import type { Auditor, AuditContext } from '../audit/audit.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { DeviceService } from '../devices/service.ts';
import type { DirectoryService } from '../directory/service.ts';
import type { Device, RadiusClient, User } from '../directory/model.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { AccountingOutcome, AccountingRecord, DeviceCertificateRecord, DisconnectResult, NasRef, NetworkSessionQuery, Page, Store } from '../store/types.ts';
import { reason } from '../reasons.ts';
import type { AccountingValues, DisconnectReason, NetworkSession } from './model.ts';

export type NetworkSessionsConfig = CoreConfig['networkSessions'];

export interface NetworkSessionDeps {
  store: Store;
  auditor: Auditor;
  config: NetworkSessionsConfig;
  directory: DirectoryService;
  devices: DeviceService;
}

/** One Accounting-Request Start, Interim-Update or Stop as the RADIUS front-end parsed it. */
export interface AccountingInput extends NasRef, AccountingValues {
  kind: AccountingRecord['kind'];
  acctSessionId: string;
  /** When it happened (ms): Event-Timestamp, else arrival less Acct-Delay-Time. */
  at: number;
  /** The device the sign-in identified, when the front-end knows it. */
  deviceId?: string | undefined;
  /** The serial of the device certificate the sign-in presented (EAP-TLS), when the front-end knows it. */
  certificateSerial?: string | undefined;
}

const sessionTarget = (s: NetworkSession) => ({ type: 'network_session', id: s.id, name: `${s.client}/${s.acctSessionId}` });

/** One audit event per client and minute at most for refused Starts (a flood must not fill the audit log). */
const REFUSAL_EVENT_MS = 60_000;

export class NetworkSessionService {
  private readonly deps: NetworkSessionDeps;
  private readonly refusalLogged = new Map<string, number>();

  constructor(deps: NetworkSessionDeps) {
    this.deps = deps;
  }

  get config(): NetworkSessionsConfig {
    return this.deps.config;
  }

  private get store() {
    return this.deps.store.directory.networkSessions;
  }

  // -------------------------------------------------------------------------------------------
  // Accounting (RFC 2866): called by the RADIUS front-end before it answers

  /**
   * Records a Start, Interim-Update or Stop. It resolves only once the record is in the store: the
   * front-end answers with Accounting-Response then, and not at all when this throws (RFC 2866 §2)
   * or the Start was refused (`outcome: 'refused'`, the client's live limit).
   */
  async account(ctx: AuditContext, input: AccountingInput): Promise<AccountingOutcome> {
    const { kind, at, deviceId, certificateSerial, ...rest } = input;
    const user = await this.deps.directory.users.byLogin(input.username).catch(() => undefined);
    // Stale counts from when the NAS was last heard from, whatever time the record carries.
    const staleAt = Date.now() + this.config.interimIntervalSeconds * this.config.staleAfterIntervals * 1000;
    const result = await this.store.record(
      { ...rest, kind, at: Math.min(at, Date.now()), staleAt, ...(user ? { userId: user.id } : {}), ...(deviceId ? { deviceId } : {}), ...(deviceId && certificateSerial ? { certificateSerial } : {}) },
      { maxLive: this.config.maxLivePerClient },
    );
    if (result.outcome === 'refused') {
      const last = this.refusalLogged.get(input.client) ?? 0;
      if (Date.now() - last >= REFUSAL_EVENT_MS) {
        if (this.refusalLogged.size > 10_000) this.refusalLogged.clear();
        this.refusalLogged.set(input.client, Date.now());
        await this.deps.auditor.record(ctx, {
          type: 'network_session.refused', outcome: 'failure',
          target: { type: 'radius_client', name: input.client },
          reasons: [reason('too_many_sessions', `RADIUS client '${input.client}' has ${result.live}`)],
          details: { acctSessionId: input.acctSessionId, username: input.username, live: result.live },
        });
      }
      return result;
    }
    const s = result.session;
    if (result.outcome === 'created' && s.live) {
      await this.deps.auditor.record(ctx, {
        type: 'network_session.started', outcome: 'success', target: sessionTarget(s),
        actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'anonymous', name: input.username.slice(0, 256) },
        details: { client: s.client, nas: s.nasIdentifier ?? s.nasIpAddress, framedIpAddress: s.framedIpAddress, callingStationId: s.callingStationId, ...(kind !== 'start' ? { startMissing: true } : {}) },
      });
    }
    if (kind === 'stop' && result.outcome !== 'ignored') {
      await this.deps.auditor.record(ctx, {
        type: 'network_session.stopped', outcome: 'success', target: sessionTarget(s),
        actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'anonymous', name: input.username.slice(0, 256) },
        details: { client: s.client, terminateCause: s.terminateCause, sessionTime: s.sessionTime, inputOctets: s.inputOctets, outputOctets: s.outputOctets },
      });
    }
    return result;
  }

  /** Accounting-On / Accounting-Off: the NAS (re)started or is going down, so its sessions ended. @returns how many */
  async clearNas(ctx: AuditContext, nas: NasRef, status: 'on' | 'off', at: number): Promise<number> {
    const count = await this.store.clearNas(nas, Math.min(at, Date.now()), 'NAS-Reboot');
    await this.deps.auditor.record(ctx, {
      type: 'network_session.cleared', outcome: 'success', target: { type: 'radius_client', name: nas.client },
      details: { status: status === 'on' ? 'Accounting-On' : 'Accounting-Off', nas: nas.nasIdentifier ?? nas.nasIpAddress, sessions: count },
    });
    return count;
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /** @throws NotFoundError */
  get(id: string): Promise<NetworkSession> {
    return this.store.get(id);
  }

  /** Newest first; `user` and `client` by name (or user id). @throws NotFoundError for an unknown user */
  async list(query: Omit<NetworkSessionQuery, 'userId'> & { user?: string | undefined } = {}): Promise<Page<NetworkSession>> {
    const { user, ...rest } = query;
    const userId = user === undefined ? undefined : (await this.deps.directory.users.find(user)).id;
    return this.store.list({ ...rest, ...(userId ? { userId } : {}), ...(rest.client ? { client: rest.client.trim().toLowerCase() } : {}) });
  }

  /** A person's live network sessions (the portal), newest first. */
  async liveOf(userId: string): Promise<NetworkSession[]> {
    return (await this.store.list({ userId, live: true, limit: 100 })).items;
  }

  // -------------------------------------------------------------------------------------------
  // Ending sessions

  /**
   * An administrator ends a session: a Disconnect is queued for the process running the RADIUS
   * front-end (GET the session for the outcome). Again after one that failed.
   * @throws NotFoundError, ConflictError (not live, or a Disconnect is under way)
   */
  async disconnect(ctx: AuditContext, id: string): Promise<NetworkSession> {
    const session = await this.store.get(id);
    if (!session.live) throw new ConflictError(`network session ${id} has ended already`);
    const by = ctx.actor.name ?? ctx.actor.id ?? ctx.actor.type;
    if (!(await this.store.requestDisconnect(id, 'admin', `${ctx.actor.type}:${by}`, { again: true }))) {
      throw new ConflictError(`network session ${id} has ended, or a Disconnect for it is under way`);
    }
    await this.requested(ctx, session, 'admin');
    return this.store.get(id);
  }

  /**
   * Checks every live session of a known user against the directory now, and queues a Disconnect
   * for those that must end. Once per session: a request of its own that timed out is not repeated
   * (an administrator may ask again); one of an administrator's that failed does not stop it.
   * @returns the sessions queued
   */
  async review(ctx: AuditContext): Promise<NetworkSession[]> {
    const clients = new Map<string, RadiusClient>((await this.everything<RadiusClient>('radiusClients')).map((c) => [c.name, c]));
    const users = new Map<string, User | undefined>();
    const groups = new Map<string, Set<string>>();
    let devices: Device[] | undefined;
    const certificates = new Map<string, DeviceCertificateRecord | undefined>();
    const existing = new Map<string, boolean>();
    const now = Date.now();
    const queued: NetworkSession[] = [];
    let after: string | undefined;
    do {
      const page = await this.store.list({ live: true, limit: 500, ...(after ? { after } : {}) });
      for (const session of page.items) {
        // Asked already (open, or an automatic one that ended): not again. After an administrator's
        // that failed, the review may still ask for its own reason.
        const earlier = session.disconnect;
        if (!session.userId || (earlier && (earlier.state === 'pending' || earlier.state === 'sending' || earlier.reason !== 'admin'))) continue;
        const client = clients.get(session.client);
        // A client that is gone cannot be sent anything (its secret went with it).
        if (!client) continue;
        if (!users.has(session.userId)) users.set(session.userId, await this.deps.directory.users.byId(session.userId));
        const user = users.get(session.userId);
        let reason: DisconnectReason | undefined;
        if (!user) reason = 'user_deleted';
        else if (user.status !== 'active') reason = 'user_suspended';
        else if (session.deviceId && !(await this.deviceExists(session.deviceId, existing))) reason = 'device_deleted';
        else if (session.certificateSerial && (await this.certificate(session.certificateSerial, certificates))?.revokedAt) reason = 'certificate_revoked';
        else if (session.certificateSerial && Date.parse((await this.certificate(session.certificateSerial, certificates))?.notAfter ?? '') <= now) reason = 'certificate_expired';
        else {
          if (!groups.has(user.id)) groups.set(user.id, new Set((await this.deps.directory.users.groupsOf(user.id)).map((g) => g.name)));
          // Least privilege, as the access core decides it (src/access/evaluate.ts): one assigned group.
          if (!client.groups.some((g) => groups.get(user.id)!.has(g))) reason = 'not_assigned';
          else if (this.config.deviceCompliance) {
            devices ??= await this.everything<Device>('devices');
            if (!this.deviceCompliant(session, user, devices)) reason = 'device_noncompliant';
          }
        }
        if (reason && (await this.store.requestDisconnect(session.id, reason, 'system', { again: earlier !== undefined }))) {
          await this.requested(ctx, session, reason);
          queued.push(session);
        }
      }
      after = page.next;
    } while (after);
    return queued;
  }

  /**
   * A device certificate was revoked: every live session it signed in (EAP-TLS, `certificateSerial`)
   * is queued to end now, whatever process the revocation was made in (the CLI too); the device's
   * sessions on another certificate stay. Asked again after an earlier request that ended (the
   * revocation is news), never while one is open.
   * @returns the sessions queued
   */
  async certificateRevoked(ctx: AuditContext, serial: string): Promise<NetworkSession[]> {
    return this.endAll(ctx, { certificateSerial: serial }, 'certificate_revoked');
  }

  /**
   * A device was deleted: every live session its sign-in identified (EAP-TLS, `deviceId`) is queued
   * to end now, whatever process deleted it (the CLI too); the person's other sessions stay. As for
   * a revocation, asked again after an earlier request that ended, never while one is open.
   * @returns the sessions queued
   */
  async deviceDeleted(ctx: AuditContext, deviceId: string): Promise<NetworkSession[]> {
    return this.endAll(ctx, { deviceId }, 'device_deleted');
  }

  /** Queues a Disconnect (reason `why`) for every live session matching `query`, paged. */
  private async endAll(ctx: AuditContext, query: Pick<NetworkSessionQuery, 'certificateSerial' | 'deviceId'>, why: DisconnectReason): Promise<NetworkSession[]> {
    const queued: NetworkSession[] = [];
    let after: string | undefined;
    do {
      const page = await this.store.list({ ...query, live: true, limit: 500, ...(after ? { after } : {}) });
      for (const session of page.items) {
        if (await this.store.requestDisconnect(session.id, why, 'system', { again: true })) {
          await this.requested(ctx, session, why);
          queued.push(session);
        }
      }
      after = page.next;
    } while (after);
    return queued;
  }

  /** Claims queued Disconnects for this process (see the store's claimDisconnects). */
  claim(owner: string, leaseMs: number, limit = 20): Promise<NetworkSession[]> {
    return this.store.claimDisconnects(owner, Date.now() + leaseMs, limit);
  }

  /** Records how a claimed Disconnect ended, audited. */
  async finish(ctx: AuditContext, session: NetworkSession, owner: string, result: DisconnectResult & { mode: 'disconnect' | 'coa' }): Promise<boolean> {
    const { mode, ...outcome } = result;
    const done = await this.store.finishDisconnect(session.id, owner, { ...outcome, endsSession: mode === 'disconnect' }, Date.now());
    if (!done) return false;
    await this.deps.auditor.record(ctx, {
      type: 'network_session.disconnect', outcome: outcome.state === 'acked' ? 'success' : outcome.state === 'failed' ? 'error' : 'failure',
      target: sessionTarget(session),
      ...(outcome.state === 'nak' || outcome.state === 'timeout' || outcome.state === 'failed'
        ? { reasons: [reason(`disconnect_${outcome.state}`, outcome.detail)] }
        : {}),
      details: {
        mode, state: outcome.state, attempts: outcome.attempts, reason: session.disconnect?.reason, client: session.client, username: session.username,
        ...(outcome.detail ? { detail: outcome.detail } : {}),
      },
    });
    return true;
  }

  /** Closes stale live sessions and deletes old stopped ones; safe in several processes at once. */
  async sweep(ctx: AuditContext, now = Date.now()): Promise<{ expired: number; pruned: number }> {
    const expired = await this.store.expireStale(now);
    const pruned = await this.store.prune(now - this.config.retentionDays * 86_400_000);
    if (expired > 0) {
      await this.deps.auditor.record(ctx, { type: 'network_session.expired', outcome: 'success', details: { sessions: expired, staleAfterSeconds: this.config.interimIntervalSeconds * this.config.staleAfterIntervals } });
    }
    return { expired, pruned };
  }

  private async requested(ctx: AuditContext, session: NetworkSession, reason: DisconnectReason): Promise<void> {
    await this.deps.auditor.record(ctx, {
      type: 'network_session.disconnect_requested', outcome: 'success', target: sessionTarget(session),
      details: { reason, client: session.client, username: session.username },
    });
  }

  private async everything<T>(kind: 'devices' | 'radiusClients'): Promise<T[]> {
    const out: T[] = [];
    let after: string | undefined;
    do {
      const page = await this.deps.directory.resources.list(kind, { limit: 1000, ...(after ? { after } : {}) });
      out.push(...(page.items as T[]));
      after = page.next;
    } while (after);
    return out;
  }

  /** The certificate with `serial` (remembered for one review). */
  private async certificate(serial: string, known: Map<string, DeviceCertificateRecord | undefined>): Promise<DeviceCertificateRecord | undefined> {
    if (!known.has(serial)) known.set(serial, await this.deps.devices.authority.get(serial));
    return known.get(serial);
  }

  /** Whether the device with `id` exists (remembered for one review). */
  private async deviceExists(id: string, known: Map<string, boolean>): Promise<boolean> {
    if (!known.has(id)) {
      // By id only (a device's name is free text).
      const found = await this.deps.store.directory.devices.get(id).then(() => true, (err: unknown) => {
        if (err instanceof NotFoundError) return false;
        throw err;
      });
      known.set(id, found);
    }
    return known.get(id)!;
  }

  /**
   * The device rule: the session's own device when the sign-in identified one; otherwise (PAP
   * identifies none) the person's managed devices, when they have any: at least one must comply.
   */
  private deviceCompliant(session: NetworkSession, user: User, devices: Device[]): boolean {
    const now = new Date();
    if (session.deviceId) {
      const device = devices.find((d) => d.id === session.deviceId);
      return device === undefined || this.deps.devices.compliance(device, now).compliant;
    }
    const managed = devices.filter((d) => d.managed && d.owners.includes(user.username));
    return managed.length === 0 || managed.some((d) => this.deps.devices.compliance(d, now).compliant);
  }
}

