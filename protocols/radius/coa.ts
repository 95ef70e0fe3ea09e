/**
 * Dynamic Authorization (RFC 5176): Gatehouse, as Dynamic Authorization Client, asks a NAS to end a
 * network session (Disconnect-Request) or to change it (CoA-Request, for clients configured so).
 *
 * - `CoaClient` sends one request and waits for its answer: Message-Authenticator and
 *   Event-Timestamp in every request (RFC 5176 §3.1, §3.3: replay protection), retransmission of the
 *   same octets with the wait doubled each time (RFC 5080 §2.2.1), the answer matched by source,
 *   identifier and a verified Response Authenticator (and Message-Authenticator when it carries
 *   one), at most 256 requests in flight per NAS (the identifier space, RFC 2865 §3).
 * - `DisconnectWorker` is the loop a process running the RADIUS front-end runs: it reviews the
 *   live sessions (core.networkSessions.review) when the directory changes and every
 *   networkSessions.reviewSeconds, claims the Disconnect work queued in the store — by this process,
 *   by another one on the same PostgreSQL, by the admin API or the CLI — sends it, and records the
 *   outcome (audited). It also runs the store's sweep of stale and old sessions.
 *
 * The RADIUS client's `settings.radius.coa` says how to reach its NAS:
 *   { host?: address, port: 3799, mode: 'disconnect' | 'coa', attributes?: { name: value } }
 * The NAS is `host`, else the session's NAS-IP-Address when the client's address range holds it,
 * else the client's address when it is a single host.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { hostname } from 'node:os';
import { isIP, isIPv6 } from 'node:net';
import { SYSTEM, type AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import type { RadiusClient } from '../../src/directory/model.ts';
import { CidrSet } from '../../src/net/client-ip.ts';
import type { NetworkSession } from '../../src/network-sessions/model.ts';
import { ATTR, type Attribute, attributeValue, checkMessageAuthenticator, CODE, decodePacket, encodeRequest, RadiusDecodeError, verifyResponseAuthenticator } from './codec.ts';
import { standardDictionary } from './dictionary.ts';

export const COA_PORT = 3799;
const EVENT_TIMESTAMP = 55;
const ACCT_MULTI_SESSION_ID = 50;

export interface CoaSettings {
  host?: string;
  port: number;
  mode: 'disconnect' | 'coa';
  /** CoA-Request only: the attributes that change the session (e.g. Filter-Id of a quarantine filter). */
  attributes: Record<string, string | number>;
}

/** The client's `settings.radius.coa` (config.ts defines and checks it on every write), defaults filled in. */
export function coaSettingsOf(client: Pick<RadiusClient, 'settings'>): CoaSettings {
  const radius = client.settings.radius as { coa?: Partial<CoaSettings> } | undefined;
  const coa = radius?.coa ?? {};
  return { ...(coa.host ? { host: coa.host } : {}), port: coa.port ?? COA_PORT, mode: coa.mode ?? 'disconnect', attributes: coa.attributes ?? {} };
}

/** Where a session's NAS listens for Dynamic Authorization, or why it cannot be told. */
export function coaTarget(client: Pick<RadiusClient, 'address' | 'settings'>, session: Pick<NetworkSession, 'nasIpAddress'>): { address: string; port: number } | { error: string } {
  const settings = coaSettingsOf(client);
  if (settings.host) return { address: settings.host, port: settings.port };
  if (session.nasIpAddress && new CidrSet([client.address]).has(session.nasIpAddress)) return { address: session.nasIpAddress, port: settings.port };
  const host = client.address.replace(/\/(32|128)$/, '');
  if (isIP(host)) return { address: host, port: settings.port };
  return { error: `RADIUS client's address ${client.address} is a range and the session names no NAS-IP-Address in it: set settings.radius.coa.host` };
}

