/**
 * At most one argon2 computation per core at a time. argon2 runs on libuv's thread pool, which
 * bin/gatehouse.js sizes to one thread per core (at least 2): memory-hard hashes sharing a core
 * evict each other's 19 MiB from the caches, so more of them at once than there are cores costs
 * more CPU per hash and gains no time (on 2 cores, @node-rs/argon2 verified 192/s two at a time
 * and 183/s four at a time); and a pool with more threads than hashes running hands each hash to a
 * thread that was idle, which cost about a tenth of the rate (2 cores, two at a time: 198/s on a
 * pool of 2, 170/s on a pool of 4). File and DNS work queues behind a hash at most while every
 * slot is busy, as it always did on 4 cores and more. Extra requests wait their turn, in order.
 */
import { availableParallelism } from 'node:os';

const SLOTS = Math.max(1, availableParallelism());
let running = 0;
const waiting: Array<() => void> = [];

export async function withArgon2Slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= SLOTS) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await work();
  } finally {
    // Hand the slot straight to the next waiter (running stays the same), or free it.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}
