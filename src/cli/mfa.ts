/** `gatehouse user mfa`: a user's second factors, and the changes an administrator makes to them. */
import type { Command } from 'commander';
import type { UserFactorsView } from '../admin/factors.ts';
import { configFileOf, withCore } from './context.ts';
import { CliError, formatTable, printJson, type CliIo } from './io.ts';

interface MfaOptions {
  resetTotp?: boolean;
  newRecoveryCodes?: boolean;
  removeKey?: string;
  renameKey?: string;
  name?: string;
  json?: boolean;
}

export function registerUserMfaCommand(user: Command, io: CliIo): void {
  user
    .command('mfa')
    .description("Show a user's second factors (TOTP, recovery codes, WebAuthn authenticators), or change one")
    .argument('<username>', 'username or id')
    .option('--reset-totp', 'remove the TOTP factor and the recovery codes (a lost phone): the user enrols again')
    .option('--new-recovery-codes', 'issue new recovery codes, printed once; the earlier ones stop working')
    .option('--remove-key <credential-id>', 'remove a WebAuthn authenticator')
    .option('--rename-key <credential-id>', 'rename a WebAuthn authenticator (with --name)')
    .option('--name <name>', 'the new name for --rename-key')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nOne change per run. Every change is audited with you as the actor.')
    .action(async (username: string, options: MfaOptions, command: Command) => {
      const changes = [options.resetTotp, options.newRecoveryCodes, options.removeKey, options.renameKey].filter((o) => o !== undefined);
      if (changes.length > 1) throw new CliError('give one of --reset-totp, --new-recovery-codes, --remove-key, --rename-key per run');
      if (options.renameKey !== undefined && options.name === undefined) throw new CliError('--rename-key needs --name');
      if (options.name !== undefined && options.renameKey === undefined) throw new CliError('--name goes with --rename-key');
      const { newRecoveryCodes, removeCredential, renameCredential, resetTotp, userFactors } = await import('../admin/factors.ts');
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        if (options.resetTotp) {
          const found = await resetTotp(core, audit, username);
          return done(io, options, `TOTP factor and recovery codes of user '${found.username}' removed`, { user: found.username, totp: 'none' });
        }
        if (options.newRecoveryCodes) {
          const { user: found, recoveryCodes } = await newRecoveryCodes(core, audit, username);
          if (options.json) return printJson(io, { user: found.username, recoveryCodes });
          io.stdout.write(`new recovery codes for user '${found.username}' (shown this once; the earlier ones no longer work):\n${recoveryCodes.join('\n')}\n`);
          return;
        }
        if (options.removeKey !== undefined) {
          const { user: found, credential } = await removeCredential(core, audit, username, options.removeKey);
          return done(io, options, `WebAuthn authenticator '${credential.name}' (${credential.id}) of user '${found.username}' removed`, { user: found.username, removed: credential });
        }
        if (options.renameKey !== undefined) {
          const credential = await renameCredential(core, audit, username, options.renameKey, options.name!);
          return done(io, options, `WebAuthn authenticator ${credential.id} renamed to '${credential.name}'`, credential);
        }
        const { user: found, factors } = await userFactors(core, username);
        if (options.json) return printJson(io, factors);
        io.stdout.write(renderFactors(found.username, factors));
      });
    });
}

function done(io: CliIo, options: MfaOptions, message: string, json: unknown): void {
  if (options.json) printJson(io, json);
  else io.stdout.write(`${message}\n`);
}

export function renderFactors(username: string, factors: UserFactorsView): string {
  const totp =
    factors.totp === 'active' ? `active, ${factors.recoveryCodesLeft} recovery code${factors.recoveryCodesLeft === 1 ? '' : 's'} left`
    : factors.totp === 'pending' ? 'pending (enrolled, not confirmed with a first code yet)'
    : factors.recoveryCodesLeft > 0 ? `none (${factors.recoveryCodesLeft} recovery codes left over)`
    : 'none';
  const lines = [`user      ${username}`, `TOTP      ${totp}`];
  if (!factors.webauthn.length) return `${lines.join('\n')}\nWebAuthn  none\n`;
  lines.push(`WebAuthn  ${factors.webauthn.length} authenticator${factors.webauthn.length === 1 ? '' : 's'}`, '');
  const table = formatTable(
    ['ID', 'NAME', 'PASSKEY', 'SYNCED', 'CREATED', 'LAST USED'],
    factors.webauthn.map((k) => [k.id, k.name, k.discoverable ? 'yes' : 'no', k.deviceType === 'multiDevice' ? 'yes' : 'no', k.createdAt, k.lastUsedAt]),
  );
  return `${lines.join('\n')}\n${table}`;
}
