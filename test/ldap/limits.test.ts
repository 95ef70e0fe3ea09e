/**
 * Server-side search limits: filter depth and size (checked while decoding, without recursion past
 * the limit), the entries a search may examine, and the time limit that applies even when the
 * client asks for none.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ldapMessages from '@ldapjs/messages';
import { BerReader } from '@ldapjs/asn1';
import type { Client } from 'ldapts';
import { nextFrame } from '../../protocols/ldap/framing.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { UserInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { BASE, dnOf, PASSWORD, seed, startLdap, startWithReader, type LdapFixture } from './support.ts';

const { BindRequest, LdapMessage, SearchRequest } = ldapMessages as unknown as typeof ldapMessages & {
  BindRequest: new (options: { messageId: number; name: string; credentials: string }) => { toBer(): { buffer: Buffer } };
};
const PEOPLE = `ou=people,${BASE}`;

/** `(uid=alice)` inside `depth - 1` nested and-filters: `depth` levels in all. */
const nested = (depth: number, op = '&') => `${`(${op}`.repeat(depth - 1)}(uid=alice)${')'.repeat(depth - 1)}`;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

interface Reply { messageId: number; type: string; status?: number; diagnosticMessage?: string }

/** Reads LDAP messages off a raw socket until the SearchResultDone (or other final response) of `messageId`, or the socket closes. */
function searchDone(socket: Socket, messageId: number, timeoutMs = 3000): Promise<{ done?: Reply; closed: boolean; entries: number }> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    let entries = 0;
    const finish = (result: { done?: Reply; closed: boolean }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ ...result, entries });
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const frame = nextFrame(buffer, 1 << 20);
        if (frame.kind !== 'message') return; // incomplete: wait for more
        const message = LdapMessage.parse(new BerReader(Buffer.from(buffer.subarray(0, frame.size)))) as unknown as Reply;
        buffer = buffer.subarray(frame.size);
        if (message.messageId !== messageId) continue;
        if (message.type === 'SearchResultEntry') entries++;
        else return finish({ done: message, closed: false });
      }
    };
    const onClose = () => finish({ closed: true });
    const timer = setTimeout(() => finish({ closed: false }), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', () => undefined);
  });
}

describe('ldap limits in the configuration schema', () => {
  it('has the defaults and refuses nonsense', () => {
    expect(ConfigSchema.parse({}).ldap).toMatchObject({ maxFilterDepth: 32, maxFilterElements: 1000, timeLimitSeconds: 10, maxEntriesExamined: 100_000, readTimeoutSeconds: 10, writeTimeoutSeconds: 30 });
    expect(() => ConfigSchema.parse({ ldap: { maxEntriesExamined: 0 } })).toThrow();
    expect(ConfigSchema.parse({ ldap: { timeLimitSeconds: 0.001 } }).ldap.timeLimitSeconds).toBe(0.001);
    expect(() => ConfigSchema.parse({ ldap: { timeLimitSeconds: 0 } })).toThrow();
    expect(() => ConfigSchema.parse({ ldap: { maxFilterDepth: 0 } })).toThrow();
    expect(() => ConfigSchema.parse({ ldap: { maxFilterElements: 1.5 } })).toThrow();
  });
});

describe.each(backends)('LDAP filter limits ($name)', (backend) => {
  let t: LdapFixture;
  let reader: Client;
  beforeAll(async () => {
    ({ t, reader } = await startWithReader(backend));
  });
  afterAll(async () => t?.stop());

  const uids = async (filter: string) => (await reader.search(PEOPLE, { scope: 'one', filter })).searchEntries.map((e) => e.uid);

  it('accepts a filter exactly maxFilterDepth (32) deep, refuses one deeper with unwillingToPerform', async () => {
    expect(await uids(nested(32))).toEqual(['alice']);
    const refused = reader.search(PEOPLE, { scope: 'one', filter: nested(33) });
    await expect(refused).rejects.toMatchObject({ code: 53 });
    await expect(refused).rejects.toThrow(/nested more than 32 deep \(ldap\.maxFilterDepth\)/);
    // Not and or count alike; the connection stays open.
    await expect(reader.search(PEOPLE, { scope: 'one', filter: nested(33, '!') })).rejects.toMatchObject({ code: 53 });
    await expect(reader.search(PEOPLE, { scope: 'one', filter: nested(33, '|') })).rejects.toMatchObject({ code: 53 });
    expect(await uids('(uid=bob)')).toEqual(['bob']);
  });

  it('accepts maxFilterElements (1,000) elements, refuses more with unwillingToPerform', async () => {
    const or = (n: number) => `(|${Array.from({ length: n }, (_, i) => `(uid=u${i})`).join('')}(uid=dave))`;
    // The or itself plus 999 comparisons = 1,000 elements.
    expect(await uids(or(998))).toEqual(['dave']);
    const refused = reader.search(PEOPLE, { scope: 'one', filter: or(999) });
    await expect(refused).rejects.toMatchObject({ code: 53 });
    await expect(refused).rejects.toThrow(/more than 1000 elements \(ldap\.maxFilterElements\)/);
    expect(await uids('(uid=bob)')).toEqual(['bob']);
  });

  it('decodes a 1,000-deep filter over a raw socket, refuses it, and keeps serving on that connection', async () => {
    const socket = await open(t.address.port);
    try {
      for (const op of ['!', '&']) {
        socket.write(new SearchRequest({ messageId: 1, baseObject: '', scope: 'base', filter: nested(1000, op) }).toBer().buffer);
        const first = await searchDone(socket, 1);
        expect(first.closed).toBe(false);
        expect(first.done).toMatchObject({ status: 53 });
        expect(first.done?.diagnosticMessage).toMatch(/ldap\.maxFilterDepth/);
      }
      socket.write(new SearchRequest({ messageId: 2, baseObject: '', scope: 'base', filter: '(objectClass=*)' }).toBer().buffer);
      expect((await searchDone(socket, 2)).done).toMatchObject({ status: 0 });
    } finally {
      socket.destroy();
    }
    // Everyone else too.
    expect(await uids('(uid=alice)')).toEqual(['alice']);
  });
});

