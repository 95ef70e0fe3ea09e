/** `gatehouse keys list|rotate`: the OpenID Connect provider's signing keys. */
import type { Command } from 'commander';
import type { SigningKeyRecord } from '../store/types.ts';
import type { Core } from '../core.ts';
import type { Config } from '../front-ends.ts';
import { configFileOf, withCore } from './context.ts';
import { formatTable, printJson, type CliIo } from './io.ts';

/** What a key does now: the newest generation signs, older ones are published until they retire. */
function stateOf(key: Pick<SigningKeyRecord, 'use' | 'generation' | 'retiresAt'>, newest: number): string {
  if (key.generation === newest) return key.use === 'sig' ? 'signing' : 'signing cookies';
  return `retiring ${key.retiresAt ?? ''}`.trim();
}

/** Public view: never the private key, not even encrypted. */
function shown(keys: SigningKeyRecord[]) {
  const newest = keys[0]?.generation ?? 0;
  return keys.map(({ privateEncrypted: _private, ...key }) => ({ ...key, state: stateOf(key, newest) }));
}

export function registerKeysCommands(program: Command, io: CliIo): void {
  const keys = program
    .command('keys')
    .description("The signing keys: OpenID Connect's (JWKS) and cookie keys, and the RSA key SAML signs with (its certificate in the SAML metadata)")
    .addHelpText('after', '\nKeys are made on the first start (one per algorithm in oidc.signingAlgorithms), private keys encrypted with secrets.keys.');

  keys
    .command('list')
    .description('List the keys that sign or are still published, newest generation first')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, config }) => {
        const listed = shown(await signingKeys(core, config).list());
        if (options.json) return printJson(io, listed);
        if (listed.length === 0) {
          io.stdout.write('no keys yet: they are made on the first start (or by `gatehouse keys rotate`)\n');
          return;
        }
        io.stdout.write(formatTable(['KID', 'USE', 'ALG', 'GENERATION', 'STATE', 'CREATED'], listed.map((k) => [k.kid, k.use, k.alg, String(k.generation), k.state, k.createdAt])));
      });
    });

  keys
    .command('rotate')
    .description('Make a new generation of keys that signs from now on; the current keys stay published (JWKS, SAML metadata) for oidc.keys.rotationOverlapHours, then retire')
    .option('--json', 'print the new keys as JSON')
    .addHelpText('after', '\nRunning servers load the new keys within oidc.keys.reloadSeconds.')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, config, audit }) => {
        const keys = signingKeys(core, config);
        await keys.ensure(audit);
        const rotated = await keys.rotate(audit);
        const listed = shown(rotated.keys);
        if (options.json) return printJson(io, { generation: rotated.generation, keys: listed, previousRetireAt: rotated.previousRetireAt });
        io.stdout.write(
          `rotated the signing keys: generation ${rotated.generation} signs from now on\n` +
            formatTable(['KID', 'USE', 'ALG'], listed.map((k) => [k.kid, k.use, k.alg])) +
            `the previous keys stay published until ${rotated.previousRetireAt}; running servers pick the new ones up within ${config.oidc.keys.reloadSeconds} s\n`,
        );
      });
    });
}

/** The key manager for the algorithms and overlap the configuration's oidc section sets. */
function signingKeys(core: Core, config: Config) {
  return core.signingKeys({ algorithms: config.oidc.signingAlgorithms, rotationOverlapHours: config.oidc.keys.rotationOverlapHours });
}
