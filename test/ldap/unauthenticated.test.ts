/**
 * Connections that have not bound: a short idle timeout before the first successful bind, which
 * refused operations do not restart, and caps on such connections apart from the total, in all and
 * per address — so clients that connect and never bind cannot keep out those that do. Raw sockets
 * and small timeouts; connection limits are not storage, so one backend.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/front-ends.ts';
import { sqlite } from '../helpers/backends.ts';
import { bindOp, deleteOp, extendedOp, RawClient, request, searchOp } from './raw.ts';
import { dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The status of the Notice of Disconnection the server sent before closing, once it closed (within `ms`). */
async function notice(c: RawClient, ms = 3000): Promise<{ status?: number; diagnosticMessage?: string } | undefined> {
  const n = await c.response(0, ms);
  return n ? { status: n.status!, diagnosticMessage: n.diagnosticMessage! } : undefined;
}

describe('ldap connection limits before bind in the configuration schema', () => {
  it('has the defaults and refuses nonsense', () => {
    expect(ConfigSchema.parse({}).ldap).toMatchObject({ idleTimeoutBeforeBindSeconds: 30, maxUnauthenticatedConnections: 200, maxUnauthenticatedConnectionsPerIp: 20 });
    expect(() => ConfigSchema.parse({ ldap: { idleTimeoutBeforeBindSeconds: 0 } })).toThrow();
    expect(() => ConfigSchema.parse({ ldap: { maxUnauthenticatedConnections: 0 } })).toThrow();
    expect(() => ConfigSchema.parse({ ldap: { maxUnauthenticatedConnectionsPerIp: 1.5 } })).toThrow();
  });
});

describe('LDAP idle timeout before bind (sqlite)', () => {
  let t: LdapFixture;
  const clients: RawClient[] = [];
  const open = async (from?: string) => {
    const c = await RawClient.open(t.address.port, from);
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    t = await startLdap(sqlite, { idleTimeoutBeforeBindSeconds: 0.6, idleTimeoutSeconds: 30, anonymous: true });
    await seed(t.core);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => t?.stop());

  it('closes a connection that keeps sending refused operations, however often, and leaves one that bound alone', async () => {
    // Bound once: out of this timer for good, even after a later bind fails.
    const bound = await open();
    expect(await bound.exchange(1, bindOp(dnOf('alice'), PASSWORD))).toMatchObject({ status: 0 });
    expect(await bound.exchange(2, bindOp(dnOf('alice'), 'not the password'))).toMatchObject({ status: 49 });
    const c = await open();
    const started = performance.now();
    let id = 0;
    // Every 100 ms something the server refuses: a wrong password (49), a write (50).
    while (!c.closed && performance.now() - started < 3000) {
      id += 1;
      c.send(request(id, id % 2 ? bindOp(dnOf('mallory'), 'not the password') : deleteOp(dnOf('alice'))));
      await sleep(100);
    }
    expect(c.closed).toBe(true);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(await notice(c)).toMatchObject({ status: 52, diagnosticMessage: expect.stringContaining('no successful bind') });
    expect(bound.closed).toBe(false);
    expect(await bound.exchange(3, bindOp(dnOf('bob'), PASSWORD))).toMatchObject({ status: 0 });
    expect(await bound.exchange(4, extendedOp(WHO_AM_I))).toMatchObject({ responseValue: `dn:${dnOf('bob')}` });
  });

  it('keeps a connection whose operations succeed, anonymous ones included (the timer restarts)', async () => {
    const c = await open();
    for (let id = 1; id <= 5; id++) {
      // Each well within the 0.6 s: a root DSE read, an anonymous bind, a Who am I?.
      const op = [searchOp(''), bindOp('', ''), extendedOp(WHO_AM_I)][id % 3]!;
      c.send(request(id, op));
      await sleep(300);
    }
    expect(c.closed).toBe(false);
    // An anonymous bind is no bind here: it does not take the connection out of the timer.
    expect(await notice(c, 2000)).toMatchObject({ status: 52 });
  });
});

