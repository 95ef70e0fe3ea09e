/**
 * The server bootstrap, the one place where front-ends are wired: load the configuration, open and
 * migrate the store, build the core, make sure an admin can get in, reconcile the declared objects,
 * then start the listeners. Also reload (SIGHUP) and graceful stop (SIGTERM).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdminApi } from '../admin/api.ts';
import { SYSTEM } from '../audit/audit.ts';
import { loadConfigFile } from '../config/load.ts';
import { reconcile, type ReconcileSummary } from '../config/reconcile.ts';
import { ConfigSchema, insecureSettings, type Config } from '../config/schema.ts';
import { createCore, type Core } from '../core.ts';
import { createDeviceApi } from '../devices/http.ts';
import { createLogger, type Logger } from '../log.ts';
import { loadKeyring } from '../secrets/keyring.ts';
import { openStore } from '../store/open.ts';
import { createLdapFrontEnd, type LdapFrontEnd } from '../../protocols/ldap/server.ts';
import { createOidcFrontEnd, type OidcFrontEnd } from '../../protocols/oidc/index.ts';
import { createWebFrontEnd } from '../../protocols/web/index.ts';
import type { Store } from '../store/types.ts';
import { createHttpApp } from './http.ts';
import { registerSettingsChecks } from './settings-checks.ts';
import { Metrics } from './metrics.ts';

export interface StartOptions {
  /** The YAML file; reload() reads it again. */
  configFile?: string;
  /** Or the configuration as an object (tests, embedding); validated by the same schema. */
  config?: unknown;
  env?: Record<string, string | undefined>;
  logger?: Logger;
}

export interface Listener {
  name: string;
  url: string;
}

export interface Gatehouse {
  readonly core: Core;
  readonly store: Store;
  readonly config: Config;
  readonly listeners: Listener[];
  readonly httpUrl: string;
  readonly metrics: Metrics;
  /** The OpenID Connect provider, when enabled. */
  readonly oidc: OidcFrontEnd | undefined;
  /** The admin API key created at this start, shown once; undefined when keys already existed or came from GATEHOUSE_ADMIN_KEY. */
  readonly bootstrapKey: string | undefined;
  /** Re-reads the config file and reconciles; a bad file leaves the running configuration in force. */
  reload(): Promise<{ ok: true; summary: ReconcileSummary } | { ok: false; error: string }>;
  /** Stops accepting connections, lets in-flight requests finish (up to the timeout), closes the store. */
  stop(): Promise<void>;
}

export const BOOTSTRAP_KEY_NAME = 'bootstrap';
const MIN_ENV_KEY_LENGTH = 32;

export async function loadConfig(options: Pick<StartOptions, 'configFile' | 'config' | 'env'>): Promise<Config> {
  const env = options.env ?? process.env;
  if (options.config !== undefined) return ConfigSchema.parse(options.config);
  if (!options.configFile) throw new Error('no configuration given');
  return loadConfigFile(options.configFile, ConfigSchema, env);
}

