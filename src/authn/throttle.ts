/**
 * One limiter for every authentication path (LDAP bind, RADIUS, web sign-in, admin API keys).
 * Failures are counted per user and per client IP in the TTL store, so restarts and other processes
 * see them. Past a number of free attempts each further failure doubles the wait before the next
 * attempt is even checked, up to a cap: a back-off, never a hard lockout an attacker could use to
 * lock people out for good (NIST SP 800-63B-4 §3.2.2 rate limiting).
 */
import type { CoreConfig } from '../config/schema.ts';
import type { Counter, TtlStore } from '../store/types.ts';

export type ThrottleConfig = CoreConfig['throttle'];

export interface ThrottleKeys {
  /** Username (lower-cased) or another account identifier; unknown usernames are counted too. */
  user?: string;
  ip?: string;
}

export interface ThrottleCounters {
  user?: Counter;
  ip?: Counter;
}

/** Allowed verdicts carry the counters read, so callers need not read them again. */
export type ThrottleVerdict = { allowed: true; counters: ThrottleCounters } | { allowed: false; scope: 'user' | 'ip'; retryAfterSeconds: number };

export class Throttle {
  private readonly ttl: TtlStore;
  private readonly config: ThrottleConfig;
  constructor(ttl: TtlStore, config: ThrottleConfig) {
    this.ttl = ttl;
    this.config = config;
  }

  /** The delay owed after `failures` failures, in ms. */
  delayMs(failures: number, free: number): number {
    if (failures < free) return 0;
    const exponent = Math.min(failures - free, 40);
    return Math.min(this.config.baseDelaySeconds * 1000 * 2 ** exponent, this.config.maxDelaySeconds * 1000);
  }

  async check(keys: ThrottleKeys, at: number = Date.now()): Promise<ThrottleVerdict> {
    const counters: ThrottleCounters = {};
    for (const [scope, key, free] of this.scopes(keys)) {
      const counter = await this.ttl.counter(key);
      if (!counter) continue;
      counters[scope] = counter;
      const waitUntil = counter.updatedAt + this.delayMs(counter.count, free);
      if (at < waitUntil) return { allowed: false, scope, retryAfterSeconds: Math.ceil((waitUntil - at) / 1000) };
    }
    return { allowed: true, counters };
  }

  async failure(keys: ThrottleKeys): Promise<void> {
    for (const [, key] of this.scopes(keys)) await this.ttl.increment(key, this.config.windowSeconds);
  }

  /** A success clears the user's counter; the IP's decays on its own (one good password must not launder a spray). */
  /**
   * A success forgives the account's failures. With the counters an allowed check just read, a
   * success that had nothing to forgive writes nothing (the hot path of every good sign-in).
   */
  async success(keys: ThrottleKeys, seen?: ThrottleCounters): Promise<void> {
    if (seen && !seen.user) return;
    if (keys.user !== undefined) await this.ttl.delete(userKey(keys.user));
  }

  /** The failure counters behind the keys (risk signals read them too). */
  async failures(keys: ThrottleKeys): Promise<ThrottleCounters> {
    const out: ThrottleCounters = {};
    for (const [scope, key] of this.scopes(keys)) {
      const counter = await this.ttl.counter(key);
      if (counter) out[scope] = counter;
    }
    return out;
  }

  private scopes(keys: ThrottleKeys): Array<['user' | 'ip', string, number]> {
    const scopes: Array<['user' | 'ip', string, number]> = [];
    if (keys.user !== undefined) scopes.push(['user', userKey(keys.user), this.config.freeAttempts]);
    if (keys.ip !== undefined) scopes.push(['ip', `throttle:ip:${keys.ip}`, this.config.freeAttemptsPerIp]);
    return scopes;
  }
}

const userKey = (user: string) => `throttle:user:${user.toLowerCase()}`;
