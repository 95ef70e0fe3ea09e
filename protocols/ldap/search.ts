/**
 * Search (RFC 4511 §4.5): scope, filter, access control, attribute selection, server-side limits
 * (filter size, entries examined, time, size), paged results (RFC 2696, paging.ts), the root DSE
 * and the subschema subentry (schema.ts).
 *
 * A search reads the current directory snapshot (cache.ts), takes its candidates from an equality
 * index when the filter allows (filter.ts), else the entries in scope — a subtree is a contiguous
 * run of the snapshot, one level the base's children — and streams matching entries to a sink
 * that may ask it to wait (the client is slow to read). Entries are encoded once per snapshot and
 * attribute selection.
 *
 * Access control: anonymous sees only the root DSE; a bound user sees the naming context and its
 * containers, their own entry and the groups they belong to (nested membership counts); members of
 * `ldap.readGroups` see everything; a service account (services.ts) sees the containers, itself and
 * its scope; anyone bound reads cn=Subschema. userPassword and secrets are never held in an entry,
 * so they can never be returned.
 */
import type { Core } from '../../src/core.ts';
import type { Logger } from '../../src/log.ts';
import { pagedResultsValue, searchResultEntryOp, type ResponseControl } from './ber.ts';
import type { Bound } from './bind.ts';
import { TreeCache } from './cache.ts';
import type { RawFilter } from './decode.ts';
import { RESULT, START_TLS } from './codes.ts';
import { criticalRefusal, SUPPORTED_CONTROLS } from './controls.ts';
import { isUnder, sameDn } from './dn.ts';
import { makeEntry, orderKey, type Entry } from './entry.ts';
import { SUPPORTED_EXTENSIONS } from './extended.ts';
import { candidates, compileFilter, filterTooLarge, matches, type Filter } from './filter.ts';
import { canonicalAttribute } from './matching.ts';
import type { LdapOptions } from './options.ts';
import { issueCookie, PAGED_RESULTS, pageRequestOf, readCookie, type PageRequest, type RequestControl } from './paging.ts';
import { SUBSCHEMA_DN, subschemaEntry } from './schema.ts';
import type { Tree } from './tree.ts';

export const SCOPE = { base: 0, one: 1, sub: 2 } as const;

/** Bytes of encoded entries kept per snapshot; past it, entries are encoded for each search. */
const ENCODED_BUDGET = 32 * 1024 * 1024;

export interface SearchInput {
  base: string[] | undefined;
  scope: number;
  /** The decoded filter, or why decoding stopped (over ldap.maxFilterDepth or maxFilterElements). */
  filter: RawFilter | { refused: string };
  /** Identifies the filter exactly (its encoding), for paged results cookies; absent = derived from `filter`. */
  filterKey?: Buffer;
  attributes: string[];
  sizeLimit: number;
  /** Seconds the client allows (RFC 4511 §4.5.1.5); 0 = none asked for. Absent = 0. */
  timeLimit?: number;
  typesOnly: boolean;
  /** The request's controls (RFC 4511 §4.1.11), as decode.ts decodes them. */
  controls?: readonly RequestControl[];
}

/** How a search ended: the SearchResultDone. */
export interface SearchDone {
  status: number;
  message?: string;
  matchedDN?: string;
  /** Response controls for the SearchResultDone (the paged results cookie). */
  controls?: ResponseControl[];
}

export interface SearchOutput extends SearchDone {
  entries: Array<{ dn: string; attributes: Array<{ type: string; values: string[] }> }>;
}

/**
 * Where a search's entries go. `encode` gives the SearchResultEntry protocolOp (cached). A returned
 * promise means "wait for the client to catch up" (backpressure); the search goes on once it settles.
 */
export interface SearchSink {
  send(entry: Entry, encode: () => Buffer, selection: Selection): Promise<void> | undefined;
}

/** The attributes asked for (RFC 4511 §4.5.1.8), parsed once per search. */
export interface Selection {
  key: string;
  all: boolean;
  operational: boolean;
  names: ReadonlySet<string>;
  typesOnly: boolean;
}

