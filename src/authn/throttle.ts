/**
 * One limiter for every secret that can be guessed: passwords (the sign-in pages, LDAP binds,
 * service accounts), second-factor codes, admin API keys, device codes, OpenID Connect client
 * secrets. Failures are counted in the TTL store, so restarts and other processes see them:
 *
 * - per account: `throttle:user:<name>` counts attempts from anywhere, and
 *   `throttle:user:<name>:familiar` those from a familiar place: an address in a network or address
 *   range the person signed in from before, or a device certificate of a device they signed in
 *   with (the risk memory, src/access/risk.ts, decides; the caller says `familiar`). As in Entra
 *   ID's smart lockout the two are counted apart, so an attacker elsewhere cannot hold the person
 *   back at their desk. A success forgives the failures of its own place only: the person signing
 *   in at their desk leaves the attacker's counter running, and a success from elsewhere leaves the
 *   desk's.
 * - per client address, apart for each kind of secret (`throttle:ip:<ip>` for sign-ins,
 *   `throttle:<kind>:ip:<ip>` for the others), so failed sign-ins from an address do not hold back
 *   an API key used from it. Named networks whose addresses speak for many people get their own
 *   allowance (throttle.networks). A success does not forgive an address's failures: one good
 *   password must not launder a spray.
 *
 * Past a number of free failures each further one doubles the wait before the next attempt is even
 * checked, up to a cap: the wait runs from the counter's last change, `updatedAt + delayMs(count)`.
 * A back-off, never a hard lockout (NIST SP 800-63B-4 §3.2.2 rate limiting).
 *
 * Reservations. Check, verify, count the failure: as separate steps, concurrent attempts all pass
 * the check before any failure is counted (40 concurrent wrong passwords got 23 verifications
 * instead of 5). So an attempt reserves its place before the secret is verified (`reserve`):
 *
 * 1. The counters are read; during a back-off the attempt is refused and nothing is written, so a
 *    refused attempt never pushes the back-off further.
 * 2. Each counter is incremented (atomically, in the store; all in one statement). With n the count read in 1 and c the
 *    count the increment returns, the attempt goes on when c <= max(free, n + 1): within the free
 *    allowance, or the one attempt an ended back-off lets through. Any other lost a race to
 *    concurrent attempts: its increments are taken back and it is refused with the wait those
 *    attempts cause if they fail.
 * 3. A wrong secret: the reservation stands as the failure (its wait runs from the reservation, a
 *    verification's time earlier than the failure). A right one: the account's counter is deleted
 *    (forgiven) and the address's increment taken back, in one write (TtlStore.deleteAndDecrement). Not an attempt after all (a valid API key
 *    without the scope): every increment is taken back.
 *
 * Taking back puts back the counter's time and expiry when nothing counted since (the store's
 * decrement with undo), so a success or a lost race leaves no trace: good sign-ins from an address
 * in back-off do not restart its wait, nor keep its failures from being forgotten. Under
 * concurrency the time may stay at another attempt's reservation, never later than an attempt.
 */
import type { CoreConfig } from '../config/schema.ts';
import type { Counter, TtlStore } from '../store/types.ts';

export type ThrottleConfig = CoreConfig['throttle'];

/**
 * What is being guessed: each kind has its own counter per client address (`mfa` and `passkey`
 * are the sign-in pages' per-address limits on their second-factor and passkey steps).
 */
export type ThrottleKind = 'signin' | 'apikey' | 'device-code' | 'client-secret' | 'mfa' | 'passkey';

export interface ThrottleKeys {
  /** Username (lower-cased) or another account identifier; unknown usernames are counted too. */
  user?: string;
  ip?: string;
  /** Default: sign-in. */
  kind?: ThrottleKind;
  /** The attempt comes from a place the person signed in from before: counted apart per account. */
  familiar?: boolean;
}

export interface ThrottleCounters {
  user?: Counter;
  ip?: Counter;
}

export type ThrottleRefusal = { allowed: false; scope: 'user' | 'ip'; retryAfterSeconds: number };

/** Allowed verdicts carry the counters read, so callers need not read them again. */
export type ThrottleVerdict = { allowed: true; counters: ThrottleCounters } | ThrottleRefusal;

/** An attempt's reserved place: settle it once, with success() or release(); a failure needs nothing. */
export interface Reservation {
  /** The counters as they stood before this attempt (the risk signals read them). */
  readonly counters: ThrottleCounters;
  /** The secret was right: the account's failures (of this place) are forgiven, the address's increment taken back. */
  success(): Promise<void>;
  /** It was not an attempt after all: every increment is taken back. */
  release(): Promise<void>;
}

export type Reserved = { allowed: true; reservation: Reservation } | ThrottleRefusal;

export interface ThrottleDeps {
  /** The named networks an address falls in, for the allowances of throttle.networks. */
  networksOf?: (ip: string) => Promise<Array<{ name: string }>>;
}

interface Scope {
  scope: 'user' | 'ip';
  key: string;
  free: number;
}

export class Throttle {
  private readonly ttl: TtlStore;
  private readonly config: ThrottleConfig;
  private readonly deps: ThrottleDeps;
  constructor(ttl: TtlStore, config: ThrottleConfig, deps: ThrottleDeps = {}) {
    this.ttl = ttl;
    this.config = config;
    this.deps = deps;
  }

  /** The delay owed after `failures` failures, in ms. */
  delayMs(failures: number, free: number): number {
    if (failures < free) return 0;
    const exponent = Math.min(failures - free, 40);
    return Math.min(this.config.baseDelaySeconds * 1000 * 2 ** exponent, this.config.maxDelaySeconds * 1000);
  }

