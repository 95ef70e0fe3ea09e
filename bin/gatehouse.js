#!/usr/bin/env node
// Entry point of the `gatehouse` command. Gatehouse is TypeScript run by Node's own type stripping
// (Node >= 22.18 strips types by default; 22.14-22.17 need the flag, so we re-run with it).
// argon2 hashing runs on libuv's thread pool: size it to the cores before anything uses the pool.
import { spawnSync } from 'node:child_process';
import module from 'node:module';
import { availableParallelism } from 'node:os';

if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism()));

if (!process.features.typescript) {
  const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

// Node's on-disk compile cache (in the system's temporary folder unless NODE_COMPILE_CACHE names
// one) keeps the compiled code of every module, our stripped TypeScript included: a command then
// starts in a fraction of the time. Entries are checked against the source, so an edit is never
// served stale; a cache that cannot be written (a read-only file system) is skipped silently.
module.enableCompileCache?.();

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
