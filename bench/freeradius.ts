/**
 * FreeRADIUS 3.2 (Debian package `freeradius`, /usr/sbin/freeradius) as a benchmark's reference: its
 * own temporary raddb (radiusd.conf alone, no dictionary of its own beyond the packaged one), in the
 * foreground, one client (127.0.0.1, Message-Authenticator required), the authentication port on
 * loopback, logging into the raddb's log/ folder. The benchmark gives the modules and what the
 * default server's authorize and authenticate sections run, plus any other virtual server (an
 * inner tunnel).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { track } from './harness.ts';

export const FREERADIUS = '/usr/sbin/freeradius';

export interface FreeRadiusOptions {
  /** An empty directory: the raddb, its logs and run files. */
  dir: string;
  /** The UDP authentication port on 127.0.0.1. */
  port: number;
  /** The shared secret of the one client, 127.0.0.1. */
  secret: string;
  /** The `modules { }` section's content. */
  modules: string;
  /** The default server's `authorize { }` and `authenticate { }` contents. */
  authorize: string;
  authenticate: string;
  /** More virtual servers (`server inner-tunnel { ... }`). */
  servers?: string;
  /** Resolves once the server answers (it should throw if the child exits meanwhile). */
  ready: (child: ChildProcess) => Promise<void>;
}

/** FreeRADIUS's version line, e.g. "FreeRADIUS Version 3.2.1", or undefined when it is not installed. */
export function freeRadiusVersion(): string | undefined {
  if (!existsSync(FREERADIUS)) return undefined;
  const out = spawnSync(FREERADIUS, ['-v'], { encoding: 'utf8' }).stdout ?? '';
  return /FreeRADIUS Version [\d.]+/.exec(out)?.[0];
}

export async function startFreeRadius(o: FreeRadiusOptions): Promise<ChildProcess> {
  if (!existsSync(FREERADIUS)) throw new Error(`${FREERADIUS} is missing: install the Debian freeradius package`);
  const { dir } = o;
  for (const sub of ['run', 'log', 'radacct', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'dictionary'), '');
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
${o.modules}
}
client loopback {
  ipaddr = 127.0.0.1
  secret = ${o.secret}
  require_message_authenticator = yes
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${o.port}
  }
  authorize {
${o.authorize}
  }
  authenticate {
${o.authenticate}
  }
}
${o.servers ?? ''}
`);
  const child = track(spawn(FREERADIUS, ['-f', '-d', dir, '-l', join(dir, 'log', 'radius.log')], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] }));
  await o.ready(child);
  return child;
}
