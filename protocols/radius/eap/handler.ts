/**
 * EAP over RADIUS (RFC 3579), the handler the RADIUS server (server.ts) hands every Access-Request
 * carrying EAP-Message to, once its Message-Authenticator is checked. Methods: EAP-TTLS with
 * inner PAP (RFC 5281), offered first; EAP-TLS with a Gatehouse device certificate (RFC 5216,
 * RFC 9190; eap-tls.ts) or PEAPv0 with inner EAP-MSCHAPv2 (phase 2 in peap.ts, the MSCHAPv2
 * Response to core.signIn.attempt kind mschapv2, the person's network password) when the peer's
 * Nak asks for one of them.
 *
 *   EAP-Response/Identity, no State ─▶ a conversation; Access-Challenge: EAP-Request/TTLS Start
 *   EAP-Response/TTLS + State ─▶ the conversation (conversation.ts: single-use State bound to the
 *     client) ─▶ fragments (tls-fragments.ts) ─▶ the TLS engine (tls-session.ts) ─▶ its flight,
 *     fragmented to the MTU, one fragment per Access-Challenge, the peer ACKing each
 *   the tunnel's first application data: User-Name + User-Password AVPs (ttls-avp.ts)
 *     ─▶ core.signIn.attempt({ kind: 'password' }, resource radius:<client>) for the INNER identity
 *        (the outer one, in EAP-Response/Identity, may be "anonymous" and decides nothing)
 *     ─▶ allow: Access-Accept, EAP-Success, MS-MPPE-Recv-Key / MS-MPPE-Send-Key from the MSK
 *        (RFC 2548 §2.4.2-3, salted hiding), User-Name = the inner identity, the groups' reply
 *        attributes (src/access/radius-reply.ts, as PAP)
 *     ─▶ anything else: Access-Reject with EAP-Failure (after the server's reject delay)
 *
 * Every malformed message, unexpected type or identifier, exceeded cap or TLS failure ends the
 * conversation with EAP-Failure. A second factor cannot be asked for inside TTLS/PAP: a client with
 * `mfa: appended-otp` takes the code appended to the password, as for PAP; otherwise a policy that
 * requires one rejects.
 */
import { randomUUID } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import type { Group } from '../../../src/directory/model.ts';
import type { Core } from '../../../src/core.ts';
import type { FrontEndMetrics } from '../../../src/frontend.ts';
import { clientIpOf, replyAttributesFor, type AccessReply, type RadiusPeer } from '../access.ts';
import { ATTR, CODE, type Attribute, type Packet, attributeValue } from '../codec.ts';
import { deviceClass } from '../device-class.ts';
import type { Dictionary } from '../dictionary.ts';
import type { EapConfig } from './config.ts';
import { Conversations, type Held } from './conversation.ts';
import { EAP_CODE, EAP_TYPE, EapDecodeError, eapFromAttributes, eapToAttributes, encodeEap, identityOf, nakTypes, type EapMessage } from './packet.ts';
import { FLAG_START, Reassembler, TlsFrameError, fragment, isAck, parseTlsFrame } from './tls-fragments.ts';
import { TlsSession, mppeKeys, type TlsMethod } from './tls-session.ts';
import { afterHandshake, eapTlsContexts, signInWithCertificate } from './eap-tls.ts';
import { recordTlsFailure } from './tls-audit.ts';
import { AvpDecodeError, decodeAvps, innerPap } from './ttls-avp.ts';
import { PeapError, PeapPhase2, type MschapVerify } from './peap.ts';

const FRAMED_MTU = 12;
/** The EAPOL header the NAS adds around an EAP packet (IEEE 802.1X-2010 §11.3): Framed-MTU counts it. */
const EAPOL_HEADER = 4;
const MIN_FRAGMENT = 128;
/** EAP-TTLS version 0 (RFC 5281 §9.1). */
const TTLS_VERSION = 0;

