/**
 * What most commands need before they can act: the configuration, the store it names (or
 * GATEHOUSE_STORAGE_URL), and the core over it, with the operator as the audited actor. The store is
 * always closed afterwards, whatever happens.
 *
 * Every command module imports this one to build its options, and `gatehouse --help` builds them
 * all: so the configuration loader, the store (knex and its drivers) and the core (argon2, the
 * WebAuthn and X.509 libraries) are imported when a command runs, not when the program is built.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { AuditContext } from '../audit/audit.ts';
import type { Config } from '../front-ends.ts';
import type { Core } from '../core.ts';
import type { Store } from '../store/types.ts';
import { CliError, type CliIo } from './io.ts';

export const DEFAULT_CONFIG_FILE = 'config/gatehouse.yaml';

/** The `--config` file in force for a command (the option is global: set on the program). */
export function configFileOf(command: Command): string {
  return (command.optsWithGlobals() as { config: string }).config;
}

export async function loadConfig(io: CliIo, file: string): Promise<Config> {
  const [{ loadConfigFile }, { ConfigSchema }] = await Promise.all([import('../config/load.ts'), import('../front-ends.ts')]);
  return loadConfigFile(file, ConfigSchema, io.env);
}

/** The operator running the command, as audit events name them. */
export function cliActor(io: CliIo): AuditContext {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers).
    name = io.env.USER ?? io.env.LOGNAME;
  }
  return { actor: { type: 'cli', ...(name ? { name } : {}) } };
}

/** Opens the configured store (GATEHOUSE_STORAGE_URL wins, as for the server) and closes it after `work`. */
export async function withStore<T>(io: CliIo, config: Config, work: (store: Store) => Promise<T>): Promise<T> {
  const { openStore } = await import('../store/open.ts');
  const store = await openStore(io.env.GATEHOUSE_STORAGE_URL ?? config.storage.url, { poolMax: Math.min(config.storage.poolMax, 2), acquireTimeoutMs: config.storage.acquireTimeoutMs, sqliteSynchronous: config.storage.sqliteSynchronous });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export interface CommandContext {
  io: CliIo;
  config: Config;
  store: Store;
  core: Core;
  /** The audit context of every change the command makes. */
  audit: AuditContext;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * Runs `work` with the core over the configured store. The store must be migrated already
 * (`gatehouse migrate`, or a server start): a command does not change the schema behind a running
 * server's back. Log lines go to stderr, warnings and worse only: the changes themselves are in the
 * audit log, and stdout stays clean for the command's output.
 */
export async function withCore<T>(io: CliIo, file: string, work: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const config = await loadConfig(io, file);
  const [{ createCore }, { createLogger }, { loadKeyring }, { registerSettingsChecks }, { declarationsOf }] = await Promise.all([
    import('../core.ts'), import('../log.ts'), import('../secrets/keyring.ts'), import('../front-ends.ts'), import('../config/reconcile.ts'),
  ]);
  return withStore(io, config, async (store) => {
    const health = await store.health();
    if (!health.ok) throw new CliError(`the store at ${store.url} is not ready: ${health.detail}`);
    const level = LEVELS[Math.max(LEVELS.indexOf(config.log.level), LEVELS.indexOf('warn'))]!;
    const logger = createLogger(level, { write: (line: string) => io.stderr.write(line) });
    const core = createCore(config, store, loadKeyring(config.secrets), logger);
    registerSettingsChecks(core);
    // What this file declares is the reconciler's: a command changing it is refused (naming the file) unless --force.
    core.directory.declare(declarationsOf(config, file));
    return work({ io, config, store, core, audit: cliActor(io) });
  });
}
