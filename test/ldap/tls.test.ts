/** StartTLS (RFC 4511 §4.14), LDAPS and ldap.requireTls, with ldapts and with raw sockets. */
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { BerReader } from '@ldapjs/asn1';
import ldapMessages from '@ldapjs/messages';
import { BerWriter, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextFrame } from '../../protocols/ldap/framing.ts';
import { backends } from '../helpers/backends.ts';
import { dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';
import { tlsFiles, type TlsFiles } from './tls-support.ts';

const START_TLS = '1.3.6.1.4.1.1466.20037';
const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';

function extendedRequest(messageId: number, oid: string): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(messageId);
  w.startSequence(0x77);
  w.writeString(oid, 0x80);
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

function bindRequest(messageId: number, name: string, password: string): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(messageId);
  w.startSequence(0x60);
  w.writeInt(3);
  w.writeString(name);
  w.writeString(password, 0x80);
  w.endSequence();
  w.endSequence();
  return w.buffer;
}

interface Reply {
  messageId: number;
  type: string;
  status: number;
  value: string | undefined;
}

/** Collects decoded LDAP messages from a socket. */
function reader(socket: Socket) {
  let buffer = Buffer.alloc(0);
  const replies: Reply[] = [];
  let waiter: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const frame = nextFrame(buffer, 1 << 20);
      if (frame.kind !== 'message') break;
      const message = ldapMessages.LdapMessage.parse(new BerReader(buffer.subarray(0, frame.size))) as unknown as { messageId: number; type: string; status: number; responseValue?: string };
      buffer = buffer.subarray(frame.size);
      replies.push({ messageId: message.messageId, type: message.type, status: message.status, value: message.responseValue });
    }
    waiter?.();
  };
  socket.on('data', onData);
  return {
    replies,
    stop: () => socket.off('data', onData),
    async next(count: number, ms = 3000): Promise<Reply[]> {
      const deadline = Date.now() + ms;
      while (replies.length < count && Date.now() < deadline) await new Promise<void>((resolve) => ((waiter = resolve), setTimeout(resolve, 50)));
      return replies.splice(0, count);
    },
  };
}

/** ExtensionResponse values arrive as "<buffer>hex" from @ldapjs/messages. */
const text = (value: string | undefined) => (value?.startsWith('<buffer>') ? Buffer.from(value.slice(8), 'hex').toString('utf8') : (value ?? ''));

