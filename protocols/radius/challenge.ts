/**
 * Access-Challenge state (RFC 2865 §4.4, §5.24): a person whose password was right and whose access
 * needs a second factor gets a State of 128 random bits; the next Access-Request carrying it, from
 * the same RADIUS client, has the TOTP code in User-Password. The state lives in the shared TTL
 * store (`core.kv('radius')`), so any Gatehouse process on the same PostgreSQL takes the answer, and
 * is consumed once: a replayed State finds nothing. Open challenges are capped per client and in
 * all (counted from the store's live entries), so a NAS cannot pile them up.
 */
import { randomBytes } from 'node:crypto';
import type { AuthnFactor } from '../../src/authn/attempt.ts';
import type { TtlStore } from '../../src/core.ts';

/** 16 octets of State: ≥ 128 random bits (issue 13). */
const STATE_OCTETS = 16;
const TAG = { group: 'radius-challenge' } as const;

export interface PendingChallenge {
  /** The RADIUS client the challenge was sent to (a State is valid only from it). */
  client: string;
  userId: string;
  /** The User-Name the password came with: the answer must carry the same. */
  userName: string;
  proven: AuthnFactor[];
  /** 1 for the first code asked. */
  round: number;
}

export interface ChallengeLimits {
  ttlSeconds: number;
  maxRounds: number;
  maxOpenPerClient: number;
  maxOpen: number;
}

const key = (client: string, state: Buffer) => `challenge:${client}:${state.toString('hex')}`;

export class Challenges {
  readonly #kv: TtlStore;
  readonly #limits: ChallengeLimits;
  constructor(kv: TtlStore, limits: ChallengeLimits) {
    this.#kv = kv;
    this.#limits = limits;
  }

  /** A new State for `pending`, or undefined when the caps on open challenges are reached. */
  async open(pending: PendingChallenge): Promise<Buffer | undefined> {
    const { maxOpenPerClient, maxOpen, ttlSeconds } = this.#limits;
    const [mine, all] = await Promise.all([
      this.#kv.listTagged(TAG, `challenge:${pending.client}:`, maxOpenPerClient),
      this.#kv.listTagged(TAG, 'challenge:', maxOpen),
    ]);
    if (mine.length >= maxOpenPerClient || all.length >= maxOpen) return undefined;
    const state = randomBytes(STATE_OCTETS);
    await this.#kv.put(key(pending.client, state), pending, ttlSeconds, { ...TAG, subject: pending.userId });
    return state;
  }

  /** The challenge a State answers, taken (single use); undefined when unknown, expired, used, or another client's. */
  async take(client: string, state: Buffer): Promise<PendingChallenge | undefined> {
    if (state.length !== STATE_OCTETS) return undefined;
    const pending = await this.#kv.consume<PendingChallenge>(key(client, state));
    return pending?.client === client ? pending : undefined;
  }

  get maxRounds(): number {
    return this.#limits.maxRounds;
  }
}