/** The largest TLS fragment to send in answer to `packet`: `configured` (radius.eap.fragmentSize), or the NAS's Framed-MTU less the EAPOL header when smaller; never under 128. */
export function fragmentSizeFor(packet: Packet, configured: number): number {
  const framed = attributeValue(packet, FRAMED_MTU);
  const nas = framed?.length === 4 ? framed.readUInt32BE(0) - EAPOL_HEADER : Infinity;
  return Math.max(MIN_FRAGMENT, Math.min(configured, nas));
}
/** The EAP type of each TLS-based method. */
const TYPE_OF: Record<TlsMethod, number> = { ttls: EAP_TYPE.Ttls, tls: EAP_TYPE.Tls, peap: EAP_TYPE.Peap };

class Conversation implements Held {
  readonly startedAt = Date.now();
  identifier: number;
  rounds = 0;
  session: TlsSession | undefined;
  readonly reassembler: Reassembler;
  /** Fragments of our TLS flight still to send, each after the peer's ACK. */
  pending: Buffer[] = [];
  readonly client: string;
  readonly outerIdentity: string;
  /** TTLS until the peer's Nak asks for EAP-TLS or PEAP (before any TLS). */
  method: TlsMethod = 'ttls';
  /** EAP-TLS: the handshake is over and the server's last flight is out (the peer's ACK ends it). */
  handshakeDone = false;
  readonly peap = new PeapPhase2();
  constructor(client: string, outerIdentity: string, identifier: number, maxMessage: number) {
    this.client = client;
    this.outerIdentity = outerIdentity;
    this.identifier = identifier;
    this.reassembler = new Reassembler(maxMessage);
  }

