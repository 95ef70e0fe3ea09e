/**
 * Hostile input over raw sockets: whatever one client sends, only its own connection closes (with a
 * Notice of Disconnection where possible) and the server goes on serving everyone else. Also
 * hostile numbers — 10,000 connections — and hostile pace: a message trickled a byte at a time, a
 * client that never reads its responses.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ldapMessages from '@ldapjs/messages';
import { BerReader } from '@ldapjs/asn1';
import { backends, sqlite } from '../helpers/backends.ts';
import { dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const { BindRequest, LdapMessage, SearchRequest } = ldapMessages as unknown as typeof ldapMessages & {
  BindRequest: new (options: { messageId: number; name: string; credentials: string }) => { toBer(): { buffer: Buffer } };
};
const NOTICE = '1.3.6.1.4.1.1466.20036';

/** A connection to the server on 127.0.0.1, from `from` (any 127/8 address is this machine's on Linux). */
function open(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection (or the timeout says it did not). */
function untilClosed(socket: Socket, timeoutMs = 3000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed: false });
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), closed: true });
    });
  });
}

async function send(port: number, bytes: Buffer | string): Promise<{ data: Buffer; closed: boolean }> {
  const socket = await open(port);
  const done = untilClosed(socket);
  socket.write(typeof bytes === 'string' ? Buffer.from(bytes.replace(/\s/g, ''), 'hex') : bytes);
  return done;
}

/** The result code of the Notice of Disconnection in `data`. */
function noticeStatus(data: Buffer): number | undefined {
  if (!data.includes(NOTICE)) return undefined;
  const message = LdapMessage.parse(new BerReader(data)) as unknown as { messageId: number; status: number };
  expect(message.messageId).toBe(0);
  return message.status;
}

function searchBytes(messageId: number): Buffer {
  return new SearchRequest({ messageId, baseObject: '', scope: 'base', filter: '(objectClass=*)' }).toBer().buffer;
}

describe.each(backends)('LDAP hostile input ($name)', (backend) => {
  let t: LdapFixture;
  let port: number;
  beforeAll(async () => {
    t = await startLdap(backend, { maxConnectionsPerIp: 5, maxOutstanding: 2 });
    port = t.address.port;
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  /** A normal client still binds and searches. */
  async function stillServes(): Promise<void> {
    const c = t.client();
    await c.bind(dnOf('alice'), PASSWORD);
    expect((await c.search(dnOf('alice'), { scope: 'base' })).searchEntries).toHaveLength(1);
    await c.unbind();
  }

  it('survives the six bytes 30 84 ff ff ff ff', async () => {
    const { closed, data } = await send(port, '30 84 ff ff ff ff');
    expect(closed).toBe(true);
    expect(noticeStatus(data)).toBe(2);
    await stillServes();
  });

  it('closes on a well-framed but malformed message, and on garbage', async () => {
    // An INTEGER claiming 5 bytes inside a 3-byte SEQUENCE.
    expect(await send(port, '30 03 02 05 01')).toMatchObject({ closed: true });
    // Search requests (decoded by our own decoder): an unknown filter choice [15], a filter longer
    // than its request, an indefinite length inside, a scope of 7, a negative message ID.
    const search = (filter: string, scope = '0a 01 02', id = '02 01 05') => {
      const body = `04 00 ${scope} 0a 01 00 02 01 00 02 01 00 01 01 00 ${filter} 30 00`.replace(/\s/g, '');
      const op = `63${(body.length / 2).toString(16).padStart(2, '0')}${body}`;
      const inner = `${id.replace(/\s/g, '')}${op}`;
      return `30${(inner.length / 2).toString(16).padStart(2, '0')}${inner}`;
    };
    for (const bytes of [search('af 00'), search('a3 7f 04 01 61'), search('a0 80 87 01 61 00 00'), search('87 01 61', '0a 01 07'), search('87 01 61', '0a 01 02', '02 01 ff')]) {
      const { closed, data } = await send(port, bytes);
      expect(closed, bytes).toBe(true);
      expect(noticeStatus(data), bytes).toBe(2);
    }
    expect(await send(port, 'de ad be ef 00 11 22 33')).toMatchObject({ closed: true });
    // A bind request whose inner lengths lie.
    expect(await send(port, '30 0c 02 01 01 60 07 02 01 03 04 7f 80 00')).toMatchObject({ closed: true });
    // Indefinite length (RFC 4511 §5.1 forbids it) and a 5-octet length.
    expect(await send(port, '30 80 02 01 01 00 00')).toMatchObject({ closed: true });
    expect(await send(port, '30 85 01 00 00 00 00')).toMatchObject({ closed: true });
    await stillServes();
  });

  it('forgets a truncated message when its client goes away', async () => {
    const socket = await open(port);
    socket.write(Buffer.from('300c020101600702', 'hex'));
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await stillServes();
  });

  it('refuses a 2 GiB declared length at once, without waiting for the bytes', async () => {
    const socket = await open(port);
    const done = untilClosed(socket, 2000);
    // Sent slowly: the header, then a trickle of body bytes.
    socket.write(Buffer.from('30847fffffff', 'hex'));
    const trickle = setInterval(() => socket.writable && socket.write(Buffer.alloc(16)), 20);
    const { closed, data } = await done;
    clearInterval(trickle);
    expect(closed).toBe(true);
    expect(noticeStatus(data)).toBe(2);
    await stillServes();
  });

  it('caps messages at 16 KiB before bind', async () => {
    const header = Buffer.from('3082ffff', 'hex');
    const { closed } = await send(port, header);
    expect(closed).toBe(true);
  });

  it('limits connections per IP, and the slots come back', async () => {
    const sockets = await Promise.all(Array.from({ length: 5 }, () => open(port)));
    const sixth = await open(port);
    const { closed, data } = await untilClosed(sixth);
    expect(closed).toBe(true);
    expect(noticeStatus(data)).toBe(51);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    await stillServes();
  });

  it('answers busy (51) beyond the outstanding operations limit', async () => {
    const socket = await open(port);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(Buffer.concat(Array.from({ length: 6 }, (_, i) => searchBytes(i + 1))));
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy();
    const data = Buffer.concat(chunks);
    // Six answers in all; the first two ran, at least one of the others was refused as busy.
    const statuses: number[] = [];
    let offset = 0;
    while (offset < data.length) {
      const reader = new BerReader(data.subarray(offset));
      const message = LdapMessage.parse(reader) as unknown as { type: string; status?: number };
      if (message.type === 'SearchResultDone') statuses.push(message.status!);
      // Each message is one BER element: advance by its encoded size.
      const size = data[offset + 1]! < 0x80 ? 2 + data[offset + 1]! : 2 + (data[offset + 1]! & 0x7f) + data.readUIntBE(offset + 2, data[offset + 1]! & 0x7f);
      offset += size;
    }
    expect(statuses).toHaveLength(6);
    expect(statuses.filter((s) => s === 0).length).toBeGreaterThanOrEqual(2);
    expect(statuses).toContain(51);
  });
});

describe.each(backends)('LDAP idle timeout ($name)', (backend) => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(backend, { idleTimeoutSeconds: 0.2 });
  });
  afterAll(async () => t?.stop());

  it('closes an idle connection with a Notice of Disconnection', async () => {
    const socket = await open(t.address.port);
    const { closed, data } = await untilClosed(socket, 2000);
    expect(closed).toBe(true);
    expect(noticeStatus(data)).toBe(52);
  });
});

