/**
 * Simple Paged Results (RFC 2696) and the subschema subentry (RFC 4512 §4.2), through search()
 * directly (a searcher, with the request controls as @ldapjs/messages decodes them) and, once the transport passes
 * controls to search (see README.md), through ldapts over 1,000 users.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseString } from '@ldapjs/filter';
import type { Control, PagedResultsControl } from '@ldapjs/controls';
import { backends } from '../helpers/backends.ts';
import type { BoundUser } from '../../protocols/ldap/bind.ts';
import { LDAP_DEFAULTS } from '../../protocols/ldap/options.ts';
import { COOKIE_TTL_SECONDS, issueCookie, PAGED_RESULTS, readCookie } from '../../protocols/ldap/paging.ts';
import { rawFilterOf } from '../../protocols/ldap/filter.ts';
import { createSearcher, SCOPE, type Searcher, type SearchInput } from '../../protocols/ldap/search.ts';
import { BASE, dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const PEOPLE = `ou=people,${BASE}`;
const USERS = 1000;
const OPTIONS = { ...LDAP_DEFAULTS, port: 0, sizeLimit: 5000 };
/** The transport (server.ts) hands request controls to search and sends its response controls. */

const cookieOf = (controls: Control[] | undefined) => (controls?.[0] as PagedResultsControl | undefined)?.value.cookie ?? Buffer.alloc(0);

describe('paged results cookies', () => {
  it('round-trip for the same search only, and expire', () => {
    const now = Date.now();
    const cookie = issueCookie('search A', { after: 'dc=com\u0000uid=x', sent: 7 }, now);
    expect(readCookie('search A', cookie, now)).toEqual({ after: 'dc=com\u0000uid=x', sent: 7 });
    expect(readCookie('search B', cookie, now)).toBeUndefined();
    expect(readCookie('search A', cookie, now + (COOKIE_TTL_SECONDS + 1) * 1000)).toBeUndefined();
    expect(readCookie('search A', Buffer.from('short'), now)).toBeUndefined();
  });
});

