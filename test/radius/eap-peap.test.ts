/**
 * PEAPv0 phase 2 (protocols/radius/eap/peap.ts) without the tunnel: the compressed inner EAP
 * framing, the MSCHAPv2 packets (the peer's Response built here with RFC 2759's own computations),
 * the EAP-TLV Result exchange, and hostile input: every malformed inner message is a PeapError,
 * never a crash, and the sign-in is asked only once per conversation.
 */
import { describe, expect, it } from 'vitest';
import { ntPasswordHash, ntResponse } from '../../src/credentials/mschapv2.ts';
import type { Group } from '../../src/directory/model.ts';
import { EAP_TYPE } from '../../protocols/radius/eap/packet.ts';
import { MSCHAP_OP, PeapError, PeapPhase2, mschapPacket, parseMschapResponse, peerResult, resultTlv, type MschapVerify } from '../../protocols/radius/eap/peap.ts';

const PASSWORD = 'abcd-efgh-jkmn-pqrs-tuvw';

/** The peer's compressed MSCHAPv2 Response to a Challenge (draft-kamath §2.2). */
function peerResponse(challengeMessage: Buffer, name: string, password = PASSWORD): { data: Buffer; peerChallenge: Buffer; nt: Buffer } {
  expect(challengeMessage[0]).toBe(EAP_TYPE.MsChapV2);
  expect(challengeMessage[1]).toBe(MSCHAP_OP.Challenge);
  expect(challengeMessage.readUInt16BE(3)).toBe(challengeMessage.length - 1); // MS-Length from the OpCode on
  expect(challengeMessage[5]).toBe(16);
  const id = challengeMessage[2]!;
  const authChallenge = challengeMessage.subarray(6, 22);
  const peerChallenge = Buffer.alloc(16, 7);
  const bare = name.slice(name.lastIndexOf('\\') + 1);
  const nt = ntResponse(authChallenge, peerChallenge, bare, ntPasswordHash(password));
  const value = Buffer.concat([peerChallenge, Buffer.alloc(8), nt, Buffer.from([0])]);
  return { data: Buffer.concat([Buffer.from([EAP_TYPE.MsChapV2]), mschapPacket(MSCHAP_OP.Response, id, Buffer.concat([Buffer.from([49]), value, Buffer.from(name)]))]), peerChallenge, nt };
}

const peerTlv = (success: boolean) => resultTlv(2, 9, success);

