/**
 * The `gatehouse` command line. `main` returns the exit code instead of exiting, and takes its
 * streams and environment as arguments, so tests run it in-process.
 *
 * Exit codes: 0 success; 1 the command failed (not found, already exists, refused input, store
 * unreachable); 2 the command line or the configuration file is wrong.
 *
 * Building the program loads only the command definitions (commander and this folder): what a
 * command works with (the configuration loader, the store, the core) is imported when it runs, so
 * `--help` and a command that fails on its arguments start at once (see context.ts).
 */
import { Command, CommanderError, Option } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { registerApiKeyCommands } from './apikey.ts';
import { registerAppCommands } from './app.ts';
import { registerCaCommands } from './ca.ts';
import { registerConfigCommands } from './config.ts';
import { DEFAULT_CONFIG_FILE } from './context.ts';
import { registerDeviceCommands } from './device.ts';
import { registerDocsCommand } from './docs.ts';
import { registerGroupCommands } from './group.ts';
import { registerKeyringCommands } from './keyring.ts';
import { registerKeysCommands } from './keys.ts';
import { CliError, type CliIo } from './io.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerNetworkCommands } from './network.ts';
import { registerNetworkSessionCommands } from './network-session.ts';
import { registerPolicyCommands } from './policy.ts';
import { registerStartCommand } from './start.ts';
import { registerUserCommands } from './user.ts';

export type MainOptions = Partial<CliIo>;

export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const io: CliIo = {
    stdout: options.stdout ?? process.stdout,
    stderr: options.stderr ?? process.stderr,
    env: options.env ?? process.env,
    // Lazily: touching process.stdin opens it, which only the commands reading a password need.
    get stdin() {
      return options.stdin ?? process.stdin;
    },
  };
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return await report(io, err);
  }
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('gatehouse')
    .description('Gatehouse: one identity for every door (OIDC, SAML, LDAP, RADIUS over one directory)')
    .version(pkg.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .addOption(
      new Option('-c, --config <file>', 'configuration file (also $GATEHOUSE_CONFIG)').default(io.env.GATEHOUSE_CONFIG || DEFAULT_CONFIG_FILE),
    )
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'gatehouse: ')),
    })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  // Subcommands inherit the settings above, so they are registered after them.
  registerStartCommand(program, io);
  registerMigrateCommand(program, io);
  registerConfigCommands(program, io);
  registerUserCommands(program, io);
  registerGroupCommands(program, io);
  registerNetworkCommands(program, io);
  registerNetworkSessionCommands(program, io);
  registerDeviceCommands(program, io);
  registerCaCommands(program, io);
  registerAppCommands(program, io);
  registerPolicyCommands(program, io);
  registerApiKeyCommands(program, io);
  registerKeysCommands(program, io);
  registerKeyringCommands(program, io);
  registerDocsCommand(program, io);
  return program;
}

/** One clear line (a list of lines for a configuration file) on stderr, never a stack trace. */
async function report(io: CliIo, err: unknown): Promise<number> {
  if (err instanceof CommanderError) {
    // Commander has printed the help, version or usage error already.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
  }
  let message: string;
  if (err instanceof CliError) message = describe(err);
  else {
    // Imported here, not above: a command that threw one of these has loaded them already.
    const [{ ConfigInvalidError }, { ZodError }] = await Promise.all([import('../config/load.ts'), import('zod')]);
    if (err instanceof ConfigInvalidError) {
      io.stderr.write(`${err.message}\n`);
      return 2;
    }
    message = err instanceof ZodError ? describeIssues(err.issues) : describe(err);
  }
  io.stderr.write(`gatehouse: ${message}\n`);
  if (io.env.GATEHOUSE_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return 1;
}

function describeIssues(issues: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>): string {
  return issues.map((issue) => `${issue.path.length ? `${formatPath(issue.path)}: ` : ''}${issue.message}`).join('; ');
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((segment, i) => (typeof segment === 'number' ? `[${segment}]` : `${i === 0 ? '' : '.'}${String(segment)}`)).join('');
}
