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

  /** Rolls back the migrations after `name`, then `name` itself. */
  async function undo(s: KnexStore, name: string): Promise<void> {
    const applied = async () => ((await s.knex.migrate.list())[0] as Array<{ name: string } | string>).map((m) => (typeof m === 'string' ? m : m.name));
    while ((await applied()).includes(name)) await s.knex.migrate.down();
  }

  /** The indexes of `table` a migration made (not the primary key's), by name, with their definitions in lower case. */
  async function indexes(s: KnexStore, table: string): Promise<Array<{ name: string; definition: string }>> {
    const found = backend.name === 'sqlite'
      ? ((await s.knex.raw("select name, sql as definition from sqlite_master where tbl_name = ? and type = 'index' and sql is not null", [table])) as Array<{ name: string; definition: string }>)
      : ((await s.knex.raw("select indexname as name, indexdef as definition from pg_indexes where tablename = ? and indexname <> ?", [table, `${table}_pkey`])) as { rows: Array<{ name: string; definition: string }> }).rows;
    return found.map((i) => ({ name: i.name, definition: i.definition.replaceAll('`', '').toLowerCase() })).sort((a, b) => a.name.localeCompare(b.name));
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

  it('20261203_008: network sessions recorded before keep their device, without a certificate; the column goes again on the way down', async () => {
    const s = await storeBefore('20261203_008_network_session_certificate');
    const id = '3f1c2b4a-0d9e-4f8a-9b7c-6d5e4f3a2b1c';
    const device = '11111111-2222-4333-8444-555555555555';
    await s.knex('network_sessions').insert({
      id, client: 'ap', nas_key: 'ap-1', acct_session_id: 'old-1', username: 'alice', device_id: device, live: true, started_at: Date.now(), updated_at: Date.now(), stale_at: Date.now() + 600_000,
    });
    await s.migrate();
    const before = await s.directory.networkSessions.get(id);
    expect(before).toMatchObject({ deviceId: device, live: true });
    expect(before).not.toHaveProperty('certificateSerial');
    expect((await s.directory.networkSessions.list({ certificateSerial: '0a1b' })).items).toEqual([]);
    await undo(s, '20261203_008_network_session_certificate');
    expect(await s.knex.schema.hasColumn('network_sessions', 'certificate_serial')).toBe(false);
    expect(await s.knex('network_sessions').where({ id }).first()).toMatchObject({ device_id: device });
  });

  it('20261203_009: a device\'s live sessions are found through an index, not by reading the table; gone again on the way down', async () => {
    const s = await storeBefore('20261203_009_network_session_device_index');
    const indexed = async () => (await indexes(s, 'network_sessions')).some((i) => i.name === 'network_sessions_device_id_live_index');
    expect(await indexed()).toBe(false);
    await s.migrate();
    expect(await indexed()).toBe(true);
    if (backend.name === 'sqlite') {
      const plan = (await s.knex.raw('explain query plan select id from network_sessions where device_id = ? and live = ?', ['d', 1])) as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join()).toMatch(/USING (COVERING )?INDEX network_sessions_device_id_live_index/);
    }
    await undo(s, '20261203_009_network_session_device_index');
    expect(await indexed()).toBe(false);
  });

  it('20261204_010: audit_events keeps the indexes its queries use (time, type, request_id) and drops outcome, actor_id and target_id; back on the way down', async () => {
    const s = await storeBefore('20261204_010_audit_indexes');
    const indexed = async () => (await indexes(s, 'audit_events')).map((i) => i.name);
    const before = ['audit_events_actor_id_index', 'audit_events_outcome_index', 'audit_events_request_id_index', 'audit_events_target_id_index', 'audit_events_time_index', 'audit_events_type_index'];
    expect(await indexed()).toEqual(before);
    await s.directory.audit.append({ time: new Date().toISOString(), type: 'authn.password', actor: { type: 'user', id: 'u1', name: 'alice' }, outcome: 'failure', reasons: [], details: {} });
    await s.migrate();
    expect(await indexed()).toEqual(['audit_events_request_id_index', 'audit_events_time_index', 'audit_events_type_index']);
    // The filters those indexes served still answer.
    expect((await s.directory.audit.query({ outcome: 'failure', user: 'alice' })).items).toHaveLength(1);
    await undo(s, '20261204_010_audit_indexes');
    expect(await indexed()).toEqual(before);
  });

  it('20261204_011: kv indexes subject and grp only where set, and the tagged reads still use them; whole again on the way down', async () => {
    const s = await storeBefore('20261204_011_kv_partial_indexes');
    const definitions = async () => (await indexes(s, 'kv')).map((i) => i.definition).filter((d) => /subject|grp/.test(d));
    expect((await definitions()).some((d) => d.includes('not null'))).toBe(false);
    await s.ttl.put('session:a', { n: 1 }, 600, { subject: 'u1', group: 'g1' });
    await s.ttl.put('throttle:x', { n: 2 }, 600);
    await s.migrate();
    const partial = await definitions();
    expect(partial).toHaveLength(2);
    for (const d of partial) expect(d).toMatch(/\(?(subject|grp)\)? is not null\)?$/);
    expect(await s.ttl.listTagged({ subject: 'u1' }, 'session:')).toHaveLength(1);
    if (backend.name === 'sqlite') {
      for (const [column, index] of [['subject', 'kv_subject_index'], ['grp', 'kv_grp_index']] as const) {
        const plan = (await s.knex.raw(`explain query plan select key from kv where ${column} = ? and expires_at > ?`, ['u1', 0])) as Array<{ detail: string }>;
        expect(plan.map((p) => p.detail).join()).toContain(`INDEX ${index}`);
      }
    }
    expect(await s.ttl.deleteTagged({ group: 'g1' })).toBe(1);
    expect(await s.ttl.get('throttle:x')).toEqual({ n: 2 });
    await undo(s, '20261204_011_kv_partial_indexes');
    expect((await definitions()).some((d) => d.includes('not null'))).toBe(false);
    expect(await definitions()).toHaveLength(2);
  });
});
