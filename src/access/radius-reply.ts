/**
 * The RADIUS reply attributes a person's groups give (issue 13, item 6), computed once here so the
 * RADIUS front-end sends what `gatehouse policy explain` shows. Groups carry them as free-form
 * attributes (the Group model's `attributes`, no schema change):
 *
 *   radiusVlan: 20                      → Tunnel-Type = VLAN, Tunnel-Medium-Type = IEEE-802,
 *                                         Tunnel-Private-Group-Id = "20" (RFC 3580 §3.31, tag 1)
 *   radiusFilterId: vpn-staff           → Filter-Id
 *   radiusClass: staff                  → Class
 *   radiusSessionTimeout: 28800         → Session-Timeout (seconds)
 *   radiusFramedIpAddress: 10.8.0.10    → Framed-IP-Address
 *   radiusReply: ["Cisco-AVPair = shell:priv-lvl=15", "Fortinet-Group-Name = vpn"]
 *                                       → any dictionary attribute, vendor-specific ones included
 *   radiusPriority: 10                  → precedence (default 0)
 *
 * Precedence when groups disagree: for each attribute, only the groups of highest `radiusPriority`
 * that set it count, and among those the first by group name (ascending); a `radiusReply` attribute
 * listed several times in that one group keeps all its values (Cisco-AVPair). Deterministic whatever
 * order the store lists groups in. Names in `radiusReply` are checked against the dictionary by the
 * front-end (an unknown one is skipped and logged there); this module knows no dictionary.
 */
import type { Group } from '../directory/model.ts';

export interface RadiusReplyItem {
  /** A dictionary attribute name. */
  attribute: string;
  value: string | number;
  /** RFC 2868 tag, for the tunnel attributes of a VLAN. */
  tag?: number;
  /** The group it comes from. */
  group: string;
}

export interface RadiusReply {
  items: RadiusReplyItem[];
  /** Group attributes that could not be read (`engineering: radiusVlan "abc" is not a VLAN id 1-4094`). */
  problems: string[];
}

type GroupLike = Pick<Group, 'name' | 'attributes'>;

const SINGLE: ReadonlyArray<[key: string, attribute: string, kind: 'text' | 'seconds' | 'ipv4']> = [
  ['radiusFilterId', 'Filter-Id', 'text'],
  ['radiusClass', 'Class', 'text'],
  ['radiusSessionTimeout', 'Session-Timeout', 'seconds'],
  ['radiusFramedIpAddress', 'Framed-IP-Address', 'ipv4'],
];

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function priority(group: GroupLike): number {
  const p = group.attributes.radiusPriority;
  const n = typeof p === 'number' ? p : typeof p === 'string' && /^-?\d+$/.test(p) ? Number(p) : 0;
  return Number.isFinite(n) ? n : 0;
}

/** Groups in precedence order: highest radiusPriority first, then by name. */
export function radiusPrecedence<G extends GroupLike>(groups: readonly G[]): G[] {
  return [...groups].sort((a, b) => priority(b) - priority(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** `Attribute-Name = value` (spaces around `=` optional; the value may be quoted). */
function parseReplyLine(line: string): { attribute: string; value: string } | undefined {
  const match = /^\s*([A-Za-z][A-Za-z0-9._-]*)(?::(\d{1,2}))?\s*=\s*(.*?)\s*$/.exec(line);
  if (!match || match[3] === '') return undefined;
  let value = match[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return { attribute: match[1]!, value };
}

/** The reply attributes for a person in `groups` (every group they are in, nested ones included). */
export function radiusReplyFor(groups: readonly GroupLike[]): RadiusReply {
  const items: RadiusReplyItem[] = [];
  const problems: string[] = [];
  const taken = new Set<string>();
  const take = (group: GroupLike, list: Array<Omit<RadiusReplyItem, 'group'>>, key: string) => {
    if (taken.has(key)) return;
    taken.add(key);
    for (const item of list) items.push({ ...item, group: group.name });
  };
  for (const group of radiusPrecedence(groups)) {
    const a = group.attributes;
    if (a.radiusVlan !== undefined) {
      const vlan = String(a.radiusVlan);
      if (/^\d{1,4}$/.test(vlan) && Number(vlan) >= 1 && Number(vlan) <= 4094) {
        take(group, [
          { attribute: 'Tunnel-Type', value: 'VLAN', tag: 1 },
          { attribute: 'Tunnel-Medium-Type', value: 'IEEE-802', tag: 1 },
          { attribute: 'Tunnel-Private-Group-Id', value: String(Number(vlan)), tag: 1 },
        ], 'vlan');
      } else {
        problems.push(`${group.name}: radiusVlan ${JSON.stringify(a.radiusVlan)} is not a VLAN id 1-4094`);
      }
    }
    for (const [key, attribute, kind] of SINGLE) {
      const raw = a[key];
      if (raw === undefined) continue;
      const text = String(raw);
      const ok = kind === 'text' ? text.length > 0 && Buffer.byteLength(text) <= 253 : kind === 'seconds' ? /^\d{1,10}$/.test(text) && Number(text) <= 0xffffffff : IPV4.test(text);
      if (!ok) {
        problems.push(`${group.name}: ${key} ${JSON.stringify(raw)} is not ${kind === 'text' ? 'text of 1-253 octets' : kind === 'seconds' ? 'a number of seconds' : 'an IPv4 address'}`);
        continue;
      }
      take(group, [{ attribute, value: kind === 'seconds' ? Number(text) : text }], attribute.toLowerCase());
    }
    if (a.radiusReply !== undefined) {
      const lines = Array.isArray(a.radiusReply) ? a.radiusReply : [String(a.radiusReply)];
      const byAttribute = new Map<string, Array<Omit<RadiusReplyItem, 'group'>>>();
      for (const line of lines) {
        const parsed = parseReplyLine(line);
        if (!parsed) {
          problems.push(`${group.name}: radiusReply ${JSON.stringify(line)} is not "Attribute-Name = value"`);
          continue;
        }
        const key = parsed.attribute.toLowerCase();
        byAttribute.set(key, [...(byAttribute.get(key) ?? []), parsed]);
      }
      for (const [key, list] of byAttribute) take(group, list, key);
    }
  }
  return { items, problems };
}
