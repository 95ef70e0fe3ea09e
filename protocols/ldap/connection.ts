/**
 * One client connection of the LDAP front-end: its socket (clear, or TLS after StartTLS), its
 * buffer and framing, its read and write timers, backpressure, the queue of its operations, and
 * its end (a Notice of Disconnection, RFC 4511 §4.4.1). Bytes are framed by framing.ts under a size
 * cap, each frame is decoded inside try/catch, and anything malformed closes only this connection.
 * What each request does is operations.ts's; accepting connections and their limits, server.ts's.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { BerReader } from '@ldapjs/asn1';
import ldapMessages from '@ldapjs/messages';
import type { ExtensionRequest, LdapMessage } from '@ldapjs/messages';
import type { Logger } from '../../src/log.ts';
import type { Bound } from './bind.ts';
import { NOTICE_OF_DISCONNECTION, RESULT, START_TLS } from './codes.ts';
import { criticalRefusal } from './controls.ts';
import { decodeSearchRequest, splitRequest, type DecodedSearch } from './decode.ts';
import { nextFrame, peekRequest } from './framing.ts';
import { responseFor } from './operations.ts';
import type { LdapOptions } from './options.ts';
import type { RequestControl } from './paging.ts';
import type { LdapTls } from './tls.ts';

const { BindResponse, ExtensionResponse, LdapMessage: Message } = ldapMessages;

/** A SearchRequest, decoded by decode.ts (every other request by @ldapjs/messages, its controls by decode.ts). */
export interface SearchMessage {
  type: 'SearchRequest';
  messageId: number;
  search: DecodedSearch;
}

/** A request as received. */
export type Incoming = LdapMessage | SearchMessage;

/** What every connection of a front-end shares. */
export interface ConnectionContext {
  readonly options: LdapOptions;
  readonly log: Logger;
  /** The `ldap.tls` certificate, for StartTLS; undefined when TLS is not configured. */
  readonly tls: LdapTls | undefined;
  /** The connection bound successfully for the first time (as a person or a service account): it leaves the unauthenticated pool. */
  readonly authenticated: (conn: Connection) => void;
  /**
   * Runs one operation (operations.ts) with the request's controls; the connection calls it for one
   * message at a time, in order. Settles with the response's result code (undefined: none).
   */
  readonly handle: (conn: Connection, message: Incoming, controls: readonly RequestControl[]) => Promise<number | undefined>;
}

/** RFC 4511 §4.4.1: the unsolicited notification that precedes closing a connection. */
export function noticeOfDisconnection(status: number, reason: string): Buffer {
  return new ExtensionResponse({ messageId: 0, status, diagnosticMessage: reason, responseName: NOTICE_OF_DISCONNECTION }).toBer().buffer;
}

export class Connection {
  /** Names the connection in audit events: `ldap-<id>-<messageId>` is their request id. */
  readonly id = randomBytes(6).toString('base64url');
  /** The client's address (`core.clientIp`), for logs, audit and the per-IP limit. */
  readonly ip: string;
  /** The clear socket, or the TLS socket over it after StartTLS. */
  private socket: Socket;
  /** TLS is established (LDAPS, or after StartTLS). */
  private tlsEstablished: boolean;
  private readonly context: ConnectionContext;
  /** Whom the last successful bind authenticated; undefined = anonymous. */
  private boundAs: Bound | undefined = undefined;
  /** A bind has succeeded on this connection (anonymous binds do not count); it stays set. */
  private authenticatedOnce = false;
  /**
   * Running until the first successful bind (ldap.idleTimeoutBeforeBindSeconds): restarted only by
   * an operation that succeeded, so a client cannot hold a connection with requests that are refused.
   */
  private preBindTimer: NodeJS.Timeout | undefined = undefined;
  /** Set once the connection is ending: nothing more is read, run or written. */
  closing = false;
  /** Bytes received and not yet framed into a whole message. */
  private buffer: Buffer = Buffer.alloc(0);
  /** Operations received and not yet answered (queued or running). */
  private outstanding = 0;
  /** Operations run one after another, in the order received. */
  private queue: Promise<void> = Promise.resolve();
  /** Set while the client is not taking its responses: settles on 'drain' (or close). */
  private drained: Promise<void> | undefined = undefined;
  /** Running while part of a message has arrived and the rest has not (ldap.readTimeoutSeconds). */
  private readTimer: NodeJS.Timeout | undefined = undefined;

