/**
 * What the benchmarks that run servers as their own processes share: options, free ports, waiting
 * for a TCP port, Gatehouse started as `bin/gatehouse.js start` over a SQLite store filled before
 * it starts, cleanup of every process and temporary directory when the benchmark process exits,
 * and the CPU time of a server process read from /proc (steadier than throughput on a shared
 * machine). FreeRADIUS with a temporary raddb is in ./freeradius.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/store/open.ts';
import type { Store } from '../src/store/types.ts';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** `--<name> <positive integer>` from the command line (after `npm run bench --`), or `fallback`. */
export function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer`);
  return value;
}

/** `--<name> <one of choices>`, or `fallback`. */
export function choiceOption<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = process.argv[i + 1] as T;
  if (!choices.includes(value)) throw new Error(`--${name} needs one of ${choices.join(', ')}`);
  return value;
}

export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A TCP port free on 127.0.0.1 right now: the tests' helper. */
export { freePort as freeTcpPort } from '../test/helpers/ports.ts';

export async function waitForTcpPort(port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port} within 30 s`);
}

/** Every server process and temporary directory the benchmarks made, gone when this process exits (even after a failed start). */
const children: ChildProcess[] = [];
const dirs: string[] = [];
const profiled = new Set<ChildProcess>();
process.on('exit', () => {
  // A profiled Gatehouse stops gracefully, so that Node writes its profile.
  for (const child of children) if (child.exitCode === null) child.kill(profiled.has(child) ? 'SIGTERM' : 'SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Kills `child` when this process exits, and stops it from keeping this process alive. */
export function track(child: ChildProcess): ChildProcess {
  children.push(child);
  child.unref();
  return child;
}

/**
 * A Node.js script of the benchmarks (a floor server) as its own process, tracked; with
 * `BENCH_CPU_PROFILE=<dir>` it runs under `--cpu-prof` like Gatehouse (startGatehouse) and is
 * stopped with SIGTERM, on which the script must exit (so that Node writes the profile).
 */
export function spawnScript(script: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const profileDir = process.env.BENCH_CPU_PROFILE;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = track(spawn(process.execPath, [...profile, join(ROOT, script), ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
  if (profileDir) profiled.add(child);
  return child;
}

/** A new directory under the system's temporary directory, removed when this process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Opens the SQLite store at `url`, migrates it, runs `fill` in one transaction and closes it. */
export async function fillStore(url: string, fill: Parameters<Store['directory']['transaction']>[0]): Promise<void> {
  const store = await openStore(url);
  try {
    await store.migrate();
    await store.directory.transaction(fill);
  } finally {
    await store.close();
  }
}

export interface GatehouseConfig {
  /** The configuration file, `<dir>/gatehouse.yaml`. */
  file: string;
  /** Its store, `sqlite:<dir>/gatehouse.db`. */
  storageUrl: string;
}

/**
 * Writes `<dir>/gatehouse.yaml`: HTTP on a free loopback port (or `httpPort`), a SQLite store in `dir`, a random
 * keyring, errors only in the log, a throttle that lets a benchmark's load through, then `lines`
 * (the front-end's section, `passwords`, `directory`, ...).
 */
export function writeGatehouseConfig(dir: string, lines: string[], options: { httpPort?: number } = {}): GatehouseConfig {
  const storageUrl = `sqlite:${join(dir, 'gatehouse.db')}`;
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, [
    `server: { http: { host: 127.0.0.1, port: ${options.httpPort ?? 0} } }`,
    `storage: { url: "${storageUrl}" }`,
    `secrets: { keys: [ { id: bench, key: "${randomBytes(32).toString('base64')}" } ] }`,
    'log: { level: error }',
    'throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100000 }',
    ...lines,
    '',
  ].join('\n'));
  return { file, storageUrl };
}

/**
 * `bin/gatehouse.js start --config <file>` as its own process (its stderr on ours, libuv's thread
 * pool at its default size whatever bin/bench.js set for the benchmark process, or `threadpool`),
 * tracked; resolves once `ready` does (it should throw if the child exits meanwhile). With
 * `BENCH_CPU_PROFILE=<dir>` in the environment, Gatehouse runs under `--cpu-prof` and writes its
 * profile there when the benchmark ends (warm-up and set-up included); bench/cpuprofile-summary.ts
 * summarises it.
 */
export async function startGatehouse(file: string, ready: (child: ChildProcess) => Promise<void>, options: { threadpool?: string } = {}): Promise<ChildProcess> {
  const profileDir = process.env.BENCH_CPU_PROFILE;
  const profile = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = track(spawn(process.execPath, [...profile, join(ROOT, 'bin/gatehouse.js'), 'start', '--config', file], {
    env: { ...process.env, GATEHOUSE_ADMIN_KEY: randomBytes(32).toString('base64url'), UV_THREADPOOL_SIZE: options.threadpool ?? '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  }));
  if (profileDir) profiled.add(child);
  await ready(child);
  return child;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** CPU time a process used so far (all its threads), in ms, from /proc on Linux; undefined elsewhere. */
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim() || 100);
export function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/**
 * CPU time per thread kind of a process, in ms: Node's threads are named (MainThread, libuv-worker
 * for the thread pool where argon2 runs, V8Worker for the garbage collector's helpers, ...).
 */
export function threadCpuMs(pid: number): Map<string, number> {
  const byKind = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const kind = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
        byKind.set(kind, (byKind.get(kind) ?? 0) + (Number(fields[11]) + Number(fields[12])) * TICK_MS);
      } catch {
        // The thread ended meanwhile.
      }
    }
  } catch {
    // Not Linux, or the process is gone.
  }
  return byKind;
}

/**
 * CPU per operation of the process doing the work, over every measured batch, in all and per
 * thread kind: steadier than throughput on a shared machine, and it says where the time goes.
 */
export function meter(pid: () => number | undefined) {
  let ms = 0;
  let ops = 0;
  const threads = new Map<string, number>();
  return {
    async run(n: number, work: () => Promise<void>): Promise<void> {
      const id = pid();
      const before = id === undefined ? undefined : cpuMs(id);
      const threadsBefore = id === undefined ? undefined : threadCpuMs(id);
      await work();
      const after = id === undefined ? undefined : cpuMs(id);
      if (before !== undefined && after !== undefined) {
        ms += after - before;
        ops += n;
        for (const [kind, used] of threadCpuMs(id!)) threads.set(kind, (threads.get(kind) ?? 0) + used - (threadsBefore?.get(kind) ?? 0));
      }
    },
    /** µs per operation, or undefined when nothing was measured. */
    perOp: () => (ops ? (ms * 1000) / ops : undefined),
    /** µs per operation by thread kind, largest first, e.g. "libuv-worker 9.12 ms, MainThread 1.20 ms". */
    byThread: () =>
      [...threads]
        .filter(([, used]) => ops && (used * 1000) / ops >= 1)
        .sort((a, b) => b[1] - a[1])
        .map(([kind, used]) => `${kind} ${µs((used * 1000) / ops)}`)
        .join(', '),
  };
}

/** A duration in µs as "12.3 µs" or "4.56 ms"; "n/a" for undefined. */
export const µs = (v: number | undefined) => (v === undefined ? 'n/a' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`);
