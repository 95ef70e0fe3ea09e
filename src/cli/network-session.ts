/**
 * `gatehouse network-session list|show|disconnect`: network sessions as RADIUS accounting reports
 * them, and ending one. `disconnect` queues a Disconnect-Request in the store; a running Gatehouse
 * with the RADIUS front-end sends it (so it works from any machine that reaches the store), and
 * `--wait` waits for the NAS's answer.
 */
import type { Command } from 'commander';
import { defined, integer } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { formatTable, printJson, type CliIo } from './io.ts';
import type { NetworkSession } from '../network-sessions/model.ts';

interface ListOptions {
  user?: string;
  client?: string;
  live?: boolean;
  limit?: number;
  after?: string;
  json?: boolean;
}

export function registerNetworkSessionCommands(program: Command, io: CliIo): void {
  const sessions = program.command('network-session').description('Network sessions from RADIUS accounting (VPN, WiFi): list them, end one with a Disconnect-Request');

  sessions
    .command('list')
    .description('List network sessions, newest first')
    .option('--user <user>', 'only this user’s sessions (username or id)')
    .option('--client <name>', 'only the sessions of this RADIUS client')
    .option('--live', 'only live sessions')
    .option('--limit <n>', 'how many, 1 to 1000 (default 100)', integer)
    .option('--after <cursor>', 'the next page, from the cursor a listing printed')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: ListOptions, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const page = await core.networkSessions.list(defined({ user: options.user, client: options.client, live: options.live ? true : undefined, limit: options.limit ?? 100, after: options.after }));
        if (options.json) return printJson(io, page);
        io.stdout.write(formatTable(
          ['ID', 'USER', 'CLIENT', 'NAS', 'FRAMED IP', 'CALLING STATION', 'STARTED', 'TIME', 'IN', 'OUT', 'STATE'],
          page.items.map((s) => [s.id, s.username, s.client, s.nasIdentifier ?? s.nasIpAddress, s.framedIpAddress, s.callingStationId, s.startedAt, duration(s.sessionTime), bytes(s.inputOctets), bytes(s.outputOctets), state(s)]),
        ));
        if (page.next) io.stdout.write(`more: --after ${page.next}\n`);
      });
    });

  sessions
    .command('show')
    .description('Show one network session (JSON)')
    .argument('<id>', 'network session id')
    .action(async (id: string, _options: unknown, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => printJson(io, await core.networkSessions.get(id)));
    });

  sessions
    .command('disconnect')
    .description('End a network session: a Disconnect-Request (or CoA-Request) to its NAS, sent by a running Gatehouse with the RADIUS front-end')
    .argument('<id>', 'network session id')
    .option('--wait <seconds>', 'wait this long for the NAS’s answer (default: do not wait)', integer)
    .action(async (id: string, options: { wait?: number }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        let session = await core.networkSessions.disconnect(audit, id);
        io.stdout.write(`Disconnect requested for network session ${session.id} (${session.username} on ${session.client})\n`);
        const until = Date.now() + (options.wait ?? 0) * 1000;
        while (Date.now() < until && (session.disconnect?.state === 'pending' || session.disconnect?.state === 'sending')) {
          await new Promise((r) => setTimeout(r, 250));
          session = await core.networkSessions.get(id);
        }
        if (options.wait !== undefined) io.stdout.write(`${outcome(session)}\n`);
      });
    });
}

function outcome(s: NetworkSession): string {
  const d = s.disconnect;
  if (!d) return 'no Disconnect recorded';
  switch (d.state) {
    case 'acked': return `the NAS ended the session (${d.attempts} transmission${d.attempts === 1 ? '' : 's'})`;
    case 'nak': return `the NAS refused: ${d.detail ?? 'NAK'}`;
    case 'timeout': return `the NAS did not answer (${d.attempts} transmissions)`;
    case 'failed': return `could not be sent: ${d.detail ?? 'failed'}`;
    default: return 'still pending: is a Gatehouse with the RADIUS front-end running?';
  }
}

function state(s: NetworkSession): string {
  const base = s.live ? 'live' : `ended${s.terminateCause ? ` (${s.terminateCause})` : ''}`;
  return s.disconnect ? `${base}; disconnect ${s.disconnect.state}` : base;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(seconds % 60).padStart(2, '0')}s`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
