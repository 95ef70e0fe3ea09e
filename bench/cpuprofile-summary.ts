/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, or `BENCH_CPU_PROFILE=<dir>` for the benchmarks'
 * Gatehouse): self time by function and by file, and total (inclusive) time of the project's own
 * functions, largest first.
 *
 *   node bench/cpuprofile-summary.ts <file.cpuprofile> [--top 40] [--filter <text in url or name>] [--from <function name>]
 *
 *     [--per <operations>]
 *
 * Each sample counts as one sampling interval (`--interval <µs>` if the profile was taken with
 * another `--cpu-prof-interval`) rather than the wall time since the previous one, which on a
 * loaded machine includes time spent waiting for a core. `--from receive` skips the samples before
 * the first one with that function on the stack (the start-up). Async functions' inclusive time
 * counts only the part before their first await. "By area" files each sample under the first of
 * a few areas (the store, UDP sends, the TLS engine, ...) that its innermost frames match;
 * `--per <n>` divides it by the operations the profile covers.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const file = process.argv[2];
if (!file) throw new Error('usage: node bench/cpuprofile-summary.ts <file.cpuprofile> [--top N] [--filter text]');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const TOP = Number(arg('top') ?? 40);
const FILTER = arg('filter');
const FROM = arg('from');
/** ms per sample: --cpu-prof-interval (µs, default 1000). */
const INTERVAL = Number(arg('interval') ?? 1000) / 1000;
const PER = arg('per') === undefined ? undefined : Number(arg('per'));
/** Areas, first match wins, frames tried innermost first. */
const AREAS: Array<[string, RegExp]> = [
  ['UDP sends', /doSend|node:dgram/],
  ['garbage collector', /^\(garbage collector\)/],
  ['the store (knex, better-sqlite3, pg, src/store)', /knex|better-sqlite3|tarn|node_modules\/pg|src\/store\//],
  ['the TLS engine', /js_stream_socket|tls\/wrap|_tls_|tls-session\.ts/],
  ['RADIUS codec and dictionary', /protocols\/radius\/(codec|dictionary)\.ts/],
  ['sign-in, access, audit, devices', /src\/(authn|access|audit|devices|core)/],
  ['the EAP handler', /protocols\/radius\/eap\//],
  ['the RADIUS server and the rest of protocols/', /protocols\//],
];
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const root = process.cwd();

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const where = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const short = url.startsWith(root) ? relative(root, url) : url.replace(/.*node_modules\//, 'node_modules/');
  return short || '(native)';
};
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n)}:${n.callFrame.lineNumber + 1}`;

const self = new Map<string, number>();
const byFile = new Map<string, number>();
const total = new Map<string, number>();
const areas = new Map<string, number>();
let all = 0;
let idle = 0;
let started = !FROM;
for (let i = 0; i < profile.samples.length; i++) {
  // One sample = one sampling interval of CPU: the time between samples also counts the time the
  // thread waited for a core (a loaded machine), which would blame whatever ran before.
  const dt = INTERVAL;
  const node = byId.get(profile.samples[i]!)!;
  const name = node.callFrame.functionName;
  if (!started) {
    for (let id: number | undefined = node.id; id !== undefined && !started; id = parent.get(id)) started = byId.get(id)!.callFrame.functionName === FROM;
    if (!started) continue;
  }
  if (name === '(idle)') {
    idle += dt;
    continue;
  }
  all += dt;
  const key = label(node);
  self.set(key, (self.get(key) ?? 0) + dt);
  byFile.set(where(node), (byFile.get(where(node)) ?? 0) + dt);
  let area = 'other';
  find: for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const frame = byId.get(id)!.callFrame;
    const text = `${frame.functionName} ${frame.url}`;
    for (const [name, pattern] of AREAS) {
      if (pattern.test(text)) {
        area = name;
        break find;
      }
    }
  }
  areas.set(area, (areas.get(area) ?? 0) + dt);
  // Inclusive time, each function once per sample.
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const k = label(byId.get(id)!);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + dt);
  }
}

const print = (title: string, m: Map<string, number>, keep: (k: string) => boolean = () => true) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].filter(([k]) => keep(k) && (!FILTER || k.includes(FILTER))).sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${v.toFixed(0).padStart(8)} ms ${((v / all) * 100).toFixed(1).padStart(5)}%  ${k}`);
  }
};
console.log(`${file}: ${all.toFixed(0)} ms busy, ${idle.toFixed(0)} ms idle, ${profile.samples.length} samples`);
print('Self time by function', self);
print('Self time by file', byFile);
print('Total time, the project\'s functions', total, (k) => !k.includes('node_modules') && !k.includes('node:') && /\.(ts|js):/.test(k));
console.log(`\nBy area${PER ? `, ms per operation over ${PER}` : ''}`);
for (const [k, v] of [...areas].sort((a, b) => b[1] - a[1])) {
  console.log(`${v.toFixed(0).padStart(8)} ms ${((v / all) * 100).toFixed(1).padStart(5)}%${PER ? `${(v / PER).toFixed(2).padStart(7)} ms/op` : ''}  ${k}`);
}
if (PER) console.log(`${all.toFixed(0).padStart(8)} ms        ${(all / PER).toFixed(2).padStart(7)} ms/op  all`);