async function code(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

describe('LDAP without ldap.tls', () => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(backends[0]!);
  });
  afterAll(async () => t?.stop());

  it('answers StartTLS with unavailable (52) and the connection stays usable in clear', async () => {
    const c = t.client();
    expect(await code(c.startTLS({}))).toBe(52);
    await seed(t.core);
    await c.bind(dnOf('dave'), PASSWORD);
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('dave')}`);
  });
});

describe.each(backends)('LDAP StartTLS and LDAPS ($name)', (backend) => {
  let t: LdapFixture;
  let files: TlsFiles;
  beforeAll(async () => {
    files = await tlsFiles();
    t = await startLdap(backend, { tls: files.tls, ldapsPort: 0 });
    await seed(t.core);
  });
  afterAll(async () => {
    await t?.stop();
    files?.remove();
  });

  it('upgrades with StartTLS, then binds over TLS', async () => {
    const c = t.client();
    await c.startTLS({ ca: [files.ca] });
    await c.bind(dnOf('alice'), PASSWORD);
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('alice')}`);
    // RFC 4511 §4.14.2: a second StartTLS is a sequencing error.
    expect(await code(c.exop(START_TLS))).toBe(1);
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('alice')}`);
  });

  it('lists StartTLS and Password Modify in the root DSE', async () => {
    const c = t.client();
    const { searchEntries } = await c.search('', { scope: 'base', attributes: ['supportedExtension'] });
    expect(searchEntries[0]!.supportedExtension).toEqual(expect.arrayContaining([START_TLS, '1.3.6.1.4.1.4203.1.11.1', WHO_AM_I]));
  });

  it('serves LDAPS on its own port', async () => {
    const address = t.ldap.ldapsAddress!;
    expect(address.port).toBeGreaterThan(0);
    const c = new Client({ url: `ldaps://127.0.0.1:${address.port}`, tlsOptions: { ca: [files.ca] }, timeout: 5000, connectTimeout: 5000 });
    try {
      await c.bind(dnOf('bob'), PASSWORD);
      expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('bob')}`);
      // Already TLS from the first byte.
      expect(await code(c.exop(START_TLS))).toBe(1);
    } finally {
      await c.unbind().catch(() => undefined);
    }
  });

  it('an LDAPS client that does not trust the certificate fails the handshake', async () => {
    const c = new Client({ url: `ldaps://127.0.0.1:${t.ldap.ldapsAddress!.port}`, timeout: 3000, connectTimeout: 3000 });
    await expect(c.bind(dnOf('bob'), PASSWORD)).rejects.toThrow();
  });

  it('discards whatever is pipelined behind StartTLS in the same segment', async () => {
    const socket = connectTcp({ host: '127.0.0.1', port: t.address.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const clear = reader(socket);
    // StartTLS, then a bind and a Who am I? sent in clear in the same write.
    socket.write(Buffer.concat([extendedRequest(1, START_TLS), bindRequest(2, dnOf('alice'), PASSWORD), extendedRequest(3, WHO_AM_I)]));
    const [response] = await clear.next(1);
    expect(response).toMatchObject({ messageId: 1, status: 0 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(clear.replies).toEqual([]);
    clear.stop();
    const secure = connectTls({ socket, ca: [files.ca], servername: 'localhost' });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', () => resolve()).once('error', reject));
    const tls = reader(secure);
    secure.write(extendedRequest(4, WHO_AM_I));
    const [who] = await tls.next(1);
    // The pipelined bind was never processed: the connection is anonymous.
    expect(who).toMatchObject({ messageId: 4, status: 0 });
    expect(text(who!.value)).toBe('');
    expect(tls.replies).toEqual([]);
    secure.destroy();
  });

  it('closes an upgraded connection whose client sends no TLS, and forgets it', async () => {
    // Let connections of the earlier tests finish closing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = t.ldap.connections;
    const socket = connectTcp({ host: '127.0.0.1', port: t.address.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const clear = reader(socket);
    socket.write(extendedRequest(1, START_TLS));
    expect((await clear.next(1))[0]).toMatchObject({ messageId: 1, status: 0 });
    expect(t.ldap.connections).toBe(before + 1);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    // An LDAP message in clear where a TLS ClientHello belongs.
    socket.write(extendedRequest(2, WHO_AM_I));
    await closed;
    for (let i = 0; i < 20 && t.ldap.connections > before; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(t.ldap.connections).toBe(before);
  });

  it('refuses StartTLS with operationsError (1) while an operation is outstanding', async () => {
    const socket = connectTcp({ host: '127.0.0.1', port: t.address.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const clear = reader(socket);
    // The bind is still running (password hashing) when StartTLS arrives.
    socket.write(Buffer.concat([bindRequest(1, dnOf('alice'), PASSWORD), extendedRequest(2, START_TLS)]));
    const replies = await clear.next(2);
    expect(replies.find((r) => r.messageId === 2)).toMatchObject({ status: 1 });
    expect(replies.find((r) => r.messageId === 1)).toMatchObject({ type: 'BindResponse', status: 0 });
    // The connection stays usable in clear.
    socket.write(extendedRequest(3, WHO_AM_I));
    const [who] = await clear.next(1);
    expect(text(who!.value)).toBe(`dn:${dnOf('alice')}`);
    socket.destroy();
  });
});

describe('LDAP with ldap.requireTls', () => {
  let t: LdapFixture;
  let files: TlsFiles;
  beforeAll(async () => {
    files = await tlsFiles();
    t = await startLdap(backends[0]!, { tls: files.tls, requireTls: true });
    await seed(t.core);
  });
  afterAll(async () => {
    await t?.stop();
    files?.remove();
  });

  it('refuses binds and searches in clear with confidentialityRequired (13), but not the root DSE', async () => {
    const c = t.client();
    expect(await code(c.bind(dnOf('alice'), PASSWORD))).toBe(13);
    expect(await code(c.search('dc=example,dc=com', { scope: 'sub' }))).toBe(13);
    const root = await c.search('', { scope: 'base', attributes: ['supportedLDAPVersion'] });
    expect(root.searchEntries).toHaveLength(1);
    await c.startTLS({ ca: [files.ca] });
    await c.bind(dnOf('alice'), PASSWORD);
    expect((await c.exop(WHO_AM_I)).value).toBe(`dn:${dnOf('alice')}`);
  });
});

describe('LDAP idle timeout after StartTLS', () => {
  let t: LdapFixture;
  let files: TlsFiles;
  beforeAll(async () => {
    files = await tlsFiles();
    t = await startLdap(backends[0]!, { tls: files.tls, idleTimeoutSeconds: 0.3 });
  });
  afterAll(async () => {
    await t?.stop();
    files?.remove();
  });

  it('closes an idle upgraded connection with a Notice of Disconnection over TLS', async () => {
    const socket = connectTcp({ host: '127.0.0.1', port: t.address.port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const clear = reader(socket);
    socket.write(extendedRequest(1, START_TLS));
    expect((await clear.next(1))[0]).toMatchObject({ status: 0 });
    clear.stop();
    const secure = connectTls({ socket, ca: [files.ca], servername: 'localhost' });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', () => resolve()).once('error', reject));
    const tls = reader(secure);
    const closed = new Promise<void>((resolve) => secure.once('close', () => resolve()));
    const [notice] = await tls.next(1, 3000);
    expect(notice).toMatchObject({ messageId: 0, status: 52 });
    await closed;
    expect(t.ldap.connections).toBe(0);
  });
});
