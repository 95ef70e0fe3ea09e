/**
 * What a flood of invalid RADIUS packets costs Gatehouse, in counts and CPU time rather than rates
 * (the machines these run on are shared): `node bench/radius-flood.ts [options]`.
 *
 * Gatehouse runs in its own process (as in bench/radius.bench.ts: SQLite, argon2id users, one
 * RADIUS client at 127.0.0.1); the flood comes from a child process (bench/radius-flood-sender.ts).
 *
 * 1. CPU per invalid packet, per kind (unknown source, bad Message-Authenticator, malformed), with no
 *    legitimate load: `--packets` packets at `--rate` a second; the server process's CPU time
 *    (/proc/<pid>/stat, utime + stime) over the burst, less what it spends idle over as long,
 *    divided by the packets it counted (gatehouse_radius_dropped_total by reason, from /metrics).
 *    Datagrams the kernel dropped because the socket's receive buffer was full are counted too (the
 *    socket's `drops` in /proc/net/udp).
 * 2. PAP (50 in flight, retransmitting after 3 s as a NAS does) for `--seconds`, without and then
 *    with the flood (bad Message-Authenticator and unknown source, alternately, at `--rate`):
 *    answered, retransmitted, socket drops, /proc/net/snmp Udp RcvbufErrors and InErrors (those are
 *    the whole machine's), the server's CPU, and the flood rate the sender achieved.
 *
 * Options: `--radius-users <n>` (default 1000; hashes cached as in radius.bench.ts), `--seconds <n>`
 * (default 20), `--packets <n>` (default 50000), `--rate <n>` (default 10000); experiments:
 * `--threadpool <n>` (the server's UV_THREADPOOL_SIZE, default as bin/gatehouse.js sizes it: one per core), `--renice-threads <n>`
 * (every server thread but the event loop's gets this nice value).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort, option } from './harness.ts';
import { Load, USERS, argon2Hashes, flood, startGatehouse } from './radius.bench.ts';
import type { FloodKind } from './radius-flood-sender.ts';

const SECONDS = option('seconds', 20);
const PACKETS = option('packets', 50_000);
const RATE = option('rate', 10_000);
const THREADPOOL = process.argv.includes('--threadpool') ? String(option('threadpool', 4)) : '';
const RENICE = option('renice-threads', 0);
const TICK = 100; // USER_HZ on Linux

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process's user + system CPU time, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

/** The machine's Udp counters (/proc/net/snmp). */
function udpCounters(): Record<string, number> {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

/** The kernel's drops and queued bytes for the UDP socket bound to 127.0.0.1:`port` (/proc/net/udp). */
function socketDrops(port: number): { drops: number; rxQueue: number } {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) return { drops: Number(f[12]), rxQueue: parseInt(f[4]!.split(':')[1]!, 16) };
  }
  throw new Error(`no UDP socket on 127.0.0.1:${port}`);
}

/** The socket's receive buffer as `ss` shows it (skmem rb: the limit, in bytes), if ss is installed. */
function receiveBuffer(port: number): string {
  try {
    const line = execFileSync('ss', ['-Haumn', `sport = :${port}`], { encoding: 'utf8' });
    return /rb(\d+)/.exec(line)?.[1] ? `receive buffer ${/rb(\d+)/.exec(line)![1]} bytes` : line.trim();
  } catch {
    return 'receive buffer unknown (no ss)';
  }
}

