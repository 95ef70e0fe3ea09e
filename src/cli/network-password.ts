/**
 * `gatehouse user network-password`: a person's network password for WiFi with PEAP/MS-CHAPv2
 * (src/credentials/network-password.ts): generated and printed once, or removed.
 */
import type { Command } from 'commander';
import { configFileOf, withCore } from './context.ts';
import { printJson, type CliIo } from './io.ts';

interface NetworkPasswordOptions {
  remove?: boolean;
  json?: boolean;
}

export function registerUserNetworkPasswordCommand(user: Command, io: CliIo): void {
  user
    .command('network-password')
    .description("Generate a user's network password for WiFi (PEAP with MS-CHAPv2), printed once, replacing any earlier one; or remove it")
    .argument('<username>', 'username or id')
    .option('--remove', 'remove the network password: PEAP sign-ins are refused until a new one is generated')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nThe network password is used only for MS-CHAPv2 inside PEAP, never the main password; it is stored encrypted and shown once. Audited with you as the actor.')
    .action(async (username: string, options: NetworkPasswordOptions, command: Command) => {
      const { newNetworkPassword, removeNetworkPassword } = await import('../admin/factors.ts');
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        if (options.remove) {
          const found = await removeNetworkPassword(core, audit, username);
          if (options.json) return printJson(io, { user: found.username, networkPassword: false });
          io.stdout.write(`network password of user '${found.username}' removed\n`);
          return;
        }
        const { user: found, password, createdAt } = await newNetworkPassword(core, audit, username);
        if (options.json) return printJson(io, { user: found.username, password, createdAt });
        io.stdout.write(`network password for user '${found.username}' (shown this once; it replaces any earlier one):\n${password}\n`);
      });
    });
}