describe.each(backends)('LDAP entries examined ($name)', (backend) => {
  let t: LdapFixture;
  let reader: Client;
  beforeAll(async () => {
    ({ t, reader } = await startWithReader(backend, { maxEntriesExamined: 3 }));
  });
  afterAll(async () => t?.stop());

  it('lets indexed searches through: an equality examines only its candidates', async () => {
    expect((await reader.search(BASE, { scope: 'sub', filter: '(uid=alice)' })).searchEntries).toHaveLength(1);
    expect((await reader.search(BASE, { scope: 'sub', filter: '(&(objectClass=*)(|(uid=alice)(uid=bob)(mail=dave@nowhere)))' })).searchEntries).toHaveLength(2);
    // Four people examined (one level below ou=people) is one too many.
    const refused = reader.search(PEOPLE, { scope: 'one', filter: '(cn=*)' });
    await expect(refused).rejects.toMatchObject({ code: 11 });
    await expect(refused).rejects.toThrow(/ldap\.maxEntriesExamined/);
    expect((await reader.search(PEOPLE, { scope: 'one', filter: '(uid=dave)' })).searchEntries).toHaveLength(1);
  });

  it('ends with adminLimitExceeded (11) after the entries already sent, and the connection stays usable', async () => {
    const socket = await open(t.address.port);
    try {
      socket.write(new BindRequest({ messageId: 1, name: dnOf('bob'), credentials: PASSWORD }).toBer().buffer);
      expect((await searchDone(socket, 1)).done).toMatchObject({ type: 'BindResponse', status: 0 });
      socket.write(new SearchRequest({ messageId: 2, baseObject: PEOPLE, scope: 'one', filter: '(objectClass=*)' }).toBer().buffer);
      // alice, bob and carol examined and sent; dave would be the fourth.
      const limited = await searchDone(socket, 2);
      expect(limited).toMatchObject({ entries: 3, closed: false, done: { type: 'SearchResultDone', status: 11 } });
      socket.write(new SearchRequest({ messageId: 3, baseObject: PEOPLE, scope: 'one', filter: '(uid=carol)' }).toBer().buffer);
      expect(await searchDone(socket, 3)).toMatchObject({ entries: 1, done: { status: 0 } });
    } finally {
      socket.destroy();
    }
  });
});

describe.each(backends)('LDAP time limit ($name)', (backend) => {
  let slow: LdapFixture;
  let normal: LdapFixture;
  beforeAll(async () => {
    slow = await startLdap(backend, { timeLimitSeconds: 0.001, sizeLimit: 10_000 });
    await seed(slow.core);
    for (let i = 0; i < 300; i++) {
      await slow.core.directory.users.create(CLI_CTX, UserInput.parse({ username: `user${i}`, email: `user${i}@example.com` }));
    }
    normal = await startLdap(backend);
    await seed(normal.core);
  }, 120_000);
  afterAll(async () => {
    await slow?.stop();
    await normal?.stop();
  });

  it('answers timeLimitExceeded (3) when the server limit passes, though the client asked for none', async () => {
    const c = slow.client();
    await c.bind(dnOf('bob'), PASSWORD);
    // Searches are fast once the snapshot is built: a filter that costs something on each of the
    // 300-odd entries keeps this well past a millisecond on any machine.
    const slowFilter = `(|${'(objectClass=*zz*yy*xx*)'.repeat(500)}(objectClass=*))`;
    await expect(c.search(BASE, { scope: 'sub', filter: slowFilter, timeLimit: 0 })).rejects.toMatchObject({ code: 3 });
    // A client's larger limit does not raise the server's.
    await expect(c.search(BASE, { scope: 'sub', filter: slowFilter, timeLimit: 60 })).rejects.toMatchObject({ code: 3 });
    // The connection stays usable; the root DSE (no evaluation over the tree) still answers.
    expect((await c.search('', { scope: 'base', filter: '(objectClass=*)' })).searchEntries).toHaveLength(1);
  });

  it('lets searches within the limit through, whatever the client asks', async () => {
    const c = normal.client();
    await c.bind(dnOf('bob'), PASSWORD);
    expect((await c.search(PEOPLE, { scope: 'one', filter: '(uid=*)', timeLimit: 5 })).searchEntries).toHaveLength(4);
    expect((await c.search(PEOPLE, { scope: 'one', filter: '(uid=*)', timeLimit: 0 })).searchEntries).toHaveLength(4);
  });
});
