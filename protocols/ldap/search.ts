/**
 * Search (RFC 4511 §4.5): scope, filter, access control, attribute selection, size limit, paged
 * results (RFC 2696, paging.ts), the root DSE and the subschema subentry (schema.ts).
 *
 * Access control, first version: anonymous sees only the root DSE; a bound user sees the naming
 * context and its two containers, their own entry and the groups they belong to (nested
 * membership counts); members of `ldap.readGroups` see everything; anyone bound reads
 * cn=Subschema. userPassword is never held in
 * an entry, so it can never be returned.
 */
import ldapControls from '@ldapjs/controls';
import type { Control } from '@ldapjs/controls';
import type { FilterNode } from '@ldapjs/filter';
import type { Core } from '../../src/core.ts';
import type { BoundUser } from './bind.ts';
import { RESULT, START_TLS } from './codes.ts';
import { isUnder, sameDn } from './dn.ts';
import { SUPPORTED_EXTENSIONS } from './extended.ts';
import { filterTooLarge, matches } from './filter.ts';
import type { LdapOptions } from './options.ts';
import { issueCookie, PAGED_RESULTS, pageRequestOf, readCookie, type PageRequest, type RequestControl } from './paging.ts';
import { SUBSCHEMA_DN, subschemaEntry } from './schema.ts';
import { readTree, type Entry, type Tree } from './tree.ts';

const { PagedResultsControl } = ldapControls;

export const SCOPE = { base: 0, one: 1, sub: 2 } as const;

/** Request controls a search understands (advertised as supportedControl in the root DSE). */
export const SUPPORTED_CONTROLS: readonly string[] = [PAGED_RESULTS];
/** RFC 4511 §4.1.11: a critical control the server does not implement. */
const UNAVAILABLE_CRITICAL_EXTENSION = 12;

export interface SearchInput {
  base: string[] | undefined;
  scope: number;
  filter: FilterNode;
  attributes: string[];
  sizeLimit: number;
  /** Seconds the client allows (RFC 4511 §4.5.1.5); 0 = none asked for. Absent = 0. */
  timeLimit?: number;
  typesOnly: boolean;
  /** The request's controls (RFC 4511 §4.1.11), as @ldapjs/messages decodes them. */
  controls?: readonly RequestControl[];
}

export interface SearchOutput {
  entries: Array<{ dn: string; attributes: Array<{ type: string; values: string[] }> }>;
  status: number;
  message?: string;
  matchedDN?: string;
  /** Response controls for the SearchResultDone (the paged results cookie). */
  controls?: Control[];
}

type Found = { entries: Entry[] } | Omit<SearchOutput, 'entries' | 'controls'>;

/** Over the time limit: checked between entries while evaluating and projecting. */
interface Clock {
  deadline: number;
  seconds: number;
}
const timeUp = (clock: Clock) => performance.now() > clock.deadline;
const timeLimitExceeded = (clock: Clock) => ({ status: RESULT.timeLimitExceeded, message: `the search took longer than ${clock.seconds} s` });

export async function search(core: Core, options: LdapOptions, bound: BoundUser | undefined, input: SearchInput): Promise<SearchOutput> {
  if (!input.base) return { entries: [], status: RESULT.invalidDNSyntax, message: 'the base object is not a valid DN' };
  const unknown = input.controls?.find((c) => c.criticality && !SUPPORTED_CONTROLS.includes(c.type));
  if (unknown) return { entries: [], status: UNAVAILABLE_CRITICAL_EXTENSION, message: `unsupported critical control ${unknown.type}` };
  const page = pageRequestOf(input.controls);
  if (typeof page === 'string') return { entries: [], status: RESULT.protocolError, message: page };
  // Checked before any evaluation, iteratively: a hostile filter costs neither stack nor time.
  const tooLarge = filterTooLarge(input.filter, options.maxFilterDepth, options.maxFilterElements);
  if (tooLarge) return { entries: [], status: RESULT.unwillingToPerform, message: tooLarge };
  // RFC 4511 §4.5.1.5: the client's timeLimit (0 = none) can only lower the server's.
  const seconds = Math.min(options.timeLimitSeconds, (input.timeLimit ?? 0) > 0 ? input.timeLimit! : Infinity);
  const clock: Clock = { deadline: performance.now() + seconds * 1000, seconds };

  const found = await find(core, options, bound, { ...input, base: input.base }, clock);
  if (!('entries' in found)) return { entries: [], ...found };
  // RFC 4511 §4.5.1.5: the size limit counts the whole search; a paged search is one search too,
  // so ldap.sizeLimit caps the sum of its pages (README.md, "Paged results").
  const limit = Math.min(options.sizeLimit, input.sizeLimit > 0 ? input.sizeLimit : Infinity);
  if (page) return paged(found.entries, page, limit, fingerprint(bound, { ...input, base: input.base }), input);
  const entries: SearchOutput['entries'] = [];
  for (const entry of found.entries) {
    if (timeUp(clock)) return { entries, ...timeLimitExceeded(clock) };
    if (entries.length >= limit) return { entries, status: RESULT.sizeLimitExceeded, message: `more than ${limit} entries match` };
    entries.push(project(entry, input));
  }
  return { entries, status: RESULT.success };
}