/** How many files this process may open (soft limit), from /proc on Linux; 1024 elsewhere. */
function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s+/)[3]);
    return Number.isFinite(soft) ? soft : 1024;
  } catch {
    return 1024;
  }
}

/** A bind as alice and a search of her entry over a raw socket from `from`; true when both succeed. */
async function legitimate(port: number, from: string): Promise<boolean> {
  const socket = await open(port, from);
  const replies: Array<{ type: string; status?: number }> = [];
  let buffer = Buffer.alloc(0);
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length > 2) {
        const size = buffer[1]! < 0x80 ? 2 + buffer[1]! : 2 + (buffer[1]! & 0x7f) + buffer.readUIntBE(2, buffer[1]! & 0x7f);
        if (buffer.length < size) return;
        replies.push(LdapMessage.parse(new BerReader(buffer.subarray(0, size))) as unknown as { type: string; status?: number });
        buffer = buffer.subarray(size);
        if (replies.at(-1)!.type === 'SearchResultDone' || replies.at(-1)!.type === 'ExtensionResponse') return resolve();
      }
    });
    socket.on('close', () => resolve());
    socket.on('error', () => undefined);
    setTimeout(resolve, 3000);
  });
  socket.write(Buffer.concat([
    new BindRequest({ messageId: 1, name: dnOf('alice'), credentials: PASSWORD }).toBer().buffer,
    new SearchRequest({ messageId: 2, baseObject: dnOf('alice'), scope: 'base', filter: '(objectClass=*)' }).toBer().buffer,
  ]));
  await done;
  socket.destroy();
  return replies.map((r) => `${r.type}:${r.status ?? ''}`).join(' ') === 'BindResponse:0 SearchResultEntry: SearchResultDone:0';
}

