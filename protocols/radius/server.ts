/**
 * The RADIUS listeners (node:dgram through src/net/listen.ts): one authentication and one accounting
 * socket per configured host. Every datagram goes through the same steps, each of which may drop it
 * silently (RFC 2865 §3; counted in /metrics as gatehouse_radius_dropped_total{reason}):
 *
 *   too many in flight ─▶ the source's RADIUS client (unknown: dropped, counted, audited at most
 *   once per source per period) ─▶ decode (codec.ts) ─▶ the code this port serves ─▶ a
 *   retransmission? (the cached reply again, byte for byte; still in progress: dropped) ─▶
 *   authenticity (Message-Authenticator rules below; the Request Authenticator of an
 *   Accounting-Request) ─▶ the handler ─▶ the reply, Message-Authenticator first, Proxy-State
 *   copied (RFC 2865 §5.33), cached for retransmissions
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
  ATTR, CODE, type Attribute, type Packet, RadiusDecodeError, attributeValue, attributeValues, checkMessageAuthenticator, decodePacket, encodeResponse,
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

const DROP_REASONS = [
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
  close(): Promise<void>;
}

/** `::ffff:192.0.2.1` (a dual-stack socket's view of an IPv4 peer) is 192.0.2.1. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Clients by source address, for one second (like ldap.refreshSeconds): a flood from an unknown source does not read the store per packet. */
class ClientCache {
  readonly #entries = new Map<string, { at: number; found: { client: RadiusPeer['client']; secret: string } | undefined }>();
  readonly #core: Core;
  readonly #ttlMs = 1000;
  readonly #max = 10_000;
  #pending = new Map<string, Promise<{ client: RadiusPeer['client']; secret: string } | undefined>>();
  constructor(core: Core) {
    this.#core = core;
  }

  async bySource(address: string) {
    const now = Date.now();
    const cached = this.#entries.get(address);
    if (cached && now - cached.at < this.#ttlMs) return cached.found;
    let pending = this.#pending.get(address);
    if (!pending) {
      pending = this.#core.directory.radiusClients.bySource(address).finally(() => this.#pending.delete(address));
      this.#pending.set(address, pending);
    }
    const found = await pending;
    if (this.#entries.size >= this.#max) this.#entries.clear();
    this.#entries.set(address, { at: Date.now(), found });
    return found;
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

export function createRadiusServer(deps: RadiusServerDeps): RadiusServer {
  const { core, options } = deps;
  const log = core.logger;
  const dictionary = deps.dictionary ?? standardDictionary();
  const accounting = deps.accounting ?? defaultAccounting;
  const eap = deps.eap ?? defaultEap;
  const access = new AccessHandler(core, dictionary, new Challenges(core.kv('radius'), options.challenge));
  const clients = new ClientCache(core);
  const unknown = new UnknownSources(options.unknownClientAuditSeconds);
  const duplicates = new DuplicateCache(options.duplicateWindowSeconds, options.duplicateCacheSize);
  const dropped = deps.metrics.counter('gatehouse_radius_dropped_total', 'RADIUS datagrams dropped without an answer, by reason', ['reason']);
  const requests = deps.metrics.counter('gatehouse_radius_requests_total', 'RADIUS requests processed (authentic, not retransmissions), by code', ['code']);
  const replies = deps.metrics.counter('gatehouse_radius_replies_total', 'RADIUS replies sent, by code (retransmitted ones included)', ['code']);
  const retransmissions = deps.metrics.counter('gatehouse_radius_retransmissions_total', 'RADIUS retransmissions answered from the reply cache without processing', []);
  const drop = (reason: DropReason) => dropped.inc({ reason });
  const codeLabel = (code: number) => ({ [CODE.AccessAccept]: 'access_accept', [CODE.AccessReject]: 'access_reject', [CODE.AccessChallenge]: 'access_challenge', [CODE.AccountingResponse]: 'accounting_response', [CODE.AccessRequest]: 'access_request', [CODE.AccountingRequest]: 'accounting_request', [CODE.StatusServer]: 'status_server' })[code] ?? 'other';

  const sockets: Array<{ socket: Socket; port: Port; host: string }> = [];
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

  async function receive(socket: Socket, port: Port, datagram: Buffer, rinfo: RemoteInfo): Promise<void> {
    const source = plainAddress(rinfo.address);
    const found = await clients.bySource(source);
    if (!found) {
      drop('unknown_client');
      auditUnknown(source, port, socket.address().port);
      return;
    }
    let packet: Packet;
    try {
      packet = decodePacket(datagram);
    } catch (error) {
      if (!(error instanceof RadiusDecodeError)) throw error;
      drop('malformed');
      return;
    }
    const expected = port === 'auth' ? [CODE.AccessRequest, CODE.StatusServer] : [CODE.AccountingRequest, CODE.StatusServer];
    if (!(expected as number[]).includes(packet.code)) {
      drop('unexpected_code');
      return;
    }
    const peer: RadiusPeer = { client: found.client, secret: found.secret, options: clientOptions(options, found.client.settings) };
    const key = DuplicateCache.key(port, rinfo, packet);
    const digest = createHash('sha256').update(packet.raw).digest('hex');
    const seen = duplicates.get(key);
    if (seen) {
      if (seen.digest !== digest) drop('conflicting_duplicate');
      else if (seen.reply === undefined) drop('duplicate_in_flight');
      else {
        retransmissions.inc({});
        send(socket, seen.reply, rinfo);
      }
      return;
    }
    // Authenticity before anything is remembered about the packet.
    const mac = checkMessageAuthenticator(packet, peer.secret);
    if (mac === 'invalid') {
      drop('bad_message_authenticator');
      return;
    }
    if (packet.code === CODE.AccountingRequest) {
      if (!verifyRequestAuthenticator(packet, peer.secret)) {
        drop('bad_authenticator');
        return;
      }
    } else if (mac === 'absent') {
      const required = packet.code === CODE.StatusServer || (port === 'auth' && peer.options.requireMessageAuthenticator)
        || attributeValue(packet, ATTR.EapMessage) !== undefined || attributeValue(packet, ATTR.ProxyState) !== undefined;
      if (required) {
        drop('missing_message_authenticator');
        return;
      }
    }
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

  function onMessage(socket: Socket, port: Port, datagram: Buffer, rinfo: RemoteInfo): void {
    if (closed) return;
    if (inFlight >= options.maxInFlight) {
      drop('overload');
      return;
    }
    inFlight++;
    receive(socket, port, datagram, rinfo)
      .catch((err: unknown) => {
        drop('error');
        log.warn({ component: 'radius', err }, 'a RADIUS request failed; dropped');
      })
      .finally(() => {
        inFlight--;
      });
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
          socket.on('message', (datagram, rinfo) => onMessage(socket, port, datagram, rinfo));
          socket.on('error', (err) => log.warn({ component: 'radius', err }, 'RADIUS socket error'));
          sockets.push({ socket, port, host });
          bound[port].push(address);
        }
      }
      return bound;
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(sockets.map(({ socket }) => new Promise<void>((resolve) => socket.close(() => resolve()))));
      sockets.length = 0;
    },
  };
}
