/** `gatehouse user add|list|passwd|suspend|activate|mfa`. */
import { Option, type Command } from 'commander';
import { collect, defined, FORCE_HELP, integer, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { CliError, formatTable, printJson, readNewPassword, readPasswordFromStdin, type CliIo } from './io.ts';
import { registerUserMfaCommand } from './mfa.ts';
import { registerUserNetworkPasswordCommand } from './network-password.ts';

interface AddOptions {
  email?: string;
  name?: string;
  uid?: number;
  gid?: number;
  home?: string;
  shell?: string;
  group?: string[];
  passwordStdin?: boolean;
}

interface ListOptions {
  q?: string;
  status?: 'active' | 'suspended';
  group?: string;
  direct?: boolean;
  json?: boolean;
}

export function registerUserCommands(program: Command, io: CliIo): void {
  const user = program.command('user').description('Manage users');

  user
    .command('add')
    .description('Create a user')
    .argument('<username>', 'login name (case-insensitive)')
    .option('--email <address>', 'e-mail address')
    .option('--name <display-name>', 'full name shown to people')
    .option('--uid <n>', 'POSIX uid', integer)
    .option('--gid <n>', 'POSIX primary gid', integer)
    .option('--home <dir>', 'POSIX home directory (absolute path)')
    .option('--shell <path>', 'POSIX login shell (absolute path)')
    .option('--group <group>', 'add the user to this group (repeatable)', collect)
    .option('--password-stdin', 'read the initial password from standard input (otherwise the user has none until `user passwd`)')
    .action(async (username: string, options: AddOptions, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const password = options.passwordStdin ? await readPasswordFromStdin(io) : undefined;
        const { UserInput } = await import('../directory/model.ts');
        const input = UserInput.parse(
          defined({
            username, email: options.email, displayName: options.name, uidNumber: options.uid, gidNumber: options.gid,
            homeDirectory: options.home, loginShell: options.shell, groups: options.group, password,
          }),
        );
        const created = await core.directory.users.create(audit, input);
        const groups = input.groups?.length ? `, member of ${input.groups.join(', ')}` : '';
        io.stdout.write(`created user '${created.username}' (${created.id})${groups}${password === undefined ? '; no password yet: set one with `gatehouse user passwd`' : ''}\n`);
      });
    });

  user
    .command('list')
    .description('List users')
    .option('--q <prefix>', 'only usernames or e-mail addresses starting with this')
    .addOption(new Option('--status <status>', 'only users with this status').choices(['active', 'suspended']))
    .option('--group <group>', 'only members of this group, directly or through the groups nested in it')
    .option('--direct', 'with --group: only its direct members')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: ListOptions, command: Command) => {
      if (options.direct && options.group === undefined) throw new CliError('--direct goes with --group');
      await withCore(io, configFileOf(command), async ({ core }) => {
        const group = options.group !== undefined ? await core.directory.groups.find(options.group) : undefined;
        const users = await listAll((after) =>
          core.directory.users.list(defined({ limit: 1000, after, q: options.q, memberOf: group?.id, nested: !options.direct, where: options.status ? { status: options.status } : undefined })),
        );
        if (options.json) return printJson(io, users);
        io.stdout.write(formatTable(['USERNAME', 'STATUS', 'EMAIL', 'NAME', 'UID', 'GID'], users.map((u) => [u.username, u.status, u.email, u.displayName, u.uidNumber, u.gidNumber])));
      });
    });

  user
    .command('passwd')
    .description('Set a user\'s password: prompted twice on a terminal, else read from standard input')
    .argument('<username>', 'username or id')
    .option('--password-stdin', 'read the password from standard input even on a terminal')
    .option('--force', FORCE_HELP)
    .action(async (username: string, options: { passwordStdin?: boolean; force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const found = await core.directory.users.find(username); // before asking for a password
        const password = await readNewPassword(io, options.passwordStdin === true);
        await core.directory.users.setPassword(audit, found.id, password, { force: options.force === true });
        io.stdout.write(`password of user '${found.username}' set\n`);
      });
    });

  user
    .command('suspend')
    .description('Suspend a user: every front-end refuses them, and their sessions and tokens are revoked')
    .argument('<username>', 'username or id')
    .option('--force', FORCE_HELP)
    .action(async (username: string, options: { force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const suspended = await core.directory.users.suspend(audit, username, { force: options.force === true });
        io.stdout.write(`user '${suspended.username}' suspended\n`);
      });
    });

  user
    .command('activate')
    .description('Reactivate a suspended user')
    .argument('<username>', 'username or id')
    .option('--force', FORCE_HELP)
    .action(async (username: string, options: { force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const activated = await core.directory.users.activate(audit, username, { force: options.force === true });
        io.stdout.write(`user '${activated.username}' active\n`);
      });
    });

  registerUserMfaCommand(user, io);
  registerUserNetworkPasswordCommand(user, io);
}
