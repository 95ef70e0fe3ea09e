/**
 * A sign-in between its first and second factor: who proved what, what the decision asked for,
 * and where to go afterwards. It lives in the shared TTL store (`core.kv('web')`), never in one
 * process's memory, under a random id the browser holds in a short-lived HttpOnly cookie. It is
 * tagged with the user, so suspending them drops it with their sessions; it expires after
 * `web.signInMinutes`; wrong answers are counted atomically and past `web.mfaAttempts` it is gone;
 * and it is consumed atomically when the sign-in completes, so a replayed form finds nothing.
 */
import { randomBytes } from 'node:crypto';
import type { AuthMethod, SecondFactor } from '../../src/access/types.ts';
import type { Core } from '../../src/core.ts';
import type { WebConfig } from './config.ts';
import type { TtlStore } from '../../src/core.ts';
import { clearCookie, cookieValue, setCookie, type Ctx } from './http.ts';
import type { SignInParams } from './params.ts';

export const SIGNIN_COOKIE = '__Host-gatehouse_signin';

export interface PendingSignIn {
  /** A first sign-in, or a step-up of the session `sessionHandle`. */
  kind: 'login' | 'step-up';
  userId: string;
  username: string;
  /** The factors proven so far in this sign-in. */
  authn: Array<{ method: AuthMethod; at: string }>;
  /** What the access decision accepts as the next factor. */
  methods: SecondFactor[];
  params: SignInParams;
  sessionHandle?: string;
  /** ms since the epoch. */
  expiresAt: number;
}

export class PendingSignIns {
  private readonly kv: TtlStore;
  private readonly minutes: number;
  private readonly maxAttempts: number;

  constructor(core: Core, config: WebConfig) {
    this.kv = core.kv('web');
    this.minutes = config.signInMinutes;
    this.maxAttempts = config.mfaAttempts;
  }

  /** Stores a pending sign-in and gives the browser its id. */
  async start(ctx: Ctx, pending: Omit<PendingSignIn, 'expiresAt'>): Promise<void> {
    const id = randomBytes(32).toString('base64url');
    const ttl = this.minutes * 60;
    await this.kv.put(key(id), { ...pending, expiresAt: Date.now() + ttl * 1000 } satisfies PendingSignIn, ttl, { subject: pending.userId });
    setCookie(ctx, SIGNIN_COOKIE, id, ttl * 1000);
  }

  /** The pending sign-in this browser holds, if it is still live. */
  async current(ctx: Ctx): Promise<{ id: string; pending: PendingSignIn } | undefined> {
    const id = cookieValue(ctx, SIGNIN_COOKIE, 64);
    if (!id) return undefined;
    const pending = await this.kv.get<PendingSignIn>(key(id));
    return pending && pending.expiresAt > Date.now() ? { id, pending } : undefined;
  }

  /** Counts a wrong answer; past the limit the sign-in is dropped. @returns whether it may go on */
  async failed(ctx: Ctx, id: string): Promise<boolean> {
    const counter = await this.kv.increment(attemptsKey(id), this.minutes * 60);
    if (counter.count < this.maxAttempts) return true;
    await this.drop(ctx, id);
    return false;
  }

  /** Takes the pending sign-in for completion: of two concurrent completions only one gets it. */
  async take(ctx: Ctx, id: string): Promise<PendingSignIn | undefined> {
    const pending = await this.kv.consume<PendingSignIn>(key(id));
    await this.kv.delete(attemptsKey(id));
    clearCookie(ctx, SIGNIN_COOKIE);
    return pending && pending.expiresAt > Date.now() ? pending : undefined;
  }

  async drop(ctx: Ctx, id: string): Promise<void> {
    await this.kv.delete(key(id));
    await this.kv.delete(attemptsKey(id));
    clearCookie(ctx, SIGNIN_COOKIE);
  }
}

const key = (id: string) => `signin:${id}`;
const attemptsKey = (id: string) => `signin-attempts:${id}`;
