/**
 * Audit events found by the request they came from: the reference a denial page shows a person is
 * the request id, and support looks the event up by it (GET /api/v1/audit?requestId=…).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.index(['request_id'], 'audit_events_request_id_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['request_id'], 'audit_events_request_id_index');
  });
}
