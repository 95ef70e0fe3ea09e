/**
 * Hostile input over raw sockets: whatever one client sends, only its own connection closes (with a
 * Notice of Disconnection where possible) and the server goes on serving everyone else.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ldapMessages from '@ldapjs/messages';
import { BerReader } from '@ldapjs/asn1';
import { backends } from '../helpers/backends.ts';
import { dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const { LdapMessage, SearchRequest } = ldapMessages;
const NOTICE = '1.3.6.1.4.1.1466.20036';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
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
