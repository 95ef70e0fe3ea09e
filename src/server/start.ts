/**
 * The server bootstrap, the one place where front-ends are started: load the configuration, check
 * that every address can be bound, open and migrate the store, build the core, make sure an admin
 * can get in, reconcile the declared objects, then start the HTTP listener (and the HTTPS and
 * management listeners, when configured) and every enabled front-end (src/front-ends.ts). Also reload (SIGHUP: a front-end whose settings changed restarts
 * with the new ones) and graceful stop (SIGTERM).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createAdminApi } from '../admin/api.ts';
import { SYSTEM } from '../audit/audit.ts';
import { loadConfigFile } from '../config/load.ts';
import { declarationsOf, reconcile, type ReconcileSummary } from '../config/reconcile.ts';
import { composeConfigSchema, CORE_SECTIONS } from '../config/schema.ts';
import { createCore, type Core } from '../core.ts';
import { createDeviceApi } from '../devices/http.ts';
import { ConfigSchema, configWarnings, FRONT_ENDS, registerSettingsChecks, sectionOf, type Config, type Section } from '../front-ends.ts';
import type { FrontEnd, Listener, RunningFrontEnd } from '../frontend.ts';
import type { HttpMount } from '../http/types.ts';
import { createLogger, type Logger } from '../log.ts';
import { checkBindings, listen, urlOf, type Binding } from '../net/listen.ts';
import { loadKeyring } from '../secrets/keyring.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import type { OidcFrontEnd } from '../../protocols/oidc/index.ts';
import { createHttpApp, createManagementApp } from './http.ts';
import { Metrics } from './metrics.ts';
import { deprioritizeWorkerThreads } from './threads.ts';

export type { Listener } from '../frontend.ts';

export interface StartOptions {
  /** The YAML file; reload() reads it again. */
  configFile?: string;
  /** Or the configuration as an object (tests, embedding); validated by the same schema. */
  config?: unknown;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** The front-ends to run (default: FRONT_ENDS); their sections compose the configuration schema. */
  frontEnds?: readonly FrontEnd[];
}

export interface Gatehouse {
  readonly core: Core;
  readonly store: Store;
  readonly config: Config;
  /** Where Gatehouse serves now (front-ends restarted by a reload included). */
  readonly listeners: Listener[];
  readonly httpUrl: string;
  readonly metrics: Metrics;
  /** The OpenID Connect provider, when enabled. */
  readonly oidc: OidcFrontEnd | undefined;
  /** A running front-end by name. */
  frontEnd(name: string): RunningFrontEnd | undefined;
  /** The admin API key created at this start, shown once; undefined when keys already existed or came from GATEHOUSE_ADMIN_KEY. */
  readonly bootstrapKey: string | undefined;
  /**
   * Re-reads the config file and reconciles; front-ends whose settings changed are restarted with
   * the new ones. A bad file leaves the running configuration in force.
   */
  reload(): Promise<{ ok: true; summary: ReconcileSummary; restarted: string[] } | { ok: false; error: string }>;
  /** Stops accepting connections, lets in-flight requests finish (up to the timeout), closes the store. */
  stop(): Promise<void>;
}

export const BOOTSTRAP_KEY_NAME = 'bootstrap';
const MIN_ENV_KEY_LENGTH = 32;

/** The core's sections that only a restart of the process applies (directory and log.level apply on reload). */
const RESTART_SECTIONS = (Object.keys(CORE_SECTIONS) as Array<keyof typeof CORE_SECTIONS>).filter((k) => k !== 'directory' && k !== 'log');

