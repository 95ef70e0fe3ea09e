/**
 * The server side of the TLS inside EAP-TLS, EAP-TTLS and PEAP: Node's own TLS (`node:tls`, OpenSSL)
 * over an in-memory `Duplex`, since EAP hands TLS records over one RADIUS round trip at a time
 * instead of a socket. `feed()` pushes the records a peer sent into the TLS engine and returns what
 * the engine wrote back (handshake flights, alerts, encrypted application data) and the application
 * data it decrypted (TTLS AVPs, PEAP's inner EAP); `send()` encrypts application data.
 *
 * Version: TLS 1.2 minimum, 1.3 where the peer offers it (issue 14; RFC 9190, RFC 9427).
 *
 * Keying material (`keys()`), per method and TLS version, 128 octets: MSK = the first 64, EMSK the
 * next 64 (RFC 5216 §2.3). TLS 1.3's exporter (HKDF-Expand-Label) encodes the length asked for, so
 * 128 octets are always asked for and cut, as every implementation does:
 *
 *   EAP-TLS  TLS 1.2   PRF(master, "client EAP encryption", randoms)          RFC 5216 §2.3
 *   EAP-TLS  TLS 1.3   Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D)        RFC 9190 §2.3
 *   EAP-TTLS TLS 1.2   PRF(master, "ttls keying material", randoms)           RFC 5281 §8
 *   PEAPv0   TLS 1.2   PRF(master, "client EAP encryption", randoms)          [MS-PEAP] §3.1.5.5.2 (no crypto binding)
 *   TTLS/PEAP TLS 1.3  Exporter("EXPORTER_EAP_TLS_Key_Material", Type octet)  RFC 9427 §2.1
 *
 * The RADIUS attributes follow RFC 2548 §2.4 as FreeRADIUS and hostapd use them: MS-MPPE-Recv-Key =
 * MSK[0..31], MS-MPPE-Send-Key = MSK[32..63] (`mppeKeys`).
 *
 * When is the engine done with what it was fed? It works asynchronously (the duplex's data event,
 * then the engine, then its writes through the duplex), so `feed()` waits until an event-loop turn
 * passes with nothing new: every write, decrypted chunk, handshake completion or error counts. The
 * engine (OpenSSL, synchronous; its callbacks in process.nextTick at most) is always done within
 * the first turn: in the unit and eapol_test runs, 0 of 706 feeds saw anything after it. One quiet
 * turn, not three, saves two loop turns per round trip.
 *
 * A session lives in process memory (a TLSSocket cannot be serialised): see the EAP section of
 * protocols/radius/README.md for what that means behind a balancer.
 */
import { Duplex } from 'node:stream';
import { TLSSocket, type PeerCertificate, type SecureContext } from 'node:tls';

export type TlsMethod = 'tls' | 'ttls' | 'peap';
const METHOD_TYPE: Record<TlsMethod, number> = { tls: 13, ttls: 21, peap: 25 };

/** The outcome of feeding records in. */
export interface Fed {
  /** What TLS wrote back (to send to the peer, fragmented). */
  out: Buffer;
  /** Application data decrypted (after the handshake). */
  data: Buffer;
  /** The handshake is complete. */
  established: boolean;
  /** The handshake or a record failed (the alert, if any, is in `out`). */
  error: Error | undefined;
}

export interface TlsSessionOptions {
  secureContext: SecureContext;
  method: TlsMethod;
  /** EAP-TLS: ask for (and require) a client certificate, verified against the context's CA. */
  requestCert?: boolean;
  /** Most application data held before the method reads it. */
  maxData?: number;
}

/** Quiet event-loop turns after which the engine is taken to be done with the input. */
const QUIET_TURNS = 1;
const MAX_TURNS = 500;

export class TlsSession {
  readonly method: TlsMethod;
  readonly #socket: TLSSocket;
  readonly #wire: Duplex;
  readonly #maxData: number;
  #out: Buffer[] = [];
  #data: Buffer[] = [];
  #dataLength = 0;
  #established = false;
  #error: Error | undefined;
  #events = 0;
  #closed = false;
  /** The peer's certificate once read (null: none). */
  #peerCertificate: Pick<PeerCertificate, 'raw'> | null | undefined;

