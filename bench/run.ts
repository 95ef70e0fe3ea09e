/**
 * The benchmark runner. Every `bench/*.bench.ts` exports `benchmarks: Benchmark[]`. Speeds are never
 * absolute (these machines are shared and noisy): each benchmark measures its subject and a
 * reference (a peer server, or the raw cost of the primitive underneath, such as one argon2id
 * hash) in the same run, interleaved in rounds, and reports the ratio of the medians.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Benchmark {
  name: string;
  /** What the subject is compared with, e.g. "one argon2id hash". */
  reference: string;
  /** Operations per batch. */
  batch: number;
  /** What the ratio should be at most, and that goal in words (e.g. "searches/s >= slapd"). */
  goal?: { maxRatio: number; text: string };
  setup(): Promise<void>;
  /** Runs `n` subject operations. */
  subject(n: number): Promise<void>;
  /** Runs `n` reference operations. */
  baseline(n: number): Promise<void>;
  teardown(): Promise<void>;
}

export interface BenchResult {
  name: string;
  reference: string;
  subjectMs: number;
  referenceMs: number;
  ratio: number;
  goal?: Benchmark['goal'];
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function measure(b: Benchmark): Promise<BenchResult> {
  await b.setup();
  try {
    // Warm-up: JIT, connection pools, the dummy hash.
    await b.subject(1);
    await b.baseline(1);
    const subject: number[] = [];
    const reference: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither side always runs on a warmer machine.
      if (round % 2) {
        reference.push((await timed(() => b.baseline(b.batch))) / b.batch);
        subject.push((await timed(() => b.subject(b.batch))) / b.batch);
      } else {
        subject.push((await timed(() => b.subject(b.batch))) / b.batch);
        reference.push((await timed(() => b.baseline(b.batch))) / b.batch);
      }
    }
    const subjectMs = median(subject);
    const referenceMs = median(reference);
    return { name: b.name, reference: b.reference, subjectMs, referenceMs, ratio: subjectMs / referenceMs, ...(b.goal ? { goal: b.goal } : {}) };
  } finally {
    await b.teardown();
  }
}

export function formatTable(results: BenchResult[]): string {
  const perSecond = (ms: number) => (1000 / ms).toFixed(ms < 1 ? 0 : 1);
  const rows = [
    ['benchmark', 'reference', 'ms/op', 'reference ms/op', 'ops/s', 'reference ops/s', 'ratio', 'goal'],
    ...results.map((r) => [
      r.name, r.reference, r.subjectMs.toFixed(r.subjectMs < 1 ? 4 : 2), r.referenceMs.toFixed(r.referenceMs < 1 ? 4 : 2), perSecond(r.subjectMs), perSecond(r.referenceMs), `${r.ratio.toFixed(2)}x`,
      r.goal ? `${r.goal.text} (ratio <= ${r.goal.maxRatio.toFixed(2)}): ${r.ratio <= r.goal.maxRatio ? 'met' : 'NOT met'}` : '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** Benchmark options (`--users 1000`) are read by the benchmarks themselves; the other arguments filter by name. */
function filtersOf(args: string[]): string[] {
  return args.filter((arg, i) => !arg.startsWith('--') && !args[i - 1]?.startsWith('--'));
}

export async function runBenchmarks(args: string[]): Promise<number> {
  const filters = filtersOf(args);
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort();
  const results: BenchResult[] = [];
  for (const file of files) {
    const { benchmarks } = (await import(pathToFileURL(join(dir, file)).href)) as { benchmarks: Benchmark[] };
    for (const b of benchmarks) {
      if (filters.length && !filters.some((f) => b.name.includes(f))) continue;
      process.stderr.write(`running ${b.name} ...\n`);
      results.push(await measure(b));
    }
  }
  process.stdout.write(`${formatTable(results)}\n\nratio = subject time per operation / reference time per operation, medians of ${ROUNDS} interleaved rounds in one run.\n`);
  return 0;
}
