/**
 * RADIUS packets, written here rather than taken from the `radius` npm package (issue 13: it is
 * unmaintained, never requires Message-Authenticator, puts it last in replies and compares
 * authenticators through a lossy string conversion, not in constant time).
 *
 * What this module does, and only this: the wire format (RFC 2865 §3 and §5), the three kinds of
 * authenticator (Request Authenticator of Accounting-, Disconnect- and CoA-Requests, RFC 2866 §3 and
 * RFC 5176 §3.1; Response Authenticator, RFC 2865 §3; Message-Authenticator, RFC 3579 §3.2 and
 * RFC 5176 §3.1), User-Password hiding (RFC 2865 §5.2) and the salted hiding of Tunnel-Password and
 * MS-MPPE keys (RFC 2868 §3.5, RFC 2548 §2.4.2). Names of attributes and typed values are the
 * dictionary's (dictionary.ts); this module works with attribute numbers and raw octets.
 *
 * The API, stable for the front-end and for accounting / Disconnect (RFC 5176):
 *
 * - `decodePacket(datagram)` → `Packet` (code, identifier, authenticator, attributes, raw) or throws
 *   `RadiusDecodeError` — and nothing else, whatever the bytes (test/radius/codec-fuzz.test.ts).
 * - `decodeVendorSpecific(value)` → the sub-attributes of one Vendor-Specific attribute.
 * - `encodeRequest({ code, identifier, attributes, secret, messageAuthenticator?, userPassword? })`
 *   → the datagram, its authenticator computed as the code requires.
 * - `encodeResponse({ code, identifier, requestAuthenticator, attributes, secret })` → the datagram;
 *   Access-Accept/Reject/Challenge always carry Message-Authenticator as their first attribute.
 * - `checkMessageAuthenticator(packet, secret, requestAuthenticator?)` → 'absent' | 'valid' | 'invalid'.
 * - `verifyRequestAuthenticator(packet, secret)` (Accounting-, Disconnect-, CoA-Request) and
 *   `verifyResponseAuthenticator(response, requestAuthenticator, secret)`: booleans, constant time.
 * - `hideUserPassword` / `unhideUserPassword`, `hideSalted` / `unhideSalted`.
 * - `attributeValue(packet, type)`, `attributeValues(packet, type)`: the raw values of one type.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5997, RFC 5176 §2.3). */
export const CODE = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  StatusClient: 13,
  DisconnectRequest: 40,
  DisconnectACK: 41,
  DisconnectNAK: 42,
  CoARequest: 43,
  CoAACK: 44,
  CoANAK: 45,
} as const;
export type CodeName = keyof typeof CODE;

const CODE_NAMES = new Map<number, CodeName>(Object.entries(CODE).map(([name, code]) => [code, name as CodeName]));

/** The name of a packet code (`AccessRequest`), or undefined for a code this codec does not know. */
export function codeName(code: number): CodeName | undefined {
  return CODE_NAMES.get(code);
}

/** Attribute numbers the protocol logic refers to directly (the dictionary has them all by name). */
export const ATTR = {
  UserName: 1,
  UserPassword: 2,
  ChapPassword: 3,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedIpAddress: 8,
  FilterId: 11,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  AcctStatusType: 40,
  AcctSessionId: 44,
  TunnelType: 64,
  TunnelMediumType: 65,
  TunnelPassword: 69,
  EapMessage: 79,
  MessageAuthenticator: 80,
  TunnelPrivateGroupId: 81,
  NasIpv6Address: 95,
  ErrorCause: 101,
} as const;

/** RFC 2865 §3: a packet is 20 to 4096 octets. */
export const HEADER_LENGTH = 20;
export const MAX_PACKET_LENGTH = 4096;
/** RFC 2865 §5: an attribute's Length octet counts type and length, so a value is at most 253 octets. */
export const MAX_ATTRIBUTE_VALUE = 253;
const AUTHENTICATOR_LENGTH = 16;
const ZERO_AUTHENTICATOR = Buffer.alloc(AUTHENTICATOR_LENGTH);

/** One attribute as on the wire: its type and its value octets (a Vendor-Specific one undivided). */
export interface Attribute {
  readonly type: number;
  readonly value: Buffer;
}

