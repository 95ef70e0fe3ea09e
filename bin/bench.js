#!/usr/bin/env node
// `npm run bench`: runs every benchmark under bench/ and prints one table of ratios.
import { availableParallelism } from 'node:os';

// As bin/gatehouse.js: one pool thread per core, so the raw argon2 verify references run at their best.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(2, availableParallelism()));
if (!process.features.typescript) {
  console.error('npm run bench needs Node >= 22.18 (type stripping)');
  process.exit(1);
}
const { runBenchmarks } = await import('../bench/run.ts');
process.exitCode = await runBenchmarks(process.argv.slice(2));
