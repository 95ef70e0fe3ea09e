/**
 * At most one argon2 computation per core at a time. argon2 runs on libuv's thread pool, which
 * bin/gatehouse.js sizes to at least 4 threads so that file and DNS work never waits behind a
 * hash; but memory-hard hashes sharing a core evict each other's 19 MiB from the caches, so more
 * of them at once than there are cores costs more CPU per hash and gains no time (on 2 cores,
 * @node-rs/argon2 verified 192/s two at a time and 183/s four at a time). Extra requests wait
 * their turn, in order.
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