/** The entries in scope that match the filter and that the requester may see, or why none. */
async function find(core: Core, options: LdapOptions, bound: BoundUser | undefined, input: SearchInput & { base: string[] }, clock: Clock): Promise<Found> {
  const base = input.base;
  if (base.length === 0 && input.scope === SCOPE.base) {
    const root = rootDse(options);
    return { entries: matches(input.filter, root) ? [root] : [] };
  }
  const tree = await readTree(core, options.baseDn);
  const visible = visibility(tree, options, bound);
  if (!visible) return { entries: [] };

  // RFC 4512 §4.2: the subschema subentry, readable by anyone bound; it has no children.
  const subschema = subschemaEntry();
  if (sameDn(base, subschema.rdns)) return { entries: input.scope !== SCOPE.one && matches(input.filter, subschema) ? [subschema] : [] };

  const all = [tree.base, tree.people, tree.groups, ...tree.users, ...tree.groupEntries].filter(visible);
  if (!all.some((e) => sameDn(e.rdns, base))) {
    const context = tree.base.rdns;
    return { status: RESULT.noSuchObject, message: 'no such object', ...(isUnder(base, context) ? { matchedDN: tree.base.dn } : {}) };
  }
  const inScope = all.filter((e) => (input.scope === SCOPE.base ? sameDn(e.rdns, base) : input.scope === SCOPE.one ? e.rdns.length === base.length + 1 && isUnder(e.rdns, base) : isUnder(e.rdns, base)));
  const matching: Entry[] = [];
  for (const entry of inScope) {
    if (timeUp(clock)) return timeLimitExceeded(clock);
    if (matches(input.filter, entry)) matching.push(entry);
  }
  return { entries: matching };
}

/**
 * RFC 2696 §3: one page of a paged search. The cookie (paging.ts) is signed over the search's
 * fingerprint, so a changed search or a forged cookie is refused; size 0 abandons the search
 * (nothing is held server-side, so there is nothing to free); an empty cookie ends the paging.
 */
function paged(entries: Entry[], page: PageRequest, limit: number, print: string, input: SearchInput): SearchOutput {
  const done = (status: number, sent: Entry[], cookie: Buffer, message?: string): SearchOutput => ({
    entries: sent.map((e) => project(e, input)),
    status,
    ...(message ? { message } : {}),
    // The size is the server's estimate of the total; 0 = "no estimate" (RFC 2696 §2).
    controls: [new PagedResultsControl({ value: { size: 0, cookie } })],
  });
  let position = { after: '', sent: 0 };
  if (page.cookie.length) {
    const read = readCookie(print, page.cookie);
    if (!read) return done(RESULT.unwillingToPerform, [], Buffer.alloc(0), 'paged results cookie is invalid: it expired, or the search changed since the previous page');
    position = read;
  }
  if (page.size === 0) return done(RESULT.success, [], Buffer.alloc(0));
  // A total order that does not depend on the store's: parents before children, by normalized DN.
  const ordered = entries.map((e) => ({ e, key: sortKey(e) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const rest = position.after ? ordered.filter((x) => x.key > position.after) : ordered;
  const allowed = Math.max(0, limit - position.sent);
  const take = Math.min(page.size, allowed);
  const sent = rest.slice(0, take);
  if (rest.length <= take) return done(RESULT.success, sent.map((x) => x.e), Buffer.alloc(0));
  if (take < page.size) return done(RESULT.sizeLimitExceeded, sent.map((x) => x.e), Buffer.alloc(0), `more than ${limit} entries match`);
  const cookie = issueCookie(print, { after: sent[sent.length - 1]!.key, sent: position.sent + take });
  return done(RESULT.success, sent.map((x) => x.e), cookie);
}

function sortKey(entry: Entry): string {
  return [...entry.rdns].reverse().join('\u0000');
}

/** What must stay the same from page to page (RFC 2696 §3): everything but the cookie and the size. */
function fingerprint(bound: BoundUser | undefined, input: SearchInput & { base: string[] }): string {
  return JSON.stringify([bound?.dn ?? '', input.base, input.scope, input.filter.toString(), input.attributes.map((a) => a.toLowerCase()), input.typesOnly, input.sizeLimit]);
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
      // StartTLS only where it can succeed (RFC 4511 §4.14: clients look here before trying).
      supportedExtension: SUPPORTED_EXTENSIONS.filter((oid) => oid !== START_TLS || options.tls !== undefined),
      supportedControl: [...SUPPORTED_CONTROLS],
      subschemaSubentry: [SUBSCHEMA_DN],
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
