import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.ts';
import { sqlite } from '../helpers/backends.ts';
import { storeConformance } from './conformance.ts';

storeConformance(sqlite);

describe('SQLite connection settings', () => {
  it('uses WAL with the configured synchronous level, and reuses prepared statements', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-'));
    try {
      for (const [level, expected] of [['normal', 1], ['full', 2], [undefined, 1]] as const) {
        const store = await openStore(`sqlite:${join(dir, `${level}.db`)}`, level ? { sqliteSynchronous: level } : {});
        try {
          expect(await store.knex.raw('pragma journal_mode')).toEqual([{ journal_mode: 'wal' }]);
          expect(await store.knex.raw('pragma synchronous')).toEqual([{ synchronous: expected }]);
          await store.migrate();
          // The same parameterised query twice, with different values: the cached statement binds each time.
          await store.ttl.put('a', 1, 60);
          await store.ttl.put('b', 2, 60);
          expect([await store.ttl.get('a'), await store.ttl.get('b'), await store.ttl.get('c')]).toEqual([1, 2, undefined]);
        } finally {
          await store.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
