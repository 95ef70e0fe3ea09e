#!/usr/bin/env node
// Entry point of the `gatehouse` command. Gatehouse is TypeScript run by Node's own type stripping
// (Node >= 22.18 strips types by default; 22.14-22.17 need the flag, so we re-run with it).
//
// The version check comes first, and this file must parse and link on old Node releases so that it
// can say what is wrong: its only static import is the plain-JS check; everything else is imported
// after it (Node < 18.14 has no os.availableParallelism, so a static import of it would fail to link
// before any line ran), no top-level await (Node < 14.8) and no ?? or ?. (Node < 14).
import nodeVersion from './node-version.cjs';

async function run() {
  const { spawnSync } = await import('node:child_process');
  const { availableParallelism } = await import('node:os');

  // argon2 hashing runs on libuv's thread pool: size it to the cores before anything uses the pool.
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism()));

  if (!process.features.typescript) {
    const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exit(result.status === null ? 1 : result.status);
  }

  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}

const problem = nodeVersion.problem(process.versions.node);
if (problem) {
  console.error(problem);
  process.exit(1);
}
run().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
