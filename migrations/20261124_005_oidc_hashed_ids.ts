/**
 * OpenID Connect artifacts are now stored under a SHA-256 of their id, without the id in the value
 * (protocols/oidc/adapter.ts). The entries written before were keyed by the raw id — a refresh
 * token, a code, a session cookie in clear — so they are removed rather than left to expire (up to
 * a year for a refresh token): applications sign their users in again once, and nothing anyone
 * copied from the database before the upgrade can be redeemed.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex('kv').where('key', 'like', 'oidc:%').delete();
}

export async function down(): Promise<void> {
  // Nothing to restore: the removed entries were credentials that are no longer valid anyway.
}
