/**
 * server.workerThreadsNice (src/server/threads.ts): libuv's worker threads run nicer than the event
 * loop's thread. Checked in a node process of its own (a nice value cannot be lowered again without
 * privilege, so the test's own threads are left alone): the workers' nice values from
 * /proc/<pid>/task, the event loop's unchanged.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const THREADS = fileURLToPath(new URL('../../src/server/threads.ts', import.meta.url));

/** Runs deprioritizeWorkerThreads(nice) in a fresh node and reports every thread's name and nice value. */
function runWith(nice: number): { set: number; main: number; workers: number[]; others: number[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { getPriority } from 'node:os';
    const { deprioritizeWorkerThreads } = await import(${JSON.stringify(THREADS)});
    const set = await deprioritizeWorkerThreads(${nice});
    const threads = readdirSync('/proc/self/task').map((t) => ({ tid: Number(t), name: readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() }));
    const nices = (f) => threads.filter(f).map((t) => getPriority(t.tid));
    console.log(JSON.stringify({ set, main: getPriority(), workers: nices((t) => t.name === 'libuv-worker'), others: nices((t) => t.name !== 'libuv-worker' && t.tid !== process.pid) }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '3' } }));
}

describe.runIf(existsSync('/proc/self/task') && process.platform === 'linux')('worker threads nicer than the event loop', () => {
  it('libuv workers get the event loop\'s nice value plus workerThreadsNice; the event loop and the other threads keep theirs', () => {
    const { set, main, workers, others } = runWith(5);
    expect(set).toBe(3);
    expect(workers).toEqual([main + 5, main + 5, main + 5].map((n) => Math.min(19, n)));
    expect(others.every((n) => n === main)).toBe(true);
  });

  it('0 leaves every thread alone', () => {
    const { set, main, workers } = runWith(0);
    expect(set).toBe(0);
    expect(workers.every((n) => n === main)).toBe(true);
  });
});