/** The attributes that identify a session to its NAS (RFC 5176 §3). */
export function sessionIdentification(session: NetworkSession): Attribute[] {
  const dict = standardDictionary();
  const out: Attribute[] = [];
  const add = (name: string, value: string | number | undefined) => {
    if (value === undefined || value === '') return;
    try {
      out.push(dict.encode(name, value));
    } catch {
      // A stored value that does not encode (too long) identifies nothing: left out.
    }
  };
  add(session.nasIpAddress && isIPv6(session.nasIpAddress) ? 'NAS-IPv6-Address' : 'NAS-IP-Address', session.nasIpAddress);
  add('NAS-Identifier', session.nasIdentifier);
  add('User-Name', session.username);
  add('Acct-Session-Id', session.acctSessionId);
  if (session.acctMultiSessionId) out.push({ type: ACCT_MULTI_SESSION_ID, value: Buffer.from(session.acctMultiSessionId, 'utf8').subarray(0, 253) });
  add('Framed-IP-Address', session.framedIpAddress);
  add('Calling-Station-Id', session.callingStationId);
  add('NAS-Port', session.nasPort);
  return out;
}

export interface CoaRequest {
  address: string;
  port: number;
  secret: string;
  mode: 'disconnect' | 'coa';
  attributes: Attribute[];
}

export type CoaOutcome =
  | { state: 'acked'; attempts: number }
  | { state: 'nak'; attempts: number; errorCause?: number; detail: string }
  | { state: 'timeout'; attempts: number };

interface Pending {
  requestAuthenticator: Buffer;
  secret: string;
  expect: { ack: number; nak: number };
  resolve: (answer: { code: number; errorCause?: number }) => void;
}

/** Sends Disconnect- and CoA-Requests and matches their answers. One per process is enough. */
export class CoaClient {
  private readonly sockets = new Map<'udp4' | 'udp6', Promise<Socket>>();
  private readonly pending = new Map<string, Pending>();
  /** Identifiers in flight per NAS, and who waits for one (RFC 2865 §3: 256 per source/destination pair). */
  private readonly inFlight = new Map<string, Set<number>>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private readonly next = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private closed = false;

  constructor(options: { timeoutMs: number; attempts: number }) {
    this.timeoutMs = options.timeoutMs;
    this.attempts = options.attempts;
  }

  async send(request: CoaRequest): Promise<CoaOutcome> {
    const nas = `${request.address}|${request.port}`;
    const socket = await this.socket(isIPv6(request.address) ? 'udp6' : 'udp4');
    const identifier = await this.takeIdentifier(nas);
    try {
      const code = request.mode === 'coa' ? CODE.CoARequest : CODE.DisconnectRequest;
      const eventTimestamp = Buffer.alloc(4);
      eventTimestamp.writeUInt32BE(Math.floor(Date.now() / 1000));
      const datagram = encodeRequest({
        code, identifier, secret: request.secret, messageAuthenticator: true,
        attributes: [...request.attributes, { type: EVENT_TIMESTAMP, value: eventTimestamp }],
      });
      const requestAuthenticator = datagram.subarray(4, 20);
      const key = `${nas}|${identifier}`;
      const answer = new Promise<{ code: number; errorCause?: number }>((resolve) => {
        this.pending.set(key, {
          requestAuthenticator, secret: request.secret, resolve,
          expect: request.mode === 'coa' ? { ack: CODE.CoAACK, nak: CODE.CoANAK } : { ack: CODE.DisconnectACK, nak: CODE.DisconnectNAK },
        });
      });
      try {
        let wait = this.timeoutMs;
        for (let attempt = 1; attempt <= this.attempts; attempt++) {
          if (this.closed) return { state: 'timeout', attempts: attempt - 1 };
          // The same octets each time: same identifier and authenticator (RFC 5080 §2.2.1).
          socket.send(datagram, request.port, request.address);
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), wait);
          });
          const got = await Promise.race([answer, timedOut]);
          clearTimeout(timer);
          if (got) {
            if (got.code === CODE.DisconnectACK || got.code === CODE.CoAACK) return { state: 'acked', attempts: attempt };
            return { state: 'nak', attempts: attempt, ...(got.errorCause !== undefined ? { errorCause: got.errorCause } : {}), detail: errorCauseText(got.errorCause) };
          }
          wait *= 2;
        }
        return { state: 'timeout', attempts: this.attempts };
      } finally {
        this.pending.delete(key);
      }
    } finally {
      this.releaseIdentifier(nas, identifier);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const socket of this.sockets.values()) {
      const s = await socket.catch(() => undefined);
      await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
    }
    this.sockets.clear();
  }

  private socket(family: 'udp4' | 'udp6'): Promise<Socket> {
    let made = this.sockets.get(family);
    if (!made) {
      made = new Promise<Socket>((resolve, reject) => {
        const socket = createSocket(family);
        socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
        socket.once('error', reject);
        socket.bind(0, () => {
          socket.off('error', reject);
          // A send to an unreachable NAS reports here; the retransmissions and the timeout handle it.
          socket.on('error', () => undefined);
          resolve(socket);
        });
      });
      this.sockets.set(family, made);
    }
    return made;
  }

  /** An answer: dropped unless it matches a request in flight and its authenticators verify. */
  private receive(msg: Buffer, address: string, port: number): void {
    let packet;
    try {
      packet = decodePacket(msg);
    } catch (err) {
      if (err instanceof RadiusDecodeError) return;
      throw err;
    }
    const pending = this.pending.get(`${address.replace(/^::ffff:/, '')}|${port}|${packet.identifier}`);
    if (!pending) return;
    if (packet.code !== pending.expect.ack && packet.code !== pending.expect.nak) return;
    if (!verifyResponseAuthenticator(packet, pending.requestAuthenticator, pending.secret)) return;
    if (checkMessageAuthenticator(packet, pending.secret, pending.requestAuthenticator) === 'invalid') return;
    const cause = attributeValue(packet, ATTR.ErrorCause);
    pending.resolve({ code: packet.code, ...(cause?.length === 4 ? { errorCause: cause.readUInt32BE(0) } : {}) });
  }

  private async takeIdentifier(nas: string): Promise<number> {
    for (;;) {
      const used = this.inFlight.get(nas) ?? new Set<number>();
      if (used.size < 256) {
        let id = this.next.get(nas) ?? randomBytes(1)[0]!;
        while (used.has(id)) id = (id + 1) & 0xff;
        used.add(id);
        this.inFlight.set(nas, used);
        this.next.set(nas, (id + 1) & 0xff);
        return id;
      }
      await new Promise<void>((resolve) => {
        const queue = this.waiting.get(nas) ?? [];
        queue.push(resolve);
        this.waiting.set(nas, queue);
      });
    }
  }

  private releaseIdentifier(nas: string, identifier: number): void {
    const used = this.inFlight.get(nas);
    used?.delete(identifier);
    if (used?.size === 0) {
      this.inFlight.delete(nas);
      this.next.delete(nas);
    }
    const queue = this.waiting.get(nas);
    const wake = queue?.shift();
    if (queue?.length === 0) this.waiting.delete(nas);
    wake?.();
  }
}

