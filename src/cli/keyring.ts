/**
 * `gatehouse keyring status|reencrypt`: rotating the secrets keyring (secrets.keys), the key that
 * encrypts secrets at rest. See src/secrets/rotation.ts.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { KeyringStatus, ReencryptResult, SecretProblem } from '../secrets/rotation.ts';
import { integer } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { CliError, formatTable, printJson, type CliIo } from './io.ts';

const STEPS = `
Rotating the key (the README's "Rotate the secrets key" has the details):
  1. Add the new key to secrets.keys AFTER the current one, on every process; restart them
     (several processes: so that all can decrypt what the new key will encrypt).
  2. Move the new key FIRST (it encrypts from now on, the old one still decrypts); restart them.
  3. gatehouse keyring reencrypt     (safe beside running servers, and to run again)
  4. gatehouse keyring status        (every stored secret under the new key; nothing transient left under the old)
  5. Remove the old key from secrets.keys; restart.`;

function pageSize(value: string): number {
  const n = integer(value);
  if (n < 1 || n > 1000) throw new InvalidArgumentError('Must be from 1 to 1000.');
  return n;
}

export function registerKeyringCommands(program: Command, io: CliIo): void {
  const keyring = program
    .command('keyring')
    .description('The secrets keyring (secrets.keys) encrypting secrets at rest: which key each stored secret is under, and re-encrypting them after a key rotation')
    .addHelpText('after', STEPS);

  keyring
    .command('status')
    .description('Count the stored secrets of each kind (TOTP seeds, network passwords, RADIUS secrets, signing, cookie and CA keys) by the key that encrypted them')
    .option('--verify', 'also decrypt every secret (in memory only) to find damaged or tampered ones')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExit code 1 when a stored secret cannot be decrypted with the configured keys (its key is not configured, or it is damaged); each is named.')
    .action(async (options: { verify?: boolean; json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, store }) => {
        const { KeyringRotation } = await import('../secrets/rotation.ts');
        const status = await new KeyringRotation({ store, keyring: core.keyring, auditor: core.audit }).status({ verify: options.verify === true });
        if (options.json) printJson(io, status);
        else io.stdout.write(renderStatus(status));
        if (status.unreadable > 0) throw new CliError(`${plural(status.unreadable, 'stored secret')} cannot be decrypted with the configured keys`);
      });
    });

  keyring
    .command('reencrypt')
    .description('Re-encrypt every stored secret that is not under the first key of secrets.keys with it, so the older keys can be removed')
    .option('--page-size <n>', 'secrets read at a time (1-1000)', pageSize, 200)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nEach secret is replaced only if it is still the ciphertext that was read, so a change made meanwhile by a running\n' +
        'server wins; safe to run beside running servers and to run again. Audited as keyring.reencrypted (counts only).\n' +
        'Exit code 1 when the rotation is incomplete: a secret could not be decrypted (each is named) or changed meanwhile under an older key.',
    )
    .action(async (options: { pageSize: number; json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, store, audit }) => {
        const { KeyringRotation } = await import('../secrets/rotation.ts');
        const result = await new KeyringRotation({ store, keyring: core.keyring, auditor: core.audit }, { pageSize: options.pageSize }).reencrypt(audit);
        if (options.json) printJson(io, result);
        else io.stdout.write(renderReencrypt(result));
        if (!result.complete) {
          const { toReencrypt, unreadable } = result.after;
          throw new CliError(
            `the rotation is incomplete: ${[unreadable ? `${plural(unreadable, 'stored secret')} cannot be decrypted` : '', toReencrypt ? `${plural(toReencrypt, 'stored secret')} still under an older key (run it again)` : ''].filter(Boolean).join('; ')}`,
          );
        }
      });
    });
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The key ids as columns: the configured ones in order, then any the store names that are not configured. */
function keyColumns(status: KeyringStatus): string[] {
  const used = new Set(status.kinds.flatMap((k) => Object.keys(k.byKey)));
  return [...status.configured, ...[...used].filter((id) => !status.configured.includes(id)).sort()];
}