  /** Whether an attempt may be made now; reads only (see reserve for attempts that verify a secret). */
  async check(keys: ThrottleKeys, at: number = Date.now()): Promise<ThrottleVerdict> {
    return this.read(await this.scopes(keys), at);
  }

  /**
   * Reserves an attempt's place before its secret is verified (steps 1 and 2 above): refused, or
   * allowed with the reservation to settle.
   */
  async reserve(keys: ThrottleKeys, at: number = Date.now()): Promise<Reserved> {
    const scopes = await this.scopes(keys);
    const verdict = await this.read(scopes, at);
    if (!verdict.allowed) return verdict;
    // The counter as it stood before the increment is known only when nothing counted in between;
    // else only what the increment left (the store then tries the likelier statement first).
    const undo = ({ after, before }: { after: Counter; before: Counter | undefined }) => (after.count === (before?.count ?? 0) + 1 ? { after, before } : { after });
    const takeBack = async (which: Array<{ scope: Scope; after: Counter; before: Counter | undefined }>) => {
      for (const entry of which) await this.ttl.decrement(entry.scope.key, undo(entry));
    };
    // Every scope's counter in one statement, each increment atomic.
    const afters = await this.ttl.incrementAll(scopes.map((scope) => scope.key), this.config.windowSeconds);
    const taken = scopes.map((scope, i) => ({ scope, after: afters[i]!, before: verdict.counters[scope.scope] }));
    for (const { scope, after, before } of taken) {
      const admitted = Math.max(scope.free, (before?.count ?? 0) + 1);
      if (after.count > admitted) {
        await takeBack(taken);
        return refusal(scope.scope, this.delayMs(admitted, scope.free));
      }
    }
    return {
      allowed: true,
      reservation: {
        counters: verdict.counters,
        // One write for both (the store's deleteAndDecrement): the account's counter forgiven, the address's increment taken back.
        success: () =>
          this.ttl.deleteAndDecrement(
            taken.filter((entry) => entry.scope.scope === 'user').map((entry) => entry.scope.key),
            taken.filter((entry) => entry.scope.scope !== 'user').map((entry) => ({ key: entry.scope.key, undo: undo(entry) })),
          ),
        release: () => takeBack(taken),
      },
    };
  }

  /** Counts a failure after the fact, for attempts that were only checked (a form step's limit). */
  async failure(keys: ThrottleKeys): Promise<void> {
    for (const { key } of await this.scopes(keys, false)) await this.ttl.increment(key, this.config.windowSeconds);
  }

  /**
   * A success forgives the account's failures (of this place); the address's decay on their own.
   * With the counters an allowed check just read, a success that had nothing to forgive writes
   * nothing (the hot path of every good sign-in).
   */
  async success(keys: ThrottleKeys, seen?: ThrottleCounters): Promise<void> {
    if (seen && !seen.user) return;
    if (keys.user !== undefined) await this.ttl.delete(userKey(keys.user, keys.familiar));
  }

  /** The failure counters behind the keys (risk signals read them too). */
  async failures(keys: ThrottleKeys): Promise<ThrottleCounters> {
    const out: ThrottleCounters = {};
    const scopes = await this.scopes(keys, false);
    const read = await this.ttl.counters(scopes.map((s) => s.key));
    for (const [i, { scope }] of scopes.entries()) {
      const counter = read[i];
      if (counter) out[scope] = counter;
    }
    return out;
  }

  private async read(scopes: Scope[], at: number): Promise<ThrottleVerdict> {
    const counters: ThrottleCounters = {};
    // One read for every scope.
    const read = await this.ttl.counters(scopes.map((s) => s.key));
    for (const [i, { scope, free }] of scopes.entries()) {
      const counter = read[i];
      if (!counter) continue;
      counters[scope] = counter;
      // Within the free allowance there is no wait, even when a concurrent attempt (or another
      // process's clock) stamped the counter after `at`.
      const delayMs = this.delayMs(counter.count, free);
      const waitMs = counter.updatedAt + delayMs - at;
      if (delayMs > 0 && waitMs > 0) return refusal(scope, waitMs);
    }
    return { allowed: true, counters };
  }

  private async scopes(keys: ThrottleKeys, withAllowance = true): Promise<Scope[]> {
    const scopes: Scope[] = [];
    if (keys.user !== undefined) scopes.push({ scope: 'user', key: userKey(keys.user, keys.familiar), free: this.config.freeAttempts });
    if (keys.ip !== undefined) {
      const free = withAllowance ? await this.allowanceOf(keys.ip) : this.config.freeAttemptsPerIp;
      scopes.push({ scope: 'ip', key: keys.kind === undefined || keys.kind === 'signin' ? `throttle:ip:${keys.ip}` : `throttle:${keys.kind}:ip:${keys.ip}`, free });
    }
    return scopes;
  }

  /** The free failures of an address: the largest of the listed networks it falls in, else the default. */
  private async allowanceOf(ip: string): Promise<number> {
    const listed = this.config.networks;
    if (listed.length === 0 || !this.deps.networksOf) return this.config.freeAttemptsPerIp;
    const names = new Set((await this.deps.networksOf(ip)).map((n) => n.name));
    const allowances = listed.filter((n) => names.has(n.network)).map((n) => n.freeAttemptsPerIp);
    return allowances.length ? Math.max(...allowances) : this.config.freeAttemptsPerIp;
  }
}

const userKey = (user: string, familiar = false) => `throttle:user:${user.toLowerCase()}${familiar ? ':familiar' : ''}`;

/** At least a second: Retry-After is in whole seconds (RFC 9110 §10.2.3). */
function refusal(scope: 'user' | 'ip', waitMs: number): ThrottleRefusal {
  return { allowed: false, scope, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
}