/** The server's dropped datagrams by reason, and its event loop's delay since the last scrape (prom-client resets it per scrape), in ms. */
async function dropped(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^gatehouse_radius_dropped_total\{reason="([a-z_]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  for (const m of text.matchAll(/^gatehouse_nodejs_eventloop_lag_(max|p99)_seconds (\S+)/gm)) lag[m[1] as 'max' | 'p99'] = Math.round(Number(m[2]) * 1000);
  return out;
}
const lag = { max: 0, p99: 0 };

const REASON: Record<FloodKind, string> = { unknown: 'unknown_client', bad_mac: 'bad_message_authenticator', malformed: 'malformed' };

async function main(): Promise<void> {
  const hashes = await argon2Hashes(USERS);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-radius-flood-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const httpPort = await freeTcpPort();
  const { port, child } = await startGatehouse(dir, hashes, httpPort, THREADPOOL);
  const pid = child.pid!;
  if (RENICE) {
    // An experiment: every thread of the server but its event loop's (libuv's pool, which verifies
    // passwords; V8's helpers) made nicer, so the event loop wins the cores when they are contended.
    const threads = readdirSync(`/proc/${pid}/task`).map(Number).filter((tid) => tid !== pid);
    for (const tid of threads) setPriority(tid, RENICE);
    process.stdout.write(`reniced ${threads.length} threads of the server to ${RENICE}\n`);
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`gatehouse pid ${pid}, RADIUS 127.0.0.1:${port}, ${USERS} users; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  out(`server socket: ${receiveBuffer(port)}`);
  const warm = new Load(port);
  await warm.open();
  await warm.run(100, USERS);
  warm.close();
  await sleep(1000);

  // 1. CPU per invalid packet.
  const idleStart = cpuMs(pid);
  await sleep(3000);
  const idlePerMs = (cpuMs(pid) - idleStart) / 3000;
  out(`idle: ${(idlePerMs * 1000).toFixed(1)} ms CPU a second`);
  for (const kind of ['unknown', 'bad_mac', 'malformed'] as const) {
    const before = { cpu: cpuMs(pid), metrics: await dropped(httpPort), socket: socketDrops(port), t: Date.now() };
    const report = await flood(port, { kinds: [kind], rate: RATE, count: PACKETS }).done;
    // Until the socket's queue is empty and the server has caught up.
    for (let i = 0; i < 50 && socketDrops(port).rxQueue > 0; i++) await sleep(100);
    await sleep(500);
    const after = { cpu: cpuMs(pid), metrics: await dropped(httpPort), socket: socketDrops(port), t: Date.now() };
    const counted = (after.metrics[REASON[kind]] ?? 0) - (before.metrics[REASON[kind]] ?? 0);
    const cpu = after.cpu - before.cpu - idlePerMs * (after.t - before.t);
    out(`${kind}: sent ${report.sent} at ${Math.round(report.sent / report.seconds)}/s; counted by the server ${counted}; socket drops ${after.socket.drops - before.socket.drops}; server CPU ${Math.round(after.cpu - before.cpu)} ms (${Math.round(cpu)} ms above idle) = ${((cpu * 1000) / Math.max(1, counted)).toFixed(1)} µs per packet counted`);
  }

  // 2. PAP without and with the flood.
  for (const withFlood of [false, true]) {
    const load = new Load(port);
    await load.open();
    const before = { cpu: cpuMs(pid), snmp: udpCounters(), socket: socketDrops(port), metrics: await dropped(httpPort), t: Date.now() };
    const flooding = withFlood ? flood(port, { rate: RATE }) : undefined;
    await load.runFor(SECONDS * 1000, USERS);
    const report = await flooding?.stop();
    const after = { cpu: cpuMs(pid), snmp: udpCounters(), socket: socketDrops(port), metrics: await dropped(httpPort), t: Date.now() };
    load.close();
    const seconds = (after.t - before.t) / 1000;
    const flooded = report ? `; flood ${report.sent} packets at ${Math.round(report.sent / report.seconds)}/s, server counted ${Object.entries(after.metrics).map(([k, v]) => `${k} ${v - (before.metrics[k] ?? 0)}`).join(', ')}` : '';
    out(`PAP ${withFlood ? 'under the flood' : 'flood-free'}: event loop delay max ${lag.max} ms, p99 ${lag.p99} ms; ${load.answered} answered in ${seconds.toFixed(1)} s (${(load.answered / seconds).toFixed(1)}/s), ${load.retransmitted} retransmissions; socket drops ${after.socket.drops - before.socket.drops}; Udp RcvbufErrors +${after.snmp.RcvbufErrors! - before.snmp.RcvbufErrors!}, InErrors +${after.snmp.InErrors! - before.snmp.InErrors!} (whole machine); server CPU ${Math.round(after.cpu - before.cpu)} ms${flooded}`);
    await sleep(3000);
  }
  out(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  process.exit(0);
}

await main();
