/**
 * Signing keys (OIDC JWS keys, cookie keys) over knex. One key per use, algorithm and generation is
 * a unique constraint, so when several processes make the first generation, or two operators rotate
 * at once, exactly one insert wins and the others see the winner's keys.
 */
import { AlreadyExistsError } from '../errors.ts';
import type { NewSigningKey, SigningKeyRecord, SigningKeys } from '../types.ts';
import { iso, mapDriverError, now, type Db } from './sql.ts';

interface KeyRow {
  kid: string;
  use: 'sig' | 'cookie';
  alg: string;
  generation: number | string;
  public_jwk: string | null;
  private_encrypted: string;
  created_at: number | string;
  retires_at: number | string | null;
}

export class KnexSigningKeys implements SigningKeys {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  async list(): Promise<SigningKeyRecord[]> {
    const rows: KeyRow[] = await this.guard(() =>
      this.db('signing_keys')
        .where((q) => q.whereNull('retires_at').orWhere('retires_at', '>', now()))
        .orderBy([{ column: 'generation', order: 'desc' }, { column: 'use', order: 'desc' }, { column: 'alg', order: 'asc' }]),
    );
    return rows.map(toRecord);
  }

  async add(keys: NewSigningKey[], retiresAt?: string): Promise<boolean> {
    if (keys.length === 0) return false;
    const oldest = Math.min(...keys.map((k) => k.generation));
    const at = now();
    try {
      // A nested transaction is a savepoint: a lost race rolls back only this insert.
      await this.db.transaction(async (trx) => {
        await trx('signing_keys').insert(
          keys.map((k) => ({
            kid: k.kid, use: k.use, alg: k.alg, generation: k.generation, public_jwk: k.publicJwk ? JSON.stringify(k.publicJwk) : null,
            private_encrypted: k.privateEncrypted, created_at: at, retires_at: null,
          })),
        );
        if (retiresAt !== undefined) {
          await trx('signing_keys').where('generation', '<', oldest).whereNull('retires_at').update({ retires_at: Date.parse(retiresAt) });
        }
      });
      return true;
    } catch (err) {
      const mapped = mapDriverError(err, 'signing key');
      if (mapped instanceof AlreadyExistsError) return false;
      throw mapped;
    }
  }

  async prune(before: string): Promise<number> {
    return this.guard(() => this.db('signing_keys').whereNotNull('retires_at').andWhere('retires_at', '<=', Date.parse(before)).delete());
  }

  private async guard<R>(work: () => PromiseLike<R>): Promise<R> {
    try {
      return await work();
    } catch (err) {
      throw mapDriverError(err, 'signing key');
    }
  }
}

function toRecord(row: KeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    use: row.use,
    alg: row.alg,
    generation: Number(row.generation),
    ...(row.public_jwk ? { publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown> } : {}),
    privateEncrypted: row.private_encrypted,
    createdAt: iso(row.created_at)!,
    ...(row.retires_at !== null ? { retiresAt: iso(row.retires_at)! } : {}),
  };
}
