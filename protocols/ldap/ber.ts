/**
 * The few BER encodings (X.690 definite lengths, RFC 4511 §5.1) the hot path of a search needs,
 * written out directly: an entry's encoding is cached per directory snapshot (search.ts), and the
 * LDAPMessages around a search's results are written into one buffer (MessageBatch). Also the
 * responses that carry response controls (a bind's or a Password Modify's password policy control),
 * which @ldapjs/messages cannot encode without its control classes. @ldapjs/messages encodes
 * everything else.
 */

/** Tag octets (RFC 4511 Appendix B). */
const SEQUENCE = 0x30;
/** [0] Controls of an LDAPMessage (context-specific, constructed). */
const CONTROLS = 0xa0;
const SET = 0x31;
const OCTET_STRING = 0x04;
const INTEGER = 0x02;
const ENUMERATED = 0x0a;
/** [APPLICATION 4] SearchResultEntry, [APPLICATION 5] SearchResultDone. */
const SEARCH_RESULT_ENTRY = 0x64;
const SEARCH_RESULT_DONE = 0x65;
/** [APPLICATION 1] BindResponse, [APPLICATION 24] ExtendedResponse: the responses that may carry a password policy control. */
export const BIND_RESPONSE = 0x61;
export const EXTENDED_RESPONSE = 0x78;
/** Context tags of PasswordPolicyResponseValue (draft-behera-ldap-password-policy-10 §6.2). */
const PPOLICY_ERROR = 0x81;

const SHORT_LENGTHS = Array.from({ length: 0x80 }, (_, n) => Buffer.from([n]));

function lengthOctets(length: number): Buffer {
  if (length < 0x80) return SHORT_LENGTHS[length]!;
  if (length < 0x100) return Buffer.from([0x81, length]);
  if (length < 0x10000) return Buffer.from([0x82, length >> 8, length & 0xff]);
  if (length < 0x1000000) return Buffer.from([0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]);
  const out = Buffer.alloc(5);
  out[0] = 0x84;
  out.writeUInt32BE(length, 1);
  return out;
}

function tlv(tag: number, parts: readonly Buffer[]): Buffer {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return Buffer.concat([Buffer.from([tag]), lengthOctets(length), ...parts]);
}

/** A SEQUENCE of encoded elements. */
export const sequence = (parts: readonly Buffer[]): Buffer => tlv(SEQUENCE, parts);

const octets = (value: string | Buffer) => tlv(OCTET_STRING, [typeof value === 'string' ? Buffer.from(value, 'utf8') : value]);

