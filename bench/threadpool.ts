/**
 * How the size of libuv's thread pool changes the argon2id verify rate when as many verifies run at
 * once as there are cores (what src/credentials/slots.ts allows): each pool size in its own process
 * (UV_THREADPOOL_SIZE must be set before the pool starts), interleaved, for a few seconds each;
 * verifies per second and CPU per verify (the process's, user + system). bin/gatehouse.js sizes the
 * pool to one thread per core because of what this shows (docs/performance.md, "Password hashing").
 *
 *   node bench/threadpool.ts [--seconds 4] [--rounds 3] [--sizes 2,3,4]
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { option } from './harness.ts';

const SECONDS = option('seconds', 4);
const ROUNDS = option('rounds', 3);
const sizesAt = process.argv.indexOf('--sizes');
const SIZES = (sizesAt > 0 ? process.argv[sizesAt + 1]! : '2,3,4').split(',').map(Number);
const AT_ONCE = availableParallelism();

// One child: a hash at the production parameters, then AT_ONCE loops of verifies for SECONDS.
const child = `
const { hash, verify } = await import('@node-rs/argon2');
const h = await hash('a password', { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 });
const cpu = process.cpuUsage(); const start = performance.now(); const end = start + ${SECONDS * 1000};
let n = 0;
await Promise.all(Array.from({ length: ${AT_ONCE} }, async () => { while (performance.now() < end) { if (!(await verify(h, 'a password'))) throw new Error('verify'); n++; } }));
const used = process.cpuUsage(cpu);
console.log(JSON.stringify({ perSecond: n / ((performance.now() - start) / 1000), cpuMs: (used.user + used.system) / 1000 / n, systemMs: used.system / 1000 / n }));
`;

const results = new Map<number, Array<{ perSecond: number; cpuMs: number; systemMs: number }>>(SIZES.map((s) => [s, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const size of round % 2 ? [...SIZES].reverse() : SIZES) {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, UV_THREADPOOL_SIZE: String(size) }, encoding: 'utf8' });
    results.get(size)!.push(JSON.parse(out));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`argon2id verifies (19 MiB, t=2), ${AT_ONCE} at once on ${availableParallelism()} cores, ${ROUNDS} rounds of ${SECONDS} s, medians:`);
console.log('| pool threads | verifies/s | CPU per verify | of which system |');
console.log('|---|---|---|---|');
for (const [size, runs] of results) {
  console.log(`| ${size} | ${median(runs.map((r) => r.perSecond)).toFixed(1)} | ${median(runs.map((r) => r.cpuMs)).toFixed(2)} ms | ${median(runs.map((r) => r.systemMs)).toFixed(2)} ms |`);
}
