/**
 * What a start on the demo configuration writes to the log: the reconciler's per-object audit
 * events stay in the audit log (the store) and reach the process log at debug only; the run is one
 * info line with the counts per kind. Other audit events keep their level.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { createLogger } from '../../src/log.ts';
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { backends } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';

interface LogLine {
  level: string;
  msg: string;
  audit?: { type: string; actor: { type: string } };
  kinds?: Record<string, Record<string, number>>;
}

describe.each(backends)('the log of a start on the demo configuration ($name)', (backend) => {
  let gh: Gatehouse | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await gh?.stop();
    await drop?.();
    gh = undefined;
    drop = undefined;
  });

  async function start(level: string): Promise<LogLine[]> {
    const demo = await loadConfigFile('config/gatehouse.yaml', ConfigSchema, {});
    const created = await backend.create();
    drop = created.drop;
    const lines: LogLine[] = [];
    const logger = createLogger(level, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
    gh = await startGatehouse({ config: { ...testConfig(created.url, { log: { level } }), directory: demo.directory }, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger });
    return lines;
  }

  it('has one summary line with the counts per kind and no per-object audit line at info', async () => {
    const lines = await start('info');
    const summaries = lines.filter((l) => l.msg.startsWith('configuration reconciled'));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      level: 'info',
      msg: 'configuration reconciled: networks 1 created, groups 2 created, users 1 created, memberships 2 added, applications 2 created, radiusClients 1 created',
      kinds: { networks: { created: 1 }, groups: { created: 2 }, users: { created: 1 }, memberships: { added: 2 }, applications: { created: 2 }, radiusClients: { created: 1 } },
    });
    expect(lines.filter((l) => l.audit?.actor.type === 'config')).toEqual([]);
    // Events of other actors keep their level (the device CA made on a first start, by the system).
    expect(lines.find((l) => l.audit?.type === 'device.ca.created')?.level).toBe('info');

    // The audit log keeps every per-object event.
    const stored = (await gh!.store.directory.audit.query({ limit: 1000 })).items.filter((e) => e.actor.type === 'config').map((e) => e.type);
    expect(stored.sort()).toEqual(['application.created', 'application.created', 'config.reconciled', 'group.created', 'group.created', 'group.member.added', 'group.member.added', 'network.created', 'radius_client.created', 'user.created']);
  });

  it('has the per-object audit events at debug', async () => {
    const lines = await start('debug');
    const events = lines.filter((l) => l.audit?.actor.type === 'config');
    expect(events.map((l) => l.level)).toEqual(Array(10).fill('debug'));
    expect(events.map((l) => l.audit!.type)).toContain('user.created');
  });
});