export interface Searcher {
  /** Runs a search, streaming entries to `sink`. */
  stream(bound: Bound | undefined, input: SearchInput, sink: SearchSink): Promise<SearchDone>;
  /** Runs a search and collects its entries (tests, small results). */
  search(bound: Bound | undefined, input: SearchInput): Promise<SearchOutput>;
  close(): void;
}

/** Over the time limit: checked between entries. */
interface Clock {
  deadline: number;
  seconds: number;
}
const timeLimitExceeded = (clock: Clock): SearchDone => ({ status: RESULT.timeLimitExceeded, message: `the search took longer than ${clock.seconds} s` });

export function createSearcher(core: Core, options: LdapOptions, log: Logger = core.logger): Searcher {
  const cache = new TreeCache(core, { baseDn: options.baseDn, refreshSeconds: options.refreshSeconds }, log);
  const root = rootDse(options);
  const subschema = subschemaEntry();

  const stream = async (bound: Bound | undefined, input: SearchInput, sink: SearchSink): Promise<SearchDone> => {
    if (!input.base) return { status: RESULT.invalidDNSyntax, message: 'the base object is not a valid DN' };
    // RFC 4511 §4.1.11 (operations.ts checks it for every request; a search may also come from elsewhere).
    const refusal = criticalRefusal({ type: 'SearchRequest' }, input.controls ?? []);
    if (refusal) return refusal;
    const page = pageRequestOf(input.controls);
    if (typeof page === 'string') return { status: RESULT.protocolError, message: page };
    // Checked before any evaluation, iteratively: a hostile filter costs neither stack nor time.
    const raw = input.filter;
    const tooLarge = 'refused' in raw ? raw.refused : filterTooLarge(raw, options.maxFilterDepth, options.maxFilterElements);
    if (tooLarge || 'refused' in raw) return { status: RESULT.unwillingToPerform, message: tooLarge ?? 'filter refused' };
    const filter = compileFilter(raw);
    const selection = selectionOf(input.attributes, input.typesOnly);
    // RFC 4511 §4.5.1.5: the client's timeLimit (0 = none) can only lower the server's.
    const seconds = Math.min(options.timeLimitSeconds, (input.timeLimit ?? 0) > 0 ? input.timeLimit! : Infinity);
    const clock: Clock = { deadline: performance.now() + seconds * 1000, seconds };
    const base = input.base;

    // The root DSE and the subschema are single entries outside the tree.
    const single = async (entry: Entry): Promise<SearchDone> => {
      if (matches(filter, entry)) await sink.send(entry, () => encode(undefined, entry, selection), selection);
      return { status: RESULT.success };
    };
    if (base.length === 0 && input.scope === SCOPE.base) return single(root);
    const tree = await cache.current();
    const view = visibility(tree, options, bound);
    if (!view) return { status: RESULT.success };
    // RFC 4512 §4.2: the subschema subentry, readable by anyone bound; it has no children.
    if (sameDn(base, subschema.rdns)) return input.scope === SCOPE.one ? { status: RESULT.success } : single(subschema);

    const position = tree.position.get(orderKey(base));
    const baseEntry = position === undefined ? undefined : tree.ordered[position];
    if (!baseEntry || !view(baseEntry)) {
      return { status: RESULT.noSuchObject, message: 'no such object', ...(isUnder(base, tree.base.rdns) ? { matchedDN: tree.base.dn } : {}) };
    }
    // RFC 4511 §4.5.1.5: the size limit counts the whole search; a paged search is one search too,
    // so ldap.sizeLimit caps the sum of its pages (README.md, "Paged results").
    const limit = Math.min(options.sizeLimit, input.sizeLimit > 0 ? input.sizeLimit : Infinity);
    let after = '';
    let sentBefore = 0;
    let pageSize = Infinity;
    const print = page ? fingerprint(bound, input) : '';
    if (page) {
      if (page.cookie.length) {
        const read = readCookie(print, page.cookie);
        if (!read) return pagedDone(RESULT.unwillingToPerform, 'paged results cookie is invalid: it expired, or the search changed since the previous page');
        after = read.after;
        sentBefore = read.sent;
      }
      if (page.size === 0) return pagedDone(RESULT.success);
      pageSize = page.size;
    }

    const examined = inScope(tree, filter, baseEntry, position!, input.scope, after);
    // Per page, the entries this request may still send: the page, within what the limit leaves.
    const take = Math.min(pageSize, Math.max(0, limit - sentBefore));
    let sent = 0;
    let count = 0;
    let last: Entry | undefined;
    for (const entry of examined) {
      if (++count > options.maxEntriesExamined) {
        return done(page, { status: RESULT.adminLimitExceeded, message: `the search examined more than ${options.maxEntriesExamined} entries (ldap.maxEntriesExamined): narrow the filter or the base` });
      }
      if (performance.now() > clock.deadline) return done(page, timeLimitExceeded(clock));
      // The entry as this requester sees it: filters match what it may see, never a hidden value.
      const seen = view(entry);
      if (!seen || !matches(filter, seen)) continue;
      if (sent >= take) {
        // One more entry matches than may be sent.
        if (!page || take < pageSize) return done(page, { status: RESULT.sizeLimitExceeded, message: `more than ${limit} entries match` });
        return pagedDone(RESULT.success, undefined, issueCookie(print, { after: last!.order, sent: sentBefore + sent }));
      }
      const wait = sink.send(seen, () => encode(tree, seen, selection), selection);
      if (wait) await wait;
      sent++;
      last = entry;
    }
    return done(page, { status: RESULT.success });
  };

  return {
    stream,
    async search(bound, input) {
      const entries: SearchOutput['entries'] = [];
      const result = await stream(bound, input, { send: (entry, _encode, selection) => void entries.push(project(entry, selection)) });
      return { ...result, entries };
    },
    close: () => cache.close(),
  };
}