/** An Error-Cause as RFC 5176 §3.5 names it. */
export function errorCauseText(cause: number | undefined): string {
  if (cause === undefined) return 'NAK without Error-Cause';
  const name = standardDictionary().attribute('Error-Cause')?.valueNames.get(cause);
  return name ? `${name} (${cause})` : `Error-Cause ${cause}`;
}

/** Event types after which live sessions are reviewed at once (changes made in this process). */
const REVIEW_AFTER = new Set(['user.suspended', 'user.deleted', 'group.member.removed', 'group.deleted', 'group.updated', 'radius_client.updated', 'device.updated', 'device.deleted', 'device.posture.reported', 'device.certificate.revoked']);

export interface DisconnectWorkerOptions {
  /** How often queued work is looked for (ms). */
  pollMs?: number;
  /** How stale the view of other processes' directory changes may be (ms). */
  changesMaxAgeMs?: number;
  /** Told each outcome (metrics). */
  observe?: (outcome: { state: 'acked' | 'nak' | 'timeout' | 'failed'; mode: 'disconnect' | 'coa' }) => void;
}

/**
 * The loop of a process that sends Disconnects. `start` it with the RADIUS front-end, `close` it
 * with it. `kick()` makes it run again at once (tests, a local change).
 */
export class DisconnectWorker {
  private readonly core: Core;
  private readonly client: CoaClient;
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly pollMs: number;
  private readonly changesMaxAgeMs: number;
  private readonly observe: DisconnectWorkerOptions['observe'];
  private readonly ctx: AuditContext = { ...SYSTEM, protocol: 'radius' };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private failures = 0;
  private generation: number | undefined;
  private reviewedAt = 0;
  private sweptAt = 0;
  private reviewWanted = true;
  private readonly watch;
  private readonly unsubscribe: () => void;
  private readonly sending = new Set<Promise<void>>();