  /** Takes `socket` just accepted: clear (LDAP) or already TLS (LDAPS, `secure`). */
  constructor(socket: Socket, secure: boolean, ip: string, context: ConnectionContext) {
    this.socket = socket;
    this.tlsEstablished = secure;
    this.ip = ip;
    this.context = context;
    this.attach(socket);
    this.startPreBindTimer();
    socket.on('close', () => {
      this.stopReadTimer();
      this.stopPreBindTimer();
    });
  }

  /** Whom the last successful bind authenticated; undefined = anonymous. */
  get bound(): Bound | undefined {
    return this.boundAs;
  }

  /**
   * A bind's outcome (undefined: anonymous, or a bind that failed). The first person or service
   * account bound takes the connection out of the unauthenticated pool for good, and the idle
   * timeout after bind (ldap.idleTimeoutSeconds) is all that applies from then on.
   */
  set bound(who: Bound | undefined) {
    this.boundAs = who;
    if (!who || this.authenticatedOnce) return;
    this.authenticatedOnce = true;
    this.stopPreBindTimer();
    this.context.authenticated(this);
  }

  /** A bind has succeeded on this connection once (as a person or a service account). */
  get authenticated(): boolean {
    return this.authenticatedOnce;
  }

  /** TLS is established (LDAPS, or after StartTLS). */
  get secure(): boolean {
    return this.tlsEstablished;
  }

  /** Bytes written that the client has not taken yet. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes to the client. When its socket buffer is full (the client reads slower than we write),
   * returns a promise that settles once it drained: the caller waits, and meanwhile the connection
   * is not read, so neither requests nor responses pile up. A client that takes nothing for
   * `writeTimeoutSeconds` is cut off.
   */
  write(bytes: Buffer): Promise<void> | undefined {
    if (this.closing || this.socket.destroyed) return undefined;
    if (this.socket.write(bytes)) return undefined;
    return this.blocked();
  }

  send(message: LdapMessage): Promise<void> | undefined {
    return this.write(message.toBer().buffer);
  }

