/** `gatehouse group add|list|members`. */
import type { Command } from 'commander';
import type { MemberKind } from '../directory/model.ts';
import { defined, FORCE_HELP, integer, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { CliError, formatTable, printJson, type CliIo } from './io.ts';

interface MembersOptions {
  add?: string;
  remove?: string;
  addGroup?: string;
  removeGroup?: string;
  force?: boolean;
  json?: boolean;
}

export function registerGroupCommands(program: Command, io: CliIo): void {
  const group = program.command('group').description('Manage groups and their members');

  group
    .command('add')
    .description('Create a group')
    .argument('<name>', 'group name (lower-case letters, digits, . _ -)')
    .option('--description <text>', 'what the group is for')
    .option('--gid <n>', 'POSIX gid', integer)
    .action(async (name: string, options: { description?: string; gid?: number }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const { GroupInput } = await import('../directory/model.ts');
        const input = GroupInput.parse(defined({ name, description: options.description, gidNumber: options.gid }));
        const created = await core.directory.groups.create(audit, input);
        io.stdout.write(`created group '${created.name}' (${created.id})\n`);
      });
    });

  group
    .command('list')
    .description('List groups')
    .option('--q <prefix>', 'only names starting with this')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { q?: string; json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const groups = await listAll((after) => core.directory.groups.list(defined({ limit: 1000, after, q: options.q })));
        if (options.json) return printJson(io, groups);
        io.stdout.write(formatTable(['NAME', 'GID', 'MANAGED BY', 'DESCRIPTION'], groups.map((g) => [g.name, g.gidNumber, g.managedBy, g.description])));
      });
    });

  group
    .command('members')
    .description('List the direct members of a group, or add or remove one (a user, or a nested group)')
    .argument('<name>', 'group name or id')
    .option('--add <user>', 'make this user a member')
    .option('--remove <user>', 'remove this user')
    .option('--add-group <group>', 'nest this group in it (its members become members)')
    .option('--remove-group <group>', 'un-nest this group')
    .option('--force', `with --remove or --remove-group: ${FORCE_HELP}`)
    .option('--json', 'print the members as JSON')
    .addHelpText('after', '\nOne change per run, so a run either happens completely or not at all. A member added here is\nmanaged here, in a group the configuration file declares too; one the file declares is removed there.')
    .action(async (name: string, options: MembersOptions, command: Command) => {
      const changes: Array<{ op: 'add' | 'remove'; kind: MemberKind; ref: string }> = [];
      if (options.add !== undefined) changes.push({ op: 'add', kind: 'user', ref: options.add });
      if (options.remove !== undefined) changes.push({ op: 'remove', kind: 'user', ref: options.remove });
      if (options.addGroup !== undefined) changes.push({ op: 'add', kind: 'group', ref: options.addGroup });
      if (options.removeGroup !== undefined) changes.push({ op: 'remove', kind: 'group', ref: options.removeGroup });
      if (changes.length > 1) throw new CliError('give one of --add, --remove, --add-group, --remove-group per run');
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const target = await core.directory.groups.find(name);
        const change = changes[0];
        if (change) {
          if (change.op === 'add') await core.directory.groups.addMember(audit, target.id, change.kind, change.ref);
          else await core.directory.groups.removeMember(audit, target.id, change.kind, change.ref, { force: options.force === true });
          io.stdout.write(`${change.kind} '${change.ref.trim().toLowerCase()}' ${change.op === 'add' ? 'added to' : 'removed from'} group '${target.name}'\n`);
          return;
        }
        const members = await core.directory.groups.members(target.id);
        if (options.json) return printJson(io, members);
        io.stdout.write(formatTable(['KIND', 'NAME', 'MANAGED BY'], members.map((m) => [m.kind, m.name, m.managedBy])));
      });
    });
}
