/**
 * The place a sign-in comes from (src/access/risk.ts placeOf): the key under which the risk memory
 * remembers a person's networks. Keys written before must still be found, so the prefix is exactly
 * what ipaddr.js's CIDR helpers give, for IPv4, IPv6, IPv4-mapped IPv6 and scoped addresses.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import ipaddr from 'ipaddr.js';
import { placeOf } from '../../../src/access/risk.ts';
import type { Network } from '../../../src/directory/model.ts';

/** The key as it was computed before (and is stored): ipaddr's network address of the /24 or /48. */
function before(ip: string): string {
  const addr = ipaddr.parse(ip);
  const bits = addr.kind() === 'ipv4' ? 24 : 48;
  const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  return `${network.toString()}/${bits}`;
}

const network = (name: string, risky = false) => ({ name, risky }) as Network;

describe('placeOf', () => {
  it('the first network that is not risky, by name', () => {
    expect(placeOf({ clientIp: '192.0.2.7', networks: [network('tor', true), network('office'), network('lab')] })).toBe('net:office');
  });

  it("else the address's /24 or /48, as the risk memory has always written it", () => {
    expect(placeOf({ clientIp: '192.0.2.77', networks: [] })).toBe('192.0.2.0/24');
    expect(placeOf({ clientIp: '2001:db8:1:2::5', networks: [network('tor', true)] })).toBe('2001:db8:1::/48');
    expect(placeOf({ clientIp: '2001:db8::1', networks: [] })).toBe('2001:db8::/48');
    const samples = ['10.0.0.1', '255.255.255.255', '0.0.0.0', '::1', '::', '::ffff:192.0.2.1', 'fe80::1:2:3:4', '2001:0db8:0000:0000:0000:0000:0000:0001'];
    for (let i = 0; i < 200; i++) {
      const v4 = randomBytes(4);
      samples.push([...v4].join('.'));
      samples.push(new ipaddr.IPv6(Array.from({ length: 8 }, (_, j) => (i % 3 === 0 && j > 2 ? 0 : randomBytes(2).readUInt16BE()))).toString());
    }
    for (const ip of samples) expect(placeOf({ clientIp: ip, networks: [] }), ip).toBe(before(ip));
  });

  it('none for an address that is not one, or none at all; a scoped IPv6 address is its /48', () => {
    for (const ip of ['', 'not-an-ip', '300.1.1.1', '1.2.3.4.5', '::g']) expect(placeOf({ clientIp: ip, networks: [] }), ip).toBeUndefined();
    expect(placeOf({ networks: [] })).toBeUndefined();
    expect(placeOf({ clientIp: 'fe80::1%eth0', networks: [] })).toBe('fe80::/48');
  });
});