/** A non-negative INTEGER (message IDs, RFC 4511 §4.1.1: 0..2^31-1) or ENUMERATED. */
function integer(tag: number, value: number): Buffer {
  // Content octets: big-endian, with a leading 0 when the top bit is set (else it reads negative).
  const size = value < 0x80 ? 1 : value < 0x8000 ? 2 : value < 0x800000 ? 3 : value < 0x80000000 ? 4 : 5;
  const out = Buffer.allocUnsafe(2 + size);
  out[0] = tag;
  out[1] = size;
  let v = value;
  for (let i = size - 1; i >= 0; i--) {
    out[2 + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  return out;
}

/** The protocolOp of a SearchResultEntry (RFC 4511 §4.5.2). */
export function searchResultEntryOp(dn: string, attributes: ReadonlyArray<{ type: string; values: readonly string[] }>): Buffer {
  const partials = attributes.map((a) => tlv(SEQUENCE, [octets(a.type), tlv(SET, a.values.map(octets))]));
  return tlv(SEARCH_RESULT_ENTRY, [octets(dn), tlv(SEQUENCE, partials)]);
}

/**
 * A protocolOp that is just an LDAPResult (RFC 4511 §4.1.9), without referral: a SearchResultDone,
 * or a BindResponse without serverSaslCreds, an ExtendedResponse without responseName or value.
 */
export function resultOp(tag: number, status: number, matchedDN = '', diagnosticMessage = ''): Buffer {
  return tlv(tag, [integer(ENUMERATED, status), octets(matchedDN), octets(diagnosticMessage)]);
}

/** The protocolOp of a SearchResultDone (RFC 4511 §4.1.9 LDAPResult), without referral. */
export function searchResultDoneOp(status: number, matchedDN = '', diagnosticMessage = ''): Buffer {
  return resultOp(SEARCH_RESULT_DONE, status, matchedDN, diagnosticMessage);
}

/** The SearchResultDone of a search that succeeded, the same every time. */
export const SUCCESS_DONE: Buffer = searchResultDoneOp(0);

/** A control on a response message: its type and its encoded controlValue, if any. */
export interface ResponseControl {
  type: string;
  value?: Buffer;
}

/**
 * The `[0] Controls` of a response LDAPMessage (RFC 4511 §4.1.11), each `SEQUENCE { controlType,
 * controlValue }` with no criticality: it is `BOOLEAN DEFAULT FALSE`, should be FALSE on responses
 * (§4.1.11), and RFC 4511 §5.1 says a value equal to its default MUST be absent (some decoders read
 * an explicit `01 01 00` as TRUE).
 */
export function controlsOp(controls: readonly ResponseControl[]): Buffer {
  return tlv(CONTROLS, controls.map((c) => tlv(SEQUENCE, [octets(c.type), ...(c.value ? [octets(c.value)] : [])])));
}

/** RFC 2696 §2: realSearchControlValue ::= SEQUENCE { size INTEGER (0..maxInt), cookie OCTET STRING }. */
export function pagedResultsValue(size: number, cookie: Buffer): Buffer {
  return tlv(SEQUENCE, [integer(INTEGER, size), octets(cookie)]);
}

/**
 * draft-behera-ldap-password-policy-10 §6.2: PasswordPolicyResponseValue ::= SEQUENCE { warning [0]
 * CHOICE {…} OPTIONAL, error [1] ENUMERATED {…} OPTIONAL }. No warning is ever sent (Gatehouse has no
 * password expiry or grace logins); without an error the value is an empty SEQUENCE.
 */
export function passwordPolicyValue(error?: number): Buffer {
  return tlv(SEQUENCE, error === undefined ? [] : [integer(PPOLICY_ERROR, error)]);
}

/** One LDAPMessage: `messageId`, the protocolOp, and its controls (controlsOp) when it has any. */
export function responseMessage(messageId: number, op: Buffer, controls?: readonly ResponseControl[]): Buffer {
  const batch = new MessageBatch(messageId);
  batch.add(op, controls?.length ? controlsOp(controls) : undefined);
  return batch.take();
}

function lengthSize(length: number): number {
  return length < 0x80 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : length < 0x1000000 ? 4 : 5;
}

/**
 * LDAPMessages of one messageID around encoded protocolOps (a search's entries and its done),
 * written into one buffer when taken: one allocation and one system call for the lot.
 */
export class MessageBatch {
  private readonly id: Buffer;
  private ops: Buffer[] = [];
  /** Bytes the messages added so far take. */
  bytes = 0;
  constructor(messageId: number) {
    this.id = integer(INTEGER, messageId);
  }

  /** Adds a message: a protocolOp, followed by its controls (controlsOp) when it has any. */
  add(op: Buffer, controls?: Buffer): void {
    if (controls) op = Buffer.concat([op, controls]);
    this.ops.push(op);
    const body = this.id.length + op.length;
    this.bytes += 1 + lengthSize(body) + body;
  }

  get empty(): boolean {
    return this.ops.length === 0;
  }

  /** The messages added since the last take, encoded. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.bytes);
    let at = 0;
    for (const op of this.ops) {
      out[at++] = SEQUENCE;
      const header = lengthOctets(this.id.length + op.length);
      at += header.copy(out, at);
      at += this.id.copy(out, at);
      at += op.copy(out, at);
    }
    this.ops = [];
    this.bytes = 0;
    return out;
  }
}
