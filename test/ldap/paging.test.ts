/**
 * Simple Paged Results (RFC 2696) and the subschema subentry (RFC 4512 §4.2), through search()
 * directly (a searcher, with the request controls as @ldapjs/messages decodes them), through ldapts
 * over 1,000 users, and on the wire (the response control's exact bytes).
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseString } from '@ldapjs/filter';
import ldapControls from '@ldapjs/controls';
import ldapMessages from '@ldapjs/messages';
import { BerReader } from '@ldapjs/asn1';
import { backends } from '../helpers/backends.ts';
import type { ResponseControl } from '../../protocols/ldap/ber.ts';
import type { BoundUser } from '../../protocols/ldap/bind.ts';
import { LDAP_DEFAULTS } from '../../protocols/ldap/options.ts';
import { COOKIE_TTL_SECONDS, issueCookie, PAGED_RESULTS, readCookie } from '../../protocols/ldap/paging.ts';
import { rawFilterOf } from '../../protocols/ldap/filter.ts';
import { createSearcher, SCOPE, type Searcher, type SearchInput } from '../../protocols/ldap/search.ts';
import { BASE, dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const PEOPLE = `ou=people,${BASE}`;
const USERS = 1000;
const OPTIONS = { ...LDAP_DEFAULTS, port: 0, sizeLimit: 5000 };
const { PagedResultsControl } = ldapControls;
const { BindRequest, LdapMessage, SearchRequest } = ldapMessages as unknown as typeof ldapMessages & {
  BindRequest: new (options: { messageId: number; name: string; credentials: string }) => { toBer(): { buffer: Buffer } };
};

/** The cookie of the paged results response control, decoded by @ldapjs/controls. */
function cookieOf(controls: ResponseControl[] | undefined): Buffer {
  const control = controls?.find((c) => c.type === PAGED_RESULTS);
  return control?.value ? new PagedResultsControl({ value: control.value }).value.cookie : Buffer.alloc(0);
}

/** A BER TLV with a definite, shortest-form length (X.690 §8.1.3). */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), content]);
}

/** The tag of an LDAPMessage's protocolOp: after the SEQUENCE header and the messageID. */
function protocolOpTag(message: Buffer): number {
  const header = 2 + (message[1]! & 0x80 ? message[1]! & 0x7f : 0);
  return message[header + 2 + message[header + 1]!]!;
}

/** Reads whole LDAPMessages off a socket (SEQUENCE, definite length). */
class MessageReader {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  constructor(socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
  }

  async next(): Promise<Buffer> {
    for (;;) {
      const size = this.complete();
      if (size) {
        const message = this.buffer.subarray(0, size);
        this.buffer = this.buffer.subarray(size);
        return message;
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  private complete(): number | undefined {
    const b = this.buffer;
    if (b.length < 2) return undefined;
    expect(b[0]).toBe(0x30);
    const first = b[1]!;
    const octets = first & 0x80 ? first & 0x7f : 0;
    if (b.length < 2 + octets) return undefined;
    let length = first & 0x80 ? 0 : first;
    for (let i = 0; i < octets; i++) length = length * 256 + b[2 + i]!;
    const size = 2 + octets + length;
    return b.length >= size ? size : undefined;
  }
}

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

  it('writes the response control without criticality (its DEFAULT FALSE is left out, RFC 4511 §5.1)', async () => {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: t.address.port }, () => resolve(s));
      s.once('error', reject);
    });
    try {
      const reader = new MessageReader(socket);
      socket.write(new BindRequest({ messageId: 1, name: dnOf('bob'), credentials: PASSWORD }).toBer().buffer);
      await reader.next();
      const paged = new PagedResultsControl({ criticality: true, value: { size: 3, cookie: Buffer.alloc(0) } });
      socket.write(new SearchRequest({ messageId: 2, baseObject: PEOPLE, scope: 'one', filter: '(uid=user*)', attributes: ['uid'], controls: [paged] } as never).toBer().buffer);
      let message: Buffer;
      do message = await reader.next(); while (protocolOpTag(message) === 0x64); // the SearchResultEntries
      expect(protocolOpTag(message)).toBe(0x65); // [APPLICATION 5] SearchResultDone
      const decoded = LdapMessage.parse(new BerReader(message)) as unknown as { messageId: number; controls: Array<{ type: string; value: { cookie: Buffer } }> };
      expect(decoded.messageId).toBe(2);
      const cookie = decoded.controls[0]!.value.cookie;
      expect(cookie.length).toBeGreaterThan(0);
      // Control ::= SEQUENCE { controlType, controlValue } — no BOOLEAN between them.
      const expected = tlv(0xa0, tlv(0x30, Buffer.concat([
        tlv(0x04, Buffer.from(PAGED_RESULTS)),
        tlv(0x04, tlv(0x30, Buffer.concat([tlv(0x02, Buffer.from([0])), tlv(0x04, cookie)]))),
      ])));
      expect(message.subarray(message.length - expected.length).toString('hex')).toBe(expected.toString('hex'));
    } finally {
      socket.destroy();
    }
  });

  it('pages 1,000 users for ldapts (paged: { pageSize: 50 })', async () => {
    const client = t.client();
    await client.bind(dnOf('bob'), PASSWORD);
    const { searchEntries } = await client.search(PEOPLE, { scope: 'one', filter: '(uid=user*)', attributes: ['uid'], paged: { pageSize: 50 } });
    expect(searchEntries).toHaveLength(USERS);
    expect(new Set(searchEntries.map((e) => e.uid)).size).toBe(USERS);
  });
});
