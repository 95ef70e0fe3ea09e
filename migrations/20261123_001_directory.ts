/**
 * The directory, the TTL store and the audit log. Portable across SQLite and PostgreSQL: JSON is
 * stored as text, times as milliseconds since the epoch (bigint).
 */
import type { Knex } from 'knex';

/** The columns every directory object has; the object itself lives in `data` (JSON). */
function objectTable(t: Knex.CreateTableBuilder, keyColumn: string, keyUnique: boolean): void {
  t.string('id', 36).primary();
  t.string(keyColumn, 256).notNullable();
  if (keyUnique) t.unique([keyColumn]);
  else t.index([keyColumn]);
  t.text('data').notNullable();
  t.string('managed_by', 16).notNullable().defaultTo('api');
  t.integer('version').notNullable().defaultTo(1);
  t.bigInteger('created_at').notNullable();
  t.bigInteger('updated_at').notNullable();
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    objectTable(t, 'username', true);
    t.string('email', 254).nullable().unique();
    t.string('status', 16).notNullable().index();
    t.integer('uid_number').nullable().unique();
  });
  await knex.schema.createTable('groups', (t) => {
    objectTable(t, 'name', true);
    t.integer('gid_number').nullable().unique();
  });
  await knex.schema.createTable('applications', (t) => objectTable(t, 'name', true));
  await knex.schema.createTable('radius_clients', (t) => objectTable(t, 'name', true));
  await knex.schema.createTable('networks', (t) => objectTable(t, 'name', true));
  await knex.schema.createTable('devices', (t) => {
    objectTable(t, 'name', false);
    t.string('serial', 128).nullable().index();
  });
  await knex.schema.createTable('policies', (t) => objectTable(t, 'name', true));
  await knex.schema.createTable('api_keys', (t) => {
    objectTable(t, 'name', true);
    t.string('secret_hash', 64).notNullable().unique();
  });

  await knex.schema.createTable('memberships', (t) => {
    t.string('group_id', 36).notNullable().references('id').inTable('groups').onDelete('CASCADE');
    t.string('member_kind', 8).notNullable();
    t.string('member_id', 36).notNullable();
    t.string('managed_by', 16).notNullable().defaultTo('api');
    t.primary(['group_id', 'member_kind', 'member_id']);
    t.index(['member_id']);
  });
  // Groups assigned to a resource (application or RADIUS client): least privilege.
  await knex.schema.createTable('assignments', (t) => {
    t.string('resource_id', 36).notNullable();
    t.string('group_id', 36).notNullable().references('id').inTable('groups').onDelete('CASCADE');
    t.primary(['resource_id', 'group_id']);
    t.index(['group_id']);
  });
  await knex.schema.createTable('device_owners', (t) => {
    t.string('device_id', 36).notNullable().references('id').inTable('devices').onDelete('CASCADE');
    t.string('user_id', 36).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.primary(['device_id', 'user_id']);
    t.index(['user_id']);
  });
  await knex.schema.createTable('passwords', (t) => {
    t.string('user_id', 36).primary().references('id').inTable('users').onDelete('CASCADE');
    t.text('hash').notNullable();
    t.text('history').notNullable().defaultTo('[]');
    // Fingerprint of the config declaration an imported hash came from (reconciliation), else null.
    t.string('source', 64).nullable();
    t.bigInteger('changed_at').notNullable();
  });

  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('time').notNullable().index();
    t.string('type', 64).notNullable().index();
    t.string('actor_type', 16).notNullable();
    t.string('actor_id', 64).nullable().index();
    t.string('actor_name', 256).nullable();
    t.string('target_type', 32).nullable();
    t.string('target_id', 64).nullable().index();
    t.string('target_name', 256).nullable();
    t.string('source_ip', 64).nullable();
    t.string('protocol', 16).nullable();
    t.string('outcome', 16).notNullable().index();
    t.text('reasons').notNullable();
    t.text('details').notNullable();
    t.string('request_id', 64).nullable();
  });

  await knex.schema.createTable('kv', (t) => {
    t.string('key', 512).primary();
    t.text('value').nullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.string('subject', 64).nullable().index();
    t.string('grp', 256).nullable().index();
    t.bigInteger('expires_at').notNullable().index();
    t.bigInteger('updated_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['kv', 'audit_events', 'passwords', 'device_owners', 'assignments', 'memberships', 'api_keys', 'policies', 'devices', 'networks', 'radius_clients', 'applications', 'groups', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
