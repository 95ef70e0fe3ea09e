/**
 * Listening sockets, the same way for every front-end: TCP (LDAP, HTTP), TLS (LDAPS, HTTPS) and UDP
 * (RADIUS). A front-end declares the addresses it will bind (`FrontEnd.ports`), so the server can
 * check every one is free before it changes anything in the store, and it binds them with
 * `listen`, which resolves the address or rejects with an error that says what to do.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type AddressInfo, type Server } from 'node:net';

/** An address a front-end binds. `port` 0 picks a free port (nothing to check beforehand). */
export interface Binding {
  /** What listens there, for messages: 'LDAP', 'LDAPS', 'RADIUS authentication', … */
  label: string;
  transport: 'tcp' | 'udp';
  host: string;
  port: number;
  /** The environment variable or setting that moves it, for the message when it is taken. */
  setting?: string;
}

export class BindError extends Error {
  override readonly name = 'BindError';
  readonly binding: Binding;
  readonly code: string | undefined;
  constructor(binding: Binding, err: NodeJS.ErrnoException) {
    const where = `${isIPv6(binding.host) ? `[${binding.host}]` : binding.host}:${binding.port}/${binding.transport}`;
    const move = binding.setting ? ` (set ${binding.setting})` : '';
    const hint =
      err.code === 'EADDRINUSE' ? `something else is listening there: another Gatehouse already running? Stop it, or choose another port${move}`
      : err.code === 'EACCES' ? `not allowed to bind it: ports below 1024 need privileges; choose a port above 1023${move}`
      : err.code === 'EADDRNOTAVAIL' ? `no interface of this machine has that address${move}`
      : err.message;
    super(`${binding.label} cannot listen on ${where}: ${hint}`);
    this.binding = binding;
    this.code = err.code;
  }
}

/** Binds a TCP or TLS server (already made) at the binding's address. */
export function listen(server: Server, binding: Binding): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(new BindError(binding, err));
    server.once('error', failed);
    server.listen({ host: binding.host, port: binding.port }, () => {
      server.off('error', failed);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Binds a UDP socket (already made) at the binding's address. */
export function listenUdp(socket: UdpSocket, binding: Binding): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(new BindError(binding, err));
    socket.once('error', failed);
    socket.bind({ address: binding.host, port: binding.port }, () => {
      socket.off('error', failed);
      resolve(socket.address());
    });
  });
}

/**
 * Checks that each binding with a fixed port can be bound now, by binding and releasing it.
 * @throws BindError for the first that cannot
 */
export async function checkBindings(bindings: readonly Binding[]): Promise<void> {
  for (const binding of bindings) {
    if (binding.port === 0) continue;
    if (binding.transport === 'tcp') {
      const probe = createServer();
      await listen(probe, binding);
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    } else {
      const probe = createSocket(isIPv6(binding.host) ? 'udp6' : 'udp4');
      await listenUdp(probe, binding);
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
  }
}

/** `scheme://host:port` for a bound address (IPv6 in brackets). */
export function urlOf(scheme: string, address: AddressInfo): string {
  return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}
