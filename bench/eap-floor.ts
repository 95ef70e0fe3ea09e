/**
 * The floor of a WiFi authentication (EAP-TTLS/PAP or EAP-TLS over RADIUS) in Node.js on this
 * machine: a server that does only what no such server can skip, with Gatehouse's own transport —
 * decode each Access-Request and check its Message-Authenticator (protocols/radius/codec.ts), the
 * EAP packet (eap/packet.ts), the TLS fragments, their reassembly and the ACKs (eap/tls-fragments.ts,
 * fragments of at most 1024 octets or the NAS's Framed-MTU, as the handler cuts them), the TLS
 * engine and the keys (eap/tls-session.ts), a conversation per random 16-octet State in a Map, and
 * an Access-Accept with EAP-Success and the MS-MPPE keys (the dictionary's salted hiding, as
 * eap/handler.ts encodes them; Message-Authenticator first, codec.ts). Methods as Gatehouse
 * negotiates them: EAP-TTLS offered first, EAP-TLS when the peer's Nak asks for it.
 *
 * - EAP-TTLS/PAP: the inner User-Name and User-Password AVPs (eap/ttls-avp.ts), the person's
 *   argon2id hash, held in memory by name, verified through the same hashing slots
 *   (src/credentials/slots.ts).
 * - EAP-TLS: the client certificate accepted when the TLS engine verified it against the device CA
 *   with the CA's CRL loaded in the context (Node then sets OpenSSL's CRL_CHECK and CRL_CHECK_ALL:
 *   at least what FreeRADIUS's `check_crl = yes` does); on TLS 1.3 the commitment message
 *   (eap/eap-tls.ts's afterHandshake).
 *
 * No store, no throttle, no duplicate cache, no caps or lifetime on conversations, no access
 * decision, no reply attributes, no audit. It is a reference for the EAP benchmark
 * (bench/eap.bench.ts), never a server to use: it shows how much of Gatehouse's gap to FreeRADIUS
 * any EAP server in this process model pays (Node's TLS over an in-memory stream, a dozen RADIUS
 * round trips of JavaScript, the event loop sharing two cores with the supplicants).
 *
 *   node bench/eap-floor.ts <port> <secret> <setup.json>
 *     (setup.json: { cert, key, deviceCa, crl: PEM file paths, hashes: { <username>: <argon2id hash> } })
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import type { Attribute, Packet } from '../protocols/radius/codec.ts';
import type { EapMessage } from '../protocols/radius/eap/packet.ts';
import type { Reassembler as ReassemblerType } from '../protocols/radius/eap/tls-fragments.ts';
import type { TlsSession as TlsSessionType } from '../protocols/radius/eap/tls-session.ts';

// As bin/gatehouse.js sizes the pool (before the first hash is queued).
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(2, availableParallelism()));
const { verify } = await import('@node-rs/argon2');
const { withArgon2Slot } = await import('../src/credentials/slots.ts');
const { ATTR, CODE, attributeValue, checkMessageAuthenticator, encodeResponse, tryDecodePacket } = await import('../protocols/radius/codec.ts');
const { standardDictionary } = await import('../protocols/radius/dictionary.ts');
const { EAP_CODE, EAP_TYPE, eapFromAttributes, eapToAttributes, encodeEap, nakTypes } = await import('../protocols/radius/eap/packet.ts');
const { FLAG_START, Reassembler, fragment, isAck, parseTlsFrame } = await import('../protocols/radius/eap/tls-fragments.ts');
const { TlsSession, mppeKeys } = await import('../protocols/radius/eap/tls-session.ts');
const { afterHandshake } = await import('../protocols/radius/eap/eap-tls.ts');
const { fragmentSizeFor } = await import('../protocols/radius/eap/handler.ts');
const { decodeAvps, innerPap } = await import('../protocols/radius/eap/ttls-avp.ts');

const [port, secret, file] = process.argv.slice(2);
if (!port || !secret || !file) throw new Error('usage: node bench/eap-floor.ts <port> <secret> <setup.json>');
const setup = JSON.parse(readFileSync(file, 'utf8')) as { cert: string; key: string; deviceCa: string; crl: string; hashes: Record<string, string> };
const hashes = new Map(Object.entries(setup.hashes));
const key = Buffer.from(secret);
const dictionary = standardDictionary();
const pem = (path: string) => readFileSync(path, 'utf8');
// As Gatehouse's defaults (radius.eap.tls): TLS 1.2 to 1.3, one context per method, made once.
const server = { cert: pem(setup.cert), key: pem(setup.key), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' } as const;
const tunnelContext = createSecureContext(server);
const deviceContext = createSecureContext({ ...server, ca: pem(setup.deviceCa), crl: pem(setup.crl) });

/** As the handler cuts its flights: radius.eap.fragmentSize's default (1024), or the NAS's Framed-MTU less the EAPOL header when smaller. */
const mtuFor = (packet: Packet) => fragmentSizeFor(packet, 1024);

interface Conversation {
  method: 'ttls' | 'tls';
  identifier: number;
  reassembler: ReassemblerType;
  /** Fragments of our TLS flight still to send, each after the peer's ACK. */
  pending: Buffer[];
  session?: TlsSessionType;
  /** EAP-TLS: our last flight is out; the peer's ACK of it ends the conversation. */
  handshakeDone: boolean;
}
interface Reply {
  code: number;
  attributes: Attribute[];
}
const conversations = new Map<string, Conversation>();
const TYPE = { ttls: EAP_TYPE.Ttls, tls: EAP_TYPE.Tls };

const failure = (identifier: number): Reply => ({ code: CODE.AccessReject, attributes: eapToAttributes(encodeEap({ code: EAP_CODE.Failure, identifier })) });