/** The configuration, validated by the schema the front-ends compose (FRONT_ENDS unless given). */
export async function loadConfig(options: Pick<StartOptions, 'configFile' | 'config' | 'env' | 'frontEnds'>): Promise<Config> {
  const env = options.env ?? process.env;
  // A test's own list of front-ends composes its own schema; the type stays the standard one.
  const schema = (options.frontEnds && options.frontEnds !== FRONT_ENDS ? composeConfigSchema(options.frontEnds) : ConfigSchema) as typeof ConfigSchema;
  if (options.config !== undefined) return schema.parse(options.config);
  if (!options.configFile) throw new Error('no configuration given');
  return loadConfigFile(options.configFile, schema, env);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export async function startGatehouse(options: StartOptions): Promise<Gatehouse> {
  const env = options.env ?? process.env;
  const frontEnds = options.frontEnds ?? FRONT_ENDS;
  let config = await loadConfig({ ...options, frontEnds });
  const logger = options.logger ?? createLogger(config.log.level);
  for (const warning of configWarnings(config, frontEnds)) logger.warn({ setting: true }, warning);
  await deprioritizeWorkerThreads(config.server.workerThreadsNice).catch((err: unknown) => logger.warn({ err }, 'the worker threads\' priority could not be lowered (server.workerThreadsNice)'));

  // Every address first: a second `start` beside a running Gatehouse stops here, before it
  // touches the store.
  const httpBinding: Binding = { label: 'the HTTP listener', transport: 'tcp', host: config.server.http.host, port: config.server.http.port, setting: 'server.http.port, or GATEHOUSE_HTTP_PORT in the demo configuration' };
  const httpsBinding: Binding | undefined = config.server.https ? { label: 'the HTTPS listener', transport: 'tcp', host: config.server.https.host, port: config.server.https.port, setting: 'server.https.port' } : undefined;
  const managementBinding: Binding | undefined = config.server.management ? { label: 'the management listener', transport: 'tcp', host: config.server.management.host, port: config.server.management.port, setting: 'server.management.port' } : undefined;
  await checkBindings([httpBinding, ...(httpsBinding ? [httpsBinding] : []), ...(managementBinding ? [managementBinding] : []), ...frontEnds.flatMap((f) => (f.enabled(sectionOf(config, f)) ? (f.bindings?.(sectionOf(config, f)) ?? []) : []))]);

  const store = await openStore(env.GATEHOUSE_STORAGE_URL ?? config.storage.url, {
    poolMax: config.storage.poolMax,
    acquireTimeoutMs: config.storage.acquireTimeoutMs,
    sqliteSynchronous: config.storage.sqliteSynchronous,
    log: { warn: (m) => logger.warn({ component: 'store' }, m), error: (m) => logger.error({ component: 'store' }, m) },
  });
  const servers: Server[] = [];
  const running = new Map<string, RunningFrontEnd>();
  const closeAll = () => Promise.all([...running.values()].map((r) => r.close().catch((err: unknown) => logger.warn({ err }, 'a front-end failed to stop'))));
  try {
    const { applied } = await store.migrate();
    if (applied.length) logger.info({ migrations: applied }, 'store migrated');
    const keyring = loadKeyring(config.secrets);
    const core = createCore(config, store, keyring, logger);
    registerSettingsChecks(core, frontEnds);
    const metrics = new Metrics();
    core.audit.onEvent((event) => metrics.auditEvents.inc({ type: event.type, outcome: event.outcome }));

    await core.devices.init();
    const bootstrapKey = await ensureAdminKey(core, env);
    const source = options.configFile ?? 'inline configuration';
    await reconcile(core, store, config, { actor: { type: 'config', name: source } }, source);
    // From here on, a change of what the file declares is refused unless forced (a 409 naming the file).
    core.directory.declare(declarationsOf(config, options.configFile));

    // The admin and device APIs, then each running front-end's mount, read per request.
    const fixed: HttpMount[] = [createAdminApi(core), createDeviceApi({ devices: core.devices, config })];
    let mounts: readonly HttpMount[] = fixed;
    const remount = () => {
      mounts = [...fixed, ...frontEnds.flatMap((f) => running.get(f.name)?.mount ?? [])];
    };
    const app = createHttpApp(core, metrics, () => mounts);
    const http = createHttpServer(app.callback());
    servers.push(http);
    const httpUrl = urlOf('http', await listen(http, httpBinding));
    const publicUrl = (config.server.http.publicUrl ?? httpUrl).replace(/\/+$/, '');
    let httpsUrl: string | undefined;
    if (config.server.https && httpsBinding) {
      // The same endpoints over TLS. A client certificate is asked for, not required: devices
      // holding a Gatehouse device certificate are identified by it (mTLS), everyone else is not.
      const tls = config.server.https;
      const https = createHttpsServer(
        { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), requestCert: true, rejectUnauthorized: false, ca: [core.devices.authority.certificatePem] },
        app.callback(),
      );
      servers.push(https);
      httpsUrl = urlOf('https', await listen(https, httpsBinding));
    }
    let managementUrl: string | undefined;
    if (managementBinding) {
      const management = createHttpServer(createManagementApp(core, metrics).callback());
      servers.push(management);
      managementUrl = urlOf('http', await listen(management, managementBinding));
    }

    const host = { core, http: app, publicUrl, metrics };
    const startOne = async (frontEnd: FrontEnd, section: Section) => {
      if (!frontEnd.enabled(section)) return;
      running.set(frontEnd.name, await frontEnd.start(host, section));
    };
    for (const frontEnd of frontEnds) await startOne(frontEnd, sectionOf(config, frontEnd));
    remount();

    // The server section applies at a restart only: what the listeners serve is fixed now.
    const operations = `/healthz, /readyz, /metrics${config.server.metricsToken ? ' with its bearer token' : ''}`;
    const listeners = (): Listener[] => {
      const paths = [...running.values()].flatMap((r) => (r.httpPaths ? [r.httpPaths] : []));
      const served = ['admin API /api/v1', 'device check-in /device/v1', ...paths, ...(managementUrl ? [] : [operations])];
      return [
        { name: `http (${served.join(', ')})`, url: httpUrl },
        ...frontEnds.flatMap((f) => running.get(f.name)?.listeners ?? []),
        ...(httpsUrl ? [{ name: 'https (the same, with device certificates over mTLS)', url: httpsUrl }] : []),
        ...(managementUrl ? [{ name: `management (${operations})`, url: managementUrl }] : []),
      ];
    };
    const sweeper = setInterval(() => void housekeeping(core, store, config), 60_000).unref();

    const refuse = async (file: string, err: unknown) => {
      const error = err instanceof Error ? err.message : String(err);
      await core.audit.record(SYSTEM, { type: 'config.rejected', outcome: 'failure', details: { file, errors: error } });
      logger.error({ file, errors: error }, 'configuration reload refused; the last good configuration stays in force');
      return { ok: false as const, error };
    };

    let stopping: Promise<void> | undefined;
    return {
      core,
      store,
      get config() {
        return config;
      },
      get listeners() {
        return listeners();
      },
      httpUrl,
      metrics,
      get oidc() {
        return running.get('oidc') as OidcFrontEnd | undefined;
      },
      frontEnd: (name) => running.get(name),
      bootstrapKey,
      async reload() {
        if (!options.configFile) return { ok: false, error: 'no configuration file to reload' };
        let next: Config;
        try {
          next = await loadConfig({ configFile: options.configFile, env, frontEnds });
        } catch (err) {
          return refuse(options.configFile, err);
        }
        let summary: ReconcileSummary;
        try {
          summary = await reconcile(core, store, next, { actor: { type: 'config', name: options.configFile } }, options.configFile);
        } catch (err) {
          return refuse(options.configFile, err);
        }
        core.directory.declare(declarationsOf(next, options.configFile));
        for (const key of RESTART_SECTIONS) {
          if (!same(next[key], config[key])) logger.warn({ section: key }, `configuration section '${key}' changed: it takes effect at the next restart`);
        }
        if (next.log.level !== config.log.level) logger.level = next.log.level;
        for (const warning of configWarnings(next, frontEnds)) logger.warn({ setting: true }, warning);

        // Front-ends whose settings changed restart with the new ones; the others hear of the reload.
        const restarted: string[] = [];
        for (const frontEnd of frontEnds) {
          const before = sectionOf(config, frontEnd);
          const after = sectionOf(next, frontEnd);
          const changed = !same(before, after);
          const current = running.get(frontEnd.name);
          if (!changed) {
            await current?.reloaded?.().catch((err: unknown) => logger.warn({ err, frontEnd: frontEnd.name }, 'front-end reload hook failed'));
            continue;
          }
          try {
            if (current) {
              running.delete(frontEnd.name);
              remount();
              await current.close();
            }
            await startOne(frontEnd, after);
            restarted.push(frontEnd.name);
            logger.info({ frontEnd: frontEnd.name, enabled: frontEnd.enabled(after) }, `front-end '${frontEnd.name}' restarted with its new settings`);
          } catch (err) {
            // Its old instance is closed already: say so loudly, the rest keeps serving.
            logger.error({ err, frontEnd: frontEnd.name }, `front-end '${frontEnd.name}' could not restart with its new settings; it is stopped`);
          }
          remount();
        }
        config = next;
        return { ok: true, summary, restarted };
      },
      stop() {
        stopping ??= (async () => {
          clearInterval(sweeper);
          await Promise.all([...servers.map((server) => closeGracefully(server, config.server.shutdownTimeoutSeconds * 1000)), closeAll()]);
          running.clear();
          await store.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.all([...servers.map((server) => closeGracefully(server, 1000)), closeAll()]);
    await store.close().catch(() => undefined);
    throw err;
  }
}

/**
 * An admin must be able to get in on a fresh install: GATEHOUSE_ADMIN_KEY (kept in step with the
 * environment), else a key generated when none exists, returned to be printed once.
 */
async function ensureAdminKey(core: Core, env: Record<string, string | undefined>): Promise<string | undefined> {
  const fromEnv = env.GATEHOUSE_ADMIN_KEY;
  const existing = await core.directory.apiKeys.byName(BOOTSTRAP_KEY_NAME);
  if (fromEnv !== undefined) {
    if (fromEnv.length < MIN_ENV_KEY_LENGTH) throw new Error(`GATEHOUSE_ADMIN_KEY must be at least ${MIN_ENV_KEY_LENGTH} characters (use: openssl rand -base64 32)`);
    const check = await core.directory.apiKeys.verify(fromEnv, 'write');
    if (check.ok) return undefined;
    // The environment manages this key (as the file does declared objects): replacing it is no override.
    if (existing) await core.directory.apiKeys.revoke(SYSTEM, existing.id, { managedBy: 'config' });
    await core.directory.apiKeys.create(SYSTEM, { name: BOOTSTRAP_KEY_NAME, scopes: ['read', 'write'] }, fromEnv, 'config');
    return undefined;
  }
  if ((await core.directory.apiKeys.list({ limit: 1 })).items.length > 0) return undefined;
  const { secret } = await core.directory.apiKeys.create(SYSTEM, { name: BOOTSTRAP_KEY_NAME, scopes: ['read', 'write'] });
  return secret;
}

async function housekeeping(core: Core, store: Store, config: Config): Promise<void> {
  try {
    await store.ttl.sweep();
    await store.directory.audit.prune(new Date(Date.now() - config.audit.retentionDays * 86_400_000).toISOString());
  } catch (err) {
    core.logger.warn({ err }, 'housekeeping failed');
  }
}

function closeGracefully(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs).unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
