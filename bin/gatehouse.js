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

  // argon2 hashing runs on libuv's thread pool, at most one hash per core (src/credentials/slots.ts):
  // one thread per core, set before anything uses the pool. A pool larger than the hashes running
  // at once hands each hash to a thread that has been idle, and costs about a tenth of the hashing
  // rate (2 cores: 198 verifies/s on 2 threads, 170 on 4; docs/performance.md).
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(2, availableParallelism()));

  if (!process.features.typescript) {
    const result = spawnSync(process.execPath, ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
    process.exit(result.status === null ? 1 : result.status);
  }

  // Node's on-disk compile cache (in the system's temporary folder unless NODE_COMPILE_CACHE names
  // one) keeps the compiled code of every module, our stripped TypeScript included: a command then
  // starts in a fraction of the time. Entries are checked against the source, so an edit is never
  // served stale; a cache that cannot be written (a read-only file system) is skipped silently.
  const { default: module } = await import('node:module');
  if (module.enableCompileCache) module.enableCompileCache();

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
