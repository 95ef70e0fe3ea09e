/**
 * Second factors (TOTP, recovery codes, WebAuthn credentials) and device trust (the device CA,
 * device certificates, device tokens for posture check-in).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('totp_factors', (t) => {
    t.string('user_id', 36).primary().references('id').inTable('users').onDelete('CASCADE');
    t.text('seed_encrypted').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('confirmed_at').nullable();
    // The last accepted time step: a code is never accepted twice (RFC 6238 §5.2).
    t.bigInteger('last_step').nullable();
  });
  await knex.schema.createTable('recovery_codes', (t) => {
    t.string('code_hash', 64).primary();
    t.string('user_id', 36).notNullable().references('id').inTable('users').onDelete('CASCADE').index();
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('webauthn_credentials', (t) => {
    t.string('id', 1400).primary(); // credential ID, base64url (up to 1023 bytes per WebAuthn L3)
    t.string('user_id', 36).notNullable().references('id').inTable('users').onDelete('CASCADE').index();
    t.string('name', 128).notNullable();
    t.text('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.text('transports').notNullable().defaultTo('[]');
    t.string('device_type', 16).notNullable();
    t.boolean('backed_up').notNullable().defaultTo(false);
    t.boolean('discoverable').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
  });
  await knex.schema.createTable('certificate_authorities', (t) => {
    t.string('name', 64).primary();
    t.text('certificate_pem').notNullable();
    t.text('key_encrypted').notNullable();
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('device_certificates', (t) => {
    t.string('serial', 64).primary();
    t.string('device_id', 36).notNullable().references('id').inTable('devices').onDelete('CASCADE').index();
    t.string('fingerprint', 64).notNullable().unique(); // SHA-256 of the DER certificate, hex
    t.string('subject', 512).notNullable();
    t.bigInteger('not_before').notNullable();
    t.bigInteger('not_after').notNullable();
    t.bigInteger('revoked_at').nullable();
    t.text('certificate_pem').notNullable();
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('device_tokens', (t) => {
    t.string('token_hash', 64).primary();
    t.string('device_id', 36).notNullable().references('id').inTable('devices').onDelete('CASCADE').index();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['device_tokens', 'device_certificates', 'certificate_authorities', 'webauthn_credentials', 'recovery_codes', 'totp_factors']) {
    await knex.schema.dropTableIfExists(table);
  }
}