/** A paged search's SearchResultDone carries the response control; an empty cookie ends the paging. */
function pagedDone(status: number, message?: string, cookie: Buffer = Buffer.alloc(0)): SearchDone {
  // The size is the server's estimate of the total; 0 = "no estimate" (RFC 2696 §2).
  return { status, ...(message ? { message } : {}), controls: [{ type: PAGED_RESULTS, value: pagedResultsValue(0, cookie) }] };
}

function done(page: PageRequest | undefined, result: SearchDone): SearchDone {
  return page ? pagedDone(result.status, result.message) : result;
}

/**
 * The entries a search examines, in DN order: the index's candidates when the filter has them
 * (kept if in scope), else the base, its children, or its subtree (a contiguous run of the
 * snapshot). For a paged search, only those after the cookie's position.
 */
function inScope(tree: Tree, filter: Filter, base: Entry, position: number, scope: number, after: string): Iterable<Entry> {
  if (scope === SCOPE.base) return base.order > after ? [base] : [];
  const indexed = candidates(filter, (attribute, value) => tree.index(attribute).get(value) ?? []);
  if (indexed) {
    const depth = base.rdns.length;
    const out: Entry[] = [];
    for (const e of indexed) if (e.order > after && isUnder(e.rdns, base.rdns) && (scope === SCOPE.sub || e.rdns.length === depth + 1)) out.push(e);
    return out.length > 1 ? out.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0)) : out;
  }
  if (scope === SCOPE.one) {
    const children = tree.children.get(base.order) ?? [];
    return after ? children.filter((e) => e.order > after) : children;
  }
  return subtree(tree, base, position, after);
}

/** The subtree of the base follows it in the snapshot: every key that extends the base's key. */
function* subtree(tree: Tree, base: Entry, position: number, after: string): Generator<Entry> {
  const prefix = `${base.order}\u0000`;
  const start = base.order > after ? position : Math.max(position + 1, firstAfter(tree.ordered, after));
  for (let i = start; i < tree.ordered.length; i++) {
    const e = tree.ordered[i]!;
    if (e !== base && !e.order.startsWith(prefix)) return;
    yield e;
  }
}