describe.each(backends)('LDAP paged results and subschema ($name)', (backend) => {
  let t: LdapFixture;
  let reader: BoundUser;
  let plain: BoundUser;
  let searcher: Searcher;
  beforeAll(async () => {
    t = await startLdap(backend, OPTIONS);
    await seed(t.core);
    // Straight into the store: no password hashing, so 1,000 users take a moment.
    const users = t.store.directory.users;
    for (let i = 0; i < USERS; i++) {
      await users.create({ username: `user${String(i).padStart(4, '0')}`, status: 'active', sshPublicKeys: [], attributes: {}, uidNumber: 20000 + i });
    }
    const bob = await users.findByName('bob');
    const dave = await users.findByName('dave');
    reader = { kind: 'user', userId: bob!.id, username: 'bob', dn: dnOf('bob') };
    plain = { kind: 'user', userId: dave!.id, username: 'dave', dn: dnOf('dave') };
    searcher = createSearcher(t.core, OPTIONS);
  }, 120_000);
  afterAll(async () => {
    searcher?.close();
    await t?.stop();
  });

  const input = (filter: string, extra: Partial<SearchInput> = {}): SearchInput => ({
    base: ['ou=people', 'dc=example', 'dc=com'], scope: SCOPE.one, filter: rawFilterOf(parseString(filter)), attributes: ['uid'], sizeLimit: 0, typesOnly: false, ...extra,
  });
  const page = (size: number, cookie: Buffer = Buffer.alloc(0)) => [{ type: PAGED_RESULTS, criticality: true, value: { size, cookie } }];
  const run = (i: SearchInput, who: BoundUser = reader) => searcher.search(who, i);
  const anonymous = (i: SearchInput) => searcher.search(undefined, i);

  it('pages through every user with signed cookies; an empty cookie ends it', async () => {
    const seen: string[] = [];
    let cookie: Buffer = Buffer.alloc(0);
    let pages = 0;
    do {
      const out = await run(input('(uid=user*)', { controls: page(300, cookie) }));
      expect(out.status).toBe(0);
      expect(out.entries.length).toBeLessThanOrEqual(300);
      seen.push(...out.entries.map((e) => e.attributes[0]!.values[0]!));
      cookie = cookieOf(out.controls);
      pages++;
    } while (cookie.length);
    expect(pages).toBe(4);
    expect(seen).toHaveLength(USERS);
    expect(new Set(seen).size).toBe(USERS);
  });

  it('refuses a cookie used with a changed search, or forged; size 0 abandons', async () => {
    const first = await run(input('(uid=user*)', { controls: page(10) }));
    const cookie = cookieOf(first.controls);
    expect(cookie.length).toBeGreaterThan(0);
    expect((await run(input('(uid=user1*)', { controls: page(10, cookie) }))).status).toBe(53);
    expect((await run(input('(uid=user*)', { attributes: ['cn'], controls: page(10, cookie) }))).status).toBe(53);
    expect((await run(input('(uid=user*)', { controls: page(10, cookie) }), plain)).status).toBe(53);
    const forged = Buffer.from(cookie);
    forged.writeUInt8(forged[forged.length - 2]! ^ 1, forged.length - 2);
    expect((await run(input('(uid=user*)', { controls: page(10, forged) }))).status).toBe(53);
    // The page size may change between pages (RFC 2696 §3).
    expect((await run(input('(uid=user*)', { controls: page(20, cookie) }))).entries).toHaveLength(20);
    const abandon = await run(input('(uid=user*)', { controls: page(0, cookie) }));
    expect(abandon).toMatchObject({ status: 0, entries: [] });
    expect(cookieOf(abandon.controls)).toHaveLength(0);
  });

  it('applies the size limit to the whole paged search', async () => {
    const limited = createSearcher(t.core, { ...OPTIONS, sizeLimit: 25 });
    let cookie: Buffer = Buffer.alloc(0);
    let total = 0;
    let status = 0;
    do {
      const out = await limited.search(reader, input('(uid=user*)', { controls: page(10, cookie) }));
      total += out.entries.length;
      status = out.status;
      cookie = cookieOf(out.controls);
    } while (cookie.length);
    limited.close();
    expect(total).toBe(25);
    expect(status).toBe(4);
  });

  it('refuses an unknown critical control, ignores a non-critical one', async () => {
    expect((await run(input('(uid=bob)', { controls: [{ type: '1.2.3.4', criticality: true }] }))).status).toBe(12);
    expect((await run(input('(uid=bob)', { controls: [{ type: '1.2.3.4', criticality: false }] }))).entries).toHaveLength(1);
  });

  it('advertises the control and the subschema subentry in the root DSE', async () => {
    const out = await anonymous({ ...input('(objectClass=*)'), base: [], scope: SCOPE.base, attributes: ['+'] });
    const attrs = Object.fromEntries(out.entries[0]!.attributes.map((a) => [a.type, a.values]));
    expect(attrs.supportedControl).toContain(PAGED_RESULTS);
    expect(attrs.subschemaSubentry).toEqual(['cn=Subschema']);
  });

  it('serves cn=Subschema to anyone bound, and names it on every entry', async () => {
    const schema = await run({ ...input('(objectClass=subschema)'), base: ['cn=subschema'], scope: SCOPE.base, attributes: ['objectClasses', 'attributeTypes'] }, plain);
    const attrs = Object.fromEntries(schema.entries[0]!.attributes.map((a) => [a.type, a.values]));
    expect(attrs.objectClasses).toContainEqual(expect.stringContaining("NAME 'posixAccount'"));
    expect(attrs.attributeTypes).toContainEqual(expect.stringContaining("NAME 'uidNumber'"));
    // Every name an object class references is defined.
    const defined = new Set(attrs.attributeTypes!.flatMap((d) => [...d.matchAll(/'([^']+)'/g)].map((m) => m[1]!.toLowerCase())));
    for (const oc of attrs.objectClasses!) {
      for (const list of oc.matchAll(/(?:MUST|MAY) (\([^)]*\)|\S+)/g)) {
        for (const name of list[1]!.replace(/[()$]/g, ' ').split(/\s+/).filter(Boolean)) expect(defined, `${oc} → ${name}`).toContain(name.toLowerCase());
      }
    }
    expect((await anonymous({ ...input('(objectClass=*)'), base: ['cn=subschema'], scope: SCOPE.base })).entries).toHaveLength(0);
    const [own] = (await run(input('(uid=dave)', { attributes: ['subschemaSubentry'] }), plain)).entries;
    expect(own!.attributes).toEqual([{ type: 'subschemaSubentry', values: ['cn=Subschema'] }]);
  });

  it('pages 1,000 users for ldapts (paged: { pageSize: 50 })', async () => {
    const client = t.client();
    await client.bind(dnOf('bob'), PASSWORD);
    const { searchEntries } = await client.search(PEOPLE, { scope: 'one', filter: '(uid=user*)', attributes: ['uid'], paged: { pageSize: 50 } });
    expect(searchEntries).toHaveLength(USERS);
    expect(new Set(searchEntries.map((e) => e.uid)).size).toBe(USERS);
  });
});