/** One sub-attribute of a Vendor-Specific attribute in the RFC 2865 §5.26 layout. */
export interface VendorAttribute {
  readonly vendorId: number;
  readonly type: number;
  readonly value: Buffer;
}

export interface Packet {
  readonly code: number;
  readonly identifier: number;
  /** The Authenticator field as received (16 octets). */
  readonly authenticator: Buffer;
  readonly attributes: readonly Attribute[];
  /** The packet's octets up to its Length field (what authenticators are computed over; padding cut). */
  readonly raw: Buffer;
}

/** A datagram that is not a well-formed RADIUS packet: RFC 2865 §3 says to drop it silently. */
export class RadiusDecodeError extends Error {
  override readonly name = 'RadiusDecodeError';
}

/** The codes a server acts on are known codes; anything else is dropped (RFC 2865 §3, "Code"). */
function knownCode(code: number): boolean {
  return CODE_NAMES.has(code);
}

/**
 * Parses one datagram. Octets beyond the Length field are padding and ignored; a datagram shorter
 * than its Length field, a Length outside 20–4096, an attribute whose length is under 3 (RFC 8044
 * §3: no zero-length values, send no attribute instead) or runs past the packet, a
 * Message-Authenticator that is not 16 octets, or an unknown code: `RadiusDecodeError`.
 */
export function decodePacket(datagram: Buffer): Packet {
  if (datagram.length < HEADER_LENGTH) throw new RadiusDecodeError(`datagram of ${datagram.length} octets is shorter than a RADIUS header`);
  const code = datagram[0]!;
  const identifier = datagram[1]!;
  const length = datagram.readUInt16BE(2);
  if (length < HEADER_LENGTH || length > MAX_PACKET_LENGTH) throw new RadiusDecodeError(`Length field ${length} is outside ${HEADER_LENGTH}-${MAX_PACKET_LENGTH}`);
  if (datagram.length < length) throw new RadiusDecodeError(`Length field ${length} exceeds the ${datagram.length} octets received`);
  if (!knownCode(code)) throw new RadiusDecodeError(`unknown packet code ${code}`);
  const raw = datagram.length === length ? datagram : datagram.subarray(0, length);
  const attributes: Attribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < length) {
    if (length - offset < 2) throw new RadiusDecodeError(`truncated attribute header at offset ${offset}`);
    const type = raw[offset]!;
    const attributeLength = raw[offset + 1]!;
    if (attributeLength < 3) throw new RadiusDecodeError(`attribute ${type} at offset ${offset} has length ${attributeLength} (at least 3)`);
    if (offset + attributeLength > length) throw new RadiusDecodeError(`attribute ${type} at offset ${offset} runs past the packet`);
    const value = raw.subarray(offset + 2, offset + attributeLength);
    if (type === ATTR.MessageAuthenticator && value.length !== AUTHENTICATOR_LENGTH) {
      throw new RadiusDecodeError(`Message-Authenticator of ${value.length} octets (RFC 3579 §3.2: 16)`);
    }
    attributes.push({ type, value });
    offset += attributeLength;
  }
  return { code, identifier, authenticator: raw.subarray(4, HEADER_LENGTH), attributes, raw };
}

/**
 * The sub-attributes of a Vendor-Specific attribute's value: a 4-octet Vendor-Id whose high octet
 * is 0, then type / length / value triples (RFC 2865 §5.26). Throws `RadiusDecodeError` when the
 * layout does not hold (a vendor with another layout is then read as opaque octets by the caller).
 */
export function decodeVendorSpecific(value: Buffer): VendorAttribute[] {
  if (value.length < 4 + 3) throw new RadiusDecodeError(`Vendor-Specific value of ${value.length} octets`);
  if (value[0] !== 0) throw new RadiusDecodeError('Vendor-Specific Vendor-Id high octet is not 0');
  const vendorId = value.readUInt32BE(0);
  const out: VendorAttribute[] = [];
  let offset = 4;
  while (offset < value.length) {
    if (value.length - offset < 2) throw new RadiusDecodeError('truncated vendor attribute header');
    const type = value[offset]!;
    const subLength = value[offset + 1]!;
    if (subLength < 3) throw new RadiusDecodeError(`vendor ${vendorId} attribute ${type} has length ${subLength}`);
    if (offset + subLength > value.length) throw new RadiusDecodeError(`vendor ${vendorId} attribute ${type} runs past its Vendor-Specific attribute`);
    out.push({ vendorId, type, value: value.subarray(offset + 2, offset + subLength) });
    offset += subLength;
  }
  return out;
}

