/**
 * The framing EAP-TLS (RFC 5216 §3.1-3.2), EAP-TTLS (RFC 5281 §9.1) and PEAP (draft-josefsson-pppext-eap-tls-eap
 * §3.1, [MS-PEAP] §2.2.1) put around TLS records inside EAP-Request/Response data:
 *
 *   Flags (1 octet: L = 0x80 length included, M = 0x40 more fragments, S = 0x20 start,
 *          and for TTLS/PEAP the low three bits the method's version)
 *   TLS Message Length (4 octets, only when L is set: the total of the message being fragmented)
 *   TLS data
 *
 * `parseTlsFrame` reads one frame; `Reassembler` puts a peer's fragments back together under caps
 * (a declared length above `maxMessage`, including 0xFFFFFFFF, is refused; so is data beyond the
 * declared length, a fragment that ends a message short of it, a first fragment with M but no L,
 * a later fragment declaring another length, and S from a peer); `fragment` cuts the server's
 * outgoing TLS data to fit an EAP packet of `mtu` octets. An empty frame (no L, no M, no data) is
 * the ACK each side sends for a fragment it received (RFC 5216 §3.1, §2.1.5).
 *
 * Every problem is a `TlsFrameError`, never anything else: the conversation then answers
 * EAP-Failure.
 */

export const FLAG_LENGTH = 0x80;
export const FLAG_MORE = 0x40;
export const FLAG_START = 0x20;
/** TTLS and PEAP carry their version in the low three bits (RFC 5281 §9.1; PEAP). */
export const VERSION_MASK = 0x07;

/** The default cap on a reassembled TLS message from a peer (hostapd uses the same 64 KiB). */
export const DEFAULT_MAX_MESSAGE = 64 * 1024;

export class TlsFrameError extends Error {
  override readonly name = 'TlsFrameError';
}

export interface TlsFrame {
  flags: number;
  /** The low three bits (TTLS/PEAP version; 0 for EAP-TLS, where they are reserved). */
  version: number;
  /** The TLS Message Length when L is set. */
  messageLength: number | undefined;
  data: Buffer;
}

/** Reads one frame (the Type-Data of an EAP-TLS/TTLS/PEAP message). */
export function parseTlsFrame(typeData: Buffer): TlsFrame {
  if (typeData.length < 1) throw new TlsFrameError('TLS frame without flags');
  const flags = typeData[0]!;
  if (flags & FLAG_LENGTH) {
    if (typeData.length < 5) throw new TlsFrameError('TLS frame with L but no TLS Message Length');
    return { flags, version: flags & VERSION_MASK, messageLength: typeData.readUInt32BE(1), data: typeData.subarray(5) };
  }
  return { flags, version: flags & VERSION_MASK, messageLength: undefined, data: typeData.subarray(1) };
}

/** Encodes one frame. */
export function encodeTlsFrame(flags: number, data: Buffer, messageLength?: number): Buffer {
  if (messageLength !== undefined) {
    const head = Buffer.alloc(5);
    head[0] = flags | FLAG_LENGTH;
    head.writeUInt32BE(messageLength, 1);
    return Buffer.concat([head, data]);
  }
  return Buffer.concat([Buffer.from([flags & ~FLAG_LENGTH]), data]);
}

/** Whether a frame is an ACK: no L, no M, no S, no data (RFC 5216 §2.1.5). */
export function isAck(frame: TlsFrame): boolean {
  return (frame.flags & (FLAG_LENGTH | FLAG_MORE | FLAG_START)) === 0 && frame.data.length === 0;
}

/** What one fragment from the peer made of the message being reassembled. */
export type Reassembled =
  | { kind: 'more' } // a fragment taken, the peer sends the rest after our ACK
  | { kind: 'message'; data: Buffer } // the whole message
  | { kind: 'ack' }; // an empty frame: the peer acknowledges our fragment

/** Puts one peer's fragments back together (RFC 5216 §3.1), with caps. One per conversation. */
export class Reassembler {
  readonly #maxMessage: number;
  #declared: number | undefined;
  #parts: Buffer[] = [];
  #received = 0;
  #active = false;

