import { describe, expect, it } from 'vitest';
import { Throttle } from '../../../src/authn/throttle.ts';
import type { Counter, TtlStore } from '../../../src/store/types.ts';

/** The throttle's arithmetic over an in-memory counter map (the store itself has its own conformance suite). */
function memoryTtl(): TtlStore & { stored: Map<string, Counter> } {
  const counters = new Map<string, Counter>();
  return {
    stored: counters,
    async increment(key: string) {
      const c = { count: (counters.get(key)?.count ?? 0) + 1, updatedAt: Date.now(), expiresAt: Date.now() + 3_600_000 };
      counters.set(key, c);
      return c;
    },
    async counter(key: string) {
      return counters.get(key);
    },
    async counters(keys: string[]) {
      return keys.map((key) => counters.get(key));
    },
    async delete(key: string) {
      return counters.delete(key);
    },
  } as unknown as TtlStore & { stored: Map<string, Counter> };
}

const config = { freeAttempts: 3, freeAttemptsPerIp: 10, baseDelaySeconds: 2, maxDelaySeconds: 60, windowSeconds: 3600, networks: [] };

describe('throttle', () => {
  it('doubles the delay after the free attempts, up to the cap', () => {
    const t = new Throttle(memoryTtl(), config);
    expect([0, 1, 2, 3, 4, 5, 6, 10, 1000].map((n) => t.delayMs(n, 3))).toEqual([0, 0, 0, 2000, 4000, 8000, 16000, 60000, 60000]);
  });

  it('blocks until the delay has passed, per user and per IP, and a success clears the user only', async () => {
    const ttl = memoryTtl();
    const t = new Throttle(ttl, config);
    const keys = { user: 'Alice', ip: '192.0.2.1' };
    for (let i = 0; i < 3; i++) await t.failure(keys);
    const now = Date.now();
    expect(await t.check(keys, now)).toEqual({ allowed: false, scope: 'user', retryAfterSeconds: 2 });
    expect(await t.check({ user: 'alice' }, now + 2001)).toEqual({ allowed: true, counters: { user: expect.objectContaining({ count: 3 }) } });
    const bob = await t.check({ user: 'bob', ip: '192.0.2.1' }, now);
    expect(bob).toEqual({ allowed: true, counters: { ip: expect.objectContaining({ count: 3 }) } });
    // With the counters a check read, a success with nothing to forgive writes nothing.
    await t.failure({ user: 'bob' });
    await t.success({ user: 'bob' }, bob.allowed ? bob.counters : undefined);
    expect(ttl.stored.get('throttle:user:bob')?.count).toBe(1);
    await t.success({ user: 'bob' });
    expect(ttl.stored.has('throttle:user:bob')).toBe(false);
    await t.success(keys);
    expect(ttl.stored.has('throttle:user:alice')).toBe(false);
    expect(ttl.stored.get('throttle:ip:192.0.2.1')?.count).toBe(3);
    for (let i = 0; i < 7; i++) await t.failure({ ip: '192.0.2.1' });
    expect(await t.check({ user: 'carol', ip: '192.0.2.1' }, Date.now())).toMatchObject({ allowed: false, scope: 'ip' });
  });

  it('owes no wait within the free allowance, even for a counter stamped after the check began', async () => {
    // A concurrent attempt (or another process) may touch the counter between `at` and the read.
    const t = new Throttle(memoryTtl(), config);
    await t.failure({ user: 'dora' });
    expect(await t.check({ user: 'dora' }, Date.now() - 5000)).toMatchObject({ allowed: true });
  });
});
