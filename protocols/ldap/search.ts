/**
 * Search (RFC 4511 §4.5): scope, filter, access control, attribute selection, size limit.
 *
 * Access control, first version: anonymous sees only the root DSE; a bound user sees the naming
 * context and its two containers, their own entry and the groups they belong to (nested
 * membership counts); members of `ldap.readGroups` see everything. userPassword is never held in
 * an entry, so it can never be returned.
 */
import type { FilterNode } from '@ldapjs/filter';
import type { Core } from '../../src/core.ts';
import type { BoundUser } from './bind.ts';
import { RESULT, WHO_AM_I } from './codes.ts';
import { isUnder, sameDn } from './dn.ts';
import { matches } from './filter.ts';
import type { LdapOptions } from './options.ts';
import { readTree, type Entry, type Tree } from './tree.ts';

export const SCOPE = { base: 0, one: 1, sub: 2 } as const;

export interface SearchInput {
  base: string[] | undefined;
  scope: number;
  filter: FilterNode;
  attributes: string[];
  sizeLimit: number;
  typesOnly: boolean;
}

export interface SearchOutput {
  entries: Array<{ dn: string; attributes: Array<{ type: string; values: string[] }> }>;
  status: number;
  message?: string;
  matchedDN?: string;
}

export async function search(core: Core, options: LdapOptions, bound: BoundUser | undefined, input: SearchInput): Promise<SearchOutput> {
  if (!input.base) return { entries: [], status: RESULT.invalidDNSyntax, message: 'the base object is not a valid DN' };
  if (input.base.length === 0 && input.scope === SCOPE.base) {
    const root = rootDse(options);
    return { entries: matches(input.filter, root) ? [project(root, input)] : [], status: RESULT.success };
  }
  const tree = await readTree(core, options.baseDn);
  const visible = visibility(tree, options, bound);
  if (!visible) return { entries: [], status: RESULT.success };

  const all = [tree.base, tree.people, tree.groups, ...tree.users, ...tree.groupEntries].filter(visible);
  const base = input.base;
  if (!all.some((e) => sameDn(e.rdns, base))) {
    const context = tree.base.rdns;
    return { entries: [], status: RESULT.noSuchObject, message: 'no such object', ...(isUnder(base, context) ? { matchedDN: tree.base.dn } : {}) };
  }
  const inScope = all.filter((e) => (input.scope === SCOPE.base ? sameDn(e.rdns, base) : input.scope === SCOPE.one ? e.rdns.length === base.length + 1 && isUnder(e.rdns, base) : isUnder(e.rdns, base)));
  const limit = Math.min(options.sizeLimit, input.sizeLimit > 0 ? input.sizeLimit : Infinity);
  const entries: SearchOutput['entries'] = [];
  for (const entry of inScope) {
    if (!matches(input.filter, entry)) continue;
    if (entries.length >= limit) return { entries, status: RESULT.sizeLimitExceeded, message: `more than ${limit} entries match` };
    entries.push(project(entry, input));
  }
  return { entries, status: RESULT.success };
}

/** Which entries the requester may see; undefined = none. Re-read every search, so a suspension or a group change applies at once. */
function visibility(tree: Tree, options: LdapOptions, bound: BoundUser | undefined): ((e: Entry) => boolean) | undefined {
  if (!bound) return undefined;
  const user = tree.userById.get(bound.userId);
  if (!user || user.status !== 'active') return undefined;
  const groupIds = tree.groupsOfUser.get(user.id) ?? new Set<string>();
  const readGroups = new Set(options.readGroups);
  if ([...groupIds].some((id) => readGroups.has(tree.groupById.get(id)?.name ?? ''))) return () => true;
  return (e) => e.kind === 'base' || e.kind === 'container' || (e.kind === 'user' && e.id === user.id) || (e.kind === 'group' && groupIds.has(e.id ?? ''));
}

/** RFC 4512 §5.1: the root DSE. */
function rootDse(options: LdapOptions): Entry {
  return {
    dn: '',
    rdns: [],
    kind: 'base',
    attributes: { objectClass: ['top'] },
    operational: {
      namingContexts: [options.baseDn],
      supportedLDAPVersion: ['3'],
      supportedExtension: [WHO_AM_I],
      vendorName: ['Gatehouse'],
    },
  };
}

/**
 * RFC 4511 §4.5.1.8: no attributes or '*' = all user attributes; '+' = all operational ones
 * (RFC 3673); '1.1' = none; names match case-insensitively. The root DSE's attributes are all
 * operational but are returned for '*' too, as most clients expect.
 */
function project(entry: Entry, input: SearchInput): { dn: string; attributes: Array<{ type: string; values: string[] }> } {
  const requested = input.attributes.map((a) => a.toLowerCase());
  const all = requested.length === 0 || requested.includes('*');
  const operational = requested.includes('+') || (entry.dn === '' && all);
  const out: Array<{ type: string; values: string[] }> = [];
  const add = (attrs: Record<string, string[]>, include: boolean) => {
    for (const [type, values] of Object.entries(attrs)) {
      if (include || requested.includes(type.toLowerCase())) out.push({ type, values: input.typesOnly ? [] : values });
    }
  };
  add(entry.attributes, all);
  add(entry.operational, operational);
  return { dn: entry.dn, attributes: out };
}