function challenge(c: Conversation, flags: number, data: Buffer = Buffer.alloc(0)): Reply {
  c.identifier = (c.identifier + 1) & 0xff;
  const request = encodeEap({ code: EAP_CODE.Request, identifier: c.identifier, type: TYPE[c.method], data: Buffer.concat([Buffer.from([flags]), data]) });
  const state = randomBytes(16);
  conversations.set(state.toString('hex'), c);
  return { code: CODE.AccessChallenge, attributes: [...eapToAttributes(request), { type: ATTR.State, value: state }] };
}

/** TLS records to the peer: the first fragment now, the others after its ACKs. */
function send(c: Conversation, records: Buffer, packet: Packet): Reply {
  const [first, ...rest] = fragment(records, mtuFor(packet));
  c.pending = rest;
  return challenge(c, first![0]!, first!.subarray(1));
}

function accept(identifier: number, msk: Buffer, packet: Packet): Reply {
  const { recv, send } = mppeKeys(msk);
  const hiding = { secret: key, authenticator: packet.authenticator };
  return {
    code: CODE.AccessAccept,
    attributes: [
      ...eapToAttributes(encodeEap({ code: EAP_CODE.Success, identifier })),
      dictionary.encode('MS-MPPE-Recv-Key', recv, hiding),
      dictionary.encode('MS-MPPE-Send-Key', send, hiding),
    ],
  };
}

/** EAP-TTLS phase 2: inner PAP against the person's argon2id hash. */
async function innerPassword(c: Conversation, data: Buffer, packet: Packet): Promise<Reply> {
  const pap = innerPap(decodeAvps(data));
  const hash = pap && hashes.get(pap.userName);
  const { msk } = c.session!.keys();
  c.session!.destroy();
  const ok = hash !== undefined && (await withArgon2Slot(() => verify(hash, pap!.password)));
  return ok ? accept(c.identifier, msk, packet) : failure(c.identifier);
}

async function next(c: Conversation, eap: EapMessage, packet: Packet): Promise<Reply> {
  if (eap.identifier !== c.identifier) throw new Error(`identifier ${eap.identifier}, expected ${c.identifier}`);
  if (eap.type === EAP_TYPE.Nak && c.method === 'ttls' && !c.session && nakTypes(eap.data).includes(EAP_TYPE.Tls)) {
    c.method = 'tls';
    return challenge(c, FLAG_START);
  }
  if (eap.type !== TYPE[c.method]) throw new Error(`EAP type ${eap.type}`);
  const frame = parseTlsFrame(eap.data);
  if (c.pending.length) {
    if (!isAck(frame)) throw new Error('data while our fragments were pending');
    const piece = c.pending.shift()!;
    return challenge(c, piece[0]!, piece.subarray(1));
  }
  if (c.handshakeDone && isAck(frame)) {
    const { msk } = c.session!.keys();
    c.session!.destroy();
    return accept(c.identifier, msk, packet);
  }
  const assembled = c.reassembler.push(frame);
  if (assembled.kind === 'more') return challenge(c, 0); // our ACK
  if (assembled.kind === 'ack') throw new Error('an ACK with nothing pending');
  c.session ??= c.method === 'tls' ? new TlsSession({ secureContext: deviceContext, method: 'tls', requestCert: true }) : new TlsSession({ secureContext: tunnelContext, method: 'ttls' });
  const fed = await c.session.feed(assembled.data);
  if (fed.error) throw fed.error;
  if (c.method === 'tls' && fed.established) {
    const after = await afterHandshake(c.session);
    if (!after.ok) throw new Error(after.why);
    c.handshakeDone = true;
    return send(c, Buffer.concat([fed.out, after.out]), packet);
  }
  if (fed.established && fed.data.length) return innerPassword(c, fed.data, packet);
  if (fed.out.length) return send(c, fed.out, packet);
  if (fed.established) return challenge(c, 0); // the peer's turn (phase 2)
  throw new Error('TLS produced nothing');
}

async function answer(packet: Packet): Promise<Reply> {
  const eap = eapFromAttributes(packet);
  if (!eap || !('type' in eap) || eap.code !== EAP_CODE.Response) return failure(eap?.identifier ?? 0);
  const state = attributeValue(packet, ATTR.State);
  if (state === undefined) {
    if (eap.type !== EAP_TYPE.Identity) return failure(eap.identifier);
    return challenge({ method: 'ttls', identifier: eap.identifier, reassembler: new Reassembler(), pending: [], handshakeDone: false }, FLAG_START);
  }
  const c = conversations.get(state.toString('hex'));
  if (!c) return failure(eap.identifier);
  conversations.delete(state.toString('hex'));
  try {
    return await next(c, eap, packet);
  } catch {
    c.session?.destroy();
    return failure(eap.identifier);
  }
}

const socket = createSocket('udp4');
socket.on('message', (datagram, rinfo) => {
  const packet = tryDecodePacket(datagram);
  if (!packet || packet.code !== CODE.AccessRequest || checkMessageAuthenticator(packet, key) !== 'valid') return;
  const reply = (r: Reply) => {
    socket.send(encodeResponse({ code: r.code, identifier: packet.identifier, requestAuthenticator: packet.authenticator, attributes: r.attributes, secret: key }), rinfo.port, rinfo.address);
  };
  void answer(packet).then(reply, () => reply(failure(0)));
});
socket.bind(Number(port), '127.0.0.1');
// Stopped by the benchmark with SIGTERM when profiled (bench/harness.ts spawnScript): exit, so Node writes the profile.
process.on('SIGTERM', () => process.exit(0));
