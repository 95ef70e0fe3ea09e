/**
 * The LDAP front-end's transport: a node:net server of our own (ldapjs's Server is unmaintained
 * and crashes on hostile input; see README.md). Bytes are framed by framing.ts under a size cap,
 * each frame is decoded by @ldapjs/messages inside try/catch, and anything malformed closes only
 * the connection it came on, after a Notice of Disconnection (RFC 4511 §4.4.1). The same
 * connection handling serves plain LDAP (with StartTLS) and LDAPS (a node:tls server).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type Server as TlsServer } from 'node:tls';
import { BerReader } from '@ldapjs/asn1';
import ldapMessages from '@ldapjs/messages';
import type { BindRequest, ExtensionRequest, LdapMessage, LdapResult } from '@ldapjs/messages';
import type { Core } from '../../src/core.ts';
import { controlsOp, MessageBatch, searchResultDoneOp, SUCCESS_DONE } from './ber.ts';
import { simpleBind, type Bound } from './bind.ts';
import { NOTICE_OF_DISCONNECTION, PASSWORD_MODIFY, RESULT, START_TLS, WHO_AM_I } from './codes.ts';
import { decodeSearchRequest, type DecodedSearch } from './decode.ts';
import { parseDn } from './dn.ts';
import { passwordModify, type PasswdModifyRequest } from './extended.ts';
import { nextFrame, peekRequest } from './framing.ts';
import type { LdapOptions } from './options.ts';
import { createSearcher, SCOPE, type SearchSink } from './search.ts';
import { ldapTls } from './tls.ts';

const { AddResponse, BindResponse, CompareResponse, DeleteResponse, ExtensionResponse, LdapMessage: Message, ModifyDnResponse, ModifyResponse, SearchResultDone } = ldapMessages;

export interface LdapFrontEnd {
  /** Starts listening on the configured host and port (and `ldapsPort`); resolves the LDAP address. */
  listen(): Promise<AddressInfo>;
  /** Where LDAPS listens, once listening (undefined without `ldapsPort`). */
  readonly ldapsAddress: AddressInfo | undefined;
  /** Stops accepting, tells every client (Notice of Disconnection, unavailable) and closes. */
  close(): Promise<void>;
  /** Open connections (tests, metrics). */
  readonly connections: number;
  /** Bytes written to connections that their clients have not taken yet, in all (tests, metrics). */
  readonly bufferedBytes: number;
}

type ResultClass = new (options: { messageId: number; status?: number; diagnosticMessage?: string; matchedDN?: string }) => LdapResult;

const WRITE_RESPONSES: Record<string, ResultClass> = {
  AddRequest: AddResponse,
  ModifyRequest: ModifyResponse,
  DeleteRequest: DeleteResponse,
  ModifyDnRequest: ModifyDnResponse,
};

/** A SearchRequest, decoded by decode.ts (every other request by @ldapjs/messages). */
interface SearchMessage {
  type: 'SearchRequest';
  messageId: number;
  search: DecodedSearch;
}

/** A request as received. */
type Incoming = LdapMessage | SearchMessage;

interface Connection {
  /** Names the connection in audit events: `ldap-<id>-<messageId>` is their request id. */
  id: string;
  /** The clear socket, or the TLS socket over it after StartTLS. */
  socket: Socket;
  /** TLS is established (LDAPS, or after StartTLS). */
  secure: boolean;
  ip: string;
  buffer: Buffer;
  bound: Bound | undefined;
  /** Operations received and not yet answered (queued or running). */
  outstanding: number;
  /** Operations run one after another, in the order received. */
  queue: Promise<void>;
  closing: boolean;
  /** Set while the client is not taking its responses: settles on 'drain' (or close). */
  blocked: Promise<void> | undefined;
  /** Running while part of a message has arrived and the rest has not (ldap.readTimeoutSeconds). */
  readTimer: NodeJS.Timeout | undefined;
}

/** Entries are written in batches of about this many bytes (one system call each, not one per entry). */
const BATCH_BYTES = 16 * 1024;