  constructor(options: TlsSessionOptions) {
    this.method = options.method;
    this.#maxData = options.maxData ?? 64 * 1024;
    this.#wire = new Duplex({
      read() {},
      write: (chunk: Buffer, _encoding, callback) => {
        this.#out.push(chunk);
        this.#events++;
        callback();
      },
    });
    const requestCert = options.requestCert ?? false;
    this.#socket = new TLSSocket(this.#wire, { isServer: true, secureContext: options.secureContext, requestCert, rejectUnauthorized: requestCert });
    this.#socket.on('secure', () => {
      this.#established = true;
      this.#events++;
    });
    this.#socket.on('data', (chunk: Buffer) => {
      this.#events++;
      this.#dataLength += chunk.length;
      if (this.#dataLength > this.#maxData) this.#fail(new Error(`more than ${this.#maxData} octets of application data`));
      else this.#data.push(chunk);
    });
    this.#socket.on('error', (error: Error) => this.#fail(error));
    this.#wire.on('error', (error: Error) => this.#fail(error));
  }

  #fail(error: Error): void {
    this.#events++;
    this.#error ??= error;
  }

  get established(): boolean {
    return this.#established;
  }

  /** 'TLSv1.2' or 'TLSv1.3' once established. */
  get version(): string | null {
    return this.#socket.getProtocol();
  }

  /**
   * EAP-TLS: the client certificate chains to the context's CA (OpenSSL's verification during the
   * handshake). Node sets `authorized` only on sockets a tls.Server accepted; for this standalone
   * server socket the verification result is read where Node's own server reads it (the handle's
   * verifyError). Without it (another runtime): not authorized, fail closed.
   */
  get authorized(): boolean {
    return this.#established && this.authorizationError === undefined;
  }

  /** Why the client certificate was not verified (OpenSSL's code), when it was not. */
  get authorizationError(): string | undefined {
    if (!this.#established) return 'handshake not complete';
    if (!this.peerCertificate()) return 'no client certificate';
    const handle = (this.#socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null | undefined } })._handle;
    if (typeof handle?.verifyError !== 'function') return 'the TLS engine cannot say whether the certificate verified';
    const error = handle.verifyError();
    return error ? (error.code ?? error.message) : undefined;
  }

  /**
   * The client's certificate (EAP-TLS; its DER in `raw`), once established. Read once: Node's
   * getPeerCertificate() turns the whole chain into objects (names, extensions, key) at each call,
   * where the sign-in needs only the DER.
   */
  peerCertificate(): Pick<PeerCertificate, 'raw'> | undefined {
    if (this.#peerCertificate === undefined && this.#established) {
      const raw = this.#socket.getPeerX509Certificate()?.raw;
      this.#peerCertificate = raw ? { raw } : null;
    }
    return this.#peerCertificate ?? undefined;
  }

  /**
   * The certificate the client presented, parsed, whether or not the handshake completed: what the
   * audit event of a failed conversation names (tls-audit.ts). Not cached: read once, on failure.
   */
  presentedCertificate(): PeerCertificate | undefined {
    const cert = this.#socket.getPeerCertificate(true);
    return cert && Object.keys(cert).length ? cert : undefined;
  }

  /** Pushes TLS records from the peer in; what came out once the engine is quiet. */
  async feed(records: Buffer): Promise<Fed> {
    if (this.#closed) return { out: Buffer.alloc(0), data: Buffer.alloc(0), established: this.#established, error: this.#error ?? new Error('session closed') };
    if (records.length) this.#wire.push(records);
    await this.#settle();
    return this.#take();
  }

  /** Encrypts application data (TTLS AVPs, PEAP's inner EAP, the TLS 1.3 commitment message); the records to send. */
  async send(data: Buffer): Promise<Buffer> {
    if (this.#closed || !this.#established) throw new Error('TLS session not established');
    this.#socket.write(data);
    await this.#settle();
    return this.#take().out;
  }

  #take(): Fed {
    const fed: Fed = { out: Buffer.concat(this.#out), data: Buffer.concat(this.#data), established: this.#established, error: this.#error };
    this.#out = [];
    this.#data = [];
    return fed;
  }

  async #settle(): Promise<void> {
    let quiet = 0;
    for (let turn = 0; turn < MAX_TURNS && quiet < QUIET_TURNS; turn++) {
      const before = this.#events;
      await new Promise<void>((resolve) => setImmediate(resolve));
      quiet = this.#events === before ? quiet + 1 : 0;
    }
  }

  /** MSK and EMSK (64 octets each) for this method and TLS version (see the table above). */
  keys(): { msk: Buffer; emsk: Buffer } {
    if (!this.#established) throw new Error('TLS session not established');
    const material = this.version === 'TLSv1.3'
      ? this.#socket.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', Buffer.from([METHOD_TYPE[this.method]]))
      : exportWithoutContext(this.#socket, 128, this.method === 'ttls' ? 'ttls keying material' : 'client EAP encryption');
    return { msk: material.subarray(0, 64), emsk: material.subarray(64, 128) };
  }

  /** Frees the engine (every conversation ends with this, whatever the outcome). */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#wire.destroy();
  }
}

/**
 * RFC 5705 exporter without a context (RFC 5216 and RFC 5281 use none, which differs from an empty
 * one in TLS 1.2). Node leaves the context out when the argument is undefined; its type insists on one.
 */
export function exportWithoutContext(socket: TLSSocket, length: number, label: string): Buffer {
  return (socket.exportKeyingMaterial as (length: number, label: string) => Buffer)(length, label);
}

/** The MPPE keys from an MSK (RFC 2548 §2.4.2-2.4.3 as FreeRADIUS and hostapd use them). */
export function mppeKeys(msk: Buffer): { recv: Buffer; send: Buffer } {
  return { recv: msk.subarray(0, 32), send: msk.subarray(32, 64) };
}