describe('LDAP under 10,000 connections (sqlite)', () => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(sqlite, { maxConnections: 30, maxConnectionsPerIp: 20 });
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  it('refuses connections past the per-address and total caps, closes them, and keeps serving', async () => {
    const port = t.address.port;
    // The server's and this process's sockets share one file-descriptor limit here: stay well inside
    // it, and inside the listen backlog (511), past which connections wait a second to retry.
    const batch = Math.max(50, Math.min(400, Math.floor((openFileLimit() - 500) / 3)));
    const held = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    let refused = 0;
    let attempts = 0;
    const started = performance.now();
    while (attempts < 10_000) {
      const n = Math.min(batch, 10_000 - attempts);
      attempts += n;
      const sockets = await Promise.all(Array.from({ length: n }, () => open(port).catch(() => undefined)));
      const closed = await Promise.all(sockets.map((s) => (s ? untilClosed(s, 3000) : { closed: true, data: Buffer.alloc(0) })));
      refused += closed.filter((c) => c.closed).length;
      // Someone else on another address is served throughout.
      if (attempts % 5000 === 0) expect(await legitimate(port, '127.0.0.2')).toBe(true);
    }
    expect(refused).toBe(10_000);
    expect(performance.now() - started).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(t.ldap.connections).toBe(20);

    // The total cap: ten more from another address fit (30 in all), the rest are refused, and so is
    // everyone else until some leave.
    const others = await Promise.all(Array.from({ length: 15 }, () => open(port, '127.0.0.3')));
    // Watched for a moment, and left open (untilClosed would close the accepted ones).
    const outcome = others.map((s) => {
      const o = { closed: false, data: Buffer.alloc(0) };
      s.on('data', (c: Buffer) => (o.data = Buffer.concat([o.data, c])));
      s.on('close', () => (o.closed = true));
      s.on('error', () => undefined);
      return o;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(outcome.filter((o) => o.closed)).toHaveLength(5);
    expect(outcome.filter((o) => o.closed).every((o) => noticeStatus(o.data) === 51)).toBe(true);
    expect(t.ldap.connections).toBe(30);
    expect(await legitimate(port, '127.0.0.2')).toBe(false);
    for (const s of [...held, ...others]) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await legitimate(port, '127.0.0.2')).toBe(true);
  });
});

/** alice's ssh keys made big: one search of every user sends megabytes. */
function bigKeys(count: number, bytes: number): string[] {
  return Array.from({ length: count }, () => {
    const type = Buffer.from('ssh-ed25519');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(type.length);
    return `ssh-ed25519 ${Buffer.concat([header, type, randomBytes(bytes)]).toString('base64')}`;
  });
}

/** The transport's pacing does not depend on the store: one backend is enough. */
describe('LDAP slow clients (sqlite)', () => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(sqlite, { readTimeoutSeconds: 0.5, writeTimeoutSeconds: 1, sizeLimit: 10_000 });
    await seed(t.core);
    // 16 users of 50 keys of 6 KB each: about 5 MB per search of everyone.
    const users = t.store.directory.users;
    for (let i = 0; i < 16; i++) await users.create({ username: `big${i}`, status: 'active', sshPublicKeys: bigKeys(50, 6000), attributes: {} });
  }, 60_000);
  afterAll(async () => t?.stop());

  it('cuts a client that trickles a message a byte at a time (ldap.readTimeoutSeconds), with protocolError', async () => {
    const socket = await open(t.address.port);
    const done = untilClosed(socket, 3000);
    const bytes = searchBytes(7);
    let i = 0;
    const started = performance.now();
    const trickle = setInterval(() => socket.writable && i < bytes.length && socket.write(bytes.subarray(i, ++i)), 40);
    const { closed, data } = await done;
    clearInterval(trickle);
    expect(closed).toBe(true);
    // Cut before the whole message could arrive (it would take 40 ms x its length).
    expect(i).toBeLessThan(bytes.length);
    expect(performance.now() - started).toBeLessThan(bytes.length * 40);
    expect(noticeStatus(data)).toBe(2);
  });

  it('keeps what waits for a client that never reads bounded, and cuts it after ldap.writeTimeoutSeconds', async () => {
    const socket = await open(t.address.port);
    socket.on('error', () => undefined);
    // Bind, read the answer, then stop reading and ask for everyone eight times (about 40 MB).
    const bound = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write(new BindRequest({ messageId: 1, name: dnOf('bob'), credentials: PASSWORD }).toBer().buffer);
    await bound;
    socket.pause();
    const before = t.ldap.connections;
    for (let id = 2; id < 10; id++) socket.write(new SearchRequest({ messageId: id, baseObject: `ou=people,dc=example,dc=com`, scope: 'one', filter: '(objectClass=*)' }).toBer().buffer);
    let most = 0;
    const started = performance.now();
    while (t.ldap.connections === before && performance.now() - started < 5000) {
      most = Math.max(most, t.ldap.bufferedBytes);
      await new Promise((r) => setTimeout(r, 20));
    }
    // One entry is about 400 KB: a batch and a socket buffer's worth wait, not the 40 MB asked for.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThan(2 * 1024 * 1024);
    expect(t.ldap.connections).toBe(before - 1);
    expect(performance.now() - started).toBeGreaterThan(900);
    socket.destroy();
    expect(await legitimate(t.address.port, '127.0.0.1')).toBe(true);
  });
});