/** A Vendor-Specific attribute carrying the given sub-attributes of one vendor (RFC 2865 §5.26). */
export function encodeVendorSpecific(vendorId: number, subAttributes: readonly { type: number; value: Buffer }[]): Attribute {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32BE(vendorId);
  parts.push(head);
  for (const sub of subAttributes) {
    if (sub.value.length === 0 || sub.value.length > MAX_ATTRIBUTE_VALUE - 6) throw new RangeError(`vendor ${vendorId} attribute ${sub.type}: value of ${sub.value.length} octets`);
    parts.push(Buffer.from([sub.type, sub.value.length + 2]), sub.value);
  }
  const value = Buffer.concat(parts);
  if (value.length > MAX_ATTRIBUTE_VALUE) throw new RangeError(`Vendor-Specific value of ${value.length} octets`);
  return { type: ATTR.VendorSpecific, value };
}

/** The first value of an attribute type, or undefined. */
export function attributeValue(packet: Pick<Packet, 'attributes'>, type: number): Buffer | undefined {
  for (const attribute of packet.attributes) if (attribute.type === type) return attribute.value;
  return undefined;
}

/** Every value of an attribute type, in packet order (EAP-Message, Class, Proxy-State, Reply-Message). */
export function attributeValues(packet: Pick<Packet, 'attributes'>, type: number): Buffer[] {
  return packet.attributes.filter((a) => a.type === type).map((a) => a.value);
}

function secretBytes(secret: Buffer | string): Buffer {
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
}

function encodeAttributes(attributes: readonly Attribute[]): Buffer {
  const parts: Buffer[] = [];
  for (const { type, value } of attributes) {
    if (!Number.isInteger(type) || type < 1 || type > 255) throw new RangeError(`attribute type ${type}`);
    if (value.length === 0 || value.length > MAX_ATTRIBUTE_VALUE) throw new RangeError(`attribute ${type}: value of ${value.length} octets (1-${MAX_ATTRIBUTE_VALUE})`);
    parts.push(Buffer.from([type, value.length + 2]), value);
  }
  return Buffer.concat(parts);
}

/** Header and attributes, the Authenticator field as given; the caller then fills authenticators in. */
function assemble(code: number, identifier: number, authenticator: Buffer, attributes: readonly Attribute[]): Buffer {
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) throw new RangeError(`identifier ${identifier}`);
  const body = encodeAttributes(attributes);
  const length = HEADER_LENGTH + body.length;
  if (length > MAX_PACKET_LENGTH) throw new RangeError(`packet of ${length} octets exceeds ${MAX_PACKET_LENGTH}`);
  const out = Buffer.alloc(length);
  out[0] = code;
  out[1] = identifier;
  out.writeUInt16BE(length, 2);
  authenticator.copy(out, 4);
  body.copy(out, HEADER_LENGTH);
  return out;
}

/** The offset of the Message-Authenticator's value in a packet's octets, or -1 (several: -2). */
function messageAuthenticatorOffset(raw: Buffer): number {
  let found = -1;
  let offset = HEADER_LENGTH;
  const length = raw.readUInt16BE(2);
  while (offset + 2 <= length) {
    const type = raw[offset]!;
    const attributeLength = raw[offset + 1]!;
    if (attributeLength < 2) return -1;
    if (type === ATTR.MessageAuthenticator) {
      if (found !== -1) return -2;
      found = offset + 2;
    }
    offset += attributeLength;
  }
  return found;
}

/** HMAC-MD5 over the packet with the Authenticator field set to `authenticator` and the MA value zeroed (RFC 3579 §3.2). */
function hmacOver(raw: Buffer, maOffset: number, authenticator: Buffer, secret: Buffer): Buffer {
  const copy = Buffer.from(raw);
  authenticator.copy(copy, 4);
  copy.fill(0, maOffset, maOffset + AUTHENTICATOR_LENGTH);
  return createHmac('md5', secret).update(copy).digest();
}

