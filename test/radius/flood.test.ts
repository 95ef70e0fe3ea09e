/**
 * What a burst of invalid RADIUS packets costs, over real UDP on both stores (issue 13): the sockets'
 * receive buffer (radius.receiveBufferBytes) holds a burst that arrives while the event loop is busy,
 * so a legitimate request queued behind thousands of invalid packets is answered at its first try;
 * every invalid packet is read and counted under a bounded set of reasons, summed up in one log
 * line rather than one per packet, and matched against the RADIUS clients in memory (no store read
 * per packet, whatever its source; a store that fails is read once a second, not per packet, and
 * logged once). The server is created directly (createRadiusServer) so the test
 * sees its sockets and its log.
 */
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CODE, decodePacket, encodeRequest } from '../../protocols/radius/codec.ts';
import { RADIUS_DEFAULTS, type RadiusOptions } from '../../protocols/radius/config.ts';
import { createRadiusServer, DROP_REASONS, type RadiusServer } from '../../protocols/radius/server.ts';
import { createLogger } from '../../src/log.ts';
import { Metrics } from '../../src/server/metrics.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer } from '../helpers/server.ts';
import { dict, PASSWORD, SECRET, seed, TestNas, type RadiusFixture } from './support.ts';

const LINUX = existsSync('/proc/sys/net/core/rmem_max');
const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));
const MiB = 1024 * 1024;