export function createLdapFrontEnd(core: Core, options: LdapOptions): LdapFrontEnd {
  const log = core.logger.child({ component: 'ldap' });
  const open = new Set<Connection>();
  const perIp = new Map<string, number>();
  const tls = ldapTls(options);
  const searcher = createSearcher(core, options, log);

  /**
   * Writes to the client. When its socket buffer is full (the client reads slower than we write),
   * returns a promise that settles once it drained: the caller waits, and meanwhile the connection
   * is not read, so neither requests nor responses pile up. A client that takes nothing for
   * `writeTimeoutSeconds` is cut off.
   */
  const write = (conn: Connection, bytes: Buffer): Promise<void> | undefined => {
    if (conn.closing || conn.socket.destroyed) return undefined;
    if (conn.socket.write(bytes)) return undefined;
    return blocked(conn);
  };
  const send = (conn: Connection, message: LdapMessage): Promise<void> | undefined => write(conn, message.toBer().buffer);

  const blocked = (conn: Connection): Promise<void> => {
    if (conn.blocked) return conn.blocked;
    const socket = conn.socket;
    socket.pause();
    stopReadTimer(conn);
    conn.blocked = new Promise<void>((resolve) => {
      const settle = () => {
        clearTimeout(timer);
        socket.off('drain', onDrain);
        socket.off('close', settle);
        conn.blocked = undefined;
        resolve();
      };
      const onDrain = () => {
        settle();
        if (conn.closing) return;
        socket.resume();
        if (conn.buffer.length) startReadTimer(conn);
      };
      const timer = setTimeout(() => {
        log.debug({ ip: conn.ip }, 'closing LDAP connection: the client does not read its responses');
        conn.closing = true;
        socket.destroy();
        settle();
      }, options.writeTimeoutSeconds * 1000);
      socket.on('drain', onDrain);
      socket.on('close', settle);
    });
    return conn.blocked;
  };

  const startReadTimer = (conn: Connection): void => {
    stopReadTimer(conn);
    conn.readTimer = setTimeout(() => disconnect(conn, RESULT.protocolError, `a message did not arrive whole within ${options.readTimeoutSeconds} s`), options.readTimeoutSeconds * 1000);
  };
  const stopReadTimer = (conn: Connection): void => {
    if (conn.readTimer) clearTimeout(conn.readTimer);
    conn.readTimer = undefined;
  };

  /** RFC 4511 §4.4.1: the unsolicited notification, then the connection closes. */
  const disconnect = (conn: Connection, status: number, reason: string): void => {
    if (conn.closing) return;
    log.debug({ ip: conn.ip, reason }, 'closing LDAP connection');
    const notice = new ExtensionResponse({ messageId: 0, status, diagnosticMessage: reason, responseName: NOTICE_OF_DISCONNECTION });
    conn.closing = true;
    conn.buffer = Buffer.alloc(0);
    stopReadTimer(conn);
    conn.socket.pause();
    if (conn.socket.destroyed || !conn.socket.writable) return void conn.socket.destroy();
    conn.socket.write(notice.toBer().buffer, () => conn.socket.destroy());
    // Never wait long on a client that does not read.
    setTimeout(() => conn.socket.destroy(), 1000).unref();
  };

  const onData = (conn: Connection, chunk: Buffer): void => {
    if (conn.closing) return;
    const partial = conn.buffer.length > 0;
    conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk;
    let consumed = false;
    for (;;) {
      const cap = conn.bound ? options.maxMessageBytes : options.maxMessageBytesBeforeBind;
      const frame = nextFrame(conn.buffer, cap);
      if (frame.kind === 'incomplete') {
        // A message must arrive whole within the read timeout of its first byte, however steadily
        // it trickles in (the idle timeout alone would let one byte a minute through).
        if (!conn.buffer.length) stopReadTimer(conn);
        else if (consumed || !partial || !conn.readTimer) startReadTimer(conn);
        return;
      }
      if (frame.kind === 'invalid') return disconnect(conn, RESULT.protocolError, frame.reason);
      const bytes = conn.buffer.subarray(0, frame.size);
      conn.buffer = conn.buffer.subarray(frame.size);
      consumed = true;
      if (peekRequest(bytes)?.op === SEARCH_REQUEST) {
        let search: DecodedSearch;
        try {
          search = decodeSearchRequest(bytes, options.maxFilterDepth, options.maxFilterElements);
        } catch (err) {
          return disconnect(conn, RESULT.protocolError, `malformed LDAP message: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (!receive(conn, { type: 'SearchRequest', messageId: search.messageId, search })) return;
        continue;
      }
      let message: LdapMessage;
      try {
        message = Message.parse(new BerReader(Buffer.from(bytes)));
      } catch (err) {
        const request = peekRequest(bytes);
        if (request?.op === BIND_REQUEST && isSaslBind(bytes, request.opOffset)) {
          // RFC 4511 §4.2: SASL is not offered (yet); the connection stays usable for a simple bind.
          conn.bound = undefined;
          void send(conn, new BindResponse({ messageId: request.messageId, status: RESULT.authMethodNotSupported, diagnosticMessage: 'only simple bind is supported' }));
          continue;
        }
        return disconnect(conn, RESULT.protocolError, `malformed LDAP message: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (message.type === 'ExtensionRequest' && (message as ExtensionRequest).requestName === START_TLS) {
        // Whatever followed the request in this segment is dropped, never processed in clear.
        if (startTls(conn, message.messageId)) return;
        continue;
      }
      if (!receive(conn, message)) return;
    }
  };

  /**
   * StartTLS (RFC 4511 §4.14, RFC 4513 §3): answered at once, outside the operation queue, since
   * it must be the only operation in progress. True when the connection switched to TLS.
   */
  const startTls = (conn: Connection, messageId: number): boolean => {
    // RFC 4511 §4.14.2: the response carries the StartTLS OID as responseName.
    const answer = (status: number, diagnosticMessage?: string) =>
      void send(conn, new ExtensionResponse({ messageId, status, responseName: START_TLS, ...(diagnosticMessage ? { diagnosticMessage } : {}) }));
    if (!tls) {
      answer(RESULT.unavailable, 'TLS is not configured on this server (ldap.tls)');
      return false;
    }
    if (conn.secure) {
      answer(RESULT.operationsError, 'TLS is already established');
      return false;
    }
    if (conn.outstanding > 0) {
      // RFC 4511 §4.14.1: a client must not send StartTLS with operations outstanding.
      answer(RESULT.operationsError, 'operations are outstanding on this connection');
      return false;
    }
    answer(RESULT.success);
    conn.buffer = Buffer.alloc(0);
    const clear = conn.socket;
    // The TLS socket takes over the clear socket's handle: the success response was written to
    // it first, and no TLS bytes can arrive before the client has read that response.
    clear.removeAllListeners('data');
    clear.removeAllListeners('timeout');
    clear.setTimeout(0);
    const secure = new TLSSocket(clear, { isServer: true, secureContext: tls.context });
    conn.socket = secure;
    conn.secure = true;
    attach(conn, secure);
    secure.on('close', () => clear.destroy());
    log.debug({ ip: conn.ip }, 'StartTLS: switching to TLS');
    return true;
  };

  /** Takes one decoded message; false when the connection is closing. */
  const receive = (conn: Connection, message: Incoming): boolean => {
    switch (message.type) {
      case 'UnbindRequest':
        // RFC 4511 §4.3: no response; the connection ends.
        conn.closing = true;
        conn.socket.destroy();
        return false;
      case 'AbandonRequest':
        // RFC 4511 §4.11: no response; operations here are short and run in order, so nothing to cancel.
        return true;
    }
    if (!message.type.endsWith('Request')) {
      disconnect(conn, RESULT.protocolError, `a client may not send ${message.type}`);
      return false;
    }
    if (conn.outstanding >= options.maxOutstanding) {
      const response = responseFor(message, RESULT.busy, `more than ${options.maxOutstanding} operations in progress on this connection`);
      if (response) void send(conn, response);
      return true;
    }
    conn.outstanding++;
    conn.queue = conn.queue
      .then(() => handle(conn, message))
      .catch((err: unknown) => {
        log.warn({ err, op: message.type }, 'LDAP operation failed');
        const response = responseFor(message, RESULT.other, 'internal error');
        if (response) return send(conn, response);
      })
      .finally(() => {
        conn.outstanding--;
      });
    return true;
  };

  const handle = async (conn: Connection, message: Incoming): Promise<void> => {
    if (conn.closing) return;
    const messageId = message.messageId;
    switch (message.type) {
      case 'BindRequest': {
        const req = message as BindRequest;
        // RFC 4511 §4.2.1: a bind starts by dropping the previous authentication.
        conn.bound = undefined;
        // RFC 4513 §5.1.3: a server may refuse name/password binds without confidentiality protection.
        if (options.requireTls && !conn.secure) return send(conn, new BindResponse({ messageId, status: RESULT.confidentialityRequired, diagnosticMessage: 'TLS is required: use StartTLS or LDAPS before binding' }));
        if (req.version !== 3) return send(conn, new BindResponse({ messageId, status: RESULT.protocolError, diagnosticMessage: 'only LDAPv3 is supported' }));
        const outcome = await simpleBind(core, options, String(req.name ?? ''), String(req.credentials ?? ''), { clientIp: conn.ip, requestId: `ldap-${conn.id}-${messageId}` });
        if ('bound' in outcome && outcome.bound) conn.bound = outcome.bound;
        return send(conn, new BindResponse({ messageId, status: outcome.status, ...('message' in outcome ? { diagnosticMessage: outcome.message } : {}) }));
      }
      case 'SearchRequest': {
        const req = (message as SearchMessage).search;
        const base = baseOf(req.base);
        // The root DSE stays readable in clear: clients read it to learn that StartTLS is offered.
        if (options.requireTls && !conn.secure && !(base?.length === 0 && req.scope === SCOPE.base)) {
          return send(conn, new SearchResultDone({ messageId, status: RESULT.confidentialityRequired, diagnosticMessage: 'TLS is required: use StartTLS or LDAPS' }));
        }
        // Entries go out in batches; a client that does not keep up makes the search wait (blocked()).
        const batch = new MessageBatch(messageId);
        const flush = (): Promise<void> | undefined => (batch.empty ? undefined : write(conn, batch.take()));
        const sink: SearchSink = {
          send(_entry, encode) {
            if (conn.closing) return undefined;
            batch.add(encode());
            return batch.bytes >= BATCH_BYTES ? flush() : undefined;
          },
        };
        const result = await searcher.stream(conn.bound, {
          base,
          scope: req.scope,
          filter: req.filter ?? { refused: req.refused ?? 'filter refused' },
          filterKey: req.filterBytes,
          attributes: req.attributes,
          sizeLimit: req.sizeLimit,
          timeLimit: req.timeLimit,
          typesOnly: req.typesOnly,
          controls: req.controls,
        }, sink);
        // The SearchResultDone, with its response controls (paging) when it has any.
        const done = result.status === RESULT.success && !result.message && !result.matchedDN ? SUCCESS_DONE : searchResultDoneOp(result.status, result.matchedDN, result.message);
        batch.add(done, result.controls ? controlsOp(result.controls) : undefined);
        return flush();
      }
      case 'ExtensionRequest': {
        const req = message as ExtensionRequest;
        if (req.requestName === WHO_AM_I) {
          // RFC 4532 §2.2: "dn:<DN>" for a bound user, an empty authzId for anonymous.
          return send(conn, new ExtensionResponse({ messageId, status: RESULT.success, responseValue: conn.bound ? `dn:${conn.bound.dn}` : '' }));
        }
        if (req.requestName === PASSWORD_MODIFY) {
          const value = typeof req.requestValue === 'object' && req.requestValue !== null ? (req.requestValue as PasswdModifyRequest) : undefined;
          const outcome = await passwordModify(core, conn.bound, conn.secure, conn.ip, value);
          // RFC 3062 §2: no responseValue, as no password is ever generated.
          return send(conn, new ExtensionResponse({ messageId, status: outcome.status, ...(outcome.message ? { diagnosticMessage: outcome.message } : {}) }));
        }
        // RFC 4511 §4.12: an unrecognized requestName gets protocolError, without response name.
        return send(conn, new ExtensionResponse({ messageId, status: RESULT.protocolError, diagnosticMessage: `unsupported extended operation ${req.requestName}` }));
      }
      case 'CompareRequest':
        return send(conn, new CompareResponse({ messageId, status: RESULT.unwillingToPerform, diagnosticMessage: 'compare is not supported yet' }));
      default: {
        const response = responseFor(message, RESULT.insufficientAccessRights, 'the directory is read-only over LDAP: change it through the admin API (/api/v1) or the gatehouse CLI');
        if (response) return send(conn, response);
      }
    }
  };

  /** Reads, times out and logs on `socket`: the clear socket at first, the TLS one after StartTLS. */
  const attach = (conn: Connection, socket: Socket): void => {
    socket.setTimeout(options.idleTimeoutSeconds * 1000);
    socket.on('timeout', () => disconnect(conn, RESULT.unavailable, 'idle timeout'));
    socket.on('data', (chunk: Buffer) => {
      try {
        onData(conn, chunk);
      } catch (err) {
        // Nothing a client sends may take the process down.
        log.warn({ err, ip: conn.ip }, 'LDAP input handling failed');
        disconnect(conn, RESULT.protocolError, 'malformed input');
      }
    });
    socket.on('error', (err) => log.debug({ err, ip: conn.ip }, 'LDAP socket error'));
  };

  /** One accepted connection, clear (LDAP) or already TLS (LDAPS). */
  const accept = (socket: Socket, secure: boolean): void => {
    const ip = core.clientIp(socket.remoteAddress) ?? 'unknown';
    const count = perIp.get(ip) ?? 0;
    if (open.size >= options.maxConnections || count >= options.maxConnectionsPerIp) {
      log.warn({ ip, total: open.size, fromIp: count }, 'LDAP connection refused: too many connections');
      socket.on('error', () => undefined);
      const notice = new ExtensionResponse({ messageId: 0, status: RESULT.busy, diagnosticMessage: 'too many connections', responseName: NOTICE_OF_DISCONNECTION });
      socket.end(notice.toBer().buffer);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const conn: Connection = { id: randomBytes(6).toString('base64url'), socket, secure, ip, buffer: Buffer.alloc(0), bound: undefined, outstanding: 0, queue: Promise.resolve(), closing: false, blocked: undefined, readTimer: undefined };
    open.add(conn);
    perIp.set(ip, count + 1);
    attach(conn, socket);
    socket.on('close', () => {
      stopReadTimer(conn);
      if (!open.delete(conn)) return;
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    });
  };

  const server: Server = createServer({ noDelay: true }, (socket) => accept(socket, false));
  server.on('error', (err) => log.error({ err }, 'LDAP listener error'));
  // LDAPS: TLS from the first byte, then the same connection handling.
  const ldaps: TlsServer | undefined =
    options.ldapsPort !== undefined && tls ? createTlsServer({ ...tls.options, noDelay: true, handshakeTimeout: 10_000 }, (socket) => accept(socket, true)) : undefined;
  ldaps?.on('error', (err) => log.error({ err }, 'LDAPS listener error'));
  ldaps?.on('tlsClientError', (err, socket) => log.debug({ err, ip: socket.remoteAddress }, 'LDAPS handshake failed'));
  let ldapsAddress: AddressInfo | undefined;

  const listenOn = (listener: Server, port: number) =>
    new Promise<AddressInfo>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ host: options.host, port }, () => {
        listener.off('error', reject);
        resolve(listener.address() as AddressInfo);
      });
    });

  return {
    get connections() {
      return open.size;
    },
    get bufferedBytes() {
      let bytes = 0;
      for (const conn of open) bytes += conn.socket.writableLength;
      return bytes;
    },
    get ldapsAddress() {
      return ldapsAddress;
    },
    async listen() {
      const address = await listenOn(server, options.port);
      if (ldaps && options.ldapsPort !== undefined) ldapsAddress = await listenOn(ldaps, options.ldapsPort);
      return address;
    },
    async close() {
      const closed = [server, ...(ldaps ? [ldaps] : [])].map((listener) => new Promise<void>((resolve) => (listener.listening ? listener.close(() => resolve()) : resolve())));
      for (const conn of open) disconnect(conn, RESULT.unavailable, 'the server is shutting down');
      searcher.close();
      await Promise.all(closed);
    },
  };
}

/** The response matching a request type, for refusals (busy, errors, writes). */
function responseFor(message: { type: string; messageId: number }, status: number, diagnosticMessage: string): LdapMessage | undefined {
  const messageId = message.messageId;
  const Write = WRITE_RESPONSES[message.type];
  if (Write) return new Write({ messageId, status, diagnosticMessage });
  switch (message.type) {
    case 'BindRequest':
      return new BindResponse({ messageId, status, diagnosticMessage });
    case 'SearchRequest':
      return new SearchResultDone({ messageId, status, diagnosticMessage });
    case 'CompareRequest':
      return new CompareResponse({ messageId, status, diagnosticMessage });
    case 'ExtensionRequest':
      return new ExtensionResponse({ messageId, status, diagnosticMessage });
    default:
      return undefined;
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

/** Base DNs repeat (ou=people,…): parsed once, within a bounded cache. */
const bases = new Map<string, string[] | undefined>();
const BASES_KEPT = 1024;

function baseOf(dn: string): string[] | undefined {
  if (bases.has(dn)) return bases.get(dn);
  const rdns = parseDn(dn);
  if (bases.size >= BASES_KEPT) bases.clear();
  bases.set(dn, rdns);
  return rdns;
}
