/**
 * The LDAP front-end's listeners: a node:net server of our own (ldapjs's Server is unmaintained
 * and crashes on hostile input; see README.md) and, with `ldapsPort`, a node:tls one for LDAPS.
 * Both hand each accepted socket, within the connection limits (in all and per address, and the
 * same again for connections that have not bound yet), to a Connection (connection.ts: framing,
 * decoding, timers, StartTLS, the operation queue), which runs its requests through operations.ts.
 * Anything malformed closes only the connection it came on, after a Notice of Disconnection
 * (RFC 4511 §4.4.1).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Core } from '../../src/core.ts';
import { RESULT } from './codes.ts';
import { Connection, noticeOfDisconnection, type ConnectionContext } from './connection.ts';
import { Operations } from './operations.ts';
import type { LdapOptions } from './options.ts';
import { createSearcher } from './search.ts';
import { ldapTls } from './tls.ts';

export interface LdapFrontEnd {
  /** Starts listening on the configured host and port (and `ldapsPort`); resolves the LDAP address. */
  listen(): Promise<AddressInfo>;
  /** Where LDAPS listens, once listening (undefined without `ldapsPort`). */
  readonly ldapsAddress: AddressInfo | undefined;
  /** Stops accepting, tells every client (Notice of Disconnection, unavailable) and closes. */
  close(): Promise<void>;
  /** Open connections (tests, metrics). */
  readonly connections: number;
  /** Open connections that have not bound successfully yet (tests, metrics). */
  readonly unauthenticatedConnections: number;
  /** Bytes written to connections that their clients have not taken yet, in all (tests, metrics). */
  readonly bufferedBytes: number;
}

export function createLdapFrontEnd(core: Core, options: LdapOptions): LdapFrontEnd {
  const log = core.logger.child({ component: 'ldap' });
  const open = new Set<Connection>();
  const perIp = new Map<string, number>();
  // Connections not bound yet (as a person or a service account), counted apart: clients that open
  // connections and never bind must not keep out those that do (every connection starts here).
  const unauthenticated = new Set<Connection>();
  const unauthenticatedPerIp = new Map<string, number>();
  const tls = ldapTls(options);
  const searcher = createSearcher(core, options, log);
  const operations = new Operations(core, options, searcher);
  /** Takes `conn` out of the unauthenticated pool (its first successful bind, or its end). */
  const leavePool = (conn: Connection): void => {
    if (unauthenticated.delete(conn)) decrement(unauthenticatedPerIp, conn.ip);
  };
  const context: ConnectionContext = { options, log, tls, authenticated: leavePool, handle: (conn, message, controls) => operations.handle(conn, message, controls) };

  /** One accepted connection, clear (LDAP) or already TLS (LDAPS). */
  const accept = (socket: Socket, secure: boolean): void => {
    const ip = core.clientIp(socket.remoteAddress) ?? 'unknown';
    const count = perIp.get(ip) ?? 0;
    const unbound = unauthenticatedPerIp.get(ip) ?? 0;
    const refusal =
      open.size >= options.maxConnections || count >= options.maxConnectionsPerIp ? 'too many connections'
      : unauthenticated.size >= options.maxUnauthenticatedConnections || unbound >= options.maxUnauthenticatedConnectionsPerIp ? 'too many connections without a successful bind'
      : undefined;
    if (refusal) {
      log.warn({ ip, total: open.size, fromIp: count, unauthenticated: unauthenticated.size, unauthenticatedFromIp: unbound }, `LDAP connection refused: ${refusal}`);
      socket.on('error', () => undefined);
      socket.end(noticeOfDisconnection(RESULT.busy, refusal));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const conn = new Connection(socket, secure, ip, context);
    open.add(conn);
    perIp.set(ip, count + 1);
    unauthenticated.add(conn);
    unauthenticatedPerIp.set(ip, unbound + 1);
    socket.on('close', () => {
      leavePool(conn);
      if (open.delete(conn)) decrement(perIp, ip);
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
    get unauthenticatedConnections() {
      return unauthenticated.size;
    },
    get bufferedBytes() {
      let bytes = 0;
      for (const conn of open) bytes += conn.bufferedBytes;
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
      for (const conn of open) conn.disconnect(RESULT.unavailable, 'the server is shutting down');
      searcher.close();
      await Promise.all(closed);
    },
  };
}

/** One connection fewer from `ip`. */
function decrement(counts: Map<string, number>, ip: string): void {
  const left = (counts.get(ip) ?? 1) - 1;
  if (left > 0) counts.set(ip, left);
  else counts.delete(ip);
}
