/**
 * `gatehouse network-session list|show|disconnect` on both stores: the CLI reads what accounting
 * recorded and queues a Disconnect in the store, which a running front-end's worker then sends
 * (here: one the test runs on a core of its own, against an in-test NAS listener, with `--wait`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountingHandler } from '../../protocols/radius/accounting.ts';
import { DisconnectWorker } from '../../protocols/radius/coa.ts';
import { decodePacket } from '../../protocols/radius/codec.ts';
import type { RadiusClient } from '../../src/directory/model.ts';
import type { Core } from '../../src/core.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { createCore } from '../../src/core.ts';
import { createLogger } from '../../src/log.ts';
import { loadKeyring } from '../../src/secrets/keyring.ts';
import { openStore, type KnexStore } from '../../src/store/open.ts';
import { backends } from '../helpers/backends.ts';
import { accountingRequest, CoaListener } from '../radius/support-acct.ts';
import { cliFixture, testYamlConfig, type CliFixture } from './helpers.ts';

const SECRET = 'cli-radius-secret-0123456789';
const CTX = { actor: { type: 'cli' as const, name: 'tester' } };

describe.each(backends)('gatehouse network-session ($name)', (backend) => {
  let f: CliFixture;
  let store: KnexStore;
  let core: Core;
  let coa: CoaListener;
  let worker: DisconnectWorker;
  let sessionId: string;

  beforeAll(async () => {
    f = await cliFixture(backend);
    coa = await new CoaListener(SECRET).start();
    expect((await f.cli(['migrate'])).code).toBe(0);
    // The "server": a core over the same store, with the Disconnect worker a RADIUS front-end runs.
    const config = ConfigSchema.parse(testYamlConfig(f.url, { networkSessions: { disconnect: { timeoutMs: 150, attempts: 2 } } }));
    store = await openStore(f.url);
    core = createCore(config, store, loadKeyring(config.secrets), createLogger('silent'));
    await core.directory.groups.create(CTX, { name: 'staff', attributes: {} });
    await core.directory.users.create(CTX, { username: 'mallory', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    const client = (await core.directory.resources.create(CTX, 'radiusClients', { name: 'vpn', address: '127.0.0.1/32', secret: SECRET, groups: ['staff'], settings: { radius: { coa: { port: coa.port } } } })) as RadiusClient;
    const handle = accountingHandler(core);
    for (const [i, id] of ['cli-1', 'cli-2'].entries()) {
      await handle(decodePacket(accountingRequest(SECRET, i, { status: 'Start', sessionId: id, user: 'mallory', nasIdentifier: 'gw-cli', framedIp: '10.1.2.3', inputOctets: 3 * 1024 * 1024 })), { client, secret: SECRET }, { address: '127.0.0.1', port: 1 });
    }
    sessionId = (await core.networkSessions.list({ user: 'mallory' })).items.find((s) => s.acctSessionId === 'cli-1')!.id;
    worker = new DisconnectWorker(core, { pollMs: 50 }).start();
  });
  afterAll(async () => {
    await worker?.close();
    await store?.close();
    await coa?.close();
    await f?.cleanup();
  });

  it('lists sessions as a table and as JSON, with filters', async () => {
    const table = await f.cli(['network-session', 'list', '--user', 'mallory', '--live']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+USER\s+CLIENT\s+NAS\s+FRAMED IP/);
    expect(table.stdout).toContain('gw-cli');
    expect(table.stdout).toContain('10.1.2.3');
    expect(table.stdout).toContain('3.0 MiB');
    const json = await f.cli(['network-session', 'list', '--client', 'vpn', '--json', '--limit', '1']);
    const page = JSON.parse(json.stdout) as { items: Array<{ acctSessionId: string }>; next?: string };
    expect(page.items).toHaveLength(1);
    expect(page.next).toEqual(expect.any(String));
    const second = JSON.parse((await f.cli(['network-session', 'list', '--client', 'vpn', '--json', '--after', page.next!])).stdout) as { items: unknown[] };
    expect(second.items).toHaveLength(1);
    const missing = await f.cli(['network-session', 'list', '--user', 'nobody']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/user 'nobody'|nobody/);
  });

  it('shows one session and ends it, waiting for the NAS', async () => {
    const shown = await f.cli(['network-session', 'show', sessionId]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: sessionId, username: 'mallory', live: true });
    const ended = await f.cli(['network-session', 'disconnect', sessionId, '--wait', '10']);
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stdout).toContain(`Disconnect requested for network session ${sessionId} (mallory on vpn)`);
    expect(ended.stdout).toContain('the NAS ended the session (1 transmission)');
    expect(coa.received).toHaveLength(1);
    const again = await f.cli(['network-session', 'disconnect', sessionId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/has ended/);
    const unknown = await f.cli(['network-session', 'show', '00000000-0000-0000-0000-000000000000']);
    expect(unknown.code).toBe(1);
  });
});
