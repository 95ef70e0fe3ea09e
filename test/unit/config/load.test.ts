import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigInvalidError,
  formatConfigErrors,
  loadConfigFile,
  parseConfig,
} from '../../../src/config/load.ts';
import type { ConfigError, LoadOptions } from '../../../src/config/load.ts';
import { ConfigSchema } from '../../../src/front-ends.ts';
import { knownKeys } from '../../../src/config/suggest.ts';
import { substituteEnvString } from '../../../src/config/yaml-env.ts';

// A deliberately small schema: the loader is schema-agnostic.
const schema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().default(8080),
      tls: z.boolean().default(false),
      banner: z.string().optional(),
    })
    .default({ host: '127.0.0.1', port: 8080, tls: false }),
  database: z
    .strictObject({
      url: z.string(),
      password: z.string().optional(),
    })
    .optional(),
  users: z.array(z.strictObject({ name: z.string(), email: z.email() })).default([]),
});

const FILE = 'gatehouse.yaml';

function parse(text: string, opts: Partial<LoadOptions> = {}) {
  return parseConfig(text, schema, { file: FILE, env: {}, ...opts });
}

/** Runs `fn`, asserts it threw ConfigInvalidError, returns its errors. */
function errorsOf(fn: () => unknown): ConfigError[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigInvalidError);
    return (error as ConfigInvalidError).errors;
  }
  throw new Error('expected ConfigInvalidError, nothing was thrown');
}

async function errorsOfAsync(promise: Promise<unknown>): Promise<ConfigError[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigInvalidError);
  return (error as ConfigInvalidError).errors;
}

const lines = (...l: string[]) => l.join('\n') + '\n';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeTemp(name: string, content: string | Uint8Array): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

describe('valid documents', () => {
  it('loads a valid file into a typed value', async () => {
    const file = await writeTemp(
      'valid.yaml',
      lines(
        'server:',
        '  host: 0.0.0.0',
        '  port: 9443',
        '  tls: true',
        'database:',
        '  url: postgres://db/gatehouse',
        'users:',
        '  - name: alice',
        '    email: alice@example.com',
      ),
    );
    const config = await loadConfigFile(file, schema, {});
    expect(config).toEqual({
      server: { host: '0.0.0.0', port: 9443, tls: true },
      database: { url: 'postgres://db/gatehouse' },
      users: [{ name: 'alice', email: 'alice@example.com' }],
    });
    // Static typing flows through from the schema.
    const port: number = config.server.port;
    expect(port).toBe(9443);
  });

  it('applies schema defaults to an empty or comment-only document', () => {
    const defaults = { server: { host: '127.0.0.1', port: 8080, tls: false }, users: [] };
    expect(parse('')).toEqual(defaults);
    expect(parse('# nothing configured yet\n')).toEqual(defaults);
    expect(parse('---\n')).toEqual(defaults);
  });

  it('uses the YAML 1.2 core schema, even under a %YAML 1.1 directive', () => {
    const loose = z.record(z.string(), z.unknown());
    const opts = { file: FILE, env: {} };
    expect(parseConfig('a: yes\nb: 010\nc: 0o10\nd: ~\n', loose, opts)).toEqual({ a: 'yes', b: 10, c: 8, d: null });
    expect(parseConfig('%YAML 1.1\n---\na: on\n', loose, opts)).toEqual({ a: 'on' });
  });

  it('resolves ordinary aliases', () => {
    const config = parse(lines('users:', '  - &alice {name: alice, email: a@example.com}', '  - *alice'));
    expect(config.users).toHaveLength(2);
  });
});

