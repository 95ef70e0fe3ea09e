/**
 * PEAPv0 phase 2 with inner EAP-MSCHAPv2 (issue 14; [MS-PEAP], draft-josefsson-pppext-eap-tls-eap-10,
 * draft-kamath-pppext-eap-mschapv2-02, RFC 2759), what runs inside the TLS tunnel once the handshake
 * is done (handler.ts runs the tunnel as for TTLS). Crypto binding is off, as Windows and Android
 * default to: the MSK is the TLS one ("client EAP encryption", tls-session.ts).
 *
 * Inside the tunnel PEAPv0 carries inner EAP packets "compressed" ([MS-PEAP] §2.2.8.1, hostapd's
 * eap_server_peap.c): without Code, Identifier and Length, the Type first. Only the EAP-TLV
 * (Extensions, type 33) packets go whole.
 *
 *   ─▶ Identity request                        ◀─ Identity (the inner identity)
 *   ─▶ MSCHAPv2 Challenge (16 random octets)   ◀─ Response (peer challenge, NT-Response, name)
 *        ─ core.signIn.attempt({ kind: 'mschapv2' }) for the name (a DOMAIN\ prefix is dropped,
 *          as hostapd and Windows do: RFC 2759 hashes the name without it)
 *   ─▶ Success "S=<authenticator response> M=OK"   ◀─ Success (the peer checked S=)
 *   ─▶ Result TLV success                      ◀─ Result TLV success   ─▶ EAP-Success, keys
 *   or
 *   ─▶ Failure "E=691 R=0 C=… V=3 M=…"         ◀─ Failure
 *   ─▶ Result TLV failure                      ◀─ anything             ─▶ EAP-Failure
 *
 * Anything else (a Nak, a wrong opcode, a malformed packet) ends the conversation (PeapError).
 */
import { randomBytes } from 'node:crypto';
import type { Group } from '../../../src/directory/model.ts';
import { EAP_CODE, EAP_TYPE, identityOf } from './packet.ts';

/** EAP-TLV (Extensions) and its Result TLV ([MS-PEAP] §2.2.8.2, draft-josefsson §4.2). */
const EAP_TYPE_TLV = 33;
const TLV_RESULT = 3;
const TLV_MANDATORY = 0x8000;
const RESULT_SUCCESS = 1;
const RESULT_FAILURE = 2;

/** EAP-MSCHAPv2 opcodes (draft-kamath-pppext-eap-mschapv2-02 §2). */
export const MSCHAP_OP = { Challenge: 1, Response: 2, Success: 3, Failure: 4 } as const;
/** The Response's Value-Size: Peer-Challenge 16, Reserved 8, NT-Response 24, Flags 1 (RFC 2759 §4). */
const RESPONSE_VALUE_SIZE = 49;
const MAX_NAME = 256;

export class PeapError extends Error {
  override readonly name = 'PeapError';
}

/** A compressed inner EAP packet: the Type and its data (no header). */
export function compressed(type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([type]), data]);
}

/** An EAP-MSCHAPv2 packet's type data: OpCode, MS-CHAPv2-ID, MS-Length (from OpCode on), then the rest. */
export function mschapPacket(opcode: number, id: number, rest: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = opcode;
  head[1] = id & 0xff;
  head.writeUInt16BE(4 + rest.length, 2);
  return Buffer.concat([head, rest]);
}

/** A whole EAP-TLV packet with one Result TLV (always sent with its header, even in PEAPv0). */
export function resultTlv(code: number, identifier: number, success: boolean): Buffer {
  const out = Buffer.alloc(11);
  out[0] = code;
  out[1] = identifier & 0xff;
  out.writeUInt16BE(11, 2);
  out[4] = EAP_TYPE_TLV;
  out.writeUInt16BE(TLV_MANDATORY | TLV_RESULT, 5);
  out.writeUInt16BE(2, 7);
  out.writeUInt16BE(success ? RESULT_SUCCESS : RESULT_FAILURE, 9);
  return out;
}

/** The status in a peer's EAP-TLV Response (a whole EAP packet); undefined if it is not one or has no Result TLV. */
export function peerResult(data: Buffer): 'success' | 'failure' | undefined {
  if (data.length < 5 || data[0] !== EAP_CODE.Response || data.readUInt16BE(2) !== data.length || data[4] !== EAP_TYPE_TLV) return undefined;
  for (let i = 5; i + 4 <= data.length;) {
    const type = data.readUInt16BE(i) & 0x3fff;
    const length = data.readUInt16BE(i + 2);
    if (i + 4 + length > data.length) return undefined;
    if (type === TLV_RESULT && length === 2) {
      const status = data.readUInt16BE(i + 4);
      return status === RESULT_SUCCESS ? 'success' : status === RESULT_FAILURE ? 'failure' : undefined;
    }
    i += 4 + length;
  }
  return undefined;
}

/** A peer's EAP-MSCHAPv2 Response (RFC 2759 §4 inside draft-kamath §2.2), from its compressed type data. */
export interface MschapResponse {
  id: number;
  peerChallenge: Buffer;
  ntResponse: Buffer;
  /** The name the peer sent, a DOMAIN\ prefix dropped (RFC 2759 hashes the user name without it). */
  name: string;
}