describe('LDAP caps on unauthenticated connections (sqlite)', () => {
  let t: LdapFixture;
  const clients: RawClient[] = [];
  const open = async (from?: string) => {
    const c = await RawClient.open(t.address.port, from);
    clients.push(c);
    return c;
  };
  /** A connection from `from` refused at once with a busy Notice of Disconnection: its message, else undefined. */
  const refusedFrom = async (from: string) => {
    const c = await open(from);
    const n = await c.response(0, 300);
    return n && n.status === 51 && (await c.closedWithin(1000)) ? n.diagnosticMessage : undefined;
  };
  beforeAll(async () => {
    t = await startLdap(sqlite, { maxConnections: 100, maxConnectionsPerIp: 50, maxUnauthenticatedConnections: 4, maxUnauthenticatedConnectionsPerIp: 2, idleTimeoutBeforeBindSeconds: 30 });
    await seed(t.core);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await sleep(100);
  });
  afterAll(async () => t?.stop());

  it('refuses a third unbound connection from one address (busy), and takes one again once another binds', async () => {
    const [a] = [await open('127.0.0.1'), await open('127.0.0.1')];
    expect(await refusedFrom('127.0.0.1')).toBe('too many connections without a successful bind');
    // Another address is not concerned.
    expect(await refusedFrom('127.0.0.2')).toBeUndefined();
    // A connection that binds leaves the pool: its address may open another.
    expect(await a!.exchange(1, bindOp(dnOf('alice'), PASSWORD))).toMatchObject({ status: 0 });
    expect(t.ldap.unauthenticatedConnections).toBe(2);
    expect(await refusedFrom('127.0.0.1')).toBeUndefined();
  });

  it('refuses unbound connections past the total, while connections that bound keep working and others may still connect once slots free', async () => {
    // A client bound before the flood.
    const bound = await open('127.0.0.9');
    expect(await bound.exchange(1, bindOp(dnOf('bob'), PASSWORD))).toMatchObject({ status: 0 });
    // Four unbound from two addresses fill the pool; a fifth from anywhere is refused.
    const flood = [await open('127.0.0.3'), await open('127.0.0.3'), await open('127.0.0.4'), await open('127.0.0.4')];
    expect(t.ldap.unauthenticatedConnections).toBe(4);
    expect(await refusedFrom('127.0.0.5')).toBe('too many connections without a successful bind');
    // The bound client is served throughout.
    expect(await bound.exchange(2, extendedOp(WHO_AM_I))).toMatchObject({ responseValue: `dn:${dnOf('bob')}` });
    // One of the flood leaves: a newcomer gets its slot, binds, and leaves the pool in turn.
    flood[0]!.close();
    await sleep(100);
    const newcomer = await open('127.0.0.5');
    expect(await newcomer.exchange(1, bindOp(dnOf('alice'), PASSWORD))).toMatchObject({ status: 0 });
    expect(t.ldap.unauthenticatedConnections).toBe(3);
    expect(await refusedFrom('127.0.0.6')).toBeUndefined();
  });
});

describe('LDAP: unbound connections from a few addresses do not keep everyone out (sqlite)', () => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(sqlite, { maxConnections: 40, maxConnectionsPerIp: 40, maxUnauthenticatedConnections: 20, maxUnauthenticatedConnectionsPerIp: 10, idleTimeoutBeforeBindSeconds: 0.8, idleTimeoutSeconds: 30 });
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  it('cuts connections that only send refused operations, and a client that binds gets in', async () => {
    // 30 connections from 3 addresses (the issue: 1,000 from 20), each sending a refused operation
    // every 100 ms: at most 20 are accepted (10 per address), the rest refused.
    const flood = await Promise.all(Array.from({ length: 30 }, (_, i) => RawClient.open(t.address.port, `127.0.1.${i % 3}`)));
    await sleep(100);
    const accepted = flood.filter((c) => !c.closed);
    expect(accepted.length).toBeLessThanOrEqual(20);
    expect(t.ldap.unauthenticatedConnections).toBe(20);
    let id = 0;
    const noise = setInterval(() => {
      id += 1;
      for (const c of accepted) if (!c.closed) c.send(request(id, bindOp(dnOf('mallory'), 'not the password')));
    }, 100);
    try {
      // Meanwhile the pool is full: a newcomer is refused...
      const early = await RawClient.open(t.address.port, '127.0.2.1');
      expect(await early.response(0, 300)).toMatchObject({ status: 51 });
      early.close();
      // ...until the idle timeout before bind cuts the flood, which its refused operations do not restart.
      await sleep(1200);
      expect(accepted.every((c) => c.closed)).toBe(true);
      expect(t.ldap.unauthenticatedConnections).toBe(0);
      const late = await RawClient.open(t.address.port, '127.0.2.1');
      expect(await late.exchange(1, bindOp(dnOf('alice'), PASSWORD))).toMatchObject({ status: 0 });
      late.close();
    } finally {
      clearInterval(noise);
      for (const c of flood) c.close();
    }
  });
});
