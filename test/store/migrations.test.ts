/**
 * Migrations that change data, on both stores: each starts from the schema before it, with rows as
 * the earlier version wrote them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { openStore, type KnexStore } from '../../src/store/open.ts';
import { backends } from '../helpers/backends.ts';

describe.each(backends)('data migrations ($name)', (backend) => {
  let store: KnexStore | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await store?.close();
    await drop?.();
  });

  /** A store migrated up to, not including, migration `name`. */
  async function storeBefore(name: string): Promise<KnexStore> {
    const created = await backend.create();
    drop = created.drop;
    store = await openStore(created.url);
    const index = migrations.findIndex((m) => m.name === name);
    expect(index).toBeGreaterThan(0);
    for (let i = 0; i < index; i++) await store.knex.migrate.up();
    return store;
  }

  it('20261124_005: removes the OpenID Connect entries keyed by raw ids, and nothing else', async () => {
    const s = await storeBefore('20261124_005_oidc_hashed_ids');
    await s.ttl.put('oidc:RefreshToken:raw-refresh-token', { p: { jti: 'raw-refresh-token' } }, 600, { group: 'grant-1' });
    await s.ttl.put('oidc:SessionUid:raw-uid', 'raw-session-id', 600);
    await s.ttl.put('session:handle', { userId: 'u' }, 600);
    await s.ttl.put('web:csrf', 1, 600);
    await s.migrate();
    const keys = ((await s.knex('kv').select('key')) as Array<{ key: string }>).map((r) => r.key).sort();
    expect(keys).toEqual(['session:handle', 'web:csrf']);
  });
});
