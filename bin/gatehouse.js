#!/usr/bin/env node
// Entry point of the `gatehouse` command. Gatehouse is TypeScript run by Node's own type stripping
// (Node >= 22.18 strips types by default; 22.14-22.17 need the flag, so we re-run with it).
// argon2 hashing runs on libuv's thread pool: size it to the cores before anything uses the pool.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism()));

if (!process.features.typescript) {
  const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