  constructor(maxMessage = DEFAULT_MAX_MESSAGE) {
    this.#maxMessage = maxMessage;
  }

  /** Whether a message is half received. */
  get pending(): boolean {
    return this.#active;
  }

  push(frame: TlsFrame): Reassembled {
    const { flags } = frame;
    if (flags & FLAG_START) throw new TlsFrameError('S flag from the peer');
    const more = (flags & FLAG_MORE) !== 0;
    if (frame.messageLength !== undefined) {
      if (frame.messageLength > this.#maxMessage) throw new TlsFrameError(`TLS Message Length ${frame.messageLength} exceeds ${this.#maxMessage}`);
      if (frame.messageLength === 0) throw new TlsFrameError('TLS Message Length 0');
    }
    if (!this.#active) {
      if (isAck(frame)) return { kind: 'ack' };
      if (frame.data.length === 0) throw new TlsFrameError('empty fragment with flags set');
      if (!more) {
        // Unfragmented: L is optional (RFC 5216 §3.1), but when present it must be right.
        if (frame.messageLength !== undefined && frame.messageLength !== frame.data.length) {
          throw new TlsFrameError(`TLS Message Length ${frame.messageLength} but ${frame.data.length} octets`);
        }
        if (frame.data.length > this.#maxMessage) throw new TlsFrameError(`TLS message of ${frame.data.length} octets`);
        return { kind: 'message', data: frame.data };
      }
      // RFC 5216 §3.1: the L bit MUST be set on the first fragment of a fragmented message.
      if (frame.messageLength === undefined) throw new TlsFrameError('first fragment without TLS Message Length');
      this.#active = true;
      this.#declared = frame.messageLength;
      this.#parts = [];
      this.#received = 0;
    } else if (frame.messageLength !== undefined && frame.messageLength !== this.#declared) {
      // Some peers repeat L on every fragment; a different length is out of order.
      throw new TlsFrameError('a later fragment declares another TLS Message Length');
    } else if (frame.data.length === 0) {
      throw new TlsFrameError('empty fragment inside a fragmented message');
    }
    const declared = this.#declared!;
    this.#received += frame.data.length;
    if (this.#received > declared) {
      this.reset();
      throw new TlsFrameError(`fragments exceed the declared TLS Message Length ${declared}`);
    }
    this.#parts.push(frame.data);
    if (more) {
      if (this.#received === declared) {
        this.reset();
        throw new TlsFrameError('M set on a fragment that completes the declared length');
      }
      return { kind: 'more' };
    }
    if (this.#received !== declared) {
      this.reset();
      throw new TlsFrameError(`message ended at ${this.#received} of ${declared} declared octets`);
    }
    const data = Buffer.concat(this.#parts, declared);
    this.reset();
    return { kind: 'message', data };
  }

  reset(): void {
    this.#active = false;
    this.#declared = undefined;
    this.#parts = [];
    this.#received = 0;
  }
}

/**
 * Cuts `data` into frames whose EAP packet (4-octet header, Type, Flags, optional 4-octet length)
 * is at most `mtu` octets. The first frame carries L (RFC 5216 §3.1: always, for simplicity, as
 * FreeRADIUS does), every one but the last M; `version` goes in the low bits (TTLS/PEAP).
 */
export function fragment(data: Buffer, mtu: number, version = 0): Buffer[] {
  const room = mtu - 4 - 1 - 1;
  const firstRoom = room - 4;
  if (firstRoom < 16) throw new RangeError(`EAP MTU ${mtu} too small for TLS fragments`);
  const out: Buffer[] = [];
  let offset = 0;
  let first = true;
  do {
    const size = first ? firstRoom : room;
    const chunk = data.subarray(offset, offset + size);
    offset += chunk.length;
    const flags = (offset < data.length ? FLAG_MORE : 0) | (version & VERSION_MASK);
    out.push(first ? encodeTlsFrame(flags, chunk, data.length) : encodeTlsFrame(flags, chunk));
    first = false;
  } while (offset < data.length);
  return out;
}
