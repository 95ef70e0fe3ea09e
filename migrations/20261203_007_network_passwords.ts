/**
 * Network passwords (issue 14): a separate generated password per person, used only for
 * MS-CHAPv2 inside PEAP, which needs the password itself (its NT hash). Stored encrypted with the
 * keyring, one per person, gone with the person.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('network_passwords', (t) => {
    t.string('user_id', 36).primary().references('id').inTable('users').onDelete('CASCADE');
    t.text('password_encrypted').notNullable();
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('network_passwords');
}
