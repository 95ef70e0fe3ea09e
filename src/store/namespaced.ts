/**
 * A front-end's own corner of the TTL store: every key it uses is prefixed with its namespace, so
 * front-ends cannot read or overwrite each other's entries. Tags (subject, group) stay global on
 * purpose: revoking everything of a user (suspension) or of a grant reaches every namespace.
 */
import type { Counter, TtlEntry, TtlStore, TtlTags } from './types.ts';

const NAMESPACE = /^[a-z][a-z0-9-]{0,31}$/;

export function namespacedTtl(ttl: TtlStore, namespace: string): TtlStore {
  if (!NAMESPACE.test(namespace)) throw new RangeError(`namespace '${namespace}' must be 1-32 lower-case letters, digits or dashes`);
  const prefix = `${namespace}:`;
  const k = (key: string) => prefix + key;
  return {
    put: (key: string, value: unknown, ttlSeconds: number, tags?: TtlTags) => ttl.put(k(key), value, ttlSeconds, tags),
    get: <T>(key: string) => ttl.get<T>(k(key)),
    add: (key: string, value: unknown, ttlSeconds: number, tags?: TtlTags) => ttl.add(k(key), value, ttlSeconds, tags),
    consume: <T>(key: string) => ttl.consume<T>(k(key)),
    delete: (key: string) => ttl.delete(k(key)),
    deleteTagged: (tags: TtlTags) => ttl.deleteTagged(tags),
    listTagged: async <T>(tags: TtlTags, keyPrefix: string, limit?: number): Promise<Array<TtlEntry<T>>> =>
      (await ttl.listTagged<T>(tags, k(keyPrefix), limit)).map((e) => ({ ...e, key: e.key.slice(prefix.length) })),
    increment: (key: string, ttlSeconds: number): Promise<Counter> => ttl.increment(k(key), ttlSeconds),
    decrement: (key: string, undo?: { after: Counter; before?: Counter | undefined }) => ttl.decrement(k(key), undo),
    deleteAndDecrement: (deletes: readonly string[], decrements: ReadonlyArray<{ key: string; undo?: { after: Counter; before?: Counter | undefined } | undefined }>) =>
      ttl.deleteAndDecrement(deletes.map(k), decrements.map((d) => ({ ...d, key: k(d.key) }))),
    incrementAll: (keys: readonly string[], ttlSeconds: number) => ttl.incrementAll(keys.map(k), ttlSeconds),
    counter: (key: string) => ttl.counter(k(key)),
    counters: (keys: readonly string[]) => ttl.counters(keys.map(k)),
    sweep: () => ttl.sweep(),
  };
}
