/** Second factors over knex: TOTP, recovery codes, WebAuthn credentials. */
import { AlreadyExistsError, NotFoundError } from '../errors.ts';
import type { Factors, NetworkPasswordRecord, TotpRecord, WebAuthnCredentialRecord } from '../types.ts';
import { iso, mapDriverError, now, rowsOf, type Db } from './sql.ts';

interface TotpRow {
  user_id: string;
  seed_encrypted: string;
  created_at: number;
  confirmed_at: number | null;
  last_step: number | null;
}

interface WebAuthnRow {
  id: string;
  user_id: string;
  name: string;
  public_key: string;
  counter: number;
  transports: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean | number;
  discoverable: boolean | number;
  created_at: number;
  last_used_at: number | null;
}

export class KnexFactors implements Factors {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async getTotp(userId: string): Promise<TotpRecord | undefined> {
    const row: TotpRow | undefined = await this.guard(() => this.db('totp_factors').where({ user_id: userId }).first());
    if (!row) return undefined;
    return {
      userId: row.user_id,
      seedEncrypted: row.seed_encrypted,
      createdAt: iso(row.created_at)!,
      ...(row.confirmed_at !== null ? { confirmedAt: iso(row.confirmed_at)! } : {}),
      ...(row.last_step !== null ? { lastStep: Number(row.last_step) } : {}),
    };
  }

  async putTotp(userId: string, seedEncrypted: string): Promise<boolean> {
    return this.guard(async () => {
      if (!(await this.db('users').where({ id: userId }).first('id'))) throw new NotFoundError('user', userId);
      // One statement: an enrolment racing a confirmation can never turn an active factor back to pending.
      const result = await this.db.raw(
        `insert into totp_factors (user_id, seed_encrypted, created_at, confirmed_at, last_step) values (?, ?, ?, null, null)
         on conflict (user_id) do update set seed_encrypted = excluded.seed_encrypted, created_at = excluded.created_at, last_step = null
         where totp_factors.confirmed_at is null
         returning user_id`,
        [userId, seedEncrypted, now()],
      );
      return rowsOf(result).length === 1;
    });
  }

  async rotateTotpSeed(userId: string, expected: string, next: string): Promise<boolean> {
    return this.guard(async () => (await this.db('totp_factors').where({ user_id: userId, seed_encrypted: expected }).update({ seed_encrypted: next })) === 1);
  }

  async confirmTotp(userId: string, step: number): Promise<boolean> {
    return this.guard(async () => (await this.db('totp_factors').where({ user_id: userId }).whereNull('confirmed_at').update({ confirmed_at: now(), last_step: step })) === 1);
  }

  async useTotpStep(userId: string, step: number): Promise<boolean> {
    // One conditional UPDATE: the database decides which of two concurrent uses wins.
    return this.guard(async () =>
      (await this.db('totp_factors')
        .where({ user_id: userId })
        .whereNotNull('confirmed_at')
        .andWhere((w) => w.whereNull('last_step').orWhere('last_step', '<', step))
        .update({ last_step: step })) === 1,
    );
  }

  async deleteTotp(userId: string): Promise<boolean> {
    return this.guard(async () => (await this.db('totp_factors').where({ user_id: userId }).delete()) > 0);
  }

  async setRecoveryCodes(userId: string, hashes: string[]): Promise<void> {
    await this.guard(async () => {
      const work = async (db: Db) => {
        if (!(await db('users').where({ id: userId }).first('id'))) throw new NotFoundError('user', userId);
        await db('recovery_codes').where({ user_id: userId }).delete();
        if (hashes.length) await db('recovery_codes').insert(hashes.map((h) => ({ code_hash: h, user_id: userId, created_at: now() })));
      };
      return this.db.isTransaction ? work(this.db) : this.db.transaction((trx) => work(trx));
    });
  }

  async useRecoveryCode(userId: string, hash: string): Promise<boolean> {
    return this.guard(async () => (await this.db('recovery_codes').where({ user_id: userId, code_hash: hash }).delete()) === 1);
  }

  async countRecoveryCodes(userId: string): Promise<number> {
    return this.guard(async () => Number(((await this.db('recovery_codes').where({ user_id: userId }).count({ n: '*' })) as Array<{ n: number | string }>)[0]?.n ?? 0));
  }

