/**
 * Access-Request (RFC 2865 §4.1) through the core's sign-in pipeline, once the server (server.ts)
 * has found the client, checked the Message-Authenticator and ruled out a retransmission:
 *
 *   PAP: User-Name + User-Password ─▶ core.signIn.attempt({ kind: 'password' }, resource radius:<client>)
 *     ─▶ allow: Access-Accept with the groups' reply attributes (src/access/radius-reply.ts)
 *     ─▶ mfa:   per client, Access-Challenge with a State (challenge.ts) and a prompt, or the code
 *               appended to the password (`appendedOtp`, the pipeline splits it), or Access-Reject
 *     ─▶ deny or refused: Access-Reject, after the reject delay, a Reply-Message only if the client opts in
 *   State + User-Password (the code) ─▶ core.signIn.attempt({ kind: 'totp', proven }) ─▶ the same
 *
 * The throttle, the constant-cost lookup, the one audit event per attempt and fail-closed come from
 * the pipeline. CHAP is refused: Gatehouse keeps password hashes, never the clear text CHAP needs.
 */
import { isIP } from 'node:net';
import type { Core } from '../../src/core.ts';
import type { SignInResult } from '../../src/authn/attempt.ts';
import { radiusReplyFor } from '../../src/access/radius-reply.ts';
import type { Challenges } from './challenge.ts';
import { ATTR, CODE, type Attribute, type Packet, RadiusDecodeError, attributeValue, unhideUserPassword } from './codec.ts';
import type { ResolvedClientOptions } from './config.ts';
import { DictionaryError, type Dictionary } from './dictionary.ts';
import type { Group, RadiusClient } from '../../src/directory/model.ts';

/** The client a request came from, its secret and its options. */
export interface RadiusPeer {
  client: RadiusClient;
  secret: string;
  options: ResolvedClientOptions;
}

/** What to answer: the code and attributes (the server adds Message-Authenticator and Proxy-State), and whether to wait first. */
export interface AccessReply {
  code: number;
  attributes: Attribute[];
  /** An Access-Reject waits `rejectDelaySeconds`. */
  delay: boolean;
}

export interface AccessContext {
  peer: RadiusPeer;
  packet: Packet;
  /** The NAS's address (the packet's source). */
  nasAddress: string;
  requestId: string;
}

const PROMPT = 'Enter the 6-digit code from your authenticator app';

/** Reply-Message texts for a reject, by reason (sent only to clients with replyMessages). */
function rejectText(code: string | undefined): string {
  switch (code) {
    case 'throttled':
      return 'Too many failed attempts: try again later';
    case 'store_unavailable':
      return 'The service is unavailable: try again later';
    case 'invalid_code':
    case 'replayed':
      return 'Wrong or already used code';
    case 'denied':
      return 'Access denied';
    case 'mfa':
      return 'A second factor is required, and this client cannot ask for it';
    default:
      return 'Authentication failed';
  }
}

export class AccessHandler {
  readonly #core: Core;
  readonly #dictionary: Dictionary;
  readonly #challenges: Challenges;
  constructor(core: Core, dictionary: Dictionary, challenges: Challenges) {
    this.#core = core;
    this.#dictionary = dictionary;
    this.#challenges = challenges;
  }

  async handle(ctx: AccessContext): Promise<AccessReply> {
    const { packet, peer } = ctx;
    const userName = attributeValue(packet, ATTR.UserName)?.toString('utf8');
    const hidden = attributeValue(packet, ATTR.UserPassword);
    if (userName === undefined || userName === '' || hidden === undefined) return this.#reject(peer, undefined);
    let password: string;
    try {
      password = unhideUserPassword(hidden, peer.secret, packet.authenticator).toString('utf8');
    } catch (error) {
      if (error instanceof RadiusDecodeError) return this.#reject(peer, undefined);
      throw error;
    }
    const clientIp = this.#clientIp(ctx);
    const common = { resource: `radius:${peer.client.name}`, protocol: 'radius' as const, clientIp, requestId: ctx.requestId };
    const state = attributeValue(packet, ATTR.State);
    if (state !== undefined) {
      // The answer to an Access-Challenge: User-Password holds the code (RFC 2865 §4.4).
      const pending = await this.#challenges.take(peer.client.name, state);
      if (!pending || pending.userName !== userName) return this.#reject(peer, 'challenge_unknown');
      const result = await this.#core.signIn.attempt({ ...common, presented: { kind: 'totp', userId: pending.userId, code: password.trim() }, proven: pending.proven });
      if (!result.ok && (result.reason.code === 'invalid_code' || result.reason.code === 'invalid_format') && pending.round < this.#challenges.maxRounds) {
        return this.#challenge(peer, { ...pending, round: pending.round + 1 }, 'Wrong code. ' + PROMPT);
      }
      return this.#conclude(ctx, result, userName);
    }
    const appended = peer.options.mfa === 'appended-otp' ? { appendedOtp: { separator: peer.options.otpSeparator } } : {};
    const result = await this.#core.signIn.attempt({ ...common, presented: { kind: 'password', login: userName, password, ...appended } });
    return this.#conclude(ctx, result, userName);
  }

