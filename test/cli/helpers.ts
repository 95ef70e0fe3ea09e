/**
 * Running the `gatehouse` command in tests: in-process through `main` (streams captured), or as the
 * real binary (`node bin/gatehouse.js`), against a fresh store with its own YAML configuration.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { createCore, type Core } from '../../src/core.ts';
import { createLogger } from '../../src/log.ts';
import { loadKeyring } from '../../src/secrets/keyring.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import type { Backend } from '../helpers/backends.ts';
import { FAST_ARGON2, TEST_SECRET_KEY } from '../helpers/server.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/gatehouse.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string | Readable;
  env?: Record<string, string | undefined>;
}

/** The environment commands see: nothing of the test runner's own GATEHOUSE_* settings. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('GATEHOUSE_')) env[key] = value;
  return { ...env, ...extra };
}

/** Runs `main` in-process, capturing what it prints. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const stdin = typeof options.stdin === 'string' ? Readable.from([options.stdin]) : (options.stdin ?? Readable.from([]));
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin,
    env: baseEnv(options.env),
  });
  return { code, stdout, stderr };
}

/** The configuration every CLI test starts from (fast argon2, silent logs, a free port). */
export function testYamlConfig(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { http: { host: '127.0.0.1', port: 0 } },
    ldap: { port: 0 },
    storage: { url },
    log: { level: 'silent' },
    passwords: { argon2: FAST_ARGON2 },
    secrets: { keys: [{ id: 't', key: TEST_SECRET_KEY }] },
    ...extra,
  };
}

export interface CliFixture {
  dir: string;
  configFile: string;
  url: string;
  /** Rewrites the configuration file (the base settings plus `extra` top-level sections). */
  writeConfig(extra?: Record<string, unknown>): void;
  /** `main(['-c', configFile, ...argv])`. */
  cli(argv: string[], options?: RunOptions): Promise<RunResult>;
  /** The core over the fixture's store, for checking what a command did. */
  withCore<T>(work: (core: Core, store: Store) => Promise<T>): Promise<T>;
  cleanup(): Promise<void>;
}

export async function cliFixture(backend: Backend): Promise<CliFixture> {
  const { url, drop } = await backend.create();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  const configFile = join(dir, 'gatehouse.yaml');
  const writeConfig = (extra: Record<string, unknown> = {}) => writeFileSync(configFile, stringify(testYamlConfig(url, extra)));
  writeConfig();
  return {
    dir,
    configFile,
    url,
    writeConfig,
    cli: (argv, options) => run(['-c', configFile, ...argv], options),
    async withCore(work) {
      const config = ConfigSchema.parse(testYamlConfig(url));
      const store = await openStore(url);
      try {
        return await work(createCore(config, store, loadKeyring(config.secrets), createLogger('silent')), store);
      } finally {
        await store.close();
      }
    },
    async cleanup() {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the real binary to completion. */
export function spawnCli(argv: string[], options: { env?: Record<string, string | undefined>; stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { cwd: ROOT, env: baseEnv(options.env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${argv.join(' ')} did not finish; stdout: ${stdout} stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` on stdout (waiting for it to be printed). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | string | null>;
}

/** Starts the real binary and leaves it running (`gatehouse start`). */
export function startCli(argv: string[], env: Record<string, string | undefined> = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...argv], { cwd: ROOT, env: baseEnv(env) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // The exit code, or the signal that ended the process (so a failed expectation of 0 names it).
  const exited = new Promise<number | string | null>((resolvePromise) => child.on('close', (code, signal) => resolvePromise(code ?? signal)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = stdout.match(pattern);
        if (match) return match;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} on stdout; stdout: ${stdout} stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Kills a server a test left running (SIGKILL) and waits for it to be gone; nothing if it exited already. */
export async function killIfRunning(server: RunningCli | undefined): Promise<void> {
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
}

/** Polls until `check` returns something other than undefined. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 100));
  }
}
