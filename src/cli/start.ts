/**
 * `gatehouse start`: runs the server until SIGTERM or SIGINT; SIGHUP reloads the configuration.
 * The server bootstrap is imported only here, so the other commands do not load the HTTP stack.
 */
import type { Command } from 'commander';
import type { Logger } from '../log.ts';
import type { Gatehouse } from '../server/start.ts';
import { configFileOf, loadConfig } from './context.ts';
import type { CliIo } from './io.ts';

export function registerStartCommand(program: Command, io: CliIo): void {
  program
    .command('start')
    .description('Start the server (migrates the store and reconciles the declared objects first)')
    .addHelpText(
      'after',
      '\nSignals: SIGHUP reloads the configuration file (a bad file is refused and the running one stays);\n' +
        'SIGTERM or SIGINT stops gracefully (in-flight requests finish, up to server.shutdownTimeoutSeconds);\n' +
        'a second SIGINT stops at once.\n\n' +
        'Environment: GATEHOUSE_STORAGE_URL overrides storage.url; GATEHOUSE_ADMIN_KEY (32+ characters) is\n' +
        'kept as the admin API key. Without it, the first start creates a key and prints it once.',
    )
    .action(async (_options: unknown, command: Command) => {
      const file = configFileOf(command);
      // Loaded first for the log level; a bad file stops here with its errors (exit code 2).
      const config = await loadConfig(io, file);
      const { createLogger } = await import('../log.ts');
      const logger = createLogger(config.log.level, { write: (line: string) => io.stdout.write(line) });
      const { startGatehouse } = await import('../server/start.ts');
      const gatehouse = await startGatehouse({ configFile: file, env: io.env, logger });
      io.stdout.write(banner(gatehouse, file, io.env));
      await runUntilStopped(gatehouse, logger);
    });
}

function banner(gatehouse: Gatehouse, file: string, env: Record<string, string | undefined>): string {
  const lines = [`Gatehouse started (configuration ${file}, store ${gatehouse.store.url})`, 'Listening:'];
  for (const listener of gatehouse.listeners) lines.push(`  ${listener.name}: ${listener.url}`);
  lines.push('');
  const curl = (key: string) => `  curl -H "Authorization: Bearer ${key}" ${gatehouse.httpUrl}/api/v1/users`;
  if (gatehouse.bootstrapKey !== undefined) {
    lines.push(
      'Admin API key, created because the store had none. It is shown only this once: store it now.',
      '',
      `  ${gatehouse.bootstrapKey}`,
      '',
      'Try it:',
      curl(gatehouse.bootstrapKey),
      'More keys: gatehouse apikey create NAME --scope read --scope write',
    );
  } else if (env.GATEHOUSE_ADMIN_KEY !== undefined) {
    lines.push('Admin API: the admin key is the value of GATEHOUSE_ADMIN_KEY. Try it:', curl('$GATEHOUSE_ADMIN_KEY'));
  } else {
    lines.push(
      'Admin API: an admin key already exists (it was shown once, when it was created).',
      'Make another with: gatehouse apikey create NAME --scope read --scope write',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Serves until SIGTERM/SIGINT, then stops gracefully; reloads on SIGHUP, one reload at a time. */
function runUntilStopped(gatehouse: Gatehouse, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    let reloads = Promise.resolve();

    const reload = () => {
      if (stopping) return;
      reloads = reloads.then(async () => {
        logger.info('SIGHUP: reloading the configuration');
        try {
          const result = await gatehouse.reload();
          // A refused file is logged (and audited) by reload() itself.
          if (result.ok) logger.info({ summary: result.summary }, 'configuration reloaded');
        } catch (err) {
          logger.error({ err }, 'configuration reload failed; the last good configuration stays in force');
        }
      });
    };

    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      logger.info({ signal }, 'stopping');
      // Once only: a second SIGINT gets Node's default behaviour and ends the process at once.
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.off('SIGHUP', reload);
      void reloads
        .then(() => gatehouse.stop())
        .catch((err: unknown) => logger.error({ err }, 'error while stopping'))
        .then(() => {
          logger.info('stopped');
          resolve();
        });
    };

    process.on('SIGHUP', reload);
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
