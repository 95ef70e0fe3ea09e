/**
 * BER framing of LDAPMessages on a stream (RFC 4511 §5.1: each message is one BER element), done
 * before any decoder sees the bytes, so a hostile length can never make us buffer or parse it.
 *
 * The LDAP profile of BER (RFC 4511 §5.1) forbids the indefinite length form; we also refuse any
 * length above the connection's cap and long-form lengths of more than 4 octets.
 */

export type Frame =
  /** Not enough bytes yet to know, or to hold, the whole element. */
  | { kind: 'incomplete' }
  /** A whole element occupies `buffer[0..size)`. */
  | { kind: 'message'; size: number }
  /** The stream cannot be an LDAP message within bounds; the connection must close. */
  | { kind: 'invalid'; reason: string };

/** An LDAPMessage is a universal constructed SEQUENCE. */
const SEQUENCE = 0x30;
const MAX_LENGTH_OCTETS = 4;

export function nextFrame(buffer: Buffer, maxSize: number): Frame {
  if (buffer.length === 0) return { kind: 'incomplete' };
  if (buffer[0] !== SEQUENCE) return { kind: 'invalid', reason: `an LDAPMessage starts with a SEQUENCE (0x30), not 0x${buffer[0]!.toString(16).padStart(2, '0')}` };
  if (buffer.length < 2) return { kind: 'incomplete' };
  const first = buffer[1]!;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else if (first === 0x80) {
    return { kind: 'invalid', reason: 'indefinite length is not allowed (RFC 4511 §5.1)' };
  } else {
    const octets = first & 0x7f;
    if (octets > MAX_LENGTH_OCTETS) return { kind: 'invalid', reason: `a length of ${octets} octets is not supported` };
    if (buffer.length < 2 + octets) return { kind: 'incomplete' };
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + buffer[2 + i]!;
    header = 2 + octets;
  }
  const size = header + length;
  // Refused as soon as the header is known: a 2 GiB declared length is never waited for.
  if (size > maxSize) return { kind: 'invalid', reason: `message of ${size} bytes exceeds the limit of ${maxSize}` };
  return buffer.length < size ? { kind: 'incomplete' } : { kind: 'message', size };
}

/**
 * The messageID and protocolOp tag of a framed message, read by hand: used to answer a request the
 * codec cannot decode but that has a proper answer (a SASL bind gets authMethodNotSupported).
 */
export function peekRequest(frame: Buffer): { messageId: number; op: number; opOffset: number } | undefined {
  const first = frame[1];
  if (first === undefined) return undefined;
  let offset = first < 0x80 ? 2 : 2 + (first & 0x7f);
  if (frame[offset] !== 0x02) return undefined;
  const idLength = frame[offset + 1] ?? 0;
  if (idLength < 1 || idLength > 4 || offset + 2 + idLength >= frame.length) return undefined;
  const messageId = frame.readUIntBE(offset + 2, idLength);
  // RFC 4511 §4.1.1: MessageID ::= INTEGER (0 .. maxInt)
  if (messageId > 0x7fffffff) return undefined;
  offset += 2 + idLength;
  return { messageId, op: frame[offset]!, opOffset: offset };
}
