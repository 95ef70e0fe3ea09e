/**
 * The FrontEnd contract end to end: a front-end of a few lines, registered in the list a server
 * starts with, gets its configuration section (validated and documented with the rest), its
 * application-settings check, its listener and a restart when a reload changes its settings,
 * without any other file changing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRONT_ENDS } from '../../src/front-ends.ts';
import { defineFrontEnd } from '../../src/frontend.ts';
import { listen, urlOf } from '../../src/net/listen.ts';
import { createLogger } from '../../src/log.ts';
import { openStore } from '../../src/store/open.ts';
import { loadConfig, startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { backends } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';

/** Greets every TCP client with its configured line, then hangs up. */
const greeter = defineFrontEnd({
  name: 'greeter',
  configSchema: z.strictObject({
    enabled: z.boolean().default(true).describe('Serve the greeting'),
    host: z.string().default('127.0.0.1').describe('Address to listen on'),
    port: z.int().min(0).max(65535).default(0).describe('Port (0: any free one)'),
    greeting: z.string().min(1).default('hello').describe('What every client is told'),
  }),
  enabled: (section) => section.enabled,
  settingsCheck: (app) => (app.settings.greeter === undefined || typeof app.settings.greeter === 'string' ? [] : [{ path: 'settings.greeter', message: 'must be a string' }]),
  bindings: (section) => [{ label: 'greeter', transport: 'tcp', host: section.host, port: section.port }],
  async start(_host, section) {
    const server = createServer((socket) => socket.end(`${section.greeting}\n`));
    const address = await listen(server, { label: 'greeter', transport: 'tcp', host: section.host, port: section.port });
    return {
      listeners: [{ name: 'greeter', url: urlOf('tcp', address) }],
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
});

const FRONT_ENDS_AND_GREETER = [...FRONT_ENDS, greeter];

function greeting(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text.trim())).on('error', reject);
  });
}

describe.each(backends)('a front-end added to the list ($name)', (backend) => {
  let dir: string;
  let file: string;
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let base: Record<string, unknown>;
  const write = (greeter: Record<string, unknown>) => writeFileSync(file, JSON.stringify({ ...base, greeter }));
  const url = () => gh.listeners.find((l) => l.name === 'greeter')!.url;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-frontend-'));
    file = join(dir, 'gatehouse.yaml');
    const store = await backend.create();
    drop = store.drop;
    base = testConfig(store.url);
    write({ greeting: 'hello' });
    gh = await startGatehouse({ configFile: file, frontEnds: FRONT_ENDS_AND_GREETER, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') });
  });
  afterAll(async () => {
    await gh?.stop();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets its own configuration section, validated with the rest of the file', async () => {
    expect((gh.config as unknown as { greeter: unknown }).greeter).toEqual({ enabled: true, host: '127.0.0.1', port: 0, greeting: 'hello' });
    await expect(loadConfig({ config: { greeter: { greting: 'hi' } }, frontEnds: FRONT_ENDS_AND_GREETER })).rejects.toThrow(/greting/);
    // Without it in the list, its section is an unknown key.
    await expect(loadConfig({ config: { greeter: {} } })).rejects.toThrow(/greeter/);
  });

  it('gets a listener, shown with the others', async () => {
    expect(gh.listeners.map((l) => l.name)).toContain('greeter');
    expect(await greeting(url())).toBe('hello');
  });

  it("has its application-settings check run on every create and update", async () => {
    const post = (settings: unknown) =>
      fetch(`${gh.httpUrl}/api/v1/applications`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `app-${Math.random().toString(36).slice(2, 8)}`, settings }) });
    const refused = await post({ greeter: 42 });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain('settings.greeter');
    expect((await post({ greeter: 'hi there' })).status).toBe(201);
  });

  it('is restarted with its new settings by a reload, and only it', async () => {
    const before = url();
    const ldapBefore = gh.frontEnd('ldap');
    write({ greeting: 'bonjour' });
    const result = await gh.reload();
    expect(result).toMatchObject({ ok: true, restarted: ['greeter'] });
    expect(gh.frontEnd('ldap')).toBe(ldapBefore);
    expect(await greeting(url())).toBe('bonjour');
    // The old listener is closed.
    if (url() !== before) await expect(greeting(before)).rejects.toThrow();
    // Turned off by a reload, it stops serving and leaves the banner.
    write({ enabled: false });
    expect(await gh.reload()).toMatchObject({ ok: true, restarted: ['greeter'] });
    expect(gh.listeners.map((l) => l.name)).not.toContain('greeter');
  });

  it('refuses to start, before the store is touched, when its address is taken', async () => {
    const blocker = createServer();
    const { port } = (await listen(blocker, { label: 'blocker', transport: 'tcp', host: '127.0.0.1', port: 0 })) as AddressInfo;
    try {
      const other = await backend.create();
      const config = testConfig(other.url, { greeter: { port } });
      await expect(startGatehouse({ config, frontEnds: FRONT_ENDS_AND_GREETER, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') })).rejects.toThrow(
        new RegExp(`greeter cannot listen on 127\\.0\\.0\\.1:${port}/tcp: something else is listening there`),
      );
      // Nothing was migrated: every migration is still to apply.
      const untouched = await openStore(other.url);
      expect((await untouched.migrate()).applied.length).toBeGreaterThan(0);
      await untouched.close();
      await other.drop();
    } finally {
      blocker.close();
    }
  });
});
