/**
 * EAP-TTLS/PAP against FreeRADIUS 3.2 (Debian `freeradius`), same run, same load generator: hostapd's
 * `eapol_test` (Debian `eapoltest`), several at once, each a whole WiFi authentication (TLS 1.2
 * handshake in fragments, inner PAP, MPPE keys, `-r0`). Both servers present the same certificate
 * and hold the same users with the same bcrypt hashes (cost 4, so the TLS and EAP work, not the
 * hash, is what is measured; Gatehouse rehashes each to argon2id at its first sign-in, so it runs
 * with the cheapest argon2id parameters the schema allows). The load generator is the same on both
 * sides: an eapol_test process per authentication (about 0.2 s of start-up each on these
 * machines, so the generator shares the CPU with the server). Goal (issue 14): at least 1.0 x
 * FreeRADIUS.
 *
 * Options (after `npm run bench --`): `--eap-parallel <n>` eapol_test processes at once (default 8),
 * `--eap-users <n>` (default 50).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { openStore } from '../src/store/open.ts';
import { makeCa, serverCertificate } from '../test/helpers/pki.ts';
import type { Benchmark } from './run.ts';

const run = promisify(execFile);
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SECRET = `bench-${randomBytes(12).toString('hex')}`;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} needs a positive integer`);
  return value;
}

const PARALLEL = option('eap-parallel', 8);
const USERS = option('eap-users', 50);
const username = (i: number) => `wifi${String(i).padStart(4, '0')}`;
const passwordOf = (i: number) => `bench password ${i} of the eap benchmark`;

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One eapol_test EAP-TTLS/PAP run for a random user; throws unless it ends in SUCCESS with matching MPPE keys. */
async function authenticate(dir: string, port: number): Promise<void> {
  const i = Math.floor(Math.random() * USERS);
  const conf = join(dir, `user${i}.conf`);
  if (!existsSync(conf)) {
    writeFileSync(conf, `network={\n  key_mgmt=WPA-EAP\n  eap=TTLS\n  anonymous_identity="anonymous"\n  identity="${username(i)}"\n  password="${passwordOf(i)}"\n  phase2="auth=PAP"\n  phase1="tls_disable_tlsv1_3=1"\n  ca_cert="${join(dir, 'ca.pem')}"\n}\n`);
  }
  const { stdout } = await run('eapol_test', ['-c', conf, '-a', '127.0.0.1', '-p', String(port), '-s', SECRET, '-r0', '-t', '30'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (process.env.BENCH_EAP_TRACE) writeFileSync(join(tmpdir(), `eap-trace-${port}.log`), stdout);
  if (!/MPPE keys OK: 1 +mismatch: 0/.test(stdout) || !stdout.trimEnd().endsWith('SUCCESS')) throw new Error(`${username(i)}: no SUCCESS with matching MPPE keys from port ${port}`);
}

async function load(dir: string, port: number, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(PARALLEL, n) }, async () => {
    while (next < n) {
      next++;
      await authenticate(dir, port);
    }
  }));
}

