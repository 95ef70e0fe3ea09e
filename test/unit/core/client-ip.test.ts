import { describe, expect, it } from 'vitest';
import { CidrSet, clientIp, normalizeIp } from '../../../src/net/client-ip.ts';
import { normalizeCidr } from '../../../src/directory/model.ts';

describe('client address', () => {
  const proxies = new CidrSet(['10.0.0.0/8', '2001:db8:ffff::/48']);

  it.each([
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['[2001:DB8::1]', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['192.0.2.300', undefined],
    ['not an ip', undefined],
  ])('normalises %s', (input, expected) => expect(normalizeIp(input)).toBe(expected));

  it('uses the socket address unless it is a trusted proxy', () => {
    expect(clientIp('203.0.113.5', '198.51.100.1', proxies)).toBe('203.0.113.5');
    expect(clientIp('::ffff:10.1.2.3', '198.51.100.1', proxies)).toBe('198.51.100.1');
    expect(clientIp('10.1.2.3', undefined, proxies)).toBe('10.1.2.3');
    expect(clientIp('203.0.113.5', undefined, new CidrSet([]))).toBe('203.0.113.5');
  });

  it('walks X-Forwarded-For from the right past trusted proxies only', () => {
    // A client-supplied leftmost entry is never believed past an untrusted hop.
    expect(clientIp('10.0.0.1', '1.1.1.1, 198.51.100.9, 10.0.0.2', proxies)).toBe('198.51.100.9');
    expect(clientIp('10.0.0.1', ['1.1.1.1', '10.0.0.2'], proxies)).toBe('1.1.1.1');
    expect(clientIp('10.0.0.1', 'garbage, 10.0.0.2', proxies)).toBe('10.0.0.2');
    expect(clientIp('2001:db8:ffff::1', '::ffff:198.51.100.4', proxies)).toBe('198.51.100.4');
  });

  it('matches IPv4 and IPv6 CIDRs, with mapped addresses as IPv4', () => {
    const office = new CidrSet([normalizeCidr('192.168.10.0/24'), normalizeCidr('2001:db8:10::/48')]);
    expect(office.has('192.168.10.77')).toBe(true);
    expect(office.has('::ffff:192.168.10.77')).toBe(true);
    expect(office.has('192.168.11.1')).toBe(false);
    expect(office.has('2001:db8:10:1::5')).toBe(true);
    expect(office.has('2001:db8:11::5')).toBe(false);
    expect(office.has('junk')).toBe(false);
  });

  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['192.0.2.7', '192.0.2.7/32'],
    ['2001:DB8:0:0::/32', '2001:db8::/32'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
  ])('canonicalises CIDR %s', (input, expected) => expect(normalizeCidr(input)).toBe(expected));

  it.each(['10.0.0.1/8', '10.0.0.0/33', '300.0.0.0/8', 'example.com', '', '10.0.0.0/-1'])('refuses CIDR %j', (input) => expect(() => normalizeCidr(input)).toThrow());
});
