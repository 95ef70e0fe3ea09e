/**
 * A raw LDAP client for tests that need what no library client sends or shows: request controls
 * with any criticality and value, and the exact bytes of every response (its controls included).
 * Requests are encoded by hand here (X.690 definite lengths), responses split into frames and read
 * with @ldapjs/messages for their type and result code, their controls kept as bytes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import ldapMessages from '@ldapjs/messages';
import { BerReader } from '@ldapjs/asn1';
import { nextFrame } from '../../protocols/ldap/framing.ts';

/** One BER element: tag, definite length, content. */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
const str = (tag: number, s: string | Buffer) => tlv(tag, typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const int = (tag: number, n: number) => tlv(tag, Buffer.from([n]));

export interface Control {
  type: string;
  critical?: boolean;
  value?: Buffer;
}

/** `[0] Controls` (RFC 4511 §4.1.11): criticality written only when TRUE, as libldap does. */
export function controls(list: readonly Control[]): Buffer {
  return tlv(0xa0, ...list.map((c) => tlv(0x30, str(0x04, c.type), ...(c.critical ? [tlv(0x01, Buffer.from([0xff]))] : []), ...(c.value ? [str(0x04, c.value)] : []))));
}

/** An LDAPMessage around `op` (messageIDs under 128 here). */
export function request(messageId: number, op: Buffer, list: readonly Control[] = []): Buffer {
  return tlv(0x30, int(0x02, messageId), op, ...(list.length ? [controls(list)] : []));
}

export const bindOp = (name: string, password: string) => tlv(0x60, int(0x02, 3), str(0x04, name), str(0x80, password));
export const extendedOp = (oid: string, value?: Buffer) => tlv(0x77, str(0x80, oid), ...(value ? [str(0x81, value)] : []));
export const searchOp = (base: string, scope = 0, filterPresent = 'objectClass') =>
  tlv(0x63, str(0x04, base), int(0x0a, scope), int(0x0a, 0), int(0x02, 0), int(0x02, 0), tlv(0x01, Buffer.from([0])), str(0x87, filterPresent), tlv(0x30));
export const compareOp = (dn: string, attribute: string, value: string) => tlv(0x6e, str(0x04, dn), tlv(0x30, str(0x04, attribute), str(0x04, value)));
export const deleteOp = (dn: string) => str(0x4a, dn);
/** RFC 3062 §2: PasswdModifyRequestValue. */
export const passwdModifyValue = (v: { oldPasswd?: string; newPasswd?: string }) =>
  tlv(0x30, ...(v.oldPasswd !== undefined ? [str(0x81, v.oldPasswd)] : []), ...(v.newPasswd !== undefined ? [str(0x82, v.newPasswd)] : []));

export interface Response {
  messageId: number;
  type: string;
  status?: number;
  diagnosticMessage?: string;
  responseValue?: string;
  /** The whole message as received. */
  bytes: Buffer;
  /** The `[0] Controls` element as received, or undefined. */
  controls?: Buffer;
}

/** The `[0] Controls` element that ends `frame`, if any: read by hand, after the protocolOp. */
function splitControls(frame: Buffer): { message: Buffer; controls?: Buffer } {
  const header = (at: number) => {
    const first = frame[at + 1]!;
    const octets = first < 0x80 ? 0 : first & 0x7f;
    const length = octets === 0 ? first : frame.readUIntBE(at + 2, octets);
    return { start: at + 2 + octets, end: at + 2 + octets + length };
  };
  const outer = header(0);
  const id = header(outer.start);
  const op = header(id.end);
  if (op.end === outer.end) return { message: frame };
  const body = frame.subarray(outer.start, op.end);
  return { message: tlv(0x30, body), controls: frame.subarray(op.end, outer.end) };
}

/** A responseValue as @ldapjs/messages gives it: a string, or a value it could not read as one as `<buffer>` and hex. */
function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.startsWith('<buffer>') ? Buffer.from(value.slice('<buffer>'.length), 'hex').toString('utf8') : value;
}

export class RawClient {
  readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  private readonly received: Response[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const frame = nextFrame(this.buffer, 1 << 24);
        if (frame.kind !== 'message') break;
        const bytes = Buffer.from(this.buffer.subarray(0, frame.size));
        this.buffer = this.buffer.subarray(frame.size);
        const { message, controls: ctrl } = splitControls(bytes);
        const m = ldapMessages.LdapMessage.parse(new BerReader(message)) as unknown as Record<string, unknown>;
        this.received.push({
          messageId: m.messageId as number, type: m.type as string, status: m.status as number | undefined,
          diagnosticMessage: m.diagnosticMessage as string | undefined, responseValue: text(m.responseValue), bytes, ...(ctrl ? { controls: ctrl } : {}),
        });
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  /** A clear connection to 127.0.0.1:`port` (from `from`: any 127/8 address is this machine's on Linux). */
  static open(port: number, from = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port, localAddress: from }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** An LDAPS connection trusting `ca`. */
  static openTls(port: number, ca: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: [ca] }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next response to `messageId` (0: the Notice of Disconnection), or undefined when the connection closed first or `timeoutMs` passed. */
  async response(messageId: number, timeoutMs = 5000): Promise<Response | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.received.findIndex((r) => r.messageId === messageId);
      if (at >= 0) return this.received.splice(at, 1)[0];
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Sends `op` as message `messageId` with `list` and waits for its response. */
  async exchange(messageId: number, op: Buffer, list: readonly Control[] = []): Promise<Response | undefined> {
    this.send(request(messageId, op, list));
    return this.response(messageId);
  }

  /** Resolves once the server closed the connection (true), or after `timeoutMs` (false). */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