  async listWebAuthn(userId: string): Promise<WebAuthnCredentialRecord[]> {
    const rows: WebAuthnRow[] = await this.guard(() => this.db('webauthn_credentials').where({ user_id: userId }).orderBy('created_at'));
    return rows.map(toWebAuthn);
  }

  async getWebAuthn(credentialId: string): Promise<WebAuthnCredentialRecord | undefined> {
    const row: WebAuthnRow | undefined = await this.guard(() => this.db('webauthn_credentials').where({ id: credentialId }).first());
    return row ? toWebAuthn(row) : undefined;
  }

  async addWebAuthn(record: Omit<WebAuthnCredentialRecord, 'createdAt' | 'lastUsedAt'>): Promise<WebAuthnCredentialRecord> {
    return this.guard(async () => {
      if (!(await this.db('users').where({ id: record.userId }).first('id'))) throw new NotFoundError('user', record.userId);
      try {
        await this.db('webauthn_credentials').insert({
          id: record.id, user_id: record.userId, name: record.name, public_key: record.publicKey, counter: record.counter,
          transports: JSON.stringify(record.transports), device_type: record.deviceType, backed_up: record.backedUp, discoverable: record.discoverable, created_at: now(),
        });
      } catch (err) {
        const mapped = mapDriverError(err, 'WebAuthn credential');
        if (mapped instanceof AlreadyExistsError) throw new AlreadyExistsError('WebAuthn credential', record.id, 'this authenticator is registered already');
        throw mapped;
      }
      return (await this.getWebAuthn(record.id))!;
    });
  }

  async useWebAuthn(credentialId: string, expected: number, next: number): Promise<boolean> {
    return this.guard(async () => (await this.db('webauthn_credentials').where({ id: credentialId, counter: expected }).update({ counter: next, last_used_at: now() })) === 1);
  }

  async renameWebAuthn(credentialId: string, name: string): Promise<boolean> {
    return this.guard(async () => (await this.db('webauthn_credentials').where({ id: credentialId }).update({ name })) === 1);
  }

  async deleteWebAuthn(credentialId: string): Promise<boolean> {
    return this.guard(async () => (await this.db('webauthn_credentials').where({ id: credentialId }).delete()) === 1);
  }

  async getNetworkPassword(userId: string): Promise<NetworkPasswordRecord | undefined> {
    const row: { user_id: string; password_encrypted: string; created_at: number } | undefined = await this.guard(() => this.db('network_passwords').where({ user_id: userId }).first());
    return row ? { userId: row.user_id, passwordEncrypted: row.password_encrypted, createdAt: iso(row.created_at)! } : undefined;
  }

  async setNetworkPassword(userId: string, passwordEncrypted: string): Promise<NetworkPasswordRecord> {
    return this.guard(async () => {
      if (!(await this.db('users').where({ id: userId }).first('id'))) throw new NotFoundError('user', userId);
      const at = now();
      await this.db('network_passwords').insert({ user_id: userId, password_encrypted: passwordEncrypted, created_at: at }).onConflict('user_id').merge(['password_encrypted', 'created_at']);
      return { userId, passwordEncrypted, createdAt: iso(at)! };
    });
  }

  async deleteNetworkPassword(userId: string): Promise<boolean> {
    return this.guard(async () => (await this.db('network_passwords').where({ user_id: userId }).delete()) > 0);
  }

  private async guard<R>(work: () => PromiseLike<R>): Promise<R> {
    try {
      return await work();
    } catch (err) {
      throw mapDriverError(err, 'factor');
    }
  }
}

function toWebAuthn(row: WebAuthnRow): WebAuthnCredentialRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    publicKey: row.public_key,
    counter: Number(row.counter),
    transports: JSON.parse(row.transports) as string[],
    deviceType: row.device_type,
    backedUp: Boolean(row.backed_up),
    discoverable: Boolean(row.discoverable),
    createdAt: iso(row.created_at)!,
    ...(row.last_used_at !== null ? { lastUsedAt: iso(row.last_used_at)! } : {}),
  };
}
