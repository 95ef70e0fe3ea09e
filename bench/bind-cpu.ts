/**
 * The main thread's CPU time per LDAP simple bind, in process: what Gatehouse spends around the
 * argon2id verify (the store, the throttle, the access decision, the audit event), which is what
 * keeps binds/s below the raw verify rate once the hashing threads are busy (bench/ldap.bench.ts).
 *
 * The binds go through the LDAP front-end's bind (protocols/ldap/bind.ts: `simpleBind`, hence
 * `core.signIn.attempt`) with real argon2id hashes at the test parameters (m=8 MiB, t=1), `--concurrency`
 * at a time as the load generator's connections do; the time is the main thread's alone
 * (process.threadCpuUsage), so the hashing threads and a busy machine do not count. The store's
 * statements per bind are counted too (knex's query event).
 *
 *   node bench/bind-cpu.ts [--store sqlite|postgres] [--users 2000] [--binds 3000] [--concurrency 50] [--memory 8192] [--iterations 1] [--server] [--statements] [--profile]
 *
 * `--server` measures Gatehouse as `gatehouse start` runs it instead, in its own process, bound by ldapts
 * clients over the network (its main thread's CPU time, from /proc, Linux only).
 * `--statements` lists the statements per bind. `--profile` writes a CPU profile of the measured binds (bind-cpu.cpuprofile) for Chrome DevTools.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'ldapts';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { hash as argon2Hash } from '@node-rs/argon2';
import { createCore } from '../src/core.ts';
import { ConfigSchema } from '../src/front-ends.ts';
import { createLogger } from '../src/log.ts';
import { Keyring } from '../src/secrets/keyring.ts';
import { openStore } from '../src/store/open.ts';
import { simpleBind } from '../protocols/ldap/bind.ts';
import { LdapConfig } from '../protocols/ldap/options.ts';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BASE = 'dc=example,dc=com';
const GROUPS = 500;
const PASSWORD = 'bench password of the bind cpu benchmark';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback);
}
const ARGON2 = { memoryKiB: Number(option('memory', '8192')), iterations: Number(option('iterations', '1')), parallelism: 1 };
const STORE = option('store', 'sqlite');
const USERS = Number(option('users', '2000'));
const BINDS = Number(option('binds', '3000'));
const CONCURRENCY = Number(option('concurrency', '50'));
const PROFILE = process.argv.includes('--profile');
const SERVER = process.argv.includes('--server');
const username = (i: number) => `user${String(i).padStart(5, '0')}`;

async function storeUrl(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (STORE === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bind-cpu-'));
    return { url: `sqlite:${join(dir, 'gatehouse.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = process.env.GATEHOUSE_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `gatehouse_bench_${randomBytes(6).toString('hex')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`create database ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
}

/** CPU time of a process's main thread (Node names it MainThread), in ms, from /proc. */
function mainThreadMs(pid: number, which: 'user' | 'system' | 'all' = 'all'): number {
  let ms = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'MainThread') continue;
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    const ticks = which === 'user' ? Number(fields[11]) : which === 'system' ? Number(fields[12]) : Number(fields[11]) + Number(fields[12]);
    ms += (ticks * 1000) / TICKS;
  }
  return ms;
}
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** Gatehouse as `gatehouse start` runs it, driven by ldapts clients over the network (`--server`). */
async function serverBinds(url: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bind-cpu-server-'));
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, [
    'server: { http: { host: 127.0.0.1, port: 0 } }',
    `storage: { url: "${url}" }`,
    `secrets: { keys: [ { id: bench, key: "${randomBytes(32).toString('base64')}" } ] }`,
    'log: { level: error }',
    `passwords: { argon2: { memoryKiB: ${ARGON2.memoryKiB}, iterations: ${ARGON2.iterations}, parallelism: ${ARGON2.parallelism} } }`,
    'throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100000 }',
    `ldap: { host: 127.0.0.1, port: ${port}, baseDn: "${BASE}", maxConnections: 1000, maxConnectionsPerIp: 1000, maxUnauthenticatedConnections: 1000, maxUnauthenticatedConnectionsPerIp: 1000 }`,
    '',
  ].join('\n'));
  const child = spawn(process.execPath, [...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.cwd()] : []), join(ROOT, 'bin/gatehouse.js'), 'start', '--config', file], {
    env: { ...process.env, GATEHOUSE_ADMIN_KEY: randomBytes(32).toString('base64url'), UV_THREADPOOL_SIZE: '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (let tries = 0; ; tries++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port }, () => resolve(!!socket.destroy()));
        socket.on('error', () => resolve(false));
      });
      if (up) break;
      if (tries > 300 || child.exitCode !== null) throw new Error('gatehouse did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const clients = Array.from({ length: CONCURRENCY }, () => new Client({ url: `ldap://127.0.0.1:${port}`, timeout: 120_000 }));
    const binds = async (n: number) => {
      let next = 0;
      await Promise.all(clients.map(async (client) => {
        while (next < n) {
          const i = next++ % USERS;
          await client.bind(`uid=${username(i)},ou=people,${BASE}`, PASSWORD);
        }
      }));
    };
    await binds(Math.min(1000, BINDS));
    // What the main thread spends with nothing to do (timers), per second: binds pay it too.
    const idleFrom = mainThreadMs(child.pid!);
    await new Promise((r) => setTimeout(r, 5000));
    const idle = (mainThreadMs(child.pid!) - idleFrom) / 5;
    const before = mainThreadMs(child.pid!);
    const systemBefore = mainThreadMs(child.pid!, 'system');
    const wall = performance.now();
    await binds(BINDS);
    const ms = (mainThreadMs(child.pid!) - before) / BINDS;
    const system = (mainThreadMs(child.pid!, 'system') - systemBefore) / BINDS;
    console.log(`${STORE} server: ${BINDS} binds over ${CONCURRENCY} connections: Gatehouse's main thread ${ms.toFixed(3)} ms/bind (system ${system.toFixed(3)}), ${((BINDS / (performance.now() - wall)) * 1000).toFixed(0)} binds/s wall; idle ${idle.toFixed(1)} ms/s`);
    await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const { url, drop } = await storeUrl();
const store = await openStore(url);
try {
  await store.migrate();
  // One real hash for every user (the verify's cost is the hashing threads', not measured here).
  const hash = await argon2Hash(PASSWORD, { algorithm: 2 as never, memoryCost: ARGON2.memoryKiB, timeCost: ARGON2.iterations, parallelism: ARGON2.parallelism });
  await store.directory.transaction(async (tx) => {
    const groupIds: string[] = [];
    for (let g = 0; g < GROUPS; g++) groupIds.push((await tx.groups.create({ name: `group${g}`, description: `Benchmark group ${g}`, gidNumber: 5000 + g, attributes: {} })).id);
    for (let i = 0; i < USERS; i++) {
      const name = username(i);
      const user = await tx.users.create({
        username: name, email: `${name}@example.com`, displayName: `User ${i}`, status: 'active',
        uidNumber: 100_000 + i, gidNumber: 5000 + (i % GROUPS), loginShell: '/bin/bash', sshPublicKeys: [], attributes: {},
      });
      await tx.passwords.set(user.id, hash, 0);
      await tx.memberships.add(groupIds[i % GROUPS]!, 'user', user.id);
    }
  });

  if (SERVER) {
    await store.close();
    try {
      await serverBinds(url);
    } finally {
      await drop();
    }
    process.exit(0);
  }
  const config = ConfigSchema.parse({
    server: { http: { host: '127.0.0.1', port: 0 } },
    storage: { url },
    secrets: { keys: [{ id: 'bench', key: randomBytes(32).toString('base64') }] },
    log: { level: 'error' },
    passwords: { argon2: ARGON2 },
    throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100000 },
    ldap: { baseDn: BASE },
  });
  const core = createCore(config, store, new Keyring([{ id: 'bench', key: randomBytes(32).toString('base64') }]), createLogger('error'));
  const { enabled: _enabled, ...options } = LdapConfig.parse({ baseDn: BASE });

  let statements = 0;
  const sqls = new Map<string, number>();
  store.knex.on('query', (q: { sql: string }) => {
    statements++;
    if (process.argv.includes('--statements')) sqls.set(q.sql, (sqls.get(q.sql) ?? 0) + 1);
  });
  let failed = 0;
  const binds = async (n: number) => {
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++ % USERS;
        const outcome = await simpleBind(core, options, `uid=${username(i)},ou=people,${BASE}`, PASSWORD, { clientIp: '127.0.0.1', requestId: `r${i}` });
        if (outcome.status !== 0) failed++;
      }
    }));
  };

  await binds(Math.min(1000, BINDS)); // warm-up: JIT, pools, the dummy hash
  statements = 0;
  failed = 0;
  const session = PROFILE ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpu = process.threadCpuUsage();
  const wall = performance.now();
  await binds(BINDS);
  const used = process.threadCpuUsage(cpu);
  const elapsed = performance.now() - wall;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync('bind-cpu.cpuprofile', JSON.stringify(profile));
    session.disconnect();
  }
  const ms = (used.user + used.system) / 1000 / BINDS;
  console.log(
    `${STORE}: ${BINDS} binds, concurrency ${CONCURRENCY}: main thread ${ms.toFixed(3)} ms/bind (user ${(used.user / 1000 / BINDS).toFixed(3)}, system ${(used.system / 1000 / BINDS).toFixed(3)}), ` +
      `${(statements / BINDS).toFixed(1)} statements/bind, ${((BINDS / elapsed) * 1000).toFixed(0)} binds/s wall${failed ? `, ${failed} FAILED` : ''}`,
  );
  for (const [sql, count] of [...sqls].sort((a, b) => b[1] - a[1])) console.log(`${(count / BINDS).toFixed(2)}  ${sql.replace(/\s+/g, ' ').slice(0, 220)}`);
} finally {
  await store.close();
  await drop();
}
