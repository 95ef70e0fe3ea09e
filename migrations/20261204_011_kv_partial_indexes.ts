/**
 * kv's subject and grp indexes keep only the rows that have one. They serve deleteTagged and
 * listTagged (a person's sessions and grants, a grant's tokens: `where subject = ?`, `where grp =
 * ?`), but every row was in both, and most rows have neither: the throttle's counters and the risk
 * memory, which a sign-in writes (and a good one deletes) each time. Each such write went into both
 * indexes for nothing. `subject = ?` implies `subject is not null`, so both stores still use them.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kv', (t) => {
    t.dropIndex(['subject']);
    t.dropIndex(['grp']);
  });
  await knex.schema.alterTable('kv', (t) => {
    t.index(['subject'], 'kv_subject_index', { predicate: knex.whereNotNull('subject') });
    t.index(['grp'], 'kv_grp_index', { predicate: knex.whereNotNull('grp') });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('kv', (t) => {
    t.dropIndex(['subject'], 'kv_subject_index');
    t.dropIndex(['grp'], 'kv_grp_index');
  });
  await knex.schema.alterTable('kv', (t) => {
    t.index(['subject']);
    t.index(['grp']);
  });
}
