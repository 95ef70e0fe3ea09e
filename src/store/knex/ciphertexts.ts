/**
 * Every ciphertext of the secrets keyring over knex, for key rotation: read in pages in primary-key
 * order (a large directory is never loaded at once), replaced one row at a time by a conditional
 * UPDATE that matches the old ciphertext, so a concurrent change (a re-enrolment, a new secret)
 * always wins and nothing else of the row changes. Nothing here is on a sign-in's path.
 *
 * A RADIUS client keeps its ciphertext inside the object's JSON (`data`): its swap matches the whole
 * stored text, and leaves the version alone, since the object itself did not change (an admin's
 * If-Match stays valid).
 */
import type { Ciphertexts, Page, StoredCiphertext, StoredSecretKind, TransientCiphertexts } from '../types.ts';
import { decodeCursor, encodeCursor, mapDriverError, now, type Db } from './sql.ts';

interface Source {
  table: string;
  /** The primary key. */
  ref: string;
  /** The column holding the ciphertext (absent: inside the JSON in `data`, field secretEncrypted). */
  column?: string;
  where?: Record<string, string>;
  /** The column naming the row for an operator; 'username': the users table's (the row belongs to a user). */
  name: string;
}

const SOURCES: Record<StoredSecretKind, Source> = {
  'totp-seed': { table: 'totp_factors', ref: 'user_id', column: 'seed_encrypted', name: 'username' },
  'network-password': { table: 'network_passwords', ref: 'user_id', column: 'password_encrypted', name: 'username' },
  'radius-client-secret': { table: 'radius_clients', ref: 'id', name: 'name' },
  'signing-key': { table: 'signing_keys', ref: 'kid', column: 'private_encrypted', where: { use: 'sig' }, name: 'kid' },
  'cookie-key': { table: 'signing_keys', ref: 'kid', column: 'private_encrypted', where: { use: 'cookie' }, name: 'kid' },
  'ca-key': { table: 'certificate_authorities', ref: 'name', column: 'key_encrypted', name: 'name' },
};

/** A keyring ciphertext as it appears in a stored JSON value (a string of its own). */
const CIPHERTEXT_IN_JSON = /"(v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{38,})"/g;

export class KnexCiphertexts implements Ciphertexts {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async page(kind: StoredSecretKind, after: string | undefined, limit: number): Promise<Page<StoredCiphertext>> {
    const source = SOURCES[kind];
    return this.guard(async () => {
      const t = source.table;
      const q = this.db(t).orderBy(`${t}.${source.ref}`).limit(limit + 1).select({ ref: `${t}.${source.ref}` });
      if (source.where) for (const [column, value] of Object.entries(source.where)) q.where(`${t}.${column}`, value);
      if (after !== undefined) q.where(`${t}.${source.ref}`, '>', String(decodeCursor(after, 1)[0]));
      if (source.name === 'username') q.join('users', 'users.id', `${t}.${source.ref}`).select({ name: 'users.username' });
      else q.select({ name: `${t}.${source.name}` });
      q.select(source.column ? { ciphertext: `${t}.${source.column}` } : { data: `${t}.data` });
      const rows: Array<{ ref: string; name: string; ciphertext?: string; data?: string }> = await q;
      const items = rows.slice(0, limit).map((row) => ({ ref: row.ref, name: row.name, ciphertext: row.ciphertext ?? secretInData(row.data) }));
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      return last ? { items, next: encodeCursor([last.ref]) } : { items };
    });
  }

  async swap(kind: StoredSecretKind, ref: string, expected: string, next: string): Promise<boolean> {
    const source = SOURCES[kind];
    return this.guard(async () => {
      const row = this.db(source.table).where(source.ref, ref);
      if (source.where) row.where(source.where);
      if (source.column) return (await row.where(source.column, expected).update({ [source.column]: next })) === 1;
      const current: { data: string } | undefined = await row.clone().first('data');
      if (!current || secretInData(current.data) !== expected) return false;
      const data = JSON.stringify({ ...(JSON.parse(current.data) as Record<string, unknown>), secretEncrypted: next });
      return (await row.where('data', current.data).update({ data })) === 1;
    });
  }

  async transient(after: string | undefined, limit: number): Promise<Page<TransientCiphertexts>> {
    return this.guard(async () => {
      // A ciphertext in a JSON value starts with "v1. (LIKE: '.' is no wildcard; SQLite ignores case, the regex below does not).
      const q = this.db('kv').where('expires_at', '>', now()).andWhere('value', 'like', '%"v1.%').orderBy('key').limit(limit + 1).select('key', 'value', 'expires_at');
      if (after !== undefined) q.where('key', '>', String(decodeCursor(after, 1)[0]));
      const rows: Array<{ key: string; value: string; expires_at: number | string }> = await q;
      const items = rows
        .slice(0, limit)
        .map((row) => ({ key: row.key, ciphertexts: [...row.value.matchAll(CIPHERTEXT_IN_JSON)].map((m) => m[1]!), expiresAt: Number(row.expires_at) }))
        .filter((entry) => entry.ciphertexts.length > 0);
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      return last ? { items, next: encodeCursor([last.key]) } : { items };
    });
  }

  private async guard<R>(work: () => PromiseLike<R>): Promise<R> {
    try {
      return await work();
    } catch (err) {
      throw mapDriverError(err, 'secret');
    }
  }
}

/** The RADIUS client's shared secret ciphertext in its stored JSON ('' when there is none: reported as malformed). */
function secretInData(data: string | undefined): string {
  try {
    const value = (JSON.parse(data ?? '{}') as { secretEncrypted?: unknown }).secretEncrypted;
    return typeof value === 'string' ? value : '';
  } catch {
    return '';
  }
}