  async #conclude(ctx: AccessContext, result: SignInResult, userName: string): Promise<AccessReply> {
    const { peer } = ctx;
    if (!result.ok) return this.#reject(peer, result.reason.code);
    const { decision, user } = result;
    // The groups the decision was made with: not read again.
    if (decision.action === 'allow') return { code: CODE.AccessAccept, attributes: await this.#replyAttributes(ctx, user.id, result.groups), delay: false };
    if (decision.action === 'deny') return this.#reject(peer, 'denied');
    // A second factor is required.
    if (peer.options.mfa !== 'challenge' || !decision.methods.includes('totp') || (await this.#core.totp.status(user.id)).totp !== 'active') return this.#reject(peer, 'mfa');
    return this.#challenge(peer, { client: peer.client.name, userId: user.id, userName, proven: result.proven, round: 1 }, PROMPT);
  }

  async #challenge(peer: RadiusPeer, pending: Parameters<Challenges['open']>[0], prompt: string): Promise<AccessReply> {
    const state = await this.#challenges.open(pending);
    if (!state) {
      this.#core.logger.warn({ component: 'radius', client: peer.client.name }, 'too many open RADIUS challenges: rejecting (radius.challenge.maxOpen / maxOpenPerClient)');
      return this.#reject(peer, 'store_unavailable');
    }
    return {
      code: CODE.AccessChallenge,
      attributes: [{ type: ATTR.State, value: state }, { type: ATTR.ReplyMessage, value: Buffer.from(prompt) }],
      delay: false,
    };
  }

  #reject(peer: RadiusPeer, why: string | undefined): AccessReply {
    const attributes: Attribute[] = peer.options.replyMessages ? [{ type: ATTR.ReplyMessage, value: Buffer.from(rejectText(why)) }] : [];
    return { code: CODE.AccessReject, attributes, delay: true };
  }

  #replyAttributes(ctx: AccessContext, userId: string, groups: Group[] | undefined): Promise<Attribute[]> {
    return replyAttributesFor(this.#core, this.#dictionary, userId, ctx.peer, ctx.packet, groups);
  }

  #clientIp(ctx: AccessContext): string {
    return clientIpOf(ctx.packet, ctx.peer, ctx.nasAddress);
  }
}

/**
 * The groups' reply attributes, encoded through the dictionary (PAP and every EAP method); one that
 * does not encode is skipped and logged. `groups`: the user's groups when the caller has them (the
 * decision's, SignInResult.groups); else read.
 */
export async function replyAttributesFor(core: Core, dictionary: Dictionary, userId: string, peer: RadiusPeer, packet: Packet, groups?: Group[]): Promise<Attribute[]> {
  const reply = radiusReplyFor(groups ?? (await core.directory.users.groupsOf(userId)));
  const out: Attribute[] = [];
  const problems = [...reply.problems];
  for (const item of reply.items) {
    try {
      out.push(dictionary.encode(item.attribute, item.value, { ...(item.tag !== undefined ? { tag: item.tag } : {}), secret: peer.secret, authenticator: packet.authenticator }));
    } catch (error) {
      if (!(error instanceof DictionaryError)) throw error;
      problems.push(`${item.group}: ${error.message}`);
    }
  }
  if (problems.length) core.logger.warn({ component: 'radius', client: peer.client.name, problems }, 'RADIUS reply attributes skipped');
  return out;
}

/** The address the decision, the throttle and the audit log see (the client's `clientAddress` option). */
export function clientIpOf(packet: Packet, peer: RadiusPeer, nasAddress: string): string {
  if (peer.options.clientAddress === 'calling-station-id') {
    const station = attributeValue(packet, ATTR.CallingStationId)?.toString('utf8').trim();
    if (station && isIP(station)) return station;
  } else if (peer.options.clientAddress === 'framed-ip-address') {
    const framed = attributeValue(packet, ATTR.FramedIpAddress);
    if (framed?.length === 4) return [...framed].join('.');
  }
  return nasAddress;
}
