/**
 * The RADIUS listeners (node:dgram through src/net/listen.ts): one authentication and one accounting
 * socket per configured host. Every datagram goes through the same steps, each of which may drop it
 * silently (RFC 2865 §3; counted in /metrics as gatehouse_radius_dropped_total{reason}, summed up in
 * one log line per radius.dropLogSeconds):
 *
 *   the source's RADIUS client (from a table in memory, read again every half second; unknown:
 *   dropped, counted, audited at most once per source per period) ─▶ decode (codec.ts) ─▶ the code
 *   this port serves ─▶ authenticity (Message-Authenticator rules below; the Request Authenticator
 *   of an Accounting-Request) ─▶ a retransmission? (the cached reply again, byte for byte; still in
 *   progress: dropped) ─▶ too many in flight? ─▶ the handler ─▶ the reply, Message-Authenticator
 *   first, Proxy-State copied (RFC 2865 §5.33), cached for retransmissions
 *
 * Everything up to the handler is synchronous and reads no store, so a flood of invalid packets
 * costs a decode and one HMAC each (bench/radius-flood.ts measures it), and the socket's receive
 * buffer (radius.receiveBufferBytes, 4 MiB) keeps legitimate requests that arrive while the event
 * loop is busy instead of letting the kernel drop them with the flood.
 *
 * Message-Authenticator (BlastRADIUS, CVE-2024-3596): an invalid one is always dropped; a missing
 * one is dropped when the client requires it (the default), when the request carries EAP-Message
 * (RFC 3579 §3.2) or Proxy-State, and for Status-Server (RFC 5997 §3). Every Access-Accept,
 * -Reject and -Challenge carries one, first (codec.ts).
 *
 * Seams:
 * - EAP (issue 10): an Access-Request with EAP-Message goes to `eap` (an `EapHandler`); until EAP
 *   exists the default answers Access-Reject.
 * - Accounting (issue 13 items 7-8, protocols/radius/accounting.ts): the accounting socket hands a
 *   verified Accounting-Request to `accounting` (an `AccountingHandler`), which returns the reply
 *   datagram (`replyTo` builds it) or undefined to stay silent; `defaultAccounting` answers every
 *   request with an empty Accounting-Response (RFC 2866 §4.2) and records nothing.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6, type AddressInfo } from 'node:net';
import type { Core } from '../../src/core.ts';
import type { FrontEndMetrics } from '../../src/frontend.ts';
import { listenUdp } from '../../src/net/listen.ts';
import { AccessHandler, type AccessReply, type RadiusPeer } from './access.ts';
import { Challenges } from './challenge.ts';
import {
  ATTR, CODE, type Attribute, type Packet, attributeValue, attributeValues, checkMessageAuthenticator, encodeResponse, tryDecodePacket,
  verifyRequestAuthenticator,
} from './codec.ts';
import { clientOptions, type RadiusOptions } from './config.ts';
import { standardDictionary, type Dictionary } from './dictionary.ts';

export type { RadiusPeer } from './access.ts';

/** Handles a verified Accounting-Request (its Request Authenticator checked): the reply datagram, or undefined for none. */
export type AccountingHandler = (packet: Packet, peer: RadiusPeer, rinfo: RemoteInfo) => Promise<Buffer | undefined>;

/** Handles an Access-Request carrying EAP-Message (its Message-Authenticator checked). */
export type EapHandler = (packet: Packet, peer: RadiusPeer, rinfo: RemoteInfo) => Promise<AccessReply>;

/**
 * A reply datagram to `request` from `peer`: Proxy-State copied from the request (RFC 2865 §5.33),
 * Message-Authenticator first for Access-* replies (and others when `messageAuthenticator`).
 */
