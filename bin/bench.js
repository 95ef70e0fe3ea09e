#!/usr/bin/env node
// `npm run bench`: runs every benchmark under bench/ and prints one table of ratios.
import { availableParallelism } from 'node:os';

if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(4, availableParallelism()));
if (!process.features.typescript) {
  console.error('npm run bench needs Node >= 22.18 (type stripping)');
  process.exit(1);
}
const { runBenchmarks } = await import('../bench/run.ts');
process.exitCode = await runBenchmarks(process.argv.slice(2));