export function renderStatus(status: KeyringStatus): string {
  const keys = keyColumns(status);
  const header = (id: string) => (id === status.primary ? `${id} (primary)` : status.configured.includes(id) ? id : `${id} (NOT CONFIGURED)`);
  const malformed = status.kinds.some((k) => k.malformed > 0);
  const verified = status.kinds.some((k) => k.undecryptable !== undefined);
  const lines = [
    formatTable(
      ['STORED SECRETS', 'TOTAL', ...keys.map(header), ...(malformed ? ['MALFORMED'] : []), ...(verified ? ['DO NOT DECRYPT'] : [])],
      status.kinds.map((k) => [k.label, k.total, ...keys.map((id) => k.byKey[id] ?? 0), ...(malformed ? [k.malformed] : []), ...(verified ? [k.undecryptable] : [])]),
    ),
  ];
  if (status.transient.length) {
    lines.push(
      '\n' +
        formatTable(
          ['TRANSIENT (EXPIRE BY THEMSELVES)', 'TOTAL', ...keys.map(header), 'OLDER KEYS GONE BY'],
          status.transient.map((t) => [t.area, t.total, ...keys.map((id) => t.byKey[id] ?? 0), t.oldKeysGoneBy]),
        ),
    );
  }
  lines.push('\n');
  if (status.toReencrypt > 0) lines.push(`${plural(status.toReencrypt, 'stored secret')} under an older key: run \`gatehouse keyring reencrypt\`\n`);
  else if (status.unreadable === 0) lines.push(`every stored secret is under the primary key '${status.primary}'\n`);
  if (status.unused.length) {
    const transientOld = status.transient.filter((t) => t.oldKeysGoneBy !== undefined);
    lines.push(
      `no stored secret uses ${status.unused.map((id) => `'${id}'`).join(', ')}: ` +
        (transientOld.length ? `remove it from secrets.keys after ${transientOld.map((t) => t.oldKeysGoneBy!).sort().at(-1)} (transient entries)\n` : 'it can be removed from secrets.keys\n'),
    );
  }
  if (status.unreadable > 0) lines.push(renderProblems(status.problems, status.problemsTruncated, status.unreadable).replace(/^\n/, ''));
  return lines.join('');
}

export function renderReencrypt(result: ReencryptResult): string {
  const table = formatTable(
    ['STORED SECRETS', 'RE-ENCRYPTED', 'ALREADY CURRENT', 'CHANGED MEANWHILE', 'FAILED'],
    result.kinds.map((k) => [k.label, k.reencrypted, k.current, k.changed, k.failed]),
  );
  const total = result.kinds.reduce((n, k) => n + k.reencrypted, 0);
  const lines = [`re-encrypted ${plural(total, 'stored secret')} under the primary key '${result.primary}'\n`, table];
  lines.push(renderProblems(result.after.problems, result.after.problemsTruncated, result.after.unreadable));
  if (result.complete) {
    lines.push(`\nevery stored secret is under '${result.primary}' now`);
    const old = result.after.configured.filter((id) => id !== result.primary);
    if (old.length) lines.push(`: ${old.map((id) => `'${id}'`).join(', ')} can be removed from secrets.keys once no transient entry needs ${old.length === 1 ? 'it' : 'them'} (see \`gatehouse keyring status\`)`);
    lines.push('\n');
  }
  return lines.join('');
}

const PROBLEM_TEXT: Record<SecretProblem['problem'], (p: SecretProblem) => string> = {
  unknown_key: (p) => `encrypted with key '${p.keyId}', which is not configured`,
  does_not_decrypt: (p) => `does not decrypt with key '${p.keyId}' (damaged, tampered with, or that id now names other key material)`,
  malformed: () => 'not a Gatehouse ciphertext (damaged)',
};

function renderProblems(problems: SecretProblem[], truncated: boolean, total: number): string {
  if (!problems.length) return '';
  const lines = problems.map((p) => `  ${p.kind} ${p.name}: ${PROBLEM_TEXT[p.problem](p)}\n`);
  if (truncated) lines.push(`  … and ${total - problems.length} more\n`);
  lines.push('  (a key not configured: put it back in secrets.keys; a damaged secret must be made again: reset the TOTP factor, a new network\n  password or RADIUS secret, `gatehouse keys rotate`)\n');
  return `\ncannot be decrypted (left as they are):\n${lines.join('')}`;
}
