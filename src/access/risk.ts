/**
 * Risk signals, first version: failed-attempt velocity for the account and for the client IP, a
 * network or device this user has never signed in from, and networks the organisation marks as
 * risky. Each signal that fires is a reason; the level is the highest any signal reaches.
 */
import ipaddr from 'ipaddr.js';
import type { Throttle, ThrottleCounters } from '../authn/throttle.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Network, Reason } from '../directory/model.ts';
import type { TtlStore } from '../store/types.ts';
import { RISK_ORDER, type RiskLevel } from './types.ts';

/** How long a network or device stays "known" for a user after a successful sign-in. */
const SEEN_TTL_SECONDS = 180 * 86_400;
/** A known network or device is written again (its 180 days restarted) at most this often. */
const SEEN_REFRESH_MS = 86_400_000;

export interface RiskInput {
  userId: string;
  username: string;
  clientIp?: string;
  /** The named networks the client IP falls in. */
  networks: Network[];
  deviceId?: string;
  now: number;
  /** The failure counters when the caller has just read them (the password check); else read here. */
  failures?: ThrottleCounters;
  /** The place when the caller has read it (place(), before the password); else read here. */
  place?: Place;
}

/**
 * Where a sign-in comes from, as the risk memory knows it: read once before the password (the
 * throttle counts attempts from familiar places apart) and reused by the decision.
 */
export interface Place {
  /** The named networks the client address falls in. */
  networks: Network[];
  /** What is remembered for the place's network or address range for this person; undefined: never. */
  remembered: number | boolean | undefined;
}

/** When the network and device of a sign-in were last remembered (ms), as assess() found them. */
export interface Seen {
  net?: number;
  device?: number;
}

export class RiskAssessor {
  private readonly ttl: TtlStore;
  private readonly throttle: Throttle;
  private readonly config: CoreConfig['access']['risk'];
  constructor(ttl: TtlStore, throttle: Throttle, config: CoreConfig['access']['risk']) {
    this.ttl = ttl;
    this.throttle = throttle;
    this.config = config;
  }

  async assess(input: RiskInput): Promise<{ risk: { level: RiskLevel; signals: Reason[] }; seen: Seen }> {
    const signals: Array<Reason & { level: RiskLevel }> = [];
    const windowStart = input.now - this.config.windowMinutes * 60_000;
    const failures = input.failures ?? (await this.throttle.failures({ user: input.username, ...(input.clientIp ? { ip: input.clientIp } : {}) }));
    const velocity = (count: number | undefined, updatedAt: number | undefined, medium: number, high: number): RiskLevel | undefined => {
      if (count === undefined || updatedAt === undefined || updatedAt < windowStart) return undefined;
      return count >= high ? 'high' : count >= medium ? 'medium' : undefined;
    };
    const userLevel = velocity(failures.user?.count, failures.user?.updatedAt, this.config.userFailuresMedium, this.config.userFailuresHigh);
    if (userLevel) signals.push({ level: userLevel, code: 'failed_attempts_user', description: `${failures.user!.count} recent failed attempts on this account` });
    const ipLevel = velocity(failures.ip?.count, failures.ip?.updatedAt, this.config.ipFailuresMedium, this.config.ipFailuresHigh);
    if (ipLevel) signals.push({ level: ipLevel, code: 'failed_attempts_ip', description: `${failures.ip!.count} recent failed attempts from this address` });

    for (const network of input.networks.filter((n) => n.risky)) {
      signals.push({ level: 'high', code: 'risky_network', description: `sign-in from network '${network.name}', marked as risky` });
    }
    const seen: Seen = {};
    const place = placeOf(input);
    if (place) {
      const at = input.place ? input.place.remembered : await this.ttl.get<number | boolean>(seenKey(input.userId, 'net', place));
      if (at === undefined) signals.push({ level: 'medium', code: 'new_network', description: `first sign-in from ${place.startsWith('net:') ? `network '${place.slice(4)}'` : `address range ${place}`}` });
      else if (typeof at === 'number') seen.net = at;
    }
    if (input.deviceId) {
      const at = await this.ttl.get<number | boolean>(seenKey(input.userId, 'device', input.deviceId));
      if (at === undefined) signals.push({ level: 'medium', code: 'new_device', description: 'first sign-in from this device' });
      else if (typeof at === 'number') seen.device = at;
    }

    const level = signals.reduce<RiskLevel>((max, s) => (RISK_ORDER[s.level] > RISK_ORDER[max] ? s.level : max), 'low');
    return { risk: { level, signals: signals.map(({ level: _l, ...reason }) => reason) }, seen };
  }

  /** The place of a sign-in from an address in `networks`: what the risk memory holds for it. */
  async place(input: Pick<RiskInput, 'userId' | 'clientIp' | 'networks'>): Promise<Place> {
    const key = placeOf(input);
    return { networks: input.networks, remembered: key ? await this.ttl.get<number | boolean>(seenKey(input.userId, 'net', key)) : undefined };
  }

  /**
   * Whether a place is familiar: this person signed in from its network or address range before
   * (as remember() records it). An address in a network marked risky never is.
   */
  static familiar(place: Place): boolean {
    return place.remembered !== undefined && !place.networks.some((n) => n.risky);
  }

  /** Whether this person signed in with this device before. */
  async knownDevice(userId: string, deviceId: string): Promise<boolean> {
    return (await this.ttl.get(seenKey(userId, 'device', deviceId))) !== undefined;
  }

  /**
   * After an allowed sign-in the network and device become known for this user, for 180 days.
   * What assess() found remembered within the last day is left as is: a good sign-in usually writes nothing.
   */
  async remember(input: RiskInput, seen: Seen = {}): Promise<void> {
    const stale = (at: number | undefined) => at === undefined || input.now - at > SEEN_REFRESH_MS;
    const place = placeOf(input);
    if (place && stale(seen.net)) await this.ttl.put(seenKey(input.userId, 'net', place), input.now, SEEN_TTL_SECONDS);
    if (input.deviceId && stale(seen.device)) await this.ttl.put(seenKey(input.userId, 'device', input.deviceId), input.now, SEEN_TTL_SECONDS);
  }
}

/**
 * Where the sign-in comes from: its first named network, else the address's /24 (IPv4) or /48
 * (IPv6), written as ipaddr.js writes a network address (the risk memory's keys). The prefix is
 * taken from the parsed address's octets or parts: ipaddr's CIDR helpers parse the text again, and
 * this runs a few times in every sign-in.
 */
export function placeOf(input: Pick<RiskInput, 'clientIp' | 'networks'>): string | undefined {
  const named = input.networks.find((n) => !n.risky);
  if (named) return `net:${named.name}`;
  if (!input.clientIp) return undefined;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(input.clientIp);
  } catch {
    return undefined;
  }
  if (addr.kind() === 'ipv4') {
    const [a, b, c] = (addr as ipaddr.IPv4).octets;
    return `${a}.${b}.${c}.0/24`;
  }
  const [a, b, c] = (addr as ipaddr.IPv6).parts;
  return `${new ipaddr.IPv6([a!, b!, c!, 0, 0, 0, 0, 0]).toString()}/48`;
}

const seenKey = (userId: string, kind: 'net' | 'device', what: string) => `seen:${userId}:${kind}:${what}`;