  constructor(core: Core, options: DisconnectWorkerOptions = {}) {
    this.core = core;
    const config = core.networkSessions.config;
    this.client = new CoaClient({ timeoutMs: config.disconnect.timeoutMs, attempts: config.disconnect.attempts });
    this.pollMs = options.pollMs ?? 1_000;
    this.changesMaxAgeMs = options.changesMaxAgeMs ?? 2_000;
    this.observe = options.observe;
    this.watch = core.directory.changes.watch();
    this.unsubscribe = core.audit.onEvent((event) => {
      if (REVIEW_AFTER.has(event.type)) {
        this.reviewWanted = true;
        this.kick();
      } else if (event.type === 'network_session.disconnect_requested') this.kick();
    });
  }

  start(): this {
    this.schedule(0);
    return this;
  }

  /** Runs the loop again as soon as the current run ends. */
  kick(): void {
    if (this.closed) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  /** Runs one round now and waits for it and for the requests it started (tests). */
  async runOnce(): Promise<void> {
    await this.round();
    await Promise.all([...this.sending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribe();
    this.watch.close();
    await this.running?.catch(() => undefined);
    await this.client.close();
    await Promise.allSettled([...this.sending]);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.round()
        .then(() => {
          this.failures = 0;
        })
        .catch((err: unknown) => {
          // Logged once per streak (the store down, say), retried with a growing wait.
          if (this.failures++ === 0) this.core.logger.warn({ err }, 'network sessions: a review or Disconnect round failed; trying again');
        })
        .finally(() => {
          this.running = undefined;
          if (this.closed) return;
          const again = this.again && this.failures === 0;
          this.again = false;
          this.schedule(again ? 0 : Math.min(this.pollMs * 2 ** this.failures, 30_000));
        });
    }, ms);
    this.timer.unref?.();
  }

  private async round(): Promise<void> {
    const config = this.core.networkSessions.config;
    const now = Date.now();
    // Other processes' user and group changes arrive through the directory's change feed.
    const generation = await this.watch.generation(this.changesMaxAgeMs);
    if (generation !== this.generation || this.reviewWanted || now - this.reviewedAt >= config.reviewSeconds * 1000) {
      this.generation = generation;
      this.reviewWanted = false;
      this.reviewedAt = now;
      await this.core.networkSessions.review(this.ctx);
    }
    if (now - this.sweptAt >= 60_000) {
      this.sweptAt = now;
      await this.core.networkSessions.sweep(this.ctx, now);
    }
    // The longest a request can take, with room: then another process may take it over.
    const lease = config.disconnect.timeoutMs * (2 ** config.disconnect.attempts) + 10_000;
    const claimed = await this.core.networkSessions.claim(this.owner, lease);
    for (const session of claimed) {
      const sending = this.disconnect(session).finally(() => this.sending.delete(sending));
      this.sending.add(sending);
    }
  }

  private async disconnect(session: NetworkSession): Promise<void> {
    const stored = await this.core.directory.radiusClients.stored(session.client);
    const mode = stored ? coaSettingsOf(stored).mode : 'disconnect';
    const finish = async (result: { state: 'acked' | 'nak' | 'timeout' | 'failed'; attempts: number; detail?: string }) => {
      if (await this.core.networkSessions.finish(this.ctx, session, this.owner, { ...result, mode })) this.observe?.({ state: result.state, mode });
    };
    try {
      if (!stored) return void (await finish({ state: 'failed', attempts: 0, detail: `RADIUS client '${session.client}' no longer exists` }));
      const target = coaTarget(stored, session);
      if ('error' in target) return void (await finish({ state: 'failed', attempts: 0, detail: target.error }));
      const settings = coaSettingsOf(stored);
      const dict = standardDictionary();
      const change = mode === 'coa' ? Object.entries(settings.attributes).map(([name, value]) => dict.encode(name, value)) : [];
      const outcome = await this.client.send({ ...target, secret: this.core.directory.radiusClients.secretOf(stored), mode, attributes: [...sessionIdentification(session), ...change] });
      await finish(outcome.state === 'nak' ? { state: 'nak', attempts: outcome.attempts, detail: outcome.detail } : outcome);
    } catch (err) {
      this.core.logger.warn({ err, session: session.id }, 'network sessions: a Disconnect could not be sent');
      await finish({ state: 'failed', attempts: 0, detail: err instanceof Error ? err.message.slice(0, 200) : String(err) }).catch(() => undefined);
    }
  }
}
