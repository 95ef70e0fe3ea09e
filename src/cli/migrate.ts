/** `gatehouse migrate`: brings the store's schema up to date (a server start does it too). */
import type { Command } from 'commander';
import { configFileOf, loadConfig, withStore } from './context.ts';
import type { CliIo } from './io.ts';

export function registerMigrateCommand(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('Apply the pending store migrations and list them')
    .action(async (_options: unknown, command: Command) => {
      const config = await loadConfig(io, configFileOf(command));
      await withStore(io, config, async (store) => {
        const { applied } = await store.migrate();
        if (applied.length === 0) io.stdout.write(`store at ${store.url} is up to date\n`);
        for (const name of applied) io.stdout.write(`applied migration ${name}\n`);
      });
    });
}
