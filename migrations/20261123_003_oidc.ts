/**
 * The OpenID Connect provider's signing keys (and the keys that sign HTTP cookies), generated on the
 * first start and rotated with `gatehouse keys rotate`. Everything else the provider keeps (codes,
 * tokens, grants, sessions) lives in the TTL store.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('signing_keys', (t) => {
    t.string('kid', 128).primary();
    t.string('use', 16).notNullable(); // 'sig' (JWS) or 'cookie'
    t.string('alg', 16).notNullable();
    t.integer('generation').notNullable();
    t.text('public_jwk').nullable();
    t.text('private_encrypted').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('retires_at').nullable();
    // One key per use and algorithm in each generation: of processes creating one at once, one wins.
    t.unique(['use', 'alg', 'generation']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('signing_keys');
}
