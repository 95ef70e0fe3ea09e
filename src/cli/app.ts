/** `gatehouse app list|show|add|remove|secret`: the applications people sign in to, and their secrets. */
import { Option, type Command } from 'commander';
import { APPLICATION_TYPES } from '../directory/names.ts';
import { collect, defined, FORCE_HELP, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { formatTable, printJson, type CliIo } from './io.ts';

interface AddOptions {
  type?: string;
  displayName?: string;
  description?: string;
  group?: string[];
  settings?: string;
  samlMetadata?: string;
  secret?: boolean;
}

export function registerAppCommands(program: Command, io: CliIo): void {
  const app = program.command('app').description('Manage applications (OIDC clients, SAML service providers, LDAP service accounts) and their secrets');

  app
    .command('list')
    .description('List applications (never their secrets)')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const apps = await listAll((after) => core.directory.resources.list('applications', defined({ limit: 1000, after })));
        if (options.json) return printJson(io, apps);
        io.stdout.write(formatTable(
          ['NAME', 'TYPE', 'GROUPS', 'SECRET', 'MANAGED BY', 'DISPLAY NAME'],
          apps.map((a) => [a.name, a.type, a.groups.join(', '), a.hasSecret ? 'yes' : 'no', a.managedBy, a.displayName]),
        ));
      });
    });

  app
    .command('show')
    .description('Show one application with its protocol settings')
    .argument('<name>', 'application name or id')
    .action(async (ref: string, _options: unknown, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => printJson(io, await core.directory.resources.find('applications', ref)));
    });

  app
    .command('add')
    .description('Create an application')
    .argument('<name>', 'application name, as policies refer to it (app:<name>)')
    .addOption(new Option('--type <type>', 'protocol it signs in with').choices(APPLICATION_TYPES).default('generic'))
    .option('--display-name <text>', 'name shown to people in the portal')
    .option('--description <text>', 'what the application is')
    .option('--group <group>', 'a group whose members may use it (repeatable)', collect)
    .option('--settings <json>', 'protocol settings as JSON, e.g. \'{"redirectUris":["https://app.example.com/cb"]}\'')
    .option('--saml-metadata <file>', "a SAML service provider's metadata XML (with --type saml): becomes settings.saml.metadata")
    .option('--secret', 'also generate a secret (printed once)')
    .action(async (name: string, options: AddOptions, command: Command) => {
      let settings: unknown;
      if (options.settings !== undefined) {
        try {
          settings = JSON.parse(options.settings);
        } catch (err) {
          throw new Error(`--settings is not JSON: ${(err as Error).message}`);
        }
      }
      if (options.samlMetadata !== undefined) {
        if (options.type !== 'saml') throw new Error('--saml-metadata is for --type saml');
        const { readFile } = await import('node:fs/promises');
        const metadata = await readFile(options.samlMetadata, 'utf8').catch((err: Error) => {
          throw new Error(`--saml-metadata: cannot read ${options.samlMetadata}: ${err.message}`);
        });
        const base = (settings ?? {}) as Record<string, unknown>;
        settings = { ...base, saml: { ...((base.saml as Record<string, unknown> | undefined) ?? {}), metadata } };
      }
      const { ApplicationInput } = await import('../directory/model.ts');
      const input = ApplicationInput.parse(defined({ name, type: options.type, displayName: options.displayName, description: options.description, groups: options.group, settings }));
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const created = await core.directory.resources.create(audit, 'applications', input);
        io.stdout.write(`created application '${created.name}' (${created.id}), type ${created.type}\n`);
        if (options.secret) printSecret(io, created.name, (await core.directory.applications.rotateSecret(audit, created.id)).secret);
      });
    });

  app
    .command('remove')
    .description('Delete an application (refused while a policy refers to it)')
    .argument('<name>', 'application name or id')
    .option('--force', FORCE_HELP)
    .action(async (ref: string, options: { force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const gone = await core.directory.resources.delete(audit, 'applications', ref, { force: options.force === true });
        io.stdout.write(`removed application '${gone.name}' (${gone.id})\n`);
      });
    });

  app
    .command('secret')
    .description("Generate a new secret for an application (its OIDC client secret or LDAP service-account password); the old one stops working")
    .argument('<name>', 'application name or id')
    .option('--json', 'print {application, secret} as JSON')
    .option('--force', 'replace it even if the configuration file declares it (the next reload or start puts the declared secret back; a declaration without a secret keeps this one)')
    .action(async (ref: string, options: { json?: boolean; force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const { application, secret } = await core.directory.applications.rotateSecret(audit, ref, { force: options.force === true });
        if (options.json) return printJson(io, { application, secret });
        printSecret(io, application.name, secret);
      });
    });
}

function printSecret(io: CliIo, name: string, secret: string): void {
  io.stdout.write(`New secret for '${name}'. It is shown only this once; store it now:\n\n  ${secret}\n\n`);
}
