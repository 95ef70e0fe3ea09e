/**
 * EAP packets (RFC 3748 §4) as RADIUS carries them (RFC 3579 §3.1): the codec the EAP layer reads
 * the supplicant's messages with and writes its own, and nothing else.
 *
 * - `eapFromAttributes(packet)`: the EAP-Message attributes of an Access-Request concatenated in
 *   order (RFC 3579 §3.1: "the EAP packet ... MAY be split across multiple EAP-Message attributes")
 *   and decoded; `undefined` when there is none.
 * - `decodeEap(octets)`: one EAP packet, strictly: the Length field must equal the octets received
 *   (RADIUS has no link-layer padding to ignore), Success/Failure are exactly 4 octets,
 *   Request/Response carry a Type; anything else throws `EapDecodeError` — and nothing else,
 *   whatever the bytes (test/radius/eap-fuzz.test.ts).
 * - `encodeEap(packet)` and `eapToAttributes(octets)`: the reply, split into EAP-Message attributes
 *   of at most 253 octets each.
 *
 * Method data is left undecoded (a method's own module reads it), except Identity (UTF-8 text,
 * §5.1) and Nak (the list of desired types, §5.3.1).
 */
import { ATTR, MAX_ATTRIBUTE_VALUE, type Attribute, attributeValues } from '../codec.ts';

/** EAP codes (RFC 3748 §4). */
export const EAP_CODE = { Request: 1, Response: 2, Success: 3, Failure: 4 } as const;

/** The EAP types this server knows (RFC 3748 §5, IANA "EAP Method Type Numbers"). */
export const EAP_TYPE = {
  Identity: 1,
  Notification: 2,
  Nak: 3,
  Md5Challenge: 4,
  Tls: 13,
  Ttls: 21,
  Peap: 25,
  MsChapV2: 26,
  Expanded: 254,
} as const;

/** RFC 3748 §4.1: a Request or Response is Code, Identifier, Length, Type. */
const REQUEST_HEADER = 5;
const HEADER = 4;
/**
 * The largest EAP packet accepted: an Access-Request is at most 4096 octets (RFC 2865 §3), so no
 * legitimate EAP packet carried in one is longer than this.
 */
export const MAX_EAP_LENGTH = 4096;

/** Bytes that are not one well-formed EAP packet: the conversation answers EAP-Failure / Access-Reject. */
export class EapDecodeError extends Error {
  override readonly name = 'EapDecodeError';
}

/** An EAP-Request or -Response: a Type and its data. */
export interface EapMessage {
  code: typeof EAP_CODE.Request | typeof EAP_CODE.Response;
  identifier: number;
  type: number;
  data: Buffer;
}
/** An EAP-Success or -Failure: no data. */
export interface EapResult {
  code: typeof EAP_CODE.Success | typeof EAP_CODE.Failure;
  identifier: number;
}
export type EapPacket = EapMessage | EapResult;

/** Decodes one EAP packet (RFC 3748 §4); `EapDecodeError` for anything malformed. */
export function decodeEap(octets: Buffer): EapPacket {
  if (octets.length < HEADER) throw new EapDecodeError(`EAP packet of ${octets.length} octets is shorter than its header`);
  if (octets.length > MAX_EAP_LENGTH) throw new EapDecodeError(`EAP packet of ${octets.length} octets exceeds ${MAX_EAP_LENGTH}`);
  const code = octets[0]!;
  const identifier = octets[1]!;
  const length = octets.readUInt16BE(2);
  if (length !== octets.length) throw new EapDecodeError(`EAP Length ${length} but ${octets.length} octets received`);
  switch (code) {
    case EAP_CODE.Success:
    case EAP_CODE.Failure:
      // RFC 3748 §4.2: Success and Failure have no data.
      if (length !== HEADER) throw new EapDecodeError(`EAP Success/Failure of length ${length}`);
      return { code, identifier };
    case EAP_CODE.Request:
    case EAP_CODE.Response: {
      if (length < REQUEST_HEADER) throw new EapDecodeError('EAP Request/Response without a Type');
      const type = octets[4]!;
      if (type === 0) throw new EapDecodeError('EAP Type 0 is reserved');
      return { code, identifier, type, data: Buffer.from(octets.subarray(REQUEST_HEADER)) };
    }
    default:
      throw new EapDecodeError(`unknown EAP code ${code}`);
  }
}

/** Encodes one EAP packet; a RangeError for a packet this server would never build (a bug, not input). */
export function encodeEap(packet: EapPacket): Buffer {
  if (!('type' in packet)) return Buffer.from([packet.code, packet.identifier & 0xff, 0, HEADER]);
  const length = REQUEST_HEADER + packet.data.length;
  if (length > MAX_EAP_LENGTH) throw new RangeError(`EAP packet of ${length} octets`);
  const out = Buffer.alloc(length);
  out[0] = packet.code;
  out[1] = packet.identifier & 0xff;
  out.writeUInt16BE(length, 2);
  out[4] = packet.type;
  packet.data.copy(out, REQUEST_HEADER);
  return out;
}

/**
 * The EAP packet in a RADIUS packet's EAP-Message attributes (RFC 3579 §3.1: concatenated in the
 * order received), decoded; `undefined` when the packet has none.
 */
export function eapFromAttributes(packet: { attributes: readonly Attribute[] }): EapPacket | undefined {
  const values = attributeValues(packet, ATTR.EapMessage);
  if (values.length === 0) return undefined;
  const total = values.reduce((sum, v) => sum + v.length, 0);
  if (total > MAX_EAP_LENGTH) throw new EapDecodeError(`EAP-Message attributes of ${total} octets`);
  return decodeEap(Buffer.concat(values, total));
}

/** An EAP packet as EAP-Message attributes of at most 253 octets each (RFC 3579 §3.1). */
export function eapToAttributes(octets: Buffer): Attribute[] {
  const out: Attribute[] = [];
  for (let i = 0; i < octets.length; i += MAX_ATTRIBUTE_VALUE) {
    out.push({ type: ATTR.EapMessage, value: Buffer.from(octets.subarray(i, i + MAX_ATTRIBUTE_VALUE)) });
  }
  return out;
}

/** The identity in an EAP-Response/Identity (RFC 3748 §5.1): UTF-8, a NUL ends it early (some peers append one). */
export function identityOf(data: Buffer): string {
  const nul = data.indexOf(0);
  return (nul === -1 ? data : data.subarray(0, nul)).toString('utf8');
}

/**
 * The types a Nak proposes (RFC 3748 §5.3.1): one or more octets, 0 meaning "no alternative".
 * An empty Nak is malformed.
 */
export function nakTypes(data: Buffer): number[] {
  if (data.length === 0) throw new EapDecodeError('empty Nak');
  return [...data].filter((t) => t !== 0);
}