export function replyTo(request: Packet, peer: Pick<RadiusPeer, 'secret'>, code: number, attributes: readonly Attribute[], messageAuthenticator = false): Buffer {
  const proxyState = attributeValues(request, ATTR.ProxyState).map((value) => ({ type: ATTR.ProxyState, value }));
  return encodeResponse({ code, identifier: request.identifier, requestAuthenticator: request.authenticator, secret: peer.secret, attributes: [...attributes, ...proxyState], messageAuthenticator });
}

/** Accounting until accounting.ts exists: the request (already verified) is acknowledged and nothing is recorded. */
export const defaultAccounting: AccountingHandler = async (packet, peer) => replyTo(packet, peer, CODE.AccountingResponse, []);

/** EAP until issue 10: rejected (the NAS then tells the supplicant). */
export const defaultEap: EapHandler = async () => ({ code: CODE.AccessReject, attributes: [], delay: true });

export const DROP_REASONS = [
  'unknown_client', 'malformed', 'unexpected_code', 'missing_message_authenticator', 'bad_message_authenticator', 'bad_authenticator',
  'duplicate_in_flight', 'conflicting_duplicate', 'overload', 'error',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

type Port = 'auth' | 'acct';

export interface RadiusServerDeps {
  core: Core;
  options: RadiusOptions;
  metrics: FrontEndMetrics;
  accounting?: AccountingHandler;
  eap?: EapHandler;
  dictionary?: Dictionary;
}

export interface RadiusServer {
  /** Binds every socket; the addresses bound, authentication sockets first. */
  listen(): Promise<{ auth: AddressInfo[]; acct: AddressInfo[] }>;
  /** Each bound socket's receive buffer in bytes, as the kernel reports it (Linux: twice the size set). */
  receiveBufferSizes(): number[];
  close(): Promise<void>;
}

/** `::ffff:192.0.2.1` (a dual-stack socket's view of an IPv4 peer) is 192.0.2.1. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** A RADIUS client as a datagram's source finds it: the client, its secret, its options resolved. */
type Peer = RadiusPeer;

/**
 * The RADIUS clients, read from the store and matched against each datagram's source
 * synchronously: no datagram of a flood awaits the store, and spoofed sources cost a lookup in
 * memory, not a read each. A change to the clients shows within a second (like
 * ldap.refreshSeconds): a table older than half a second is still used while a fresh one is read in
 * the background (so under steady traffic no datagram waits), and only one older than a second (at
 * start, or after a quiet spell) makes the datagram wait for the read.
 */
class ClientTable {
  readonly #core: Core;
  readonly #options: RadiusOptions;
  readonly #refreshMs = 500;
  readonly #maxAgeMs = 1000;
  /** Sources already matched against this table (null: no client), at most 10,000. */
  #bySource = new Map<string, Peer | null>();
  #match: ((address: string) => { client: RadiusPeer['client']; secret: string } | undefined) | undefined;
  #at = 0;
  #reading: Promise<boolean> | undefined;
  #failedAt = 0;
  readonly #onError: (err: unknown) => void;
  constructor(core: Core, options: RadiusOptions, onError: (err: unknown) => void) {
    this.#core = core;
    this.#options = options;
    this.#onError = onError;
  }

  /**
   * The peer `address` belongs to, null for none, or undefined when the table has to be read first
   * (`read`); `justRead`: right after a read that succeeded, whatever the table's age (a slow store).
   */
  peek(address: string, justRead = false): Peer | null | undefined {
    const age = Date.now() - this.#at;
    if (!this.#match || (age >= this.#maxAgeMs && !justRead)) return undefined;
    if (age >= this.#refreshMs && !this.#reading) void this.read();
    const known = this.#bySource.get(address);
    if (known !== undefined) return known;
    const found = this.#match(address);
    const peer = found ? { client: found.client, secret: found.secret, options: clientOptions(this.#options, found.client.settings) } : null;
    if (this.#bySource.size >= 10_000) this.#bySource.clear();
    this.#bySource.set(address, peer);
    return peer;
  }

  /**
   * Reads the table (one read at a time; callers meanwhile share it): whether it was read. Never
   * rejects: a failed read is reported once and not retried for a second (a flood during a store
   * outage does not turn into a stream of reads and log lines); `peek` then says undefined once the
   * old table is too stale.
   */
  read(): Promise<boolean> {
    if (Date.now() - this.#failedAt < this.#maxAgeMs) return Promise.resolve(false);
    const started = Date.now();
    this.#reading ??= this.#core.directory.radiusClients.matcher()
      .then((match) => {
        this.#match = match;
        this.#bySource = new Map();
        this.#at = started; // its age counts from the read, not from its answer
        return true;
      }, (err: unknown) => {
        this.#failedAt = Date.now();
        this.#onError(err);
        return false;
      })
      .finally(() => {
        this.#reading = undefined;
      });
    return this.#reading;
  }
}

/** One audit event per unknown source per period, at most 100 sources per period; the rest only counted. */
class UnknownSources {
  readonly #seen = new Map<string, number>();
  #periodStart = 0;
  readonly #periodMs: number;
  readonly #maxSources = 100;
  constructor(periodSeconds: number) {
    this.#periodMs = periodSeconds * 1000;
  }

  /** Whether this packet's source should be audited now; `packets` counts the ones not audited since. */
  note(source: string): { audit: boolean; packets: number } {
    const now = Date.now();
    if (now - this.#periodStart >= this.#periodMs) {
      this.#seen.clear();
      this.#periodStart = now;
    }
    const count = this.#seen.get(source);
    if (count !== undefined) {
      this.#seen.set(source, count + 1);
      return { audit: false, packets: count + 1 };
    }
    if (this.#seen.size >= this.#maxSources) return { audit: false, packets: 1 };
    this.#seen.set(source, 1);
    return { audit: true, packets: 1 };
  }
}

interface CachedReply {
  expiresAt: number;
  /** SHA-256 of the request, so only the very same packet gets the reply again. */
  digest: string;
  /** Undefined while the request is in progress. */
  reply: Buffer | undefined;
}

/** Replies by (port, source address and port, Identifier, Request Authenticator), in insertion order for eviction (RFC 5080 §2.2.2). */
class DuplicateCache {
  readonly #entries = new Map<string, CachedReply>();
  readonly #windowMs: number;
  readonly #max: number;
  constructor(windowSeconds: number, max: number) {
    this.#windowMs = windowSeconds * 1000;
    this.#max = max;
  }

  static key(port: Port, rinfo: RemoteInfo, packet: Packet): string {
    return `${port}|${rinfo.address}|${rinfo.port}|${packet.identifier}|${packet.authenticator.toString('hex')}`;
  }

  get(key: string): CachedReply | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  begin(key: string, digest: string): void {
    this.#entries.delete(key);
    this.#entries.set(key, { expiresAt: Date.now() + this.#windowMs, digest, reply: undefined });
    this.#evict();
  }

  finish(key: string, digest: string, reply: Buffer | undefined): void {
    if (reply === undefined) {
      this.#entries.delete(key);
      return;
    }
    this.#entries.delete(key);
    this.#entries.set(key, { expiresAt: Date.now() + this.#windowMs, digest, reply });
    this.#evict();
  }

  #evict(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#max && entry.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}

/** One bound socket. */
interface Listening {
  socket: Socket;
  port: Port;
  host: string;
  localPort: number;
}

/** What `receiveBufferBytes` became: Linux reports twice the size set (room for its bookkeeping) and caps the size at net.core.rmem_max. */
function effectiveReceiveBuffer(socket: Socket): number {
  const reported = socket.getRecvBufferSize();
  return process.platform === 'linux' ? reported / 2 : reported;
}

export function createRadiusServer(deps: RadiusServerDeps): RadiusServer {
  const { core, options } = deps;
  const log = core.logger;
  const dictionary = deps.dictionary ?? standardDictionary();
  const accounting = deps.accounting ?? defaultAccounting;
  const eap = deps.eap ?? defaultEap;
  const access = new AccessHandler(core, dictionary, new Challenges(core.kv('radius'), options.challenge));
  const clients = new ClientTable(core, options, (err) => log.warn({ component: 'radius', err }, 'reading the RADIUS clients failed; the last table stays in use'));
  const unknown = new UnknownSources(options.unknownClientAuditSeconds);
  const duplicates = new DuplicateCache(options.duplicateWindowSeconds, options.duplicateCacheSize);
  const dropped = deps.metrics.counter('gatehouse_radius_dropped_total', 'RADIUS datagrams dropped without an answer, by reason', ['reason']);
  const requests = deps.metrics.counter('gatehouse_radius_requests_total', 'RADIUS requests processed (authentic, not retransmissions), by code', ['code']);
  const replies = deps.metrics.counter('gatehouse_radius_replies_total', 'RADIUS replies sent, by code (retransmitted ones included)', ['code']);
  const retransmissions = deps.metrics.counter('gatehouse_radius_retransmissions_total', 'RADIUS retransmissions answered from the reply cache without processing', []);
  // Dropped datagrams are counted (bounded labels: the reasons) and summed up in one log line per
  // `dropLogSeconds`, never logged one by one.
  const droppedSince = new Map<DropReason, number>();
  const drop = (reason: DropReason) => {
    dropped.inc({ reason });
    droppedSince.set(reason, (droppedSince.get(reason) ?? 0) + 1);
  };
  const logDrops = () => {
    if (!droppedSince.size) return;
    const counts = Object.fromEntries(droppedSince);
    const total = [...droppedSince.values()].reduce((a, b) => a + b, 0);
    droppedSince.clear();
    // Retransmissions of a request still in progress are a NAS being impatient, not an attack.
    const level = Object.keys(counts).every((r) => r === 'duplicate_in_flight') ? 'info' : 'warn';
    log[level]({ component: 'radius', dropped: counts, periodSeconds: options.dropLogSeconds }, `${total} RADIUS datagram${total === 1 ? '' : 's'} dropped in the last ${options.dropLogSeconds} s`);
  };
  let dropLogTimer: NodeJS.Timeout | undefined;
  const codeLabel = (code: number) => ({ [CODE.AccessAccept]: 'access_accept', [CODE.AccessReject]: 'access_reject', [CODE.AccessChallenge]: 'access_challenge', [CODE.AccountingResponse]: 'accounting_response', [CODE.AccessRequest]: 'access_request', [CODE.AccountingRequest]: 'accounting_request', [CODE.StatusServer]: 'status_server' })[code] ?? 'other';

  const sockets: Listening[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let closed = false;

  const send = (socket: Socket, reply: Buffer, rinfo: RemoteInfo) => {
    if (closed) return;
    replies.inc({ code: codeLabel(reply[0]!) });
    socket.send(reply, rinfo.port, rinfo.address, (err) => {
      if (err) log.debug({ component: 'radius', err }, 'RADIUS reply not sent');
    });
  };

  const auditUnknown = (source: string, port: Port, localPort: number) => {
    const seen = unknown.note(source);
    if (!seen.audit) return;
    void core.audit
      .record({ actor: { type: 'anonymous' }, protocol: 'radius', sourceIp: source }, {
        type: 'radius.unknown_client',
        outcome: 'failure',
        details: { port: localPort, listener: port === 'auth' ? 'authentication' : 'accounting', periodSeconds: options.unknownClientAuditSeconds },
      })
      .catch((err: unknown) => log.warn({ component: 'radius', err }, 'audit of an unknown RADIUS source failed'));
  };

  /** What screening found worth processing: an authentic request of the code this port serves, not a retransmission. */
  interface Authentic { packet: Packet; peer: Peer; key: string; digest: string }

  /**
   * The synchronous part, every datagram's: the source, decoding, the code, authenticity, the reply
   * cache. Drops (counted) and answers retransmissions itself; an authentic new request is returned.
   * No store read, no allocation beyond the decoded packet, no log line per datagram: a flood of
   * invalid packets costs this and nothing more.
   */
  function screen(local: Listening, datagram: Buffer, rinfo: RemoteInfo, source: string, peer: Peer | null): Authentic | undefined {
    const { port } = local;
    if (!peer) {
      drop('unknown_client');
      auditUnknown(source, port, local.localPort);
      return undefined;
    }
    const packet = tryDecodePacket(datagram);
    if (!packet) {
      drop('malformed');
      return undefined;
    }
    if (port === 'auth' ? packet.code !== CODE.AccessRequest && packet.code !== CODE.StatusServer : packet.code !== CODE.AccountingRequest && packet.code !== CODE.StatusServer) {
      drop('unexpected_code');
      return undefined;
    }
    // Authenticity first: a forged packet costs one HMAC (or MD5) and is not looked up or remembered.
    const mac = checkMessageAuthenticator(packet, peer.secret);
    if (mac === 'invalid') {
      drop('bad_message_authenticator');
      return undefined;
    }
    if (packet.code === CODE.AccountingRequest) {
      if (!verifyRequestAuthenticator(packet, peer.secret)) {
        drop('bad_authenticator');
        return undefined;
      }
    } else if (mac === 'absent') {
      const required = packet.code === CODE.StatusServer || (port === 'auth' && peer.options.requireMessageAuthenticator)
        || attributeValue(packet, ATTR.EapMessage) !== undefined || attributeValue(packet, ATTR.ProxyState) !== undefined;
      if (required) {
        drop('missing_message_authenticator');
        return undefined;
      }
    }
    const key = DuplicateCache.key(port, rinfo, packet);
    const digest = createHash('sha256').update(packet.raw).digest('hex');
    const seen = duplicates.get(key);
    if (seen) {
      if (seen.digest !== digest) drop('conflicting_duplicate');
      else if (seen.reply === undefined) drop('duplicate_in_flight');
      else {
        retransmissions.inc({});
        send(local.socket, seen.reply, rinfo);
      }
      return undefined;
    }
    return { packet, peer, key, digest };
  }

  async function handle(local: Listening, { packet, peer, key, digest }: Authentic, rinfo: RemoteInfo, source: string): Promise<void> {
    const { socket, port } = local;
    requests.inc({ code: codeLabel(packet.code) });
    if (packet.code === CODE.StatusServer) {
      // RFC 5997 §3: alive; not cached (each Status-Server is answered afresh).
      send(socket, replyTo(packet, peer, port === 'auth' ? CODE.AccessAccept : CODE.AccountingResponse, [], true), rinfo);
      return;
    }
    duplicates.begin(key, digest);
    let reply: Buffer | undefined;
    let delay = false;
    try {
      if (port === 'acct') {
        reply = await accounting(packet, peer, rinfo);
      } else {
        const requestId = `radius-${randomUUID()}`;
        const answer = attributeValue(packet, ATTR.EapMessage) !== undefined ? await eap(packet, peer, rinfo) : await access.handle({ packet, peer, nasAddress: source, requestId });
        reply = replyTo(packet, peer, answer.code, answer.attributes);
        delay = answer.delay && options.rejectDelaySeconds > 0;
      }
    } catch (error) {
      duplicates.finish(key, digest, undefined);
      throw error;
    }
    if (delay) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, options.rejectDelaySeconds * 1000);
        timers.add(timer);
      });
    }
    duplicates.finish(key, digest, reply);
    if (reply) send(socket, reply, rinfo);
  }

  const failed = (err: unknown) => {
    drop('error');
    log.warn({ component: 'radius', err }, 'a RADIUS request failed; dropped');
  };

  /** Counts a slot in use while `work` runs; past `maxInFlight`, the datagram is dropped instead. */
  function inSlot(work: () => Promise<void>): void {
    if (inFlight >= options.maxInFlight) {
      drop('overload');
      return;
    }
    inFlight++;
    work().catch(failed).finally(() => {
      inFlight--;
    });
  }

  function onMessage(local: Listening, datagram: Buffer, rinfo: RemoteInfo): void {
    if (closed) return;
    const source = plainAddress(rinfo.address);
    const peer = clients.peek(source);
    if (peer === undefined) {
      // The client table is being read (at start, or after a quiet spell): this datagram waits for it.
      inSlot(async () => {
        const read = await clients.read();
        if (closed) return;
        const found = read ? clients.peek(source, true) : undefined;
        if (found === undefined) {
          drop('error'); // the table could not be read (reported once by the table)
          return;
        }
        const authentic = screen(local, datagram, rinfo, source, found);
        if (authentic) await handle(local, authentic, rinfo, source);
      });
      return;
    }
    let authentic: Authentic | undefined;
    try {
      authentic = screen(local, datagram, rinfo, source, peer);
    } catch (err) {
      failed(err);
      return;
    }
    if (authentic) inSlot(() => handle(local, authentic, rinfo, source));
  }

  return {
    async listen() {
      const bound = { auth: [] as AddressInfo[], acct: [] as AddressInfo[] };
      for (const port of ['auth', 'acct'] as const) {
        for (const host of options.hosts) {
          // IPv6 sockets only for IPv6, so '::' and '0.0.0.0' can both be listed, each for its family.
          const socket = createSocket(isIPv6(host) ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
          const binding = { label: port === 'auth' ? 'RADIUS authentication' : 'RADIUS accounting', transport: 'udp' as const, host, port: port === 'auth' ? options.authPort : options.acctPort, setting: port === 'auth' ? 'radius.authPort' : 'radius.acctPort' };
          // A port 0 on a second host takes the first host's port, so each host serves the same pair.
          if (binding.port === 0 && bound[port][0]) binding.port = bound[port][0].port;
          const address = await listenUdp(socket, binding);
          if (options.receiveBufferBytes > 0) {
            try {
              socket.setRecvBufferSize(options.receiveBufferBytes);
            } catch (err) {
              log.warn({ component: 'radius', err }, 'the RADIUS socket\'s receive buffer could not be set (radius.receiveBufferBytes)');
            }
          }
          const local: Listening = { socket, port, host, localPort: address.port };
          socket.on('message', (datagram, rinfo) => onMessage(local, datagram, rinfo));
          socket.on('error', (err) => log.warn({ component: 'radius', err }, 'RADIUS socket error'));
          sockets.push(local);
          bound[port].push(address);
        }
      }
      const smallest = Math.min(...sockets.map(({ socket }) => effectiveReceiveBuffer(socket)));
      if (options.receiveBufferBytes > 0 && smallest < options.receiveBufferBytes) {
        log.warn(
          { component: 'radius', wanted: options.receiveBufferBytes, got: smallest },
          `the RADIUS sockets' receive buffer is ${smallest} bytes, not the ${options.receiveBufferBytes} of radius.receiveBufferBytes: the kernel caps it (Linux: sysctl net.core.rmem_max, see protocols/radius/README.md); a flood of invalid packets then overflows it sooner and legitimate requests are lost with it (the NAS retransmits after seconds)`,
        );
      }
      dropLogTimer = setInterval(logDrops, options.dropLogSeconds * 1000);
      dropLogTimer.unref();
      return bound;
    },
    receiveBufferSizes: () => sockets.map(({ socket }) => socket.getRecvBufferSize()),
    async close() {
      closed = true;
      clearInterval(dropLogTimer);
      logDrops();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(sockets.map(({ socket }) => new Promise<void>((resolve) => socket.close(() => resolve()))));
      sockets.length = 0;
    },
  };
}
