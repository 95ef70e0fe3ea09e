/**
 * Three of audit_events' indexes go: outcome, actor_id and target_id. Every event a sign-in appends
 * wrote all six of its secondary indexes, and none of these three served a query:
 * - outcome has three values: a filter on it reads events newest first (the primary key) and
 *   keeps the matches, which is what an index of three values would have led to as well, with a
 *   sort besides;
 * - the `user` filter asks for actor or target, by id or by name (src/store/knex/directory.ts):
 *   an OR with terms no index covers (the names) is answered by reading the table in id order
 *   whatever indexes the ids have, and nothing else filters on the ids alone.
 * What stays: time (retention, the directory watches' windows), type, request_id.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['outcome']);
    t.dropIndex(['actor_id']);
    t.dropIndex(['target_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.index(['outcome']);
    t.index(['actor_id']);
    t.index(['target_id']);
  });
}