describe('schema errors carry paths and positions', () => {
  it('reports each unknown key at the key itself', () => {
    const errors = errorsOf(() => parse(lines('server:', '  port: 1', '  prot: 2', 'extra: true', '  # c')));
    expect(errors).toEqual([
      { file: FILE, path: 'server.prot', line: 3, column: 3, message: 'unknown key' },
      { file: FILE, path: 'extra', line: 4, column: 1, message: 'unknown key' },
    ]);
  });

  it('suggests the key probably meant: a typo, another case or snake_case; never one written already', () => {
    const errors = errorsOf(() => parse(lines('server:', '  hots: a', '  TLS: true', '  ban_ner: hi', 'users:', '  - name: x', '    emial: x@example.com')));
    expect(errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`)).toEqual([
      "2:3 server.hots: unknown key; did you mean 'host'?",
      "3:3 server.TLS: unknown key; did you mean 'tls'?",
      "4:3 server.ban_ner: unknown key; did you mean 'banner'?",
      '6:5 users[0].email: required key is missing (expected string)',
      "7:5 users[0].emial: unknown key; did you mean 'email'?",
    ]);
    expect(errorsOf(() => parse(lines('usres: []'))).map((e) => e.message)).toEqual(["unknown key; did you mean 'users'?"]);
    // Too far from every key: no guess. `prot` next to a `port` already written: not a typo of it.
    expect(errorsOf(() => parse(lines('server:', '  colour: red', '  port: 1', '  prot: 2'))).map((e) => e.message)).toEqual(['unknown key', 'unknown key']);
    expect(errorsOf(() => parse(lines('usres: []', 'users: []'))).map((e) => e.message)).toEqual(['unknown key']);
  });

  it("refuses `ldap: { prot: 389 }` in the real configuration with the path, the line and \"did you mean 'port'?\"", () => {
    const errors = errorsOf(() => parseConfig(lines('server:', '  http: { port: 9090 }', 'ldap: { prot: 389 }'), ConfigSchema, { file: FILE, env: {} }));
    expect(errors).toEqual([{ file: FILE, path: 'ldap.prot', line: 3, column: 9, message: "unknown key; did you mean 'port'?" }]);
    expect(formatConfigErrors(errors)).toBe(`${FILE}:3:9: ldap.prot: unknown key; did you mean 'port'?`);
  });

  it('finds the accepted keys through defaults, arrays, records, unions, pipes and lazy schemas', () => {
    const nested = z.strictObject({
      apps: z.record(z.string(), z.strictObject({ redirectUris: z.array(z.string()).default([]) })).default({}),
      hooks: z.array(z.lazy(() => z.strictObject({ command: z.string().optional() }).pipe(z.transform((v) => v)))).optional(),
      either: z.union([z.strictObject({ redirectUris: z.array(z.string()) }), z.strictObject({ acsUrl: z.string() })]).optional(),
    });
    const messages = (text: string) => errorsOf(() => parseConfig(text, nested, { file: FILE, env: {} })).map((e) => `${e.path}: ${e.message}`);
    expect(messages(lines('apps:', '  web: { redirectUri: [] }'))).toEqual(["apps.web.redirectUri: unknown key; did you mean 'redirectUris'?"]);
    expect(messages(lines('hooks:', '  - { comand: x }'))).toEqual(["hooks[0].comand: unknown key; did you mean 'command'?"]);
    // zod reports a union's branches as one invalid_union issue; the keys of every branch are known.
    expect(knownKeys(nested, ['either'])).toEqual(['redirectUris', 'acsUrl']);
    expect(knownKeys(nested, ['apps', 'web'])).toEqual(['redirectUris']);
    expect(knownKeys(nested, ['nowhere'])).toEqual([]);
  });

  it('reports a wrong type at the offending value', () => {
    const errors = errorsOf(() => parse(lines('server:', '  host: example.org', '  port: eighty')));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: 'server.port', line: 3, column: 9 });
    expect(errors[0]?.message).toMatch(/expected number/);
  });

  it('reports a missing required key at its parent mapping', () => {
    const errors = errorsOf(() => parse(lines('server:', '  port: 1', 'database:', '  password: x')));
    expect(errors).toEqual([
      { file: FILE, path: 'database.url', line: 4, column: 3, message: 'required key is missing (expected string)' },
    ]);
  });

  it('uses dotted paths with array indices', () => {
    const errors = errorsOf(() =>
      parse(lines('users:', '  - name: a', '    email: a@example.com', '  - name: b', '    email: not-an-email')),
    );
    expect(errors).toEqual([
      { file: FILE, path: 'users[1].email', line: 5, column: 12, message: 'Invalid email address' },
    ]);
  });

  it('collects every schema error, in file order', () => {
    const errors = errorsOf(() => parse(lines('users: 3', 'server:', '  tls: maybe', 'bogus: 1')));
    expect(errors.map((e) => [e.path, e.line])).toEqual([
      ['users', 1],
      ['server.tls', 3],
      ['bogus', 4],
    ]);
  });

  it('points into the anchored definition for problems inside an alias', () => {
    const errors = errorsOf(() => parse(lines('x-base: &base', '  port: 1', '  nope: 2', 'server: *base')));
    expect(errors).toContainEqual({ file: FILE, path: 'server.nope', line: 3, column: 3, message: 'unknown key' });
  });

  it('reports odd top-level values through the schema instead of crashing', () => {
    for (const text of ['just a string\n', '- 1\n- 2\n', '42\n', 'null\n']) {
      const errors = errorsOf(() => parse(text));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ path: '', line: 1, column: 1 });
      expect(errors[0]?.message).toMatch(/expected object/);
    }
  });
});

describe('YAML-level errors', () => {
  it('refuses duplicate keys, with the path and line of the duplicate', () => {
    const errors = errorsOf(() => parse(lines('server:', '  port: 1', '  host: a', '  port: 2')));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: 'server.port', line: 4, column: 3 });
    expect(errors[0]?.message).toMatch(/unique/i);
  });

  it('reports syntax errors with line and column, all of them', () => {
    const errors = errorsOf(() => parse(lines('server:', '  port: 1', ' host: a', 'users: [', '')));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    for (const error of errors) {
      expect(error.file).toBe(FILE);
      expect(error.line).toBeGreaterThanOrEqual(3);
      expect(error.column).toBeGreaterThanOrEqual(1);
    }
    expect(errors[0]?.line).toBe(3);
  });

  it('treats parser warnings (unknown tags) as errors', () => {
    const errors = errorsOf(() => parse('server:\n  host: !vault secret/db\n'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: 'server.host', line: 2 });
    expect(errors[0]?.message).toMatch(/!vault/);
  });

  it('refuses more than one document', () => {
    const errors = errorsOf(() => parse(lines('server:', '  port: 1', '---', 'server:', '  port: 2')));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ line: 3 });
    expect(errors[0]?.message).toMatch(/multiple YAML documents/);
  });

  it('refuses an alias bomb (billion laughs) quickly', () => {
    let bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    const names = 'abcdefghijklmnopqrstuvwxyz';
    for (let i = 1; i < 20; i++) {
      bomb += `${names[i]}: &${names[i]} [${Array(10).fill(`*${names[i - 1]}`).join(',')}]\n`;
    }
    const loose = z.record(z.string(), z.unknown());
    const started = performance.now();
    const errors = errorsOf(() => parseConfig(bomb, loose, { file: FILE, env: {} }));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/alias expansion refused/);
  });

  it('honours a custom maxAliasCount', () => {
    const text = lines('users:', '  - &u {name: a, email: a@example.com}', '  - *u', '  - *u', '  - *u');
    expect(parse(text).users).toHaveLength(4);
    expect(errorsOf(() => parse(text, { maxAliasCount: 0 }))[0]?.message).toMatch(/alias expansion refused/);
  });
});

describe('environment substitution', () => {
  const env = { PORT: '9443', FLAG: 'true', HOST: 'idp.example.org', EMPTY: '', SECRET: 'hunter2-very-secret' };

  it('re-types a plain scalar that is exactly one reference', () => {
    const config = parse(lines('server:', '  port: ${PORT}', '  tls: ${FLAG}'), { env });
    expect(config.server).toEqual({ host: '127.0.0.1', port: 9443, tls: true });
  });

  it('keeps quoted scalars and mixed text as strings', () => {
    const loose = z.record(z.string(), z.unknown());
    const opts = { file: FILE, env };
    expect(parseConfig(lines('a: "${PORT}"', "b: '${FLAG}'", 'c: ${PORT}0', 'd: https://${HOST}:${PORT}/'), loose, opts)).toEqual({
      a: '9443',
      b: 'true',
      c: '94430',
      d: 'https://idp.example.org:9443/',
    });
    // An explicit tag is also a request for a string.
    expect(parseConfig('a: !!str ${PORT}\n', loose, opts)).toEqual({ a: '9443' });
    // Block scalars are text.
    expect(parseConfig('a: |\n  port ${PORT}\n', loose, opts)).toEqual({ a: 'port 9443\n' });
  });

  it('uses the default when the variable is unset or empty', () => {
    const config = parse(lines('server:', '  port: ${NOPE:-8081}', '  host: ${EMPTY:-localhost}', '  banner: "${NOPE:-}"'), { env });
    expect(config.server).toEqual({ host: 'localhost', port: 8081, tls: false, banner: '' });
  });

  it('treats $${ as an escaped literal ${ and leaves other $ alone', () => {
    const config = parse('server:\n  banner: "cost $5, literal $${PORT}, var ${PORT}"\n', { env });
    expect(config.server.banner).toBe('cost $5, literal ${PORT}, var 9443');
  });

  it('never substitutes in keys', () => {
    const loose = z.record(z.string(), z.unknown());
    expect(parseConfig('${PORT}: x\n', loose, { file: FILE, env })).toEqual({ '${PORT}': 'x' });
  });

  it('substitutes inside anchors used through aliases', () => {
    const loose = z.record(z.string(), z.unknown());
    // Block style: a plain `${...}` inside a flow mapping would clash with `{}`.
    const text = lines('tmpl: &u', '  host: "${HOST}"', '  port: ${PORT}', 'copies: [*u, *u]');
    expect(parseConfig(text, loose, { file: FILE, env })).toEqual({
      tmpl: { host: 'idp.example.org', port: 9443 },
      copies: [
        { host: 'idp.example.org', port: 9443 },
        { host: 'idp.example.org', port: 9443 },
      ],
    });
  });

  it('reports an unset variable with path, line and name, but never a value', () => {
    let thrown: unknown;
    try {
      parse(lines('server:', '  host: ${SECRET}', 'database:', '  url: "postgres://app:${SECRET}@${DB_HOST}/gh"'), { env });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigInvalidError);
    const { errors, message } = thrown as ConfigInvalidError;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: 'database.url', line: 4, column: 8 });
    expect(errors[0]?.message).toMatch(/DB_HOST/);
    expect(message).not.toContain(env.SECRET);
    expect(JSON.stringify(errors)).not.toContain(env.SECRET);
  });

  it('reports malformed references', () => {
    const errors = errorsOf(() => parse(lines('server:', '  host: ${bad-name}', '  banner: ${OPEN')));
    expect(errors.map((e) => [e.path, e.line])).toEqual([
      ['server.host', 2],
      ['server.banner', 3],
    ]);
  });

  it('substituteEnvString handles the corner cases', () => {
    expect(substituteEnvString('${A}', { A: 'x' })).toEqual({ text: 'x', soleReference: true, problems: [] });
    expect(substituteEnvString('$${A}', { A: 'x' })).toMatchObject({ text: '${A}', soleReference: false });
    expect(substituteEnvString('${A:-a:-b}', {})).toMatchObject({ text: 'a:-b', soleReference: true });
    // Inherited properties are not environment variables.
    expect(substituteEnvString('${constructor}', {}).problems).toHaveLength(1);
    expect(substituteEnvString('${A:-${B}}', {}).problems[0]).toMatch(/nested/);
  });
});

describe('file input limits', () => {
  it('refuses a file that is not UTF-8', async () => {
    const file = await writeTemp('latin1.yaml', Uint8Array.from([...Buffer.from('server:\n  host: caf'), 0xe9, 0x0a]));
    const errors = await errorsOfAsync(loadConfigFile(file, schema, {}));
    expect(errors).toEqual([{ file, path: '', message: 'file is not valid UTF-8' }]);
  });

  it('accepts a UTF-8 byte-order mark', async () => {
    const file = await writeTemp('bom.yaml', '\uFEFFserver:\n  host: café\n');
    expect((await loadConfigFile(file, schema, {})).server.host).toBe('café');
  });

  it('refuses an oversized file without parsing it', async () => {
    const file = await writeTemp('big.yaml', `server:\n  banner: "${'x'.repeat(4 * 1024 * 1024)}"\n`);
    const errors = await errorsOfAsync(loadConfigFile(file, schema, {}));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/too large/);

    const small = await writeTemp('small.yaml', 'server:\n  port: 1\n');
    expect((await errorsOfAsync(loadConfigFile(small, schema, {}, { maxBytes: 8 })))[0]?.message).toMatch(/too large/);
  });

  it('measures the parseConfig limit in UTF-8 bytes, not characters', () => {
    expect(parse('# 34567890', { maxBytes: 10 })).toMatchObject({ users: [] });
    // 8 characters, 14 bytes.
    const errors = errorsOf(() => parse('# éééééé', { maxBytes: 10 }));
    expect(errors).toEqual([{ file: FILE, path: '', message: 'file too large (14 bytes, over the 10-byte limit)' }]);
  });

  it('reports an unreadable file as ConfigInvalidError', async () => {
    const missing = join(dir, 'does-not-exist.yaml');
    const errors = await errorsOfAsync(loadConfigFile(missing, schema, {}));
    expect(errors[0]?.message).toMatch(/cannot read file.*ENOENT/);
    const errorsForDir = await errorsOfAsync(loadConfigFile(dir, schema, {}));
    expect(errorsForDir[0]?.message).toMatch(/cannot read file/);
  });

  it('reads environment from process.env by default', async () => {
    const file = await writeTemp('env.yaml', 'server:\n  port: ${GATEHOUSE_TEST_PORT}\n');
    process.env.GATEHOUSE_TEST_PORT = '7001';
    try {
      expect((await loadConfigFile(file, schema)).server.port).toBe(7001);
    } finally {
      delete process.env.GATEHOUSE_TEST_PORT;
    }
  });
});

describe('error formatting', () => {
  it('formats one error per line and omits unknown parts', () => {
    const text = formatConfigErrors([
      { file: 'a.yaml', path: 'server.port', line: 3, column: 9, message: 'expected number' },
      { file: 'a.yaml', path: 'x', line: 4, message: 'no column' },
      { file: 'a.yaml', path: '', message: 'file is not valid UTF-8' },
    ]);
    expect(text).toBe(
      ['a.yaml:3:9: server.port: expected number', 'a.yaml:4: x: no column', 'a.yaml: (root): file is not valid UTF-8'].join('\n'),
    );
  });

  it('uses the formatted errors as the exception message', () => {
    let thrown: unknown;
    try {
      parse('server:\n  port: x\nnope: 1\n');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigInvalidError);
    expect(thrown).toBeInstanceOf(Error);
    const error = thrown as ConfigInvalidError;
    expect(error.name).toBe('ConfigInvalidError');
    expect(error.message).toBe(formatConfigErrors(error.errors));
    expect(error.message.split('\n')).toEqual([
      `${FILE}:2:9: server.port: Invalid input: expected number, received string`,
      `${FILE}:3:1: nope: unknown key`,
    ]);
  });
});