/** The index of the first entry ordered after `key` (binary search). */
function firstAfter(ordered: readonly Entry[], key: string): number {
  let lo = 0;
  let hi = ordered.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ordered[mid]!.order <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What must stay the same from page to page (RFC 2696 §3): everything but the cookie and the size. */
function fingerprint(bound: Bound | undefined, input: SearchInput): string {
  return JSON.stringify([bound?.dn ?? '', input.base, input.scope, input.filterKey?.toString('base64') ?? JSON.stringify(input.filter), input.attributes.map((a) => a.toLowerCase()), input.typesOnly, input.sizeLimit]);
}

/**
 * What the requester may see: each entry as they see it (undefined = not at all), or undefined for
 * nothing at all. Decided on the current snapshot for every search, so a suspension, a group
 * change or a deleted service account applies at once; kept on the snapshot per requester.
 */
type View = (e: Entry) => Entry | undefined;

function visibility(tree: Tree, options: LdapOptions, bound: Bound | undefined): View | undefined {
  if (!bound) return undefined;
  const key = bound.kind === 'service' ? `visible:service:${bound.applicationId}` : `visible:user:${bound.userId}`;
  if (tree.memo.has(key)) return tree.memo.get(key) as View | undefined;
  const decided = bound.kind === 'service' ? serviceVisibility(tree, bound.applicationId, bound.name) : userVisibility(tree, options, bound.userId);
  tree.memo.set(key, decided);
  return decided;
}

const structural = (e: Entry) => e.kind === 'base' || e.kind === 'container';
const where = (visible: (e: Entry) => boolean): View => (e) => (visible(e) ? e : undefined);

function userVisibility(tree: Tree, options: LdapOptions, userId: string): View | undefined {
  const user = tree.userById.get(userId);
  if (!user || user.status !== 'active') return undefined;
  const groupIds = tree.groupsOfUser.get(user.id) ?? new Set<string>();
  const readGroups = new Set(options.readGroups);
  if ([...groupIds].some((id) => readGroups.has(tree.groupById.get(id)?.name ?? ''))) return (e) => e;
  return where((e) => structural(e) || (e.kind === 'user' && e.id === user.id) || (e.kind === 'group' && groupIds.has(e.id ?? '')));
}

/**
 * A service account sees the containers, its own entry and its scope: every user and group
 * (`subtree`), or the scope groups and their members, nested membership resolved. Scoped to
 * groups, it also sees no name from outside its scope: a user's memberOf lists only the scope
 * groups, a group's member and memberUid only what it may see. The same application (by id) must
 * still be a service account in this snapshot: deleted, renamed, secret or settings removed → nothing.
 */
function serviceVisibility(tree: Tree, applicationId: string, name: string): View | undefined {
  const account = tree.serviceByName.get(name);
  if (!account || account.id !== applicationId) return undefined;
  const own = (e: Entry) => e.kind === 'service' && e.id === applicationId;
  const scope = account.scope;
  if ('subtree' in scope) return where((e) => structural(e) || own(e) || e.kind === 'user' || e.kind === 'group');
  const groupIds = new Set(scope.groups.flatMap((g) => {
    const group = tree.groupByName.get(g);
    return group ? [group.id] : [];
  }));
  const userIds = new Set<string>();
  for (const [userId, groups] of tree.groupsOfUser) if ([...groups].some((id) => groupIds.has(id))) userIds.add(userId);
  const dnsOf = (ids: Iterable<string>) => [...ids].flatMap((id) => tree.entryById.get(id)?.dn ?? []);
  const groupDns = new Set(dnsOf(groupIds));
  const memberDns = new Set([...groupDns, ...dnsOf(userIds)]);
  const usernames = new Set([...userIds].flatMap((id) => tree.userById.get(id)?.username ?? []));
  const narrowed = new Map<Entry, Entry>();
  const narrow = (e: Entry): Entry => {
    let out = narrowed.get(e);
    if (!out) {
      const only = (attribute: string, keep: Set<string>) => (e.attributes[attribute] ? { [attribute]: e.attributes[attribute].filter((v) => keep.has(v)) } : {});
      const limited = e.kind === 'user' ? only('memberOf', groupDns) : { ...only('member', memberDns), ...only('memberUid', usernames) };
      const changed = Object.entries(limited).some(([attribute, values]) => values.length !== e.attributes[attribute]!.length);
      if (changed) {
        // An emptied attribute is left out (an attribute has at least one value).
        const attributes = { ...e.attributes, ...limited };
        for (const [attribute, values] of Object.entries(limited)) if (values.length === 0) delete attributes[attribute];
        out = makeEntry(e.dn, e.rdns, e.kind, attributes, e.operational, e.id);
      } else {
        out = e;
      }
      narrowed.set(e, out);
    }
    return out;
  };
  return (e) => {
    if (structural(e) || own(e)) return e;
    if (e.kind === 'group' && groupIds.has(e.id ?? '')) return narrow(e);
    if (e.kind === 'user' && userIds.has(e.id ?? '')) return narrow(e);
    return undefined;
  };
}

/** RFC 4512 §5.1: the root DSE. */
function rootDse(options: LdapOptions): Entry {
  return makeEntry('', [], 'base', { objectClass: ['top'] }, {
    namingContexts: [options.baseDn],
    supportedLDAPVersion: ['3'],
    // StartTLS only where it can succeed (RFC 4511 §4.14: clients look here before trying).
    supportedExtension: SUPPORTED_EXTENSIONS.filter((oid) => oid !== START_TLS || options.tls !== undefined),
    supportedControl: [...SUPPORTED_CONTROLS],
    subschemaSubentry: [SUBSCHEMA_DN],
    vendorName: ['Gatehouse'],
  });
}

/** RFC 4511 §4.5.1.8: no attributes or '*' = all user attributes; '+' = all operational ones (RFC 3673); '1.1' = none. */
export function selectionOf(attributes: readonly string[], typesOnly: boolean): Selection {
  const names = new Set(attributes.map((a) => (a === '*' || a === '+' ? a : canonicalAttribute(a))));
  const all = names.size === 0 || names.has('*');
  return { key: `${typesOnly ? 't' : 'v'}:${[...names].sort().join(',')}`, all, operational: names.has('+'), names, typesOnly };
}

/**
 * The attributes of the entry the selection asks for, names matched case-insensitively and by
 * alias. The root DSE's attributes are all operational but are returned for '*' too, as most
 * clients expect.
 */
export function project(entry: Entry, selection: Selection): { dn: string; attributes: Array<{ type: string; values: string[] }> } {
  const operational = selection.operational || (entry.dn === '' && selection.all);
  const out: Array<{ type: string; values: string[] }> = [];
  const add = (attrs: Record<string, string[]>, include: boolean) => {
    for (const [type, values] of Object.entries(attrs)) {
      if (include || selection.names.has(canonicalAttribute(type))) out.push({ type, values: selection.typesOnly ? [] : values });
    }
  };
  add(entry.attributes, selection.all);
  add(entry.operational, operational);
  return { dn: entry.dn, attributes: out };
}

/** The entry's SearchResultEntry protocolOp, kept on the snapshot (within ENCODED_BUDGET) for the next search asking the same. */
function encode(tree: Tree | undefined, entry: Entry, selection: Selection): Buffer {
  if (!tree) return encodeEntry(entry, selection);
  const key = `encoded:${selection.key}`;
  let cache = tree.memo.get(key) as Map<Entry, Buffer> | undefined;
  const hit = cache?.get(entry);
  if (hit) return hit;
  const op = encodeEntry(entry, selection);
  const used = (tree.memo.get('encoded-bytes') as number | undefined) ?? 0;
  if (used + op.length <= ENCODED_BUDGET) {
    if (!cache) tree.memo.set(key, (cache = new Map()));
    cache.set(entry, op);
    tree.memo.set('encoded-bytes', used + op.length);
  }
  return op;
}

function encodeEntry(entry: Entry, selection: Selection): Buffer {
  const { dn, attributes } = project(entry, selection);
  return searchResultEntryOp(dn, attributes);
}
