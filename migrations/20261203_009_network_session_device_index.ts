/**
 * An index on the device a network session's sign-in identified: deleting a device (and each
 * review of a device's compliance) looks up that device's live sessions to disconnect them
 * (src/network-sessions/service.ts). Without it each lookup read the whole table, which keeps
 * every session for the retention period: with a million rows, seconds per device deleted.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('network_sessions', (t) => {
    t.index(['device_id', 'live']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('network_sessions', (t) => {
    t.dropIndex(['device_id', 'live']);
  });
}
