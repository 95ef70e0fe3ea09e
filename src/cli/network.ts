/** `gatehouse network list|add|remove`: named sets of CIDRs that policies refer to (`network in office`). */
import type { Command } from 'commander';
import { collect, defined, FORCE_HELP, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { formatTable, printJson, type CliIo } from './io.ts';

interface AddOptions {
  cidr: string[];
  description?: string;
  risky?: boolean;
}

export function registerNetworkCommands(program: Command, io: CliIo): void {
  const network = program.command('network').description('Manage named networks (sets of CIDRs) for conditional-access policies');

  network
    .command('list')
    .description('List networks')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const networks = await listAll((after) => core.directory.resources.list('networks', defined({ limit: 1000, after })));
        if (options.json) return printJson(io, networks);
        io.stdout.write(formatTable(
          ['NAME', 'CIDRS', 'RISKY', 'MANAGED BY', 'DESCRIPTION'],
          networks.map((n) => [n.name, n.cidrs.join(', '), n.risky ? 'yes' : 'no', n.managedBy, n.description]),
        ));
      });
    });

  network
    .command('add')
    .description('Create a network')
    .argument('<name>', 'network name, as policies refer to it (lower-case letters, digits, . _ -)')
    .requiredOption('--cidr <cidr>', 'an IPv4 or IPv6 address or CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32 (repeatable)', collect)
    .option('--description <text>', 'what the network is')
    .option('--risky', 'sign-ins from here raise the risk level (e.g. anonymising proxies, Tor exits)')
    .action(async (name: string, options: AddOptions, command: Command) => {
      const { NetworkInput } = await import('../directory/model.ts');
      const input = NetworkInput.parse(defined({ name, cidrs: options.cidr, description: options.description, risky: options.risky }));
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const created = await core.directory.resources.create(audit, 'networks', input);
        io.stdout.write(`created network '${created.name}' (${created.id}): ${created.cidrs.join(', ')}${created.risky ? ', risky' : ''}\n`);
      });
    });

  network
    .command('remove')
    .description('Delete a network (refused while a policy refers to it)')
    .argument('<name>', 'network name or id')
    .option('--force', FORCE_HELP)
    .action(async (name: string, options: { force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const gone = await core.directory.resources.delete(audit, 'networks', name, { force: options.force === true });
        io.stdout.write(`removed network '${gone.name}' (${gone.id})\n`);
      });
    });
}
