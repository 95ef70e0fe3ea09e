/** RADIUS reply attributes from groups (src/access/radius-reply.ts): mapping and the documented precedence. */
import { describe, expect, it } from 'vitest';
import { radiusPrecedence, radiusReplyFor } from '../../../src/access/radius-reply.ts';

const g = (name: string, attributes: Record<string, string | number | boolean | string[]>) => ({ name, attributes });

describe('radiusReplyFor', () => {
  it('maps the group attributes to dictionary names (VLAN as the RFC 3580 tunnel triple, tag 1)', () => {
    const { items, problems } = radiusReplyFor([g('eng', { radiusVlan: '20', radiusFilterId: 'eng-acl', radiusClass: 'eng', radiusSessionTimeout: 600, radiusFramedIpAddress: '10.8.0.9', radiusReply: ['Cisco-AVPair = a=b', 'Fortinet-Group-Name="fg"'] })]);
    expect(problems).toEqual([]);
    expect(items.map((i) => [i.attribute, i.value, i.tag])).toEqual([
      ['Tunnel-Type', 'VLAN', 1], ['Tunnel-Medium-Type', 'IEEE-802', 1], ['Tunnel-Private-Group-Id', '20', 1],
      ['Filter-Id', 'eng-acl', undefined], ['Class', 'eng', undefined], ['Session-Timeout', 600, undefined], ['Framed-IP-Address', '10.8.0.9', undefined],
      ['Cisco-AVPair', 'a=b', undefined], ['Fortinet-Group-Name', 'fg', undefined],
    ]);
  });

  it('when groups disagree: the highest radiusPriority, then the first name; whatever the input order', () => {
    const groups = [g('zeta', { radiusVlan: 30, radiusPriority: 5 }), g('alpha', { radiusVlan: 10, radiusClass: 'a' }), g('beta', { radiusVlan: 20, radiusClass: 'b', radiusFilterId: 'f' })];
    for (const order of [groups, [...groups].reverse(), [groups[1]!, groups[0]!, groups[2]!]]) {
      const { items } = radiusReplyFor(order);
      expect(items.map((i) => `${i.attribute}=${i.value}@${i.group}`)).toEqual([
        'Tunnel-Type=VLAN@zeta', 'Tunnel-Medium-Type=IEEE-802@zeta', 'Tunnel-Private-Group-Id=30@zeta', 'Class=a@alpha', 'Filter-Id=f@beta',
      ]);
    }
    expect(radiusPrecedence(groups).map((x) => x.name)).toEqual(['zeta', 'alpha', 'beta']);
  });

  it('a radiusReply attribute comes from one group only (all its values there), and competes with the named keys', () => {
    const { items } = radiusReplyFor([g('a', { radiusReply: ['Cisco-AVPair = x', 'Cisco-AVPair = y'] }), g('b', { radiusReply: ['Cisco-AVPair = z', 'Filter-Id = from-b'], radiusPriority: -1 }), g('c', { radiusFilterId: 'from-c' })]);
    expect(items.map((i) => `${i.attribute}=${i.value}@${i.group}`)).toEqual(['Cisco-AVPair=x@a', 'Cisco-AVPair=y@a', 'Filter-Id=from-c@c']);
  });

  it('names what it cannot read instead of sending it', () => {
    const { items, problems } = radiusReplyFor([g('bad', { radiusVlan: 5000, radiusSessionTimeout: 'long', radiusFramedIpAddress: '10.0.0.300', radiusReply: ['no equals sign'] })]);
    expect(items).toEqual([]);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^bad: radiusVlan 5000/);
  });
});
