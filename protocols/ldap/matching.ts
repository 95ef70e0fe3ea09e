/**
 * Attribute syntaxes and matching rules (RFC 4517 §4.2) for the attribute types this directory
 * shows (schema.ts has their definitions), used by search filters (filter.ts): the equality of
 * plain filters and the rules an extensible match (RFC 4511 §4.5.1.7.7) may name.
 */
import { parseDn } from './dn.ts';

export type Syntax = 'directoryString' | 'ia5' | 'dn' | 'integer' | 'octets' | 'oid' | 'time' | 'uuid' | 'other';

/** Alternative names (RFC 4519 and friends) of the attribute types shown here, lower-cased. */
const ALIASES: Record<string, string> = {
  commonname: 'cn',
  surname: 'sn',
  userid: 'uid',
  domaincomponent: 'dc',
  organizationname: 'o',
  organizationalunitname: 'ou',
  rfc822mailbox: 'mail',
};

/** The attribute a filter names, as looked up in an entry: lower-cased, options (`;binary`) dropped, aliases resolved. */
export function canonicalAttribute(name: string): string {
  const lower = name.toLowerCase();
  const semicolon = lower.indexOf(';');
  const bare = semicolon < 0 ? lower : lower.slice(0, semicolon);
  return ALIASES[bare] ?? bare;
}

const SYNTAX: Record<string, Syntax> = {
  cn: 'directoryString', sn: 'directoryString', givenname: 'directoryString', displayname: 'directoryString', description: 'directoryString',
  uid: 'directoryString', o: 'directoryString', ou: 'directoryString', name: 'directoryString', vendorname: 'directoryString',
  mail: 'ia5', dc: 'ia5', homedirectory: 'ia5', loginshell: 'ia5', memberuid: 'ia5', gecos: 'ia5',
  member: 'dn', memberof: 'dn', subschemasubentry: 'dn', namingcontexts: 'dn', distinguishedname: 'dn',
  uidnumber: 'integer', gidnumber: 'integer', supportedldapversion: 'integer',
  sshpublickey: 'octets',
  objectclass: 'oid', supportedextension: 'oid', supportedcontrol: 'oid',
  createtimestamp: 'time', modifytimestamp: 'time',
  entryuuid: 'uuid',
};

/** The syntax of a (canonical) attribute; unknown attributes are treated as strings. */
export function syntaxOf(attribute: string): Syntax {
  return SYNTAX[attribute] ?? 'other';
}

const spaces = (s: string) => s.trim().replace(/\s+/g, ' ');
const IA5 = /^[\x00-\x7f]*$/;
const INTEGER = /^\s*(-?)0*(\d+)\s*$/;

/** RFC 4517 §3.3.16: an INTEGER in canonical form (no leading zeros, no "-0"), or undefined. */
export function canonicalInteger(value: string): string | undefined {
  const m = INTEGER.exec(value);
  if (!m) return undefined;
  return m[2] === '0' ? '0' : `${m[1]}${m[2]}`;
}

/** Orders two canonical integers. */
export function compareIntegers(a: string, b: string): number {
  const big = BigInt(a) - BigInt(b);
  return big < 0n ? -1 : big > 0n ? 1 : 0;
}

/**
 * How values compare in plain filters (equality, ordering, substrings): integers numerically,
 * DNs as DNs, every other value case-insensitively with insignificant spaces dropped (README.md).
 * Undefined when the value is not valid for the attribute (an Undefined filter item).
 */
export function normalizeValue(attribute: string, value: string): string | undefined {
  switch (syntaxOf(attribute)) {
    case 'integer':
      return canonicalInteger(value);
    case 'dn':
      return parseDn(value)?.join(',');
    default:
      return spaces(value).toLowerCase();
  }
}

export interface MatchingRule {
  oid: string;
  name: string;
  /** The syntaxes of the attribute types the rule applies to (RFC 4512 §4.1.4, matchingRuleUse). */
  applies(syntax: Syntax): boolean;
  /** The value as the rule compares it, or undefined when it is not a valid value of the rule's syntax. */
  prepare(value: string): string | undefined;
}

const strings = (s: Syntax) => s === 'directoryString' || s === 'ia5' || s === 'other';

/** The equality rules an extensible match may name (by OID or by name). */
const RULES: readonly MatchingRule[] = [
  // RFC 4517 §4.2.11, §4.2.4: Unicode strings, insignificant spaces removed (RFC 4518, simplified).
  { oid: '2.5.13.2', name: 'caseIgnoreMatch', applies: strings, prepare: (v) => spaces(v.normalize('NFKC')).toLowerCase() },
  { oid: '2.5.13.5', name: 'caseExactMatch', applies: strings, prepare: (v) => spaces(v.normalize('NFKC')) },
  // RFC 4517 §4.2.13, §4.2.3: IA5 (ASCII) strings only.
  { oid: '1.3.6.1.4.1.1466.109.114.2', name: 'caseIgnoreIA5Match', applies: strings, prepare: (v) => (IA5.test(v) ? spaces(v).toLowerCase() : undefined) },
  { oid: '1.3.6.1.4.1.1466.109.114.1', name: 'caseExactIA5Match', applies: strings, prepare: (v) => (IA5.test(v) ? spaces(v) : undefined) },
  // RFC 4517 §4.2.15.
  { oid: '2.5.13.1', name: 'distinguishedNameMatch', applies: (s) => s === 'dn', prepare: (v) => parseDn(v)?.join(',') },
  // RFC 4517 §4.2.19.
  { oid: '2.5.13.14', name: 'integerMatch', applies: (s) => s === 'integer', prepare: canonicalInteger },
  // RFC 4517 §4.2.27: every value is an octet string.
  { oid: '2.5.13.17', name: 'octetStringMatch', applies: () => true, prepare: (v) => v },
  // RFC 4517 §4.2.22: digits and spaces; spaces are insignificant.
  { oid: '2.5.13.8', name: 'numericStringMatch', applies: (s) => s === 'integer' || strings(s), prepare: (v) => (/^[0-9 ]+$/.test(v) ? v.replace(/ /g, '') : undefined) },
];

const BY_KEY = new Map<string, MatchingRule>(RULES.flatMap((r) => [[r.oid, r] as const, [r.name.toLowerCase(), r] as const]));

/** The rule an extensible match names (OID or name, names case-insensitively); undefined when unknown. */
export function matchingRule(ref: string): MatchingRule | undefined {
  return BY_KEY.get(ref.trim().toLowerCase());
}

/** The names and OIDs of the supported rules (README.md). */
export const MATCHING_RULES: readonly { oid: string; name: string }[] = RULES.map(({ oid, name }) => ({ oid, name }));