  /** RFC 4511 §4.4.1: the unsolicited notification, then the connection closes. */
  disconnect(status: number, reason: string): void {
    if (this.closing) return;
    this.context.log.debug({ ip: this.ip, reason }, 'closing LDAP connection');
    this.closing = true;
    this.buffer = Buffer.alloc(0);
    this.stopReadTimer();
    this.stopPreBindTimer();
    this.socket.pause();
    if (this.socket.destroyed || !this.socket.writable) return void this.socket.destroy();
    this.socket.write(noticeOfDisconnection(status, reason), () => this.socket.destroy());
    // Never wait long on a client that does not read.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private blocked(): Promise<void> {
    if (this.drained) return this.drained;
    const socket = this.socket;
    socket.pause();
    this.stopReadTimer();
    this.drained = new Promise<void>((resolve) => {
      const settle = () => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', settle);
        this.drained = undefined;
        resolve();
      };
      const onDrain = () => {
        settle();
        if (this.closing) return;
        socket.resume();
        if (this.buffer.length) this.startReadTimer();
      };
      const timer = setTimeout(() => {
        this.context.log.debug({ ip: this.ip }, 'closing LDAP connection: the client does not read its responses');
        this.closing = true;
        socket.destroy();
        settle();
      }, this.context.options.writeTimeoutSeconds * 1000);
      socket.on('drain', onDrain);
      socket.on('close', settle);
    });
    return this.drained;
  }

  private startReadTimer(): void {
    this.stopReadTimer();
    const seconds = this.context.options.readTimeoutSeconds;
    this.readTimer = setTimeout(() => this.disconnect(RESULT.protocolError, `a message did not arrive whole within ${seconds} s`), seconds * 1000);
  }

  private stopReadTimer(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = undefined;
  }

  private startPreBindTimer(): void {
    this.stopPreBindTimer();
    const seconds = this.context.options.idleTimeoutBeforeBindSeconds;
    this.preBindTimer = setTimeout(() => this.disconnect(RESULT.unavailable, `idle timeout: no successful bind and no operation that succeeded for ${seconds} s`), seconds * 1000);
  }

  private stopPreBindTimer(): void {
    if (this.preBindTimer) clearTimeout(this.preBindTimer);
    this.preBindTimer = undefined;
  }

  /** An operation succeeded: before the first bind, the idle timer starts again; refusals never restart it. */
  private succeeded(): void {
    if (!this.authenticatedOnce && !this.closing) this.startPreBindTimer();
  }

  /** Reads, times out and logs on `socket`: the clear socket at first, the TLS one after StartTLS. */
  private attach(socket: Socket): void {
    socket.setTimeout(this.context.options.idleTimeoutSeconds * 1000);
    socket.on('timeout', () => this.disconnect(RESULT.unavailable, 'idle timeout'));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (err) {
        // Nothing a client sends may take the process down.
        this.context.log.warn({ err, ip: this.ip }, 'LDAP input handling failed');
        this.disconnect(RESULT.protocolError, 'malformed input');
      }
    });
    socket.on('error', (err) => this.context.log.debug({ err, ip: this.ip }, 'LDAP socket error'));
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const partial = this.buffer.length > 0;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let consumed = false;
    for (;;) {
      const options = this.context.options;
      const cap = this.bound ? options.maxMessageBytes : options.maxMessageBytesBeforeBind;
      const frame = nextFrame(this.buffer, cap);
      if (frame.kind === 'incomplete') {
        // A message must arrive whole within the read timeout of its first byte, however steadily
        // it trickles in (the idle timeout alone would let one byte a minute through).
        if (!this.buffer.length) this.stopReadTimer();
        else if (consumed || !partial || !this.readTimer) this.startReadTimer();
        return;
      }
      if (frame.kind === 'invalid') return this.disconnect(RESULT.protocolError, frame.reason);
      const bytes = this.buffer.subarray(0, frame.size);
      this.buffer = this.buffer.subarray(frame.size);
      consumed = true;
      if (!this.decode(bytes)) return;
    }
  }

  /** Decodes one framed message and takes it; false when nothing more may be read from this segment. */
  private decode(bytes: Buffer): boolean {
    const options = this.context.options;
    if (peekRequest(bytes)?.op === SEARCH_REQUEST) {
      let search: DecodedSearch;
      try {
        search = decodeSearchRequest(bytes, options.maxFilterDepth, options.maxFilterElements);
      } catch (err) {
        this.disconnect(RESULT.protocolError, `malformed LDAP message: ${err instanceof Error ? err.message : String(err)}`);
        return false;
      }
      return this.receive({ type: 'SearchRequest', messageId: search.messageId, search }, search.controls);
    }
    let message: LdapMessage;
    let controls: RequestControl[];
    try {
      // The controls are decoded by decode.ts, the rest by the codec (whose control codec throws
      // on a control it knows with a value it does not expect, or none).
      const split = splitRequest(bytes);
      controls = split.controls;
      message = Message.parse(new BerReader(Buffer.from(split.message)));
    } catch (err) {
      const request = peekRequest(bytes);
      if (request?.op === BIND_REQUEST && isSaslBind(bytes, request.opOffset)) {
        // RFC 4511 §4.2: SASL is not offered (yet); the connection stays usable for a simple bind.
        this.bound = undefined;
        void this.send(new BindResponse({ messageId: request.messageId, status: RESULT.authMethodNotSupported, diagnosticMessage: 'only simple bind is supported' }));
        return true;
      }
      this.disconnect(RESULT.protocolError, `malformed LDAP message: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    if (message.type === 'ExtensionRequest' && (message as ExtensionRequest).requestName === START_TLS) {
      // Whatever followed the request in this segment is dropped, never processed in clear.
      return !this.startTls(message.messageId, controls);
    }
    return this.receive(message, controls);
  }

  /**
   * StartTLS (RFC 4511 §4.14, RFC 4513 §3): answered at once, outside the operation queue, since
   * it must be the only operation in progress. True when the connection switched to TLS.
   */
  private startTls(messageId: number, controls: readonly RequestControl[]): boolean {
    // RFC 4511 §4.14.2: the response carries the StartTLS OID as responseName.
    const answer = (status: number, diagnosticMessage?: string) =>
      void this.send(new ExtensionResponse({ messageId, status, responseName: START_TLS, ...(diagnosticMessage ? { diagnosticMessage } : {}) }));
    const refusal = criticalRefusal({ type: 'ExtensionRequest', requestName: START_TLS }, controls);
    if (refusal) {
      answer(refusal.status, refusal.message);
      return false;
    }
    const tls = this.context.tls;
    if (!tls) {
      answer(RESULT.unavailable, 'TLS is not configured on this server (ldap.tls)');
      return false;
    }
    if (this.tlsEstablished) {
      answer(RESULT.operationsError, 'TLS is already established');
      return false;
    }
    if (this.outstanding > 0) {
      // RFC 4511 §4.14.1: a client must not send StartTLS with operations outstanding.
      answer(RESULT.operationsError, 'operations are outstanding on this connection');
      return false;
    }
    answer(RESULT.success);
    this.succeeded();
    this.buffer = Buffer.alloc(0);
    const clear = this.socket;
    // The TLS socket takes over the clear socket's handle: the success response was written to
    // it first, and no TLS bytes can arrive before the client has read that response.
    clear.removeAllListeners('data');
    clear.removeAllListeners('timeout');
    clear.setTimeout(0);
    const secure = new TLSSocket(clear, { isServer: true, secureContext: tls.context });
    this.socket = secure;
    this.tlsEstablished = true;
    this.attach(secure);
    secure.on('close', () => clear.destroy());
    this.context.log.debug({ ip: this.ip }, 'StartTLS: switching to TLS');
    return true;
  }

  /** Takes one decoded message and its controls; false when the connection is closing. */
  private receive(message: Incoming, controls: readonly RequestControl[]): boolean {
    switch (message.type) {
      case 'UnbindRequest':
        // RFC 4511 §4.3: no response; the connection ends.
        this.closing = true;
        this.socket.destroy();
        return false;
      case 'AbandonRequest':
        // RFC 4511 §4.11: no response; operations here are short and run in order, so nothing to cancel.
        return true;
    }
    if (!message.type.endsWith('Request')) {
      this.disconnect(RESULT.protocolError, `a client may not send ${message.type}`);
      return false;
    }
    const maxOutstanding = this.context.options.maxOutstanding;
    if (this.outstanding >= maxOutstanding) {
      const response = responseFor(message, RESULT.busy, `more than ${maxOutstanding} operations in progress on this connection`);
      if (response) void this.send(response);
      return true;
    }
    this.enqueue(message, controls);
    return true;
  }

  /** Runs `message` after the operations received before it; a failure answers with `other`. */
  private enqueue(message: Incoming, controls: readonly RequestControl[]): void {
    this.outstanding++;
    this.queue = this.queue
      .then(async () => {
        const status = await this.context.handle(this, message, controls);
        if (status === RESULT.success) this.succeeded();
      })
      .catch((err: unknown) => {
        this.context.log.warn({ err, op: message.type }, 'LDAP operation failed');
        const response = responseFor(message, RESULT.other, 'internal error');
        if (response) return this.send(response);
      })
      .finally(() => {
        this.outstanding--;
      });
  }
}

const BIND_REQUEST = 0x60;
/** [APPLICATION 3] SearchRequest. */
const SEARCH_REQUEST = 0x63;
/** AuthenticationChoice sasl [3] (RFC 4511 §4.2), constructed. */
const SASL = 0xa3;

/** Whether a bind request's authentication choice is SASL: scans for the [3] tag after name. */
function isSaslBind(frame: Buffer, bind: number): boolean {
  // 60 L 02 01 03 04 <len> <name> a3 ...: skip version and name, look at the choice's tag.
  let offset = bind + 1;
  const l = frame[offset]!;
  offset += l < 0x80 ? 1 : 1 + (l & 0x7f);
  if (frame[offset] !== 0x02) return false;
  offset += 2 + (frame[offset + 1] ?? 0);
  if (frame[offset] !== 0x04) return false;
  const n = frame[offset + 1] ?? 0;
  let nameLength = n;
  let header = 2;
  if (n >= 0x80) {
    const octets = n & 0x7f;
    if (octets > 4) return false;
    nameLength = frame.readUIntBE(offset + 2, octets);
    header = 2 + octets;
  }
  return frame[offset + header + nameLength] === SASL;
}