describe('PEAPv0 phase 2', () => {
  it('Identity, Challenge, Response to the sign-in, Success with S=, Result TLV both ways: accept for the inner name', async () => {
    const phase2 = new PeapPhase2();
    expect(phase2.start()).toEqual(Buffer.from([EAP_TYPE.Identity])); // compressed: no Code/Id/Length
    expect(() => phase2.start()).toThrow(PeapError);
    const challenge = await phase2.receive(Buffer.from([EAP_TYPE.Identity, ...Buffer.from('alice')]), async () => ({ ok: false }));
    if (challenge.kind !== 'send') throw new Error('expected a Challenge');
    const response = peerResponse(challenge.data, 'CORP\\alice');
    let asked = 0;
    // The decision's groups ride along to the accept: the reply attributes come from them (handler.ts).
    const groups = [{ id: 'g-1', name: 'wifi' }] as unknown as Group[];
    const verify: MschapVerify = async (r, authChallenge) => {
      asked++;
      expect(r.name).toBe('alice'); // the domain dropped
      expect(r.ntResponse).toEqual(response.nt);
      expect(authChallenge).toEqual(challenge.data.subarray(6, 22));
      return { ok: true, authenticatorResponse: 'S=0123456789ABCDEF0123456789ABCDEF01234567', userId: 'u-1', groups };
    };
    const success = await phase2.receive(response.data, verify);
    if (success.kind !== 'send') throw new Error('expected a Success');
    expect(success.data[1]).toBe(MSCHAP_OP.Success);
    expect(success.data.subarray(5).toString()).toBe('S=0123456789ABCDEF0123456789ABCDEF01234567 M=OK');
    const tlv = await phase2.receive(Buffer.from([EAP_TYPE.MsChapV2, MSCHAP_OP.Success]), verify);
    // The Result TLV goes whole (Request, type 33, M bit, Result 3, length 2, Success 1).
    expect(tlv).toMatchObject({ kind: 'send' });
    if (tlv.kind !== 'send') return;
    expect([...tlv.data.subarray(4)]).toEqual([33, 0x80, 3, 0, 2, 0, 1]);
    expect(await phase2.receive(peerTlv(true), verify)).toEqual({ kind: 'accept', userId: 'u-1', identity: 'alice', groups });
    expect(asked).toBe(1);
  });

  it('a refused sign-in: Failure E=691 R=0, then the Result TLV failure, then reject', async () => {
    const phase2 = new PeapPhase2();
    phase2.start();
    const challenge = await phase2.receive(Buffer.from([EAP_TYPE.Identity, ...Buffer.from('alice')]), async () => ({ ok: false }));
    if (challenge.kind !== 'send') throw new Error('expected a Challenge');
    const failure = await phase2.receive(peerResponse(challenge.data, 'alice', 'wrong').data, async () => ({ ok: false }));
    if (failure.kind !== 'send') throw new Error('expected a Failure');
    expect(failure.data[1]).toBe(MSCHAP_OP.Failure);
    expect(failure.data.subarray(5).toString()).toMatch(/^E=691 R=0 C=[0-9A-F]{32} V=3 M=/);
    const tlv = await phase2.receive(Buffer.from([EAP_TYPE.MsChapV2, MSCHAP_OP.Failure]), async () => ({ ok: false }));
    if (tlv.kind !== 'send') throw new Error('expected a TLV');
    expect([...tlv.data.subarray(4)]).toEqual([33, 0x80, 3, 0, 2, 0, 2]);
    expect(await phase2.receive(peerTlv(false), async () => ({ ok: false }))).toEqual({ kind: 'reject' });
  });

  it('a peer answering the success TLV with failure is rejected', async () => {
    const phase2 = new PeapPhase2();
    phase2.start();
    const challenge = await phase2.receive(Buffer.from([EAP_TYPE.Identity, 0x61]), async () => ({ ok: false }));
    if (challenge.kind !== 'send') throw new Error('expected a Challenge');
    const ok: MschapVerify = async () => ({ ok: true, authenticatorResponse: 'S=00', userId: 'u' });
    await phase2.receive(peerResponse(challenge.data, 'a').data, ok);
    await phase2.receive(Buffer.from([EAP_TYPE.MsChapV2, MSCHAP_OP.Success]), ok);
    expect(await phase2.receive(peerTlv(false), ok)).toEqual({ kind: 'reject' });
  });

  it('malformed inner messages are PeapErrors', async () => {
    const never: MschapVerify = async () => {
      throw new Error('the sign-in must not be asked');
    };
    await expect(new PeapPhase2().receive(Buffer.from([EAP_TYPE.MsChapV2]), never)).rejects.toBeInstanceOf(PeapError);
    await expect(new PeapPhase2().receive(Buffer.from([EAP_TYPE.Identity]), never)).rejects.toBeInstanceOf(PeapError);
    await expect(new PeapPhase2().receive(Buffer.alloc(0), never)).rejects.toBeInstanceOf(PeapError);
    const phase2 = new PeapPhase2();
    const challenge = await phase2.receive(Buffer.from([EAP_TYPE.Identity, 0x61]), never);
    if (challenge.kind !== 'send') throw new Error('expected a Challenge');
    const good = peerResponse(challenge.data, 'a').data;
    for (const bad of [
      Buffer.from([EAP_TYPE.Nak, EAP_TYPE.Md5Challenge]),
      Buffer.from([EAP_TYPE.MsChapV2, MSCHAP_OP.Response]),
      Buffer.concat([good, Buffer.from('x')]), // MS-Length no longer matches
      Buffer.from(good).fill(48, 5, 6), // Value-Size
      (() => { const b = Buffer.from(good); b[2] = (b[2]! + 1) & 0xff; return b; })(), // MS-CHAPv2-ID
    ]) {
      await expect(phase2.receive(bad, never)).rejects.toBeInstanceOf(PeapError);
    }
    expect(() => parseMschapResponse(Buffer.alloc(600))).toThrow(PeapError);
  });

  it('reads a Result TLV only from a whole, consistent EAP-TLV Response', () => {
    expect(peerResult(peerTlv(true))).toBe('success');
    expect(peerResult(peerTlv(false))).toBe('failure');
    expect(peerResult(resultTlv(1, 9, true))).toBeUndefined(); // a Request
    expect(peerResult(peerTlv(true).subarray(0, 9))).toBeUndefined();
    const liar = Buffer.from(peerTlv(true));
    liar.writeUInt16BE(200, 7);
    expect(peerResult(liar)).toBeUndefined();
    expect(peerResult(Buffer.alloc(0))).toBeUndefined();
  });
});
