/** `gatehouse config check|reference`: neither opens the store. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ConfigError } from '../config/load.ts';
import type { Config } from '../front-ends.ts';
import { configFileOf, loadConfig } from './context.ts';
import type { CliIo } from './io.ts';

export function registerConfigCommands(program: Command, io: CliIo): void {
  const config = program.command('config').description('Check a configuration file, or print the reference of every option');

  config
    .command('check')
    .description('Validate a configuration file without opening the store: every error with its path and line, exit code 2 when invalid')
    .addHelpText('after', '\nBesides the schema, it checks what a start would refuse without asking the store: the secret keys, and\ndeclared passwords against the password policy. ${VAR} references are resolved from this environment.')
    .argument('[file]', 'the file to check (default: the --config file)')
    .action(async (file: string | undefined, _options: unknown, command: Command) => {
      const target = file ?? configFileOf(command);
      const loaded = await loadConfig(io, target); // ConfigInvalidError: reported by main, exit 2
      const problems = await startProblems(target, loaded);
      const [{ ConfigInvalidError }, { configWarnings }] = await Promise.all([import('../config/load.ts'), import('../front-ends.ts')]);
      if (problems.length) throw new ConfigInvalidError(problems);
      io.stdout.write(`${target}: ok\n`);
      for (const warning of configWarnings(loaded)) io.stdout.write(`${target}: warning: ${warning}\n`);
    });

  config
    .command('reference')
    .description('Print every configuration option with its type, default and description (Markdown)')
    .action(async () => {
      const { renderConfigReference } = await import('./reference.ts');
      io.stdout.write(renderConfigReference());
    });
}

/** What a start would refuse in a schema-valid file, short of what needs the store. */
async function startProblems(file: string, config: Config): Promise<ConfigError[]> {
  const [{ LineCounter, parseDocument }, { locate }, { checkPasswordPolicy, passwordContextWords, validatePasswordInput }, { Keyring, SecretError }] = await Promise.all([
    import('yaml'), import('../config/yaml-locate.ts'), import('../credentials/password.ts'), import('../secrets/keyring.ts'),
  ]);
  const problems: Array<Omit<ConfigError, 'file'> & { at: PropertyKey[] }> = [];
  if (config.secrets.keys.length > 0) {
    try {
      new Keyring(config.secrets.keys);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      problems.push({ path: 'secrets.keys', at: ['secrets', 'keys'], message: err.message });
    }
  }
  for (const [i, user] of config.directory.users.entries()) {
    if (user.password === undefined) continue;
    const input = validatePasswordInput(user.password);
    const found = input ? [input] : checkPasswordPolicy(user.password, config.passwords.policy, { words: passwordContextWords(user) });
    for (const problem of found) problems.push({ path: `directory.users[${i}].password`, at: ['directory', 'users', i, 'password'], message: problem.message });
  }
  if (problems.length === 0) return [];
  // Positions, as the loader gives them for schema errors.
  const lineCounter = new LineCounter();
  const doc = parseDocument(await readFile(file, 'utf8'), { lineCounter });
  return problems.map(({ at, ...problem }) => {
    const offset = locate(doc, at).node?.range?.[0];
    if (offset === undefined) return { file, ...problem };
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, ...problem };
  });
}
