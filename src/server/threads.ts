/**
 * The event loop first: libuv's worker threads (the pool that hashes and verifies passwords, reads
 * files, resolves names) run at a higher nice value than the event loop's thread, so when every
 * core is busy hashing the event loop — which reads every socket, RADIUS datagrams included — still
 * gets its turn. Without it a flood of invalid RADIUS packets during password verifications filled
 * the socket's receive buffer, the kernel dropped legitimate requests with the flood, and the NASes
 * retransmitted seconds later (docs/performance.md, RADIUS). Linux only (elsewhere a process's
 * threads share one priority); raising a nice value needs no privilege.
 */
import { randomFill } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** libuv (1.45+) names its pool's threads so. */
const WORKER_NAME = 'libuv-worker';

/**
 * Gives libuv's worker threads the event loop's nice value plus `nice` (at most 19); the number of
 * threads set. The pool starts with its first job, so one is queued first.
 */
export async function deprioritizeWorkerThreads(nice: number): Promise<number> {
  if (nice <= 0 || process.platform !== 'linux') return 0;
  await new Promise<void>((resolve, reject) => randomFill(Buffer.alloc(1), (err) => (err ? reject(err) : resolve())));
  const target = Math.min(19, getPriority() + nice);
  let set = 0;
  for (const entry of readdirSync('/proc/self/task')) {
    const tid = Number(entry);
    let name: string;
    try {
      name = readFileSync(`/proc/self/task/${entry}/comm`, 'utf8').trim();
    } catch {
      continue; // a thread that just ended
    }
    if (name !== WORKER_NAME || tid === process.pid) continue;
    if (getPriority(tid) < target) setPriority(tid, target);
    set++;
  }
  return set;
}