export async function startGatehouse(options: StartOptions): Promise<Gatehouse> {
  const env = options.env ?? process.env;
  let config = await loadConfig(options);
  const logger = options.logger ?? createLogger(config.log.level);
  for (const warning of insecureSettings(config)) logger.warn({ setting: true }, warning);

  const store = await openStore(env.GATEHOUSE_STORAGE_URL ?? config.storage.url, {
    poolMax: config.storage.poolMax,
    acquireTimeoutMs: config.storage.acquireTimeoutMs,
    sqliteSynchronous: config.storage.sqliteSynchronous,
    log: { warn: (m) => logger.warn({ component: 'store' }, m), error: (m) => logger.error({ component: 'store' }, m) },
  });
  const servers: Server[] = [];
  let ldap: LdapFrontEnd | undefined;
  let oidc: OidcFrontEnd | undefined;
  try {
    const { applied } = await store.migrate();
    if (applied.length) logger.info({ migrations: applied }, 'store migrated');
    const keyring = loadKeyring(config.secrets);
    const core = createCore(config, store, keyring, logger);
    registerSettingsChecks(core);
    const metrics = new Metrics();
    core.audit.onEvent((event) => metrics.auditEvents.inc({ type: event.type, outcome: event.outcome }));

    await core.devices.init();
    const bootstrapKey = await ensureAdminKey(core, env);
    const source = options.configFile ?? 'inline configuration';
    await reconcile(core, store, config, { actor: { type: 'config', name: source } }, source);

    // Signing keys are made on the first start, before anything is served.
    oidc = config.oidc.enabled ? await createOidcFrontEnd(core) : undefined;
    const app = createHttpApp(core, metrics, [
      createAdminApi(core),
      createDeviceApi({ devices: core.devices, config }),
      ...(oidc ? [oidc.mount] : []),
      ...(config.web.enabled ? [createWebFrontEnd(core)] : []),
    ]);
    const http = app.listen({ host: config.server.http.host, port: config.server.http.port });
    servers.push(http);
    const httpUrl = urlOf('http', await listening(http));
    const listeners: Listener[] = [{ name: `http (admin API /api/v1, device check-in /device/v1, ${config.web.enabled ? 'sign-in and portal /, ' : ''}/healthz, /readyz, /metrics)`, url: httpUrl }];
    // People reach the pages at the public URL (passkeys are bound to its host name), not necessarily at the socket's address.
    if (config.web.enabled) listeners.push({ name: 'portal (sign in here; the user portal)', url: `${(config.server.http.publicUrl ?? httpUrl).replace(/\/+$/, '')}/` });
    if (oidc) {
      const issuer = `${(config.server.http.publicUrl ?? httpUrl).replace(/\/+$/, '')}/oidc`;
      await oidc.start(app, issuer);
      await oidc.checkClients();
      listeners.push({ name: 'oidc (OpenID Connect provider; discovery at /.well-known/openid-configuration under the issuer)', url: issuer });
    }
    if (config.server.https) {
      // The same endpoints over TLS. A client certificate is asked for, not required: devices
      // holding a Gatehouse device certificate are identified by it (mTLS), everyone else is not.
      const tls = config.server.https;
      const https = createHttpsServer(
        { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), requestCert: true, rejectUnauthorized: false, ca: [core.devices.authority.certificatePem] },
        app.callback(),
      );
      https.listen({ host: tls.host, port: tls.port });
      servers.push(https);
      listeners.push({ name: 'https (the same, with device certificates over mTLS)', url: urlOf('https', await listening(https)) });
    }
    if (config.ldap.enabled) {
      const { enabled: _, ...ldapOptions } = config.ldap;
      ldap = createLdapFrontEnd(core, ldapOptions);
      const address = await ldap.listen();
      const hostPort = (a: AddressInfo) => `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      const startTls = config.ldap.tls ? (config.ldap.requireTls ? 'StartTLS required' : 'StartTLS offered') : 'no TLS configured';
      listeners.push({ name: `ldap (directory: simple bind, search, password modify; ${startTls})`, url: `ldap://${hostPort(address)}` });
      if (ldap.ldapsAddress) listeners.push({ name: 'ldaps (the same directory over TLS)', url: `ldaps://${hostPort(ldap.ldapsAddress)}` });
    }
    const sweeper = setInterval(() => void housekeeping(core, store, config), 60_000).unref();

    let stopping: Promise<void> | undefined;
    return {
      core,
      store,
      get config() {
        return config;
      },
      listeners,
      httpUrl,
      metrics,
      oidc,
      bootstrapKey,
      async reload() {
        if (!options.configFile) return { ok: false, error: 'no configuration file to reload' };
        let next: Config;
        try {
          next = await loadConfigFile(options.configFile, ConfigSchema, env);
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          await core.audit.record(SYSTEM, { type: 'config.rejected', outcome: 'failure', details: { file: options.configFile, errors: error } });
          logger.error({ file: options.configFile, errors: error }, 'configuration reload refused; the last good configuration stays in force');
          return { ok: false, error };
        }
        try {
          const summary = await reconcile(core, store, next, { actor: { type: 'config', name: options.configFile } }, options.configFile);
          for (const key of ['server', 'storage', 'secrets', 'passwords', 'throttle', 'ldap', 'oidc', 'web'] as const) {
            if (JSON.stringify(next[key]) !== JSON.stringify(config[key])) logger.warn({ section: key }, `configuration section '${key}' changed: it takes effect at the next restart`);
          }
          if (next.log.level !== config.log.level) logger.level = next.log.level;
          await oidc?.checkClients();
          config = next;
          return { ok: true, summary };
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          await core.audit.record(SYSTEM, { type: 'config.rejected', outcome: 'failure', details: { file: options.configFile, errors: error } });
          logger.error({ file: options.configFile, errors: error }, 'configuration reload refused; the last good configuration stays in force');
          return { ok: false, error };
        }
      },
      stop() {
        stopping ??= (async () => {
          clearInterval(sweeper);
          oidc?.close();
          await Promise.all([...servers.map((server) => closeGracefully(server, config.server.shutdownTimeoutSeconds * 1000)), ldap?.close()]);
          await store.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    oidc?.close();
    await Promise.all([...servers.map((server) => closeGracefully(server, 1000)), ldap?.close()]);
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
    if (existing) await core.directory.apiKeys.revoke(SYSTEM, existing.id);
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

function listening(server: Server): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    if (server.listening) return resolve(server.address() as AddressInfo);
    server.once('listening', () => resolve(server.address() as AddressInfo));
    server.once('error', reject);
  });
}

function urlOf(scheme: 'http' | 'https', address: AddressInfo): string {
  return `${scheme}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

function closeGracefully(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs).unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
