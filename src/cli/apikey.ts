/** `gatehouse apikey create|list|revoke`: keys for the admin API. */
import { Option, type Command } from 'commander';
import { collectChoice, defined, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { formatTable, printJson, type CliIo } from './io.ts';

export function registerApiKeyCommands(program: Command, io: CliIo): void {
  const apikey = program.command('apikey').description('Manage admin API keys');

  apikey
    .command('create')
    .description('Create an admin API key; its secret is printed once and never stored')
    .argument('<name>', 'name of the key (who or what uses it)')
    .addOption(new Option('--scope <scope>', "'read' may list and get, 'write' may also change (repeatable; default read)").choices(['read', 'write']).argParser(collectChoice(['read', 'write'])))
    .option('--expires <time>', 'when the key stops working (ISO 8601, e.g. 2027-01-31T00:00:00Z)')
    .option('--json', 'print {apiKey, secret} as JSON')
    .action(async (name: string, options: { scope?: string[]; expires?: string; json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const { ApiKeyInput } = await import('../directory/model.ts');
        const input = ApiKeyInput.parse(defined({ name, scopes: options.scope, expiresAt: options.expires }));
        const { apiKey, secret } = await core.directory.apiKeys.create(audit, input);
        if (options.json) return printJson(io, { apiKey, secret });
        io.stdout.write(
          `created API key '${apiKey.name}' (${apiKey.id}), scopes ${apiKey.scopes.join(', ')}${apiKey.expiresAt ? `, expires ${apiKey.expiresAt}` : ''}.\n` +
            `The key is shown only this once; store it now:\n\n  ${secret}\n\n` +
            `Use it as: Authorization: Bearer <key>\n`,
        );
      });
    });

  apikey
    .command('list')
    .description('List admin API keys (never their secrets)')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const keys = (await listAll((after) => core.directory.apiKeys.list(defined({ limit: 1000, after }))));
        if (options.json) return printJson(io, keys);
        io.stdout.write(formatTable(['NAME', 'PREFIX', 'SCOPES', 'EXPIRES', 'LAST USED', 'ID'], keys.map((k) => [k.name, k.prefix, k.scopes.join(','), k.expiresAt, k.lastUsedAt, k.id])));
      });
    });

  apikey
    .command('revoke')
    .description('Revoke an admin API key at once')
    .argument('<name-or-id>', 'name or id of the key')
    .option('--force', 'revoke it even if GATEHOUSE_ADMIN_KEY sets it (the next start puts it back)')
    .action(async (ref: string, options: { force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const revoked = await core.directory.apiKeys.revoke(audit, ref, { force: options.force === true });
        io.stdout.write(`revoked API key '${revoked.name}' (${revoked.id})\n`);
      });
    });
}