function md5(...parts: Buffer[]): Buffer {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** Which codes' Request Authenticator is the MD5 of the packet rather than random (RFC 2866 §3, RFC 5176 §3.1). */
function requestAuthenticatorIsComputed(code: number): boolean {
  return code === CODE.AccountingRequest || code === CODE.DisconnectRequest || code === CODE.CoARequest;
}

function isRequestCode(code: number): boolean {
  return code === CODE.AccessRequest || code === CODE.StatusServer || requestAuthenticatorIsComputed(code);
}

/**
 * The authenticator a Message-Authenticator of this packet is computed with: an Access-Request's or
 * Status-Server's own; 16 zero octets for Accounting-, Disconnect- and CoA-Requests (RFC 5176 §3.1,
 * as FreeRADIUS computes it); the request's for any response (RFC 3579 §3.2).
 */
function macAuthenticator(code: number, own: Buffer, requestAuthenticator: Buffer | undefined): Buffer {
  if (code === CODE.AccessRequest || code === CODE.StatusServer) return own;
  if (requestAuthenticatorIsComputed(code)) return ZERO_AUTHENTICATOR;
  if (!requestAuthenticator || requestAuthenticator.length !== AUTHENTICATOR_LENGTH) {
    throw new TypeError('a response\'s Message-Authenticator is checked with its request\'s authenticator');
  }
  return requestAuthenticator;
}

export interface RequestDraft {
  code: number;
  identifier: number;
  attributes: readonly Attribute[];
  secret: Buffer | string;
  /** Add a Message-Authenticator (first attribute). Access-Request: default true; others: default false. */
  messageAuthenticator?: boolean;
  /** Access-Request only: the password, hidden with the packet's authenticator and appended as User-Password. */
  userPassword?: Buffer | string;
  /** Access-Request / Status-Server only: the Request Authenticator (default 16 random octets; tests pin it). */
  authenticator?: Buffer;
}

/**
 * A request datagram. Access-Request and Status-Server: a random Request Authenticator (RFC 2865
 * §3), Message-Authenticator by default (BlastRADIUS). Accounting-, Disconnect- and CoA-Request: the
 * Authenticator is MD5(Code + Identifier + Length + 16 zero octets + Attributes + secret), computed
 * after an optional Message-Authenticator, which is computed with the zero Authenticator.
 */
export function encodeRequest(draft: RequestDraft): Buffer {
  const { code } = draft;
  if (!isRequestCode(code)) throw new RangeError(`code ${code} is not a request`);
  if (draft.attributes.some((a) => a.type === ATTR.MessageAuthenticator)) throw new RangeError('Message-Authenticator is added by the codec');
  const secret = secretBytes(draft.secret);
  const computed = requestAuthenticatorIsComputed(code);
  const withMac = draft.messageAuthenticator ?? (code === CODE.AccessRequest || code === CODE.StatusServer);
  const authenticator = computed ? ZERO_AUTHENTICATOR : (draft.authenticator ?? randomBytes(AUTHENTICATOR_LENGTH));
  if (authenticator.length !== AUTHENTICATOR_LENGTH) throw new RangeError('an authenticator is 16 octets');
  const attributes: Attribute[] = [];
  if (withMac) attributes.push({ type: ATTR.MessageAuthenticator, value: ZERO_AUTHENTICATOR });
  attributes.push(...draft.attributes);
  if (draft.userPassword !== undefined) {
    if (code !== CODE.AccessRequest) throw new RangeError('User-Password belongs in an Access-Request');
    attributes.push({ type: ATTR.UserPassword, value: hideUserPassword(draft.userPassword, secret, authenticator) });
  }
  const out = assemble(code, draft.identifier, authenticator, attributes);
  if (withMac) {
    const mac = hmacOver(out, HEADER_LENGTH + 2, authenticator, secret);
    mac.copy(out, HEADER_LENGTH + 2);
  }
  if (computed) md5(out, secret).copy(out, 4);
  return out;
}

export interface ResponseDraft {
  code: number;
  identifier: number;
  /** The Request Authenticator of the request answered. */
  requestAuthenticator: Buffer;
  attributes: readonly Attribute[];
  secret: Buffer | string;
  /**
   * Add a Message-Authenticator as the first attribute. Always on for Access-Accept, -Reject and
   * -Challenge (BlastRADIUS, CVE-2024-3596; draft-ietf-radext-deprecating-radius); default off for
   * the others.
   */
  messageAuthenticator?: boolean;
}

/** Codes whose responses always carry a Message-Authenticator, first. */
function accessResponse(code: number): boolean {
  return code === CODE.AccessAccept || code === CODE.AccessReject || code === CODE.AccessChallenge;
}

/**
 * A response datagram: Message-Authenticator first (computed with the request's authenticator in
 * the Authenticator field, RFC 3579 §3.2), then Response Authenticator = MD5(Code + Identifier +
 * Length + Request Authenticator + Attributes + secret) (RFC 2865 §3).
 */
export function encodeResponse(draft: ResponseDraft): Buffer {
  const { code } = draft;
  if (isRequestCode(code) || !knownCode(code)) throw new RangeError(`code ${code} is not a response`);
  if (draft.requestAuthenticator.length !== AUTHENTICATOR_LENGTH) throw new RangeError('an authenticator is 16 octets');
  if (draft.attributes.some((a) => a.type === ATTR.MessageAuthenticator)) throw new RangeError('Message-Authenticator is added by the codec');
  const secret = secretBytes(draft.secret);
  const withMac = accessResponse(code) || draft.messageAuthenticator === true;
  const attributes: Attribute[] = withMac ? [{ type: ATTR.MessageAuthenticator, value: ZERO_AUTHENTICATOR }, ...draft.attributes] : [...draft.attributes];
  const out = assemble(code, draft.identifier, draft.requestAuthenticator, attributes);
  if (withMac) hmacOver(out, HEADER_LENGTH + 2, draft.requestAuthenticator, secret).copy(out, HEADER_LENGTH + 2);
  md5(out, secret).copy(out, 4);
  return out;
}

export type MessageAuthenticatorCheck = 'absent' | 'valid' | 'invalid';

/**
 * Checks a packet's Message-Authenticator (RFC 3579 §3.2; RFC 5176 §3.1 for Disconnect/CoA and, as
 * FreeRADIUS does, Accounting-Request) in constant time. Several Message-Authenticators: invalid.
 * For a response, pass the authenticator of the request it answers.
 */
export function checkMessageAuthenticator(packet: Packet, secret: Buffer | string, requestAuthenticator?: Buffer): MessageAuthenticatorCheck {
  const offset = messageAuthenticatorOffset(packet.raw);
  if (offset === -1) return 'absent';
  if (offset === -2) return 'invalid';
  const expected = hmacOver(packet.raw, offset, macAuthenticator(packet.code, packet.authenticator, requestAuthenticator), secretBytes(secret));
  return timingSafeEqual(expected, packet.raw.subarray(offset, offset + AUTHENTICATOR_LENGTH)) ? 'valid' : 'invalid';
}

/** Accounting-, Disconnect- and CoA-Request: the Request Authenticator is MD5 of the packet with 16 zero octets in its place + secret. */
export function verifyRequestAuthenticator(packet: Packet, secret: Buffer | string): boolean {
  if (!requestAuthenticatorIsComputed(packet.code)) throw new TypeError(`code ${packet.code} has a random Request Authenticator`);
  const copy = Buffer.from(packet.raw);
  copy.fill(0, 4, HEADER_LENGTH);
  return timingSafeEqual(md5(copy, secretBytes(secret)), packet.authenticator);
}

/** A response's Response Authenticator (RFC 2865 §3), for the client side (tests, Disconnect/CoA). */
export function verifyResponseAuthenticator(response: Packet, requestAuthenticator: Buffer, secret: Buffer | string): boolean {
  if (requestAuthenticator.length !== AUTHENTICATOR_LENGTH) return false;
  const copy = Buffer.from(response.raw);
  requestAuthenticator.copy(copy, 4);
  return timingSafeEqual(md5(copy, secretBytes(secret)), response.authenticator);
}

/**
 * RFC 2865 §5.2: the password NUL-padded to a multiple of 16 octets (at most 128), each block XORed
 * with MD5(secret + previous cipher block), the first with MD5(secret + Request Authenticator).
 */
export function hideUserPassword(password: Buffer | string, secret: Buffer | string, authenticator: Buffer): Buffer {
  const plain = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (plain.length > 128) throw new RangeError('User-Password is at most 128 octets');
  const padded = Buffer.alloc(Math.max(16, Math.ceil(plain.length / 16) * 16));
  plain.copy(padded);
  const key = secretBytes(secret);
  const out = Buffer.alloc(padded.length);
  let previous: Buffer = authenticator;
  for (let i = 0; i < padded.length; i += 16) {
    const b = md5(key, previous);
    for (let j = 0; j < 16; j++) out[i + j] = padded[i + j]! ^ b[j]!;
    previous = out.subarray(i, i + 16);
  }
  return out;
}

/** The reverse of hideUserPassword; trailing NULs removed. A value not 16–128 octets in blocks of 16: `RadiusDecodeError`. */
export function unhideUserPassword(value: Buffer, secret: Buffer | string, authenticator: Buffer): Buffer {
  if (value.length < 16 || value.length > 128 || value.length % 16 !== 0) throw new RadiusDecodeError(`User-Password of ${value.length} octets (16-128, a multiple of 16)`);
  const key = secretBytes(secret);
  const out = Buffer.alloc(value.length);
  let previous: Buffer = authenticator;
  for (let i = 0; i < value.length; i += 16) {
    const b = md5(key, previous);
    for (let j = 0; j < 16; j++) out[i + j] = value[i + j]! ^ b[j]!;
    previous = value.subarray(i, i + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}

/**
 * The salted hiding of Tunnel-Password (RFC 2868 §3.5) and MS-MPPE-Send/Recv-Key (RFC 2548 §2.4.2):
 * Salt (2 octets, high bit set, unique per attribute) + the hidden String, where String's plain text
 * is one length octet, the data, and NUL padding to 16; the first block keyed MD5(secret + Request
 * Authenticator + Salt). Returns Salt + String (without the tag octet a tagged attribute adds).
 */
export function hideSalted(data: Buffer, secret: Buffer | string, requestAuthenticator: Buffer, salt: Buffer = saltOctets()): Buffer {
  if (data.length > 239) throw new RangeError('salted value of more than 239 octets');
  const plain = Buffer.alloc(Math.ceil((data.length + 1) / 16) * 16);
  plain[0] = data.length;
  data.copy(plain, 1);
  const key = secretBytes(secret);
  const out = Buffer.alloc(plain.length);
  let previous: Buffer = Buffer.concat([requestAuthenticator, salt]);
  for (let i = 0; i < plain.length; i += 16) {
    const b = md5(key, previous);
    for (let j = 0; j < 16; j++) out[i + j] = plain[i + j]! ^ b[j]!;
    previous = out.subarray(i, i + 16);
  }
  return Buffer.concat([salt, out]);
}

export function unhideSalted(value: Buffer, secret: Buffer | string, requestAuthenticator: Buffer): Buffer {
  if (value.length < 18 || (value.length - 2) % 16 !== 0) throw new RadiusDecodeError(`salted value of ${value.length} octets`);
  const salt = value.subarray(0, 2);
  const cipher = value.subarray(2);
  const key = secretBytes(secret);
  const out = Buffer.alloc(cipher.length);
  let previous: Buffer = Buffer.concat([requestAuthenticator, salt]);
  for (let i = 0; i < cipher.length; i += 16) {
    const b = md5(key, previous);
    for (let j = 0; j < 16; j++) out[i + j] = cipher[i + j]! ^ b[j]!;
    previous = cipher.subarray(i, i + 16);
  }
  const length = out[0]!;
  if (length > out.length - 1) throw new RadiusDecodeError('salted value\'s length octet exceeds its data');
  return out.subarray(1, 1 + length);
}

function saltOctets(): Buffer {
  const salt = randomBytes(2);
  salt[0] = salt[0]! | 0x80;
  return salt;
}
