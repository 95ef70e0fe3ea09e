/**
 * A bounded fuzz of the RADIUS decoder (issue 13, hostile input): random and mutated datagrams —
 * malformed lengths, attribute overruns, zero-length attributes, 4096-octet packets, wrong codes —
 * never throw anything but RadiusDecodeError, and whatever decodes also survives the dictionary,
 * Message-Authenticator and authenticator checks without throwing.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ATTR, CODE, checkMessageAuthenticator, decodePacket, encodeRequest, RadiusDecodeError, tryDecodePacket, unhideUserPassword, verifyRequestAuthenticator } from '../../protocols/radius/codec.ts';
import { standardDictionary } from '../../protocols/radius/dictionary.ts';

const SECRET = 'fuzzing secret 1234';

function seeds(): Buffer[] {
  const dict = standardDictionary();
  return [
    encodeRequest({ code: CODE.AccessRequest, identifier: 1, secret: SECRET, userPassword: 'pw', attributes: [dict.encode('User-Name', 'alice'), dict.encode('Cisco-AVPair', 'a=b'), dict.encode('Tunnel-Type', 'VLAN', { tag: 1 })] }),
    encodeRequest({ code: CODE.AccountingRequest, identifier: 2, secret: SECRET, attributes: [dict.encode('Acct-Status-Type', 'Start'), dict.encode('Acct-Session-Id', 'x'), dict.encode('Framed-IPv6-Prefix', '2001:db8::/32')] }),
    encodeRequest({ code: CODE.AccessRequest, identifier: 3, secret: SECRET, attributes: Array.from({ length: 15 }, () => ({ type: ATTR.EapMessage, value: randomBytes(253) })) }),
  ];
}

function exercise(datagram: Buffer): void {
  let packet;
  // tryDecodePacket (the server's) agrees with decodePacket on every datagram.
  const tried = tryDecodePacket(datagram);
  try {
    packet = decodePacket(datagram);
  } catch (error) {
    if (!(error instanceof RadiusDecodeError)) throw error;
    expect(tried).toBeUndefined();
    return;
  }
  expect(tried).toEqual(packet);
  standardDictionary().decode(packet, { secret: SECRET, authenticator: packet.authenticator });
  if (packet.code === CODE.AccessRequest) checkMessageAuthenticator(packet, SECRET);
  if (packet.code === CODE.AccountingRequest || packet.code === CODE.CoARequest || packet.code === CODE.DisconnectRequest) {
    verifyRequestAuthenticator(packet, SECRET);
    checkMessageAuthenticator(packet, SECRET);
  }
  for (const a of packet.attributes) {
    if (a.type === ATTR.UserPassword) {
      try { unhideUserPassword(a.value, SECRET, packet.authenticator); } catch (error) { if (!(error instanceof RadiusDecodeError)) throw error; }
    }
  }
}

describe('decoder fuzz', () => {
  it('random datagrams of 0-4200 octets', () => {
    for (let i = 0; i < 3000; i++) {
      const datagram = randomBytes(Math.floor(Math.random() * 4200));
      // Half of them with a known code and a plausible Length, so the attribute walk is reached.
      if (i % 2 === 0 && datagram.length >= 20) {
        datagram[0] = [1, 2, 3, 4, 5, 11, 12, 40, 41, 43][i % 10]!;
        datagram.writeUInt16BE(Math.min(datagram.length, 4096 + (i % 3)), 2);
      }
      expect(() => exercise(datagram)).not.toThrow();
    }
  });

  it('mutations of valid packets: flipped octets, cut or stretched lengths, zero-length attributes', () => {
    for (const seed of seeds()) {
      for (let i = 0; i < 1500; i++) {
        const mutated = Buffer.from(seed);
        const flips = 1 + (i % 4);
        for (let f = 0; f < flips; f++) mutated[Math.floor(Math.random() * mutated.length)] = Math.floor(Math.random() * 256);
        if (i % 5 === 0) mutated.writeUInt16BE(Math.floor(Math.random() * 0x10000), 2);
        if (i % 7 === 0) mutated[21] = i % 3;
        const cut = i % 11 === 0 ? mutated.subarray(0, Math.floor(Math.random() * mutated.length)) : mutated;
        expect(() => exercise(cut)).not.toThrow();
      }
    }
  });
});
