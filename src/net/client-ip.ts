/**
 * The client's address: the socket's, unless the socket belongs to a configured trusted proxy, in
 * which case X-Forwarded-For is walked from the right, skipping trusted proxies (the rightmost
 * untrusted address is the first one no trusted party vouches for). IPv4-mapped IPv6 addresses
 * (::ffff:192.0.2.1) are normalised to IPv4 so one address has one spelling everywhere.
 */
import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export function normalizeIp(address: string): string | undefined {
  const text = address.trim().replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (!isIP(text)) return undefined;
  const parsed = ipaddr.parse(text);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) return (parsed as ipaddr.IPv6).toIPv4Address().toString();
  return parsed.toString();
}

/** A set of CIDRs (canonical strings, as the model stores them) answering "does it contain this address?". */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [net, bits] = cidr.split('/') as [string, string];
      this.list.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
    }
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    const ip = normalizeIp(address);
    if (!ip) return false;
    return this.list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
  }
}

export function clientIp(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trustedProxies: CidrSet): string | undefined {
  const direct = socketAddress ? normalizeIp(socketAddress) : undefined;
  if (!direct || trustedProxies.size === 0 || !trustedProxies.has(direct)) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? '')).split(',').map((h) => h.trim()).filter(Boolean);
  let client = direct;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]!);
    if (!hop) break; // garbage in the header: stop at the last address we could vouch for
    client = hop;
    if (!trustedProxies.has(hop)) break;
  }
  return client;
}
