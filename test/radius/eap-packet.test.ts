/**
 * The EAP codec (protocols/radius/eap/packet.ts) and the EAP-TLS/TTLS/PEAP framing
 * (protocols/radius/eap/tls-fragments.ts): round trips, RFC 3579 §3.1 splitting and reassembly
 * across EAP-Message attributes, strict lengths, and the hostile fragment cases of issue 14
 * (TLS Message Length 0xFFFFFFFF, fragments beyond the declared length, out-of-order flags).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ATTR, CODE, decodePacket, encodeRequest } from '../../protocols/radius/codec.ts';
import {
  EAP_CODE, EAP_TYPE, EapDecodeError, decodeEap, eapFromAttributes, eapToAttributes, encodeEap, identityOf, nakTypes,
} from '../../protocols/radius/eap/packet.ts';
import { AVP_FLAG_MANDATORY, AVP_FLAG_VENDOR, AvpDecodeError, decodeAvps, encodeAvp, innerPap } from '../../protocols/radius/eap/ttls-avp.ts';
import {
  FLAG_LENGTH, FLAG_MORE, FLAG_START, Reassembler, TlsFrameError, encodeTlsFrame, fragment, isAck, parseTlsFrame,
} from '../../protocols/radius/eap/tls-fragments.ts';

describe('EAP packets (RFC 3748 §4)', () => {
  it('decodes an EAP-Response/Identity and re-encodes it byte for byte', () => {
    const wire = Buffer.from([2, 7, 0, 14, 1, ...Buffer.from('anonymous')]);
    const packet = decodeEap(wire);
    expect(packet).toEqual({ code: EAP_CODE.Response, identifier: 7, type: EAP_TYPE.Identity, data: Buffer.from('anonymous') });
    expect(encodeEap(packet)).toEqual(wire);
    if (packet.code === EAP_CODE.Response) expect(identityOf(packet.data)).toBe('anonymous');
  });

  it('encodes Success and Failure as 4 octets', () => {
    expect(encodeEap({ code: EAP_CODE.Success, identifier: 9 })).toEqual(Buffer.from([3, 9, 0, 4]));
    expect(encodeEap({ code: EAP_CODE.Failure, identifier: 9 })).toEqual(Buffer.from([4, 9, 0, 4]));
    expect(decodeEap(Buffer.from([3, 1, 0, 4]))).toEqual({ code: EAP_CODE.Success, identifier: 1 });
  });

  it('refuses malformed packets with EapDecodeError only', () => {
    const bad = [
      Buffer.alloc(0), Buffer.from([2, 1, 0]), // short header
      Buffer.from([2, 1, 0, 4]), // Response without Type
      Buffer.from([2, 1, 0, 9, 1, 0x61]), // Length beyond the octets
      Buffer.from([2, 1, 0, 5, 1, 0x61]), // octets beyond Length
      Buffer.from([3, 1, 0, 5, 0]), // Success with data
      Buffer.from([5, 1, 0, 5, 1]), // unknown code
      Buffer.from([2, 1, 0, 5, 0]), // Type 0
    ];
    for (const octets of bad) expect(() => decodeEap(octets)).toThrow(EapDecodeError);
  });

  it('reads a Nak\'s proposed types', () => {
    expect(nakTypes(Buffer.from([21, 25]))).toEqual([21, 25]);
    expect(nakTypes(Buffer.from([0]))).toEqual([]);
    expect(() => nakTypes(Buffer.alloc(0))).toThrow(EapDecodeError);
  });

  it('splits a long packet into 253-octet EAP-Message attributes and reassembles it from a RADIUS packet (RFC 3579 §3.1)', () => {
    const eap = encodeEap({ code: EAP_CODE.Response, identifier: 3, type: EAP_TYPE.Ttls, data: randomBytes(1000) });
    const attributes = eapToAttributes(eap);
    expect(attributes.map((a) => a.value.length)).toEqual([253, 253, 253, 246]);
    expect(attributes.every((a) => a.type === ATTR.EapMessage)).toBe(true);
    const datagram = encodeRequest({ code: CODE.AccessRequest, identifier: 1, secret: 'a long enough secret', messageAuthenticator: true, attributes: [{ type: ATTR.UserName, value: Buffer.from('x') }, ...attributes] });
    const decoded = eapFromAttributes(decodePacket(datagram));
    expect(decoded && encodeEap(decoded)).toEqual(eap);
    expect(eapFromAttributes({ attributes: [] })).toBeUndefined();
  });
});

describe('EAP-TLS framing (RFC 5216 §3.1-3.2)', () => {
  it('fragments to the MTU and reassembles, with ACKs between fragments', () => {
    const message = randomBytes(5000);
    const frames = fragment(message, 1024, 0);
    expect(frames.length).toBe(5);
    for (const f of frames) expect(f.length + 5).toBeLessThanOrEqual(1024);
    const first = parseTlsFrame(frames[0]!);
    expect(first.flags & (FLAG_LENGTH | FLAG_MORE)).toBe(FLAG_LENGTH | FLAG_MORE);
    expect(first.messageLength).toBe(5000);
    expect(parseTlsFrame(frames.at(-1)!).flags & FLAG_MORE).toBe(0);
    const r = new Reassembler();
    for (const f of frames.slice(0, -1)) expect(r.push(parseTlsFrame(f))).toEqual({ kind: 'more' });
    expect(r.push(parseTlsFrame(frames.at(-1)!))).toEqual({ kind: 'message', data: message });
    expect(r.pending).toBe(false);
  });

  it('puts the TTLS/PEAP version in the low bits and reads it back', () => {
    const [frame] = fragment(Buffer.from('hello tls record!'), 1024, 1);
    expect(parseTlsFrame(frame!).version).toBe(1);
  });

  it('takes an unfragmented message with or without L, and knows an ACK', () => {
    const r = new Reassembler();
    expect(r.push(parseTlsFrame(encodeTlsFrame(0, Buffer.from('abc'))))).toEqual({ kind: 'message', data: Buffer.from('abc') });
    expect(r.push(parseTlsFrame(encodeTlsFrame(0, Buffer.from('abc'), 3)))).toEqual({ kind: 'message', data: Buffer.from('abc') });
    const ack = parseTlsFrame(Buffer.from([0]));
    expect(isAck(ack)).toBe(true);
    expect(r.push(ack)).toEqual({ kind: 'ack' });
  });

  it('refuses the hostile cases', () => {
    const cases: [string, Buffer[]][] = [
      ['TLS Message Length 0xFFFFFFFF', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 0xffffffff)]],
      ['a declared length over the cap', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 64 * 1024 + 1)]],
      ['fragments beyond the declared length', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 150), encodeTlsFrame(0, randomBytes(100))]],
      ['M on a fragment that fills the declared length', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 150), encodeTlsFrame(FLAG_MORE, randomBytes(50))]],
      ['a message ending short of its declared length', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 300), encodeTlsFrame(0, randomBytes(100))]],
      ['a first fragment with M and no L', [encodeTlsFrame(FLAG_MORE, randomBytes(100))]],
      ['a later fragment declaring another length', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 300), encodeTlsFrame(FLAG_MORE, randomBytes(100), 400)]],
      ['an empty fragment inside a message', [encodeTlsFrame(FLAG_MORE, randomBytes(100), 300), encodeTlsFrame(0, Buffer.alloc(0))]],
      ['S from the peer', [encodeTlsFrame(FLAG_START, Buffer.alloc(0))]],
      ['a wrong L on an unfragmented message', [encodeTlsFrame(0, randomBytes(10), 11)]],
      ['L with no length octets', [Buffer.from([FLAG_LENGTH, 0, 0])]],
      ['no flags octet', [Buffer.alloc(0)]],
    ];
    for (const [name, frames] of cases) {
      const r = new Reassembler();
      expect(() => { for (const f of frames) r.push(parseTlsFrame(f)); }, name).toThrow(TlsFrameError);
    }
  });

  it('a bounded fuzz: random frames and mutated fragment sequences throw TlsFrameError or EapDecodeError only, and never hold more than the cap', () => {
    const cap = 8192;
    const good = fragment(randomBytes(6000), 600, 0);
    for (let round = 0; round < 3000; round++) {
      const r = new Reassembler(cap);
      const frames = round % 2 ? good.map((f) => Buffer.from(f)) : Array.from({ length: 1 + (round % 7) }, () => randomBytes(round % 40));
      const victim = frames[round % frames.length]!;
      if (victim.length) victim[round % victim.length] = victim[round % victim.length]! ^ (1 << (round % 8));
      try {
        for (const f of frames) {
          const out = r.push(parseTlsFrame(f));
          if (out.kind === 'message') expect(out.data.length).toBeLessThanOrEqual(cap);
        }
      } catch (error) {
        if (!(error instanceof TlsFrameError)) throw error;
      }
      try {
        decodeEap(randomBytes(round % 64));
      } catch (error) {
        if (!(error instanceof EapDecodeError)) throw error;
      }
    }
  });
});

describe('EAP-TTLS AVPs (RFC 5281 §10)', () => {
  it('encodes with the M flag and padding, decodes back, vendor AVPs included', () => {
    const user = encodeAvp({ code: 1, data: Buffer.from('alice') });
    expect(user).toEqual(Buffer.from([0, 0, 0, 1, AVP_FLAG_MANDATORY, 0, 0, 13, ...Buffer.from('alice'), 0, 0, 0]));
    const vendor = encodeAvp({ code: 7, vendorId: 311, mandatory: false, data: Buffer.from([1, 2]) });
    expect(vendor[4]).toBe(AVP_FLAG_VENDOR);
    const password = Buffer.alloc(16);
    password.write('secret');
    const avps = decodeAvps(Buffer.concat([user, vendor, encodeAvp({ code: 2, data: password })]));
    expect(avps.map((a) => [a.code, a.vendorId, a.mandatory])).toEqual([[1, undefined, true], [7, 311, false], [2, undefined, true]]);
    expect(innerPap(avps)).toEqual({ userName: 'alice', password: 'secret' });
    expect(innerPap(avps.slice(0, 2))).toBeUndefined();
  });

  it('takes a last AVP without its padding, refuses truncated and overrunning ones', () => {
    expect(decodeAvps(encodeAvp({ code: 1, data: Buffer.from('alice') }).subarray(0, 13))[0]!.data.toString()).toBe('alice');
    for (const bad of [Buffer.from([0, 0, 0, 1, 0x40, 0, 0]), Buffer.from([0, 0, 0, 1, 0x40, 0, 0, 7]), Buffer.from([0, 0, 0, 1, 0x40, 0, 0, 40, 1, 2]), Buffer.from([0, 0, 0, 1, 0xc0, 0, 0, 9, 1])]) {
      expect(() => decodeAvps(bad)).toThrow(AvpDecodeError);
    }
    expect(() => decodeAvps(Buffer.concat(Array.from({ length: 65 }, () => encodeAvp({ code: 9, data: Buffer.alloc(0) }))))).toThrow(AvpDecodeError);
  });
});
