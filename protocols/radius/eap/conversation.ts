/**
 * EAP conversations in progress, keyed by the State attribute of the Access-Challenge that
 * continues them (RFC 3579 §2.6.1, RFC 2865 §5.24).
 *
 * - A State is single-use: `take` removes the conversation; the next Access-Challenge stores it
 *   again under a new State (`put`). It is 4 octets naming this process, then 16 random octets
 *   (128 bits), and bound to the RADIUS client that started the conversation: a State from another
 *   client is unknown.
 * - The TLS session a conversation holds is an OpenSSL object in this process's memory and cannot
 *   be serialised: a conversation stays on the process that started it. Behind a balancer, RADIUS
 *   must be balanced by the NAS's address and port or by State (FreeRADIUS's proxy, radsecproxy,
 *   LVS source hashing). A State that names another process gets a clear log line and
 *   Access-Reject instead of a silent mismatch (`elsewhere`).
 * - Caps: a lifetime from the first message, and at most `maxOpen` conversations in all and
 *   `maxOpenPerClient` per RADIUS client (the counters are keyed by client name, a directory object,
 *   never by request data). When a cap is reached the oldest conversation goes (its TLS session
 *   destroyed): a flood of half-open conversations pushes out other half-open ones, memory stays
 *   bounded, and a legitimate conversation (a handful of round trips within a second) still ends.
 */
import { randomBytes } from 'node:crypto';

const PROCESS_TAG_LENGTH = 4;
const RANDOM_LENGTH = 16;
export const STATE_LENGTH = PROCESS_TAG_LENGTH + RANDOM_LENGTH;

export interface ConversationLimits {
  ttlSeconds: number;
  maxOpen: number;
  maxOpenPerClient: number;
}

/** What the store needs of a conversation: its client, its start, and a way to free it. */
export interface Held {
  readonly client: string;
  readonly startedAt: number;
  dispose(): void;
}

export type Taken<C> = { found: C } | { found: undefined; why: 'unknown' | 'expired' | 'elsewhere' | 'other_client' };

export class Conversations<C extends Held> {
  /** This process's State prefix. */
  readonly tag = randomBytes(PROCESS_TAG_LENGTH);
  readonly #limits: ConversationLimits;
  /** By State (hex), in insertion order: the first is the oldest stored. */
  readonly #byState = new Map<string, C>();
  /** States by client name, in insertion order. */
  readonly #byClient = new Map<string, Set<string>>();
  #evicted = 0;
  #sweptAt = 0;

  constructor(limits: ConversationLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#byState.size;
  }

  /** Clients with a conversation in progress (bounded by the directory's clients). */
  get clients(): number {
    return this.#byClient.size;
  }

  /** One client's conversations in progress. */
  countFor(client: string): number {
    return this.#byClient.get(client)?.size ?? 0;
  }

  /** Conversations dropped to make room (since start). */
  get evicted(): number {
    return this.#evicted;
  }

  /** Stores `conversation` under a new State (returned), making room under the caps first. */
  put(conversation: C): Buffer {
    if (Date.now() - this.#sweptAt >= 1000) this.sweep();
    const mine = this.#byClient.get(conversation.client);
    if (mine && mine.size >= this.#limits.maxOpenPerClient) this.#drop(mine.values().next().value!, true);
    if (this.#byState.size >= this.#limits.maxOpen) this.#drop(this.#byState.keys().next().value!, true);
    const state = Buffer.concat([this.tag, randomBytes(RANDOM_LENGTH)]);
    const key = state.toString('hex');
    this.#byState.set(key, conversation);
    let set = this.#byClient.get(conversation.client);
    if (!set) this.#byClient.set(conversation.client, (set = new Set()));
    set.add(key);
    return state;
  }

  /** Removes and returns the conversation `state` continues, if it is this client's and alive. */
  take(client: string, state: Buffer): Taken<C> {
    if (state.length !== STATE_LENGTH || !state.subarray(0, PROCESS_TAG_LENGTH).equals(this.tag)) {
      return { found: undefined, why: state.length === STATE_LENGTH ? 'elsewhere' : 'unknown' };
    }
    const key = state.toString('hex');
    const conversation = this.#byState.get(key);
    if (!conversation) return { found: undefined, why: 'unknown' };
    // Bound to the client: another client's guess does not even end the conversation.
    if (conversation.client !== client) return { found: undefined, why: 'other_client' };
    this.#remove(key, conversation);
    if (this.#expired(conversation)) {
      conversation.dispose();
      return { found: undefined, why: 'expired' };
    }
    return { found: conversation };
  }

  /** Drops every conversation past its lifetime. */
  sweep(): void {
    this.#sweptAt = Date.now();
    for (const [key, conversation] of this.#byState) {
      if (this.#expired(conversation)) this.#drop(key, false);
    }
  }

  /** Ends everything (on close). */
  clear(): void {
    for (const key of [...this.#byState.keys()]) this.#drop(key, false);
  }

  #expired(conversation: C): boolean {
    return Date.now() - conversation.startedAt > this.#limits.ttlSeconds * 1000;
  }

  #drop(key: string, evicted: boolean): void {
    const conversation = this.#byState.get(key);
    if (!conversation) return;
    this.#remove(key, conversation);
    if (evicted) this.#evicted++;
    conversation.dispose();
  }

  #remove(key: string, conversation: C): void {
    this.#byState.delete(key);
    const set = this.#byClient.get(conversation.client);
    set?.delete(key);
    if (set?.size === 0) this.#byClient.delete(conversation.client);
  }
}
