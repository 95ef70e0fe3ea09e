/**
 * Network sessions: what RADIUS accounting (RFC 2866) reports about a person's VPN or WiFi session,
 * one row per session, and the Disconnect / CoA work (RFC 5176) queued against it. The queue lives
 * in the row so that a change made in any Gatehouse process (a suspension, an admin ending the
 * session) is carried out by whichever process runs the RADIUS front-end: it claims the row with a
 * conditional update, so exactly one process sends.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('network_sessions', (t) => {
    t.string('id', 36).primary();
    // The session's key (RFC 2866 §5.5: Acct-Session-Id is unique per NAS): the RADIUS client, the
    // NAS within it (NAS-Identifier, else NAS-IP-Address, else ''), and the session id.
    t.string('client', 128).notNullable();
    t.string('nas_key', 256).notNullable();
    t.string('acct_session_id', 256).notNullable();
    t.unique(['client', 'nas_key', 'acct_session_id']);
    t.string('nas_identifier', 256).nullable();
    t.string('nas_ip_address', 64).nullable();
    t.string('acct_multi_session_id', 256).nullable();
    t.string('username', 256).notNullable();
    // The person User-Name named when the record was made; kept (not a foreign key) after a deletion.
    t.string('user_id', 36).nullable().index();
    t.string('device_id', 36).nullable();
    t.bigInteger('nas_port').nullable();
    t.string('nas_port_id', 256).nullable();
    t.string('framed_ip_address', 64).nullable();
    t.string('calling_station_id', 256).nullable();
    t.string('called_station_id', 256).nullable();
    t.bigInteger('input_octets').notNullable().defaultTo(0);
    t.bigInteger('output_octets').notNullable().defaultTo(0);
    t.bigInteger('input_packets').notNullable().defaultTo(0);
    t.bigInteger('output_packets').notNullable().defaultTo(0);
    t.bigInteger('session_time').notNullable().defaultTo(0);
    t.bigInteger('started_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('stopped_at').nullable();
    t.string('terminate_cause', 64).nullable();
    t.boolean('live').notNullable();
    // A live session with no accounting after this is closed by the sweep (stale).
    t.bigInteger('stale_at').nullable();
    // Disconnect / CoA work: null (none), pending, sending (claimed), acked, nak, timeout, failed.
    t.string('disconnect_state', 16).nullable();
    t.string('disconnect_reason', 64).nullable();
    t.string('disconnect_requested_by', 256).nullable();
    t.bigInteger('disconnect_requested_at').nullable();
    t.string('disconnect_owner', 64).nullable();
    t.bigInteger('disconnect_lease_until').nullable();
    t.integer('disconnect_attempts').notNullable().defaultTo(0);
    t.bigInteger('disconnect_completed_at').nullable();
    t.string('disconnect_detail', 256).nullable();
    t.index(['live', 'client']);
    t.index(['live', 'stale_at']);
    t.index(['disconnect_state']);
    t.index(['started_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('network_sessions');
}
