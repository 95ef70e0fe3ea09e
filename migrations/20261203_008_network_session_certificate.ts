/**
 * The device certificate an EAP-TLS network session signed in with (its serial, from the Class
 * attribute the NAS echoes in accounting: protocols/radius/device-class.ts), so that revoking that
 * certificate ends the session (a Disconnect-Request) and the device's sessions on another,
 * still valid certificate stay up. Null for sessions without a certificate, and for those recorded
 * before this migration.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('network_sessions', (t) => {
    t.string('certificate_serial', 64).nullable();
    t.index(['certificate_serial', 'live']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('network_sessions', (t) => {
    t.dropIndex(['certificate_serial', 'live']);
    t.dropColumn('certificate_serial');
  });
}