/** A Gatehouse core (store, directory) and a RADIUS server of our own on it, its log lines kept. */
async function radiusServer(t: RadiusFixture, options: Partial<RadiusOptions>) {
  const lines: Array<{ level: string; msg: string; dropped?: Record<string, number> }> = [];
  const logger = createLogger('info', new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  const metrics = new Metrics();
  const core = { ...t.server.gh.core, logger };
  const server: RadiusServer = createRadiusServer({ core, metrics, options: { ...RADIUS_DEFAULTS, hosts: ['127.0.0.1'], authPort: 0, acctPort: 0, rejectDelaySeconds: 0, ...options } });
  const { auth } = await server.listen();
  return { server, port: auth[0]!.port, lines, metrics, core };
}

async function socketOn(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  return s;
}

describe.each(backends)('RADIUS under a burst of invalid packets ($name)', (backend) => {
  let t: RadiusFixture;
  beforeAll(async () => {
    const server = await startTestServer(backend);
    t = { server, authPort: 0, acctPort: 0, stop: () => server.stop() };
    await seed(t);
  });
  afterAll(async () => t?.stop());

  it.runIf(LINUX)('the sockets get radius.receiveBufferBytes (Linux reports twice it); more than net.core.rmem_max allows is warned about at start', async () => {
    const rmemMax = sysctl('rmem_max');
    const fits = await radiusServer(t, { receiveBufferBytes: Math.min(MiB, rmemMax) });
    try {
      expect(fits.server.receiveBufferSizes()).toEqual([2 * Math.min(MiB, rmemMax), 2 * Math.min(MiB, rmemMax)]);
      expect(fits.lines.filter((l) => l.msg.includes('receive buffer'))).toEqual([]);
    } finally {
      await fits.server.close();
    }
    const capped = await radiusServer(t, { receiveBufferBytes: rmemMax + MiB });
    try {
      expect(capped.server.receiveBufferSizes()).toEqual([2 * rmemMax, 2 * rmemMax]);
      const warnings = capped.lines.filter((l) => l.level === 'warn' && l.msg.includes('receive buffer'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toContain('net.core.rmem_max');
      expect(warnings[0]!.msg).toContain(`is ${rmemMax} bytes, not the ${rmemMax + MiB}`);
    } finally {
      await capped.server.close();
    }
    const system = await radiusServer(t, { receiveBufferBytes: 0 });
    try {
      // Not set: the system's default, reported as is.
      expect(system.server.receiveBufferSizes()).toEqual([sysctl('rmem_default'), sysctl('rmem_default')]);
    } finally {
      await system.server.close();
    }
  });

  it('while the clients cannot be read, datagrams are dropped as errors and the failure logged once; the next read serves again', async () => {
    const { server, port, lines, metrics, core } = await radiusServer(t, {});
    const matcher = vi.spyOn(core.directory.radiusClients, 'matcher').mockRejectedValue(new Error('store down'));
    const nas = await new TestNas().open();
    try {
      const during = await Promise.all(Array.from({ length: 20 }, () => nas.access(port, { user: 'bob', password: PASSWORD, timeoutMs: 300 })));
      expect(during.every((e) => e.reply === undefined)).toBe(true);
      const errors = (await metrics.registry.getSingleMetric('gatehouse_radius_dropped_total')!.get()).values.find((v) => v.labels.reason === 'error');
      expect(errors?.value).toBe(20);
      expect(matcher).toHaveBeenCalledTimes(1); // not once per datagram
      expect(lines.filter((l) => l.msg.includes('reading the RADIUS clients failed'))).toHaveLength(1);
      matcher.mockRestore();
      await new Promise((r) => setTimeout(r, 1100));
      expect((await nas.access(port, { user: 'bob', password: PASSWORD })).reply?.code).toBe(CODE.AccessAccept);
    } finally {
      nas.close();
      await server.close();
    }
  });

  // The burst below needs about 3 MiB of receive buffer (Linux counts ~1 KiB per small datagram).
  it.runIf(LINUX && sysctl('rmem_max') >= 2 * MiB)('a burst of 3,000 invalid packets that arrives while the event loop is busy is read and counted, and a request queued behind it is answered at its first try', async () => {
    const { server, port, lines, metrics, core } = await radiusServer(t, { receiveBufferBytes: Math.min(4 * MiB, sysctl('rmem_max')) });
    const matcher = vi.spyOn(core.directory.radiusClients, 'matcher');
    const bySource = vi.spyOn(core.directory.radiusClients, 'bySource');
    // 38 unknown sources, the client's own address with a bad Message-Authenticator, malformed datagrams.
    const strangers = await Promise.all(Array.from({ length: 38 }, (_, i) => socketOn(`127.0.0.${i + 3}`)));
    const insider = await socketOn('127.0.0.1');
    const nas = await new TestNas().open();
    try {
      // Warm: the client table is read once before the burst.
      const first = await nas.access(port, { user: 'bob', password: PASSWORD });
      expect(first.reply?.code).toBe(CODE.AccessAccept);
      const badMac = encodeRequest({ code: CODE.AccessRequest, identifier: 9, secret: 'not-the-secret-0123456789', userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'bob')] });
      const malformed = Buffer.from(badMac);
      malformed[39] = 250; // User-Name runs past the packet
      const legit = encodeRequest({ code: CODE.AccessRequest, identifier: nas.nextId(), secret: SECRET, userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'bob')] });
      const answered = new Promise<Buffer>((resolve) => nas.socket.once('message', resolve));
      // All in one go: the sends leave before this process's event loop gets to read any of them.
      for (let i = 0; i < 3000; i++) {
        if (i % 3 === 0) strangers[i % strangers.length]!.send(badMac, port, '127.0.0.1');
        else insider.send(i % 3 === 1 ? badMac : malformed, port, '127.0.0.1');
      }
      nas.socket.send(legit, port, '127.0.0.1');
      // Busy, as an event loop verifying passwords or reading a store is.
      await new Promise((r) => setImmediate(r));
      const busyUntil = Date.now() + 300;
      while (Date.now() < busyUntil);
      const reply = await Promise.race([answered, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
      expect(reply && decodePacket(reply).code).toBe(CODE.AccessAccept);
      const counted = await metrics.registry.getSingleMetric('gatehouse_radius_dropped_total')!.get();
      const byReason = Object.fromEntries(counted.values.map((v) => [v.labels.reason, v.value]));
      expect(byReason).toEqual({ unknown_client: 1000, bad_message_authenticator: 1000, malformed: 1000 });
      expect(counted.values.every((v) => (DROP_REASONS as readonly string[]).includes(String(v.labels.reason)))).toBe(true);
      // The clients were matched in memory: no store read per packet or per source (the table is
      // read again in the background every half second meanwhile).
      expect(bySource).not.toHaveBeenCalled();
      expect(matcher.mock.calls.length).toBeLessThanOrEqual(3);
      // Nothing logged per packet; one summary at the end of the period (here: at close).
      expect(lines.filter((l) => l.msg.includes('dropped'))).toEqual([]);
      await server.close();
      const summaries = lines.filter((l) => l.msg.includes('dropped'));
      expect(summaries).toHaveLength(1);
      expect(summaries[0]!.level).toBe('warn');
      expect(summaries[0]!.msg).toBe('3000 RADIUS datagrams dropped in the last 60 s');
      expect(summaries[0]!.dropped).toEqual({ unknown_client: 1000, bad_message_authenticator: 1000, malformed: 1000 });
    } finally {
      for (const s of [...strangers, insider]) s.close();
      nas.close();
      await server.close();
    }
  });
});
