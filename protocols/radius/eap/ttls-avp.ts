/**
 * The Diameter-style AVPs EAP-TTLS carries inside its TLS tunnel (RFC 5281 §10):
 *
 *   AVP Code (4 octets) | Flags: V M r r r r r r (1) | AVP Length (3, header and data, no padding)
 *   [Vendor-ID (4) when V] | Data | padding to a multiple of 4 octets
 *
 * RADIUS attributes travel as AVPs of the same number with Vendor-ID absent (RFC 5281 §10.3);
 * inner PAP is User-Name (1) and User-Password (2), the password padded with NULs to a multiple of
 * 16 octets (RFC 5281 §11.2.5). A malformed sequence throws `AvpDecodeError`, nothing else.
 */

export const AVP_FLAG_VENDOR = 0x80;
export const AVP_FLAG_MANDATORY = 0x40;

export interface Avp {
  code: number;
  vendorId: number | undefined;
  mandatory: boolean;
  data: Buffer;
}

export class AvpDecodeError extends Error {
  override readonly name = 'AvpDecodeError';
}

/** The most AVPs read from one message (a tunnel carries a handful). */
const MAX_AVPS = 64;

export function decodeAvps(octets: Buffer): Avp[] {
  const out: Avp[] = [];
  let offset = 0;
  while (offset < octets.length) {
    if (out.length >= MAX_AVPS) throw new AvpDecodeError(`more than ${MAX_AVPS} AVPs`);
    if (octets.length - offset < 8) throw new AvpDecodeError('truncated AVP header');
    const code = octets.readUInt32BE(offset);
    const flags = octets[offset + 4]!;
    const length = octets.readUIntBE(offset + 5, 3);
    const vendor = (flags & AVP_FLAG_VENDOR) !== 0;
    const header = vendor ? 12 : 8;
    if (length < header) throw new AvpDecodeError(`AVP length ${length} shorter than its header`);
    if (offset + length > octets.length) throw new AvpDecodeError('AVP runs past the message');
    const vendorId = vendor ? octets.readUInt32BE(offset + 8) : undefined;
    out.push({ code, vendorId, mandatory: (flags & AVP_FLAG_MANDATORY) !== 0, data: Buffer.from(octets.subarray(offset + header, offset + length)) });
    // RFC 5281 §10.2: each AVP is padded to a four-octet boundary; the last one's padding may be absent.
    offset += length + ((4 - (length % 4)) % 4);
  }
  return out;
}

export function encodeAvp(avp: { code: number; vendorId?: number; mandatory?: boolean; data: Buffer }): Buffer {
  const header = avp.vendorId !== undefined ? 12 : 8;
  const length = header + avp.data.length;
  const out = Buffer.alloc(length + ((4 - (length % 4)) % 4));
  out.writeUInt32BE(avp.code, 0);
  out[4] = (avp.vendorId !== undefined ? AVP_FLAG_VENDOR : 0) | (avp.mandatory ?? true ? AVP_FLAG_MANDATORY : 0);
  out.writeUIntBE(length, 5, 3);
  if (avp.vendorId !== undefined) out.writeUInt32BE(avp.vendorId, 8);
  avp.data.copy(out, header);
  return out;
}

/** Inner PAP (RFC 5281 §11.2.5): User-Name and User-Password (trailing NULs removed), or undefined if either is missing. */
export function innerPap(avps: readonly Avp[]): { userName: string; password: string } | undefined {
  const find = (code: number) => avps.find((a) => a.code === code && a.vendorId === undefined)?.data;
  const name = find(1);
  const password = find(2);
  if (name === undefined || password === undefined) return undefined;
  let end = password.length;
  while (end > 0 && password[end - 1] === 0) end--;
  return { userName: name.toString('utf8'), password: password.subarray(0, end).toString('utf8') };
}