async function waitForAnswer(dir: string, port: number, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    try {
      await authenticate(dir, port);
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  child.kill('SIGKILL');
  if (process.env.BENCH_DEBUG) process.stderr.write(`${String((last as { stdout?: string }).stdout ?? last).slice(-4000)}\n`);
  throw new Error(`${what} did not complete an EAP-TTLS authentication on ${port} within 30 s`);
}

async function startGatehouse(dir: string, hashes: string[]): Promise<{ port: number; child: ChildProcess }> {
  const url = `sqlite:${join(dir, 'gatehouse.db')}`;
  const store = await openStore(url);
  try {
    await store.migrate();
    await store.directory.transaction(async (tx) => {
      const group = await tx.groups.create({ name: 'wifi', attributes: {} });
      for (let i = 0; i < hashes.length; i++) {
        const user = await tx.users.create({ username: username(i), status: 'active', sshPublicKeys: [], attributes: {} });
        await tx.passwords.set(user.id, hashes[i]!, 0);
        await tx.memberships.add(group.id, 'user', user.id);
      }
    });
  } finally {
    await store.close();
  }
  const port = await freeUdpPort();
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(config, [
    'server: { http: { host: 127.0.0.1, port: 0 } }',
    'ldap: { enabled: false }',
    `storage: { url: "${url}" }`,
    `secrets: { keys: [ { id: bench, key: "${randomBytes(32).toString('base64')}" } ] }`,
    'log: { level: error }',
    // Gatehouse rehashes an imported hash to argon2id at the first sign-in: with the cheapest
    // argon2id parameters the schema allows, both sides keep verifying a cheap hash.
    'passwords: { argon2: { memoryKiB: 8192, iterations: 1, parallelism: 1 } }',
    'throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100000 }',
    `radius: { enabled: true, hosts: [127.0.0.1], authPort: ${port}, acctPort: 0, eap: { tls: { cert: "${join(dir, '..', 'cert.pem')}", key: "${join(dir, '..', 'key.pem')}" } } }`,
    `directory: { radiusClients: [ { name: bench, address: 127.0.0.1/32, secret: "${SECRET}", groups: [wifi] } ] }`,
    '',
  ].join('\n'));
  const child = spawn(process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'start', '--config', config], {
    env: { ...process.env, GATEHOUSE_ADMIN_KEY: randomBytes(32).toString('base64url'), UV_THREADPOOL_SIZE: '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.unref();
  await waitForAnswer(join(dir, '..'), port, child, 'gatehouse');
  return { port, child };
}

async function startFreeRadius(dir: string, hashes: string[]): Promise<{ port: number; child: ChildProcess }> {
  if (!existsSync('/usr/sbin/freeradius')) throw new Error('/usr/sbin/freeradius is missing: install the Debian freeradius package');
  const port = await freeUdpPort();
  const pki = join(dir, '..');
  for (const sub of ['run', 'log', 'radacct', 'tmp']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'dictionary'), '');
  writeFileSync(join(dir, 'users'), hashes.map((h, i) => `${username(i)} Crypt-Password := "${h}"\n`).join(''));
  writeFileSync(join(dir, 'radiusd.conf'), `
prefix = /usr
exec_prefix = /usr
sysconfdir = ${dir}
localstatedir = ${dir}
sbindir = /usr/sbin
logdir = ${dir}/log
raddbdir = ${dir}
radacctdir = ${dir}/radacct
name = freeradius
confdir = ${dir}
modconfdir = ${dir}
run_dir = ${dir}/run
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/run/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
log {
  destination = files
  file = ${dir}/log/radius.log
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
thread pool {
  start_servers = 8
  max_servers = 32
  min_spare_servers = 3
  max_spare_servers = 16
  max_requests_per_server = 0
}
modules {
  pap {
    normalise = yes
  }
  files {
    filename = ${dir}/users
  }
  eap {
    default_eap_type = ttls
    timer_expire = 60
    ignore_unknown_eap_types = no
    max_sessions = 16384
    tls-config tls-common {
      private_key_file = ${pki}/key.pem
      certificate_file = ${pki}/cert.pem
      ca_file = ${pki}/ca.pem
      cipher_list = "DEFAULT"
      tls_min_version = "1.2"
      tls_max_version = "1.2"
      fragment_size = 1024
      cache {
        enable = no
      }
    }
    ttls {
      tls = tls-common
      copy_request_to_tunnel = no
      use_tunneled_reply = no
      virtual_server = "inner-tunnel"
    }
  }
}
client loopback {
  ipaddr = 127.0.0.1
  secret = ${SECRET}
  require_message_authenticator = yes
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${port}
  }
  authorize {
    eap {
      ok = return
    }
  }
  authenticate {
    eap
  }
}
server inner-tunnel {
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
}
`);
  const child = spawn('/usr/sbin/freeradius', ['-f', '-d', dir, '-l', join(dir, 'log', 'radius.log')], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
  child.unref();
  await waitForAnswer(pki, port, child, 'freeradius');
  return { port, child };
}

/** Both servers, started on first use and stopped (their directory removed) when this process exits. */
const shared = (() => {
  let ready: Promise<{ dir: string; gatehouse: number; freeradius: number }> | undefined;
  const children: ChildProcess[] = [];
  let dir = '';
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    start() {
      ready ??= (async () => {
        dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-eap-'));
        const ca = await makeCa('CN=EAP Bench CA');
        const { cert, key } = await serverCertificate(ca);
        writeFileSync(join(dir, 'ca.pem'), ca.pem);
        writeFileSync(join(dir, 'cert.pem'), cert);
        writeFileSync(join(dir, 'key.pem'), key);
        const hashes = await Promise.all(Array.from({ length: USERS }, (_, i) => bcrypt.hash(passwordOf(i), 4)));
        mkdirSync(join(dir, 'gatehouse'));
        mkdirSync(join(dir, 'freeradius'));
        const gatehouse = await startGatehouse(join(dir, 'gatehouse'), hashes);
        children.push(gatehouse.child);
        const freeradius = await startFreeRadius(join(dir, 'freeradius'), hashes);
        children.push(freeradius.child);
        return { dir, gatehouse: gatehouse.port, freeradius: freeradius.port };
      })();
      return ready;
    },
  };
})();

let servers: { dir: string; gatehouse: number; freeradius: number };

export const benchmarks: Benchmark[] = [
  {
    name: `radius eap-ttls/pap (eapol_test, ${PARALLEL} at once)`,
    reference: 'FreeRADIUS 3.2 eap-ttls/pap, same certificate and users',
    batch: 4 * PARALLEL,
    goal: { maxRatio: 1.0, text: 'EAP-TTLS/s >= FreeRADIUS' },
    async setup() {
      servers = await shared.start();
    },
    subject: (n) => load(servers.dir, servers.gatehouse, n),
    baseline: (n) => load(servers.dir, servers.freeradius, n),
    async teardown() {},
  },
];