  dispose(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}

export interface EapHandlerDeps {
  core: Core;
  config: EapConfig;
  dictionary: Dictionary;
  /** Counters on /metrics (gatehouse_radius_eap_total{event}). */
  metrics?: FrontEndMetrics;
  /** Reads the certificate files (tests may pass PEM text through this). */
  readFile?: (path: string) => string;
}

export interface Eap {
  /** server.ts's `EapHandler`. */
  handle(packet: Packet, peer: RadiusPeer, rinfo: Pick<RemoteInfo, 'address'>): Promise<AccessReply>;
  /** Conversations in progress (for tests and metrics). */
  readonly conversations: Conversations<Conversation>;
  close(): void;
}

/** Thrown inside the handler to end a conversation with EAP-Failure; `why` goes to the debug log. */
class Fail extends Error {}

export function createEap(deps: EapHandlerDeps): Eap {
  const { core, config, dictionary } = deps;
  const log = core.logger;
  const conversations = new Conversations<Conversation>(config.conversation);
  const events = deps.metrics?.counter('gatehouse_radius_eap_total', 'EAP conversations: started, accepted, refused (the sign-in said no), failed (protocol), unknown_state, misrouted (another process\'s State), evicted (a cap made room)', ['event']);
  const count = (event: 'started' | 'accepted' | 'refused' | 'failed' | 'unknown_state' | 'misrouted' | 'evicted', value = 1) => events?.inc({ event }, value);
  const sweeper = setInterval(() => conversations.sweep(), 5000);
  sweeper.unref();
  const material = config.tls ? loadMaterial(config.tls, deps.readFile ?? ((p) => readFileSync(p, 'utf8'))) : undefined;
  const secureContext: SecureContext | undefined = config.tls && material ? loadContext(config.tls, material) : undefined;
  const tlsContext = config.tls && material ? eapTlsContexts(config.tls, material, core) : undefined;
  if (!secureContext) log.warn({ component: 'radius' }, 'radius.eap.tls is not set: every EAP request is rejected');

  const failure = (identifier: number): AccessReply => ({
    code: CODE.AccessReject,
    attributes: eapToAttributes(encodeEap({ code: EAP_CODE.Failure, identifier })),
    delay: true,
  });

  const challenge = (conversation: Conversation, flags: number, data: Buffer = Buffer.alloc(0)): AccessReply => {
    conversation.identifier = (conversation.identifier + 1) & 0xff;
    const request = encodeEap({ code: EAP_CODE.Request, identifier: conversation.identifier, type: TYPE_OF[conversation.method], data: Buffer.concat([Buffer.from([flags]), data]) });
    const evictedBefore = conversations.evicted;
    const state = conversations.put(conversation);
    if (conversations.evicted > evictedBefore) count('evicted', conversations.evicted - evictedBefore);
    return { code: CODE.AccessChallenge, attributes: [...eapToAttributes(request), { type: ATTR.State, value: state }], delay: false };
  };

  /** A TLS frame (flags + data, from `fragment`) as the next Access-Challenge. */
  const sendFrame = (conversation: Conversation, frame: Buffer): AccessReply => challenge(conversation, frame[0]!, frame.subarray(1));

  const mtuFor = (packet: Packet): number => fragmentSizeFor(packet, config.fragmentSize);

  async function continueTls(conversation: Conversation, eap: EapMessage, ctx: { packet: Packet; peer: RadiusPeer; nasAddress: string }): Promise<AccessReply> {
    const frame = parseTlsFrame(eap.data);
    if (conversation.pending.length) {
      if (!isAck(frame)) throw new Fail('data while our fragments were pending');
      return sendFrame(conversation, conversation.pending.shift()!);
    }
    // EAP-TLS: the peer's ACK of the server's last flight; the certificate is the credential.
    if (conversation.handshakeDone && isAck(frame)) return certificateSignIn(conversation, ctx);
    const assembled = conversation.reassembler.push(frame);
    if (assembled.kind === 'more') return challenge(conversation, TTLS_VERSION); // ACK (RFC 5216 §3.1)
    if (assembled.kind === 'ack' && conversation.method === 'peap' && conversation.session?.established && !conversation.peap.started) return peapSend(conversation, conversation.peap.start(), ctx.packet);
    if (assembled.kind === 'ack') throw new Fail('an ACK with nothing pending');
    if (conversation.handshakeDone) throw new Fail('TLS records after the EAP-TLS handshake');
    const tls = conversation.method === 'tls';
    conversation.session ??= new TlsSession(tls ? { secureContext: tlsContext!(), method: 'tls', requestCert: true } : { secureContext: secureContext!, method: conversation.method });
    const fed = await conversation.session.feed(assembled.data);
    if (fed.error) {
      await tlsFailed(conversation, ctx, { error: fed.error });
      throw new Fail(`TLS: ${fed.error.message}`);
    }
    if (tls && fed.established) {
      // RFC 5216 §2.1.1: no application data from the peer; the server's last flight, then its ACK.
      if (fed.data.length) throw new Fail('application data in EAP-TLS');
      const after = await afterHandshake(conversation.session);
      if (!after.ok) {
        await tlsFailed(conversation, ctx, { verify: conversation.session.authorizationError });
        count('refused');
        log.debug({ component: 'radius', client: ctx.peer.client.name, outer: conversation.outerIdentity, why: after.why }, 'EAP-TLS client certificate refused');
        conversation.dispose();
        return failure(eap.identifier);
      }
      conversation.handshakeDone = true;
      const [first, ...rest] = fragment(Buffer.concat([fed.out, after.out]), mtuFor(ctx.packet), 0);
      conversation.pending = rest;
      return sendFrame(conversation, first!);
    }
    if (fed.established && fed.data.length) return conversation.method === 'peap' ? peapInner(conversation, fed.data, ctx) : inner(conversation, fed.data, ctx);
    if (fed.out.length) {
      const [first, ...rest] = fragment(fed.out, mtuFor(ctx.packet), TTLS_VERSION);
      conversation.pending = rest;
      return sendFrame(conversation, first!);
    }
    if (fed.established && conversation.method === 'peap' && !conversation.peap.started) return peapSend(conversation, conversation.peap.start(), ctx.packet);
    if (fed.established) return challenge(conversation, TTLS_VERSION); // nothing to say: the peer's turn (phase 2)
    throw new Fail('TLS produced nothing');
  }

  /** The audit event of a conversation that ends in its TLS (tls-audit.ts): the sign-in never runs for it. */
  function tlsFailed(conversation: Conversation, ctx: { packet: Packet; peer: RadiusPeer; nasAddress: string }, why: { error?: Error; verify?: string | undefined }): Promise<void> {
    let presented: { certificate?: PeerCertificate | undefined; version?: string | null | undefined } = {};
    try {
      presented = { certificate: conversation.session?.presentedCertificate(), version: conversation.session?.version };
    } catch {
      // A TLS engine torn down by its error has nothing more to say.
    }
    return recordTlsFailure(core, {
      ...why, ...presented, method: conversation.method, outerIdentity: conversation.outerIdentity, client: ctx.peer.client.name,
      clientIp: clientIpOf(ctx.packet, ctx.peer, ctx.nasAddress),
    });
  }

  async function inner(conversation: Conversation, data: Buffer, ctx: { packet: Packet; peer: RadiusPeer; nasAddress: string }): Promise<AccessReply> {
    const { packet, peer } = ctx;
    const avps = decodeAvps(data);
    // RFC 5281 §10.1: an AVP with M set that is not understood fails the negotiation.
    const unknown = avps.find((a) => a.mandatory && !(a.vendorId === undefined && (a.code === 1 || a.code === 2)));
    if (unknown) throw new Fail(`mandatory AVP ${unknown.vendorId ?? 0}:${unknown.code} not supported (only inner PAP is)`);
    const pap = innerPap(avps);
    if (!pap || pap.userName === '') throw new Fail('no User-Name and User-Password AVPs (only inner PAP is supported)');
    const keys = conversation.session!.keys();
    const identifier = conversation.identifier;
    conversation.dispose();
    const appended = peer.options.mfa === 'appended-otp' ? { appendedOtp: { separator: peer.options.otpSeparator } } : {};
    const result = await core.signIn.attempt({
      presented: { kind: 'password', login: pap.userName, password: pap.password, ...appended },
      resource: `radius:${peer.client.name}`,
      protocol: 'radius',
      clientIp: clientIpOf(packet, peer, ctx.nasAddress),
      requestId: `radius-${randomUUID()}`,
      eap: { method: 'ttls', outerIdentity: conversation.outerIdentity },
    });
    if (!result.ok || result.decision.action !== 'allow') {
      log.debug({ component: 'radius', client: peer.client.name, outer: conversation.outerIdentity, reason: result.ok ? result.decision.action : result.reason.code }, 'EAP-TTLS inner PAP refused');
      count('refused');
      return failure(identifier);
    }
    return accept(identifier, pap.userName, result.user.id, keys.msk, peer, packet, [], result.groups);
  }

  /** EAP-TLS after the peer's final ACK: the certificate sign-in (eap-tls.ts), then Success or Failure. */
  async function certificateSignIn(conversation: Conversation, ctx: { packet: Packet; peer: RadiusPeer; nasAddress: string }): Promise<AccessReply> {
    const { packet, peer } = ctx;
    const session = conversation.session!;
    const keys = session.keys();
    const identifier = conversation.identifier;
    const result = await signInWithCertificate(core, session, { client: peer.client.name, clientIp: clientIpOf(packet, peer, ctx.nasAddress), outerIdentity: conversation.outerIdentity });
    conversation.dispose();
    if (!result?.ok || result.decision.action !== 'allow') {
      log.debug({ component: 'radius', client: peer.client.name, outer: conversation.outerIdentity, reason: !result ? 'no client certificate' : result.ok ? result.decision.action : result.reason.code }, 'EAP-TLS refused');
      count('refused');
      return failure(identifier);
    }
    // The device and the certificate, for the network session's continuous verification (device-class.ts).
    const device = result.device ? [{ type: ATTR.Class, value: deviceClass(result.device.device.id, result.device.serial) }] : [];
    return accept(identifier, result.user.username, result.user.id, keys.msk, peer, packet, device, result.groups);
  }

  /**
   * Access-Accept: EAP-Success, MS-MPPE keys from the MSK, User-Name, the groups' reply attributes
   * (from the groups the decision was made with, SignInResult.groups: not read again).
   */
  async function accept(identifier: number, userName: string, userId: string, msk: Buffer, peer: RadiusPeer, packet: Packet, extra: Attribute[], groups: Group[] | undefined): Promise<AccessReply> {
    const { recv, send } = mppeKeys(msk);
    const hiding = { secret: peer.secret, authenticator: packet.authenticator };
    const attributes: Attribute[] = [
      ...eapToAttributes(encodeEap({ code: EAP_CODE.Success, identifier })),
      { type: ATTR.UserName, value: Buffer.from(userName, 'utf8') },
      dictionary.encode('MS-MPPE-Recv-Key', recv, hiding),
      dictionary.encode('MS-MPPE-Send-Key', send, hiding),
      ...extra,
      ...(await replyAttributes(userId, peer, packet, groups)),
    ];
    count('accepted');
    return { code: CODE.AccessAccept, attributes, delay: false };
  }

  /** PEAP phase 2 (peap.ts): the plaintext encrypted in the tunnel and sent, fragmented. */
  async function peapSend(conversation: Conversation, plaintext: Buffer, packet: Packet): Promise<AccessReply> {
    const records = await conversation.session!.send(plaintext);
    const [first, ...rest] = fragment(records, mtuFor(packet), TTLS_VERSION);
    conversation.pending = rest;
    return sendFrame(conversation, first!);
  }

  /** PEAPv0 phase 2: the peer's inner message to the state machine, the MSCHAPv2 Response to core.signIn.attempt (kind mschapv2) for the INNER name. */
  async function peapInner(conversation: Conversation, data: Buffer, ctx: { packet: Packet; peer: RadiusPeer; nasAddress: string }): Promise<AccessReply> {
    const { packet, peer } = ctx;
    const verify: MschapVerify = async (response, authenticatorChallenge) => {
      const result = await core.signIn.attempt({
        presented: { kind: 'mschapv2', login: response.name, authenticatorChallenge, peerChallenge: response.peerChallenge, ntResponse: response.ntResponse },
        resource: `radius:${peer.client.name}`,
        protocol: 'radius',
        clientIp: clientIpOf(packet, peer, ctx.nasAddress),
        requestId: `radius-${randomUUID()}`,
        eap: { method: 'peap', outerIdentity: conversation.outerIdentity },
      });
      if (result.ok && result.decision.action === 'allow' && result.mschapv2) return { ok: true, authenticatorResponse: result.mschapv2.authenticatorResponse, userId: result.user.id, ...(result.groups ? { groups: result.groups } : {}) };
      log.debug({ component: 'radius', client: peer.client.name, outer: conversation.outerIdentity, reason: result.ok ? result.decision.action : result.reason.code }, 'PEAP inner MSCHAPv2 refused');
      return { ok: false };
    };
    const step = await conversation.peap.receive(data, verify);
    if (step.kind === 'send') return peapSend(conversation, step.data, packet);
    const identifier = conversation.identifier;
    if (step.kind === 'reject') {
      conversation.dispose();
      count('refused');
      return failure(identifier);
    }
    const keys = conversation.session!.keys();
    conversation.dispose();
    const { recv, send } = mppeKeys(keys.msk);
    const hiding = { secret: peer.secret, authenticator: packet.authenticator };
    count('accepted');
    return {
      code: CODE.AccessAccept,
      attributes: [
        ...eapToAttributes(encodeEap({ code: EAP_CODE.Success, identifier })),
        { type: ATTR.UserName, value: Buffer.from(step.identity, 'utf8') },
        dictionary.encode('MS-MPPE-Recv-Key', recv, hiding),
        dictionary.encode('MS-MPPE-Send-Key', send, hiding),
        ...(await replyAttributes(step.userId, peer, packet, step.groups)),
      ],
      delay: false,
    };
  }

  const replyAttributes = (userId: string, peer: RadiusPeer, packet: Packet, groups: Group[] | undefined) => replyAttributesFor(core, dictionary, userId, peer, packet, groups);

  async function handle(packet: Packet, peer: RadiusPeer, rinfo: Pick<RemoteInfo, 'address'>): Promise<AccessReply> {
    // A dual-stack socket's view of an IPv4 NAS (::ffff:192.0.2.1) is the IPv4 address.
    const nasAddress = rinfo.address.startsWith('::ffff:') && rinfo.address.includes('.') ? rinfo.address.slice(7) : rinfo.address;
    let eap;
    try {
      eap = eapFromAttributes(packet);
    } catch (error) {
      if (!(error instanceof EapDecodeError)) throw error;
      log.debug({ component: 'radius', client: peer.client.name, err: error.message }, 'malformed EAP-Message');
      return failure(0);
    }
    if (!eap || !('type' in eap) || eap.code !== EAP_CODE.Response) return failure(eap?.identifier ?? 0);
    const state = attributeValue(packet, ATTR.State);
    if (state === undefined) {
      // RFC 3748 §5.1 / RFC 3579 §2.1: the NAS relays the peer's Identity to start.
      if (eap.type !== EAP_TYPE.Identity || !secureContext) return failure(eap.identifier);
      const conversation = new Conversation(peer.client.name, identityOf(eap.data), eap.identifier, config.maxTlsMessage);
      count('started');
      return challenge(conversation, FLAG_START | TTLS_VERSION);
    }
    const taken = conversations.take(peer.client.name, state);
    if (!taken.found) {
      count(taken.why === 'elsewhere' ? 'misrouted' : 'unknown_state');
      if (taken.why === 'elsewhere') {
        log.warn({ component: 'radius', client: peer.client.name }, 'an EAP State from another Gatehouse process: RADIUS must be balanced by NAS address or State (protocols/radius/README.md, EAP)');
      }
      return failure(eap.identifier);
    }
    const conversation = taken.found;
    try {
      if (eap.identifier !== conversation.identifier) throw new Fail(`identifier ${eap.identifier}, expected ${conversation.identifier}`);
      if (++conversation.rounds > config.conversation.maxRounds) throw new Fail('too many rounds');
      if (eap.type === EAP_TYPE.Nak) {
        // RFC 3748 §5.3.1: the peer declines the method offered and names the ones it would use, in
        // its order of preference: the first one we serve (before any TLS).
        const wanted = nakTypes(eap.data);
        const switchTo = conversation.method === 'ttls' && !conversation.session ? wanted.find((t) => t === EAP_TYPE.Tls || t === EAP_TYPE.Peap) : undefined;
        if (switchTo !== undefined) {
          conversation.method = switchTo === EAP_TYPE.Tls ? 'tls' : 'peap';
          return challenge(conversation, FLAG_START);
        }
        throw new Fail(`the peer declines ${conversation.method.toUpperCase()} and asks for ${wanted.join(', ') || 'nothing'}`);
      }
      if (eap.type !== TYPE_OF[conversation.method]) throw new Fail(`EAP type ${eap.type} in a ${conversation.method.toUpperCase()} conversation`);
      return await continueTls(conversation, eap, { packet, peer, nasAddress });
    } catch (error) {
      if (!(error instanceof Fail || error instanceof PeapError || error instanceof TlsFrameError || error instanceof AvpDecodeError || error instanceof EapDecodeError)) {
        conversation.dispose();
        throw error;
      }
      log.debug({ component: 'radius', client: peer.client.name, outer: conversation.outerIdentity, why: error.message }, 'EAP conversation failed');
      count('failed');
      conversation.dispose();
      return failure(eap.identifier);
    }
  }

  return {
    handle,
    conversations,
    close() {
      clearInterval(sweeper);
      conversations.clear();
    },
  };
}

/** The server certificate and key of `radius.eap.tls` (and the `ca` file); an unreadable file says which setting. */
function loadMaterial(tls: NonNullable<EapConfig['tls']>, read: (path: string) => string): { cert: string; key: string; ca?: string } {
  const file = (setting: string, path: string) => {
    try {
      return read(path);
    } catch (error) {
      throw new Error(`radius.eap.tls.${setting}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  return { cert: file('cert', tls.cert), key: file('key', tls.key), ...(tls.ca ? { ca: file('ca', tls.ca) } : {}) };
}

/** The server's TLS context for TTLS; a key that does not match says which setting. */
function loadContext(tls: NonNullable<EapConfig['tls']>, material: { cert: string; key: string; ca?: string }): SecureContext {
  try {
    return createSecureContext({ ...material, minVersion: tls.minVersion, maxVersion: tls.maxVersion });
  } catch (error) {
    throw new Error(`radius.eap.tls: ${(error as Error).message}`, { cause: error });
  }
}