export function parseMschapResponse(data: Buffer): MschapResponse {
  // OpCode, MS-CHAPv2-ID, MS-Length(2), Value-Size, Value(49), Name
  if (data.length < 5 + RESPONSE_VALUE_SIZE || data[0] !== MSCHAP_OP.Response) throw new PeapError('not an MSCHAPv2 Response');
  if (data.readUInt16BE(2) !== data.length) throw new PeapError(`MS-Length ${data.readUInt16BE(2)} but ${data.length} octets`);
  if (data[4] !== RESPONSE_VALUE_SIZE) throw new PeapError(`Value-Size ${data[4]}`);
  const value = data.subarray(5, 5 + RESPONSE_VALUE_SIZE);
  const raw = data.subarray(5 + RESPONSE_VALUE_SIZE);
  if (raw.length > MAX_NAME) throw new PeapError('name too long');
  const full = raw.toString('utf8');
  const name = full.slice(full.lastIndexOf('\\') + 1);
  return { id: data[1]!, peerChallenge: Buffer.from(value.subarray(0, 16)), ntResponse: Buffer.from(value.subarray(24, 48)), name };
}

/** `groups`: the person's groups the decision was made with (SignInResult.groups), for the reply attributes. */
export type MschapVerdict = { ok: true; authenticatorResponse: string; userId: string; groups?: Group[] } | { ok: false };

/** What phase 2 asks the handler to do next. */
export type PeapStep =
  | { kind: 'send'; data: Buffer } // plaintext to encrypt and send in an Access-Challenge
  | { kind: 'accept'; userId: string; identity: string; groups?: Group[] }
  | { kind: 'reject' };

/** The server's name in the Challenge (informational: peers show or ignore it). */
const SERVER_NAME = Buffer.from('gatehouse');

export type MschapVerify = (response: MschapResponse, authenticatorChallenge: Buffer) => Promise<MschapVerdict>;

/** Phase 2 of one PEAPv0 conversation. `verify` is the sign-in (core.signIn.attempt, kind mschapv2). */
export class PeapPhase2 {
  #state: 'identity' | 'challenge' | 'success' | 'failure' | 'tlv-success' | 'tlv-failure' | 'done' = 'identity';
  #identity = '';
  #name = '';
  #challenge = randomBytes(16);
  #mschapId = randomBytes(1)[0]!;
  #tlvId = randomBytes(1)[0]!;
  #userId = '';
  #groups: Group[] | undefined;
  #started = false;
  /** The first inner message: EAP-Request/Identity, compressed. */
  start(): Buffer {
    if (this.#started) throw new PeapError('phase 2 started twice');
    this.#started = true;
    return compressed(EAP_TYPE.Identity);
  }

  get started(): boolean {
    return this.#started;
  }

  /** The inner identity the peer gave (for logs). */
  get identity(): string {
    return this.#identity;
  }

  /** The peer's decrypted message; `verify` is asked once, at the MSCHAPv2 Response. */
  async receive(data: Buffer, verify: MschapVerify): Promise<PeapStep> {
    switch (this.#state) {
      case 'identity': {
        if (data[0] !== EAP_TYPE.Identity) throw new PeapError(`inner type ${data[0]} where an Identity was expected`);
        this.#identity = identityOf(data.subarray(1));
        if (!this.#identity || this.#identity.length > MAX_NAME) throw new PeapError('empty or long inner identity');
        this.#state = 'challenge';
        const rest = Buffer.concat([Buffer.from([16]), this.#challenge, SERVER_NAME]);
        return { kind: 'send', data: compressed(EAP_TYPE.MsChapV2, mschapPacket(MSCHAP_OP.Challenge, this.#mschapId, rest)) };
      }
      case 'challenge': {
        if (data[0] === EAP_TYPE.Nak) throw new PeapError('the peer declines inner MSCHAPv2');
        if (data[0] !== EAP_TYPE.MsChapV2) throw new PeapError(`inner type ${data[0]} where MSCHAPv2 was expected`);
        const response = parseMschapResponse(data.subarray(1));
        if (response.id !== this.#mschapId) throw new PeapError('MS-CHAPv2-ID mismatch');
        this.#name = response.name;
        const verdict = await verify(response, this.#challenge);
        this.#mschapId = (this.#mschapId + 1) & 0xff;
        if (verdict.ok) {
          this.#state = 'success';
          this.#userId = verdict.userId;
          this.#groups = verdict.groups;
          const message = Buffer.from(`${verdict.authenticatorResponse} M=OK`);
          return { kind: 'send', data: compressed(EAP_TYPE.MsChapV2, mschapPacket(MSCHAP_OP.Success, response.id, message)) };
        }
        this.#state = 'failure';
        // RFC 2759 §6: E=691 authentication failure, R=0 no retry, C= a new challenge, V=3.
        const message = Buffer.from(`E=691 R=0 C=${randomBytes(16).toString('hex').toUpperCase()} V=3 M=Authentication failed`);
        return { kind: 'send', data: compressed(EAP_TYPE.MsChapV2, mschapPacket(MSCHAP_OP.Failure, response.id, message)) };
      }
      case 'success':
        if (data[0] !== EAP_TYPE.MsChapV2 || data[1] !== MSCHAP_OP.Success) throw new PeapError('the peer did not confirm the MSCHAPv2 Success');
        this.#state = 'tlv-success';
        return { kind: 'send', data: resultTlv(EAP_CODE.Request, this.#tlvId, true) };
      case 'failure':
        this.#state = 'tlv-failure';
        return { kind: 'send', data: resultTlv(EAP_CODE.Request, this.#tlvId, false) };
      case 'tlv-success': {
        this.#state = 'done';
        const result = peerResult(data);
        if (result !== 'success') return { kind: 'reject' };
        return { kind: 'accept', userId: this.#userId, identity: this.#name, ...(this.#groups ? { groups: this.#groups } : {}) };
      }
      case 'tlv-failure':
      case 'done':
        this.#state = 'done';
        return { kind: 'reject' };
    }
  }
}
