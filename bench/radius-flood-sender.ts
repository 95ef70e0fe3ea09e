/**
 * The flood of invalid RADIUS packets, in a process of its own (bench/radius.bench.ts and
 * bench/radius-flood.ts fork it), so its sends do not run on the load generator's event loop.
 *
 * Told by one IPC message `{ port, secret, kinds, rate, count? }`: sends `rate` packets a second
 * (paced by the clock: what a late timer owes is sent at the next tick, at most 1,000 at once) to
 * 127.0.0.1:`port`, cycling through `kinds`, until `count` packets are sent or it gets 'stop'; then
 * answers `{ sent, seconds }` (the rate it actually achieved) and exits.
 *
 * Kinds: 'unknown' (an Access-Request from 127.0.0.3, which no RADIUS client covers), 'bad_mac' (an
 * Access-Request from 127.0.0.1, the benchmark's client, with a wrong Message-Authenticator) and
 * 'malformed' (from 127.0.0.1: an attribute that runs past the packet).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { CODE, encodeRequest } from '../protocols/radius/codec.ts';

export type FloodKind = 'unknown' | 'bad_mac' | 'malformed';
export interface FloodOrder {
  port: number;
  secret: string;
  kinds: FloodKind[];
  rate: number;
  count?: number;
}
export interface FloodReport {
  sent: number;
  seconds: number;
}

function packetsOf(kind: FloodKind, secret: string): Buffer[] {
  // 64 different packets per kind (identifiers and authenticators vary, as an attacker's would).
  return Array.from({ length: 64 }, (_, i) => {
    const wrongSecret = kind === 'unknown' ? secret : randomBytes(8).toString('hex');
    const packet = encodeRequest({ code: CODE.AccessRequest, identifier: i, secret: wrongSecret, userPassword: 'x', attributes: [{ type: 1, value: Buffer.from(`flood${i}`) }] });
    // User-Name's length octet (after the header and Message-Authenticator): it runs past the packet.
    if (kind === 'malformed') packet[20 + 18 + 1] = 250;
    return packet;
  });
}

function bound(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, address, () => resolve(socket));
  });
}

async function run(order: FloodOrder): Promise<FloodReport> {
  const inside = await bound('127.0.0.1');
  const outside = await bound('127.0.0.3');
  const plan = order.kinds.map((kind) => ({ socket: kind === 'unknown' ? outside : inside, packets: packetsOf(kind, order.secret) }));
  let stopped = false;
  process.on('message', (m) => {
    if (m === 'stop') stopped = true;
  });
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  let sent = 0;
  const limit = order.count ?? Infinity;
  await new Promise<void>((resolve) => {
    const tick = () => {
      if (stopped || sent >= limit) return resolve();
      const owed = Math.min(1000, Math.floor(order.rate * elapsed()) - sent, limit - sent);
      for (let i = 0; i < owed; i++, sent++) {
        const p = plan[sent % plan.length]!;
        p.socket.send(p.packets[sent % p.packets.length]!, order.port, '127.0.0.1');
      }
      setTimeout(tick, 5);
    };
    tick();
  });
  const seconds = elapsed();
  // Let the last sends leave before the sockets close.
  await new Promise((r) => setTimeout(r, 50));
  inside.close();
  outside.close();
  return { sent, seconds };
}

process.once('message', (order: FloodOrder) => {
  void run(order).then((report) => process.send!(report, () => process.exit(0)));
});
