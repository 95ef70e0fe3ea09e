/** The device CA, the certificates it issued and device tokens, over knex. */
import { AlreadyExistsError, NotFoundError } from '../errors.ts';
import type { CertificateAuthorityRecord, DeviceCertificateRecord, Pki } from '../types.ts';
import { iso, mapDriverError, now, type Db } from './sql.ts';
import { Statement } from './statements.ts';

interface CertRow {
  serial: string;
  device_id: string;
  fingerprint: string;
  subject: string;
  not_before: number;
  not_after: number;
  revoked_at: number | null;
  certificate_pem: string;
  created_at: number;
}

export class KnexPki implements Pki {
  private readonly db: Db;
  /** The lookup every EAP-TLS sign-in (and device mTLS request) makes: a prepared statement (statements.ts). */
  private readonly byFingerprint: Statement<CertRow>;
  constructor(db: Db) {
    this.db = db;
    this.byFingerprint = new Statement<CertRow>(db, 'select * from device_certificates where fingerprint = ? limit 1');
  }

  async getAuthority(name: string): Promise<CertificateAuthorityRecord | undefined> {
    const row = await this.guard(() => this.db('certificate_authorities').where({ name }).first());
    return row ? { name: row.name, certificatePem: row.certificate_pem, keyEncrypted: row.key_encrypted, createdAt: iso(row.created_at)! } : undefined;
  }

  async addAuthorityIfAbsent(record: Omit<CertificateAuthorityRecord, 'createdAt'>): Promise<CertificateAuthorityRecord> {
    await this.guard(() =>
      this.db('certificate_authorities').insert({ name: record.name, certificate_pem: record.certificatePem, key_encrypted: record.keyEncrypted, created_at: now() }).onConflict('name').ignore(),
    );
    return (await this.getAuthority(record.name))!;
  }

  async addCertificate(record: Omit<DeviceCertificateRecord, 'createdAt' | 'revokedAt'>): Promise<DeviceCertificateRecord> {
    return this.guard(async () => {
      if (!(await this.db('devices').where({ id: record.deviceId }).first('id'))) throw new NotFoundError('device', record.deviceId);
      try {
        await this.db('device_certificates').insert({
          serial: record.serial, device_id: record.deviceId, fingerprint: record.fingerprint, subject: record.subject,
          not_before: Date.parse(record.notBefore), not_after: Date.parse(record.notAfter), revoked_at: null, certificate_pem: record.certificatePem, created_at: now(),
        });
      } catch (err) {
        const mapped = mapDriverError(err, 'certificate');
        if (mapped instanceof AlreadyExistsError) throw new AlreadyExistsError('certificate', record.serial, 'a certificate with this serial or fingerprint exists already');
        throw mapped;
      }
      return (await this.getCertificate(record.serial))!;
    });
  }

  async getCertificate(serial: string): Promise<DeviceCertificateRecord | undefined> {
    const row: CertRow | undefined = await this.guard(() => this.db('device_certificates').where({ serial }).first());
    return row ? toCert(row) : undefined;
  }

  async findCertificateByFingerprint(fingerprint: string): Promise<DeviceCertificateRecord | undefined> {
    const row = await this.guard(() => this.byFingerprint.first([fingerprint]));
    return row ? toCert(row) : undefined;
  }

  async listCertificates(deviceId: string): Promise<DeviceCertificateRecord[]> {
    const rows: CertRow[] = await this.guard(() => this.db('device_certificates').where({ device_id: deviceId }).orderBy('created_at'));
    return rows.map(toCert);
  }

  async revokeCertificate(serial: string): Promise<boolean> {
    return this.guard(async () => (await this.db('device_certificates').where({ serial }).whereNull('revoked_at').update({ revoked_at: now() })) === 1);
  }

  async listRevoked(): Promise<DeviceCertificateRecord[]> {
    const rows: CertRow[] = await this.guard(() => this.db('device_certificates').whereNotNull('revoked_at').andWhere('not_after', '>', now()).orderBy('revoked_at'));
    return rows.map(toCert);
  }

  async addDeviceToken(deviceId: string, tokenHash: string): Promise<void> {
    await this.guard(async () => {
      if (!(await this.db('devices').where({ id: deviceId }).first('id'))) throw new NotFoundError('device', deviceId);
      await this.db('device_tokens').insert({ token_hash: tokenHash, device_id: deviceId, created_at: now() });
    });
  }

  async findDeviceByToken(tokenHash: string): Promise<string | undefined> {
    const row = await this.guard(() => this.db('device_tokens').where({ token_hash: tokenHash }).first('device_id'));
    return row?.device_id as string | undefined;
  }

  async deleteDeviceTokens(deviceId: string): Promise<number> {
    return this.guard(() => this.db('device_tokens').where({ device_id: deviceId }).delete());
  }

  private async guard<R>(work: () => PromiseLike<R>): Promise<R> {
    try {
      return await work();
    } catch (err) {
      throw mapDriverError(err, 'certificate');
    }
  }
}

function toCert(row: CertRow): DeviceCertificateRecord {
  return {
    serial: row.serial,
    deviceId: row.device_id,
    fingerprint: row.fingerprint,
    subject: row.subject,
    notBefore: iso(row.not_before)!,
    notAfter: iso(row.not_after)!,
    ...(row.revoked_at !== null ? { revokedAt: iso(row.revoked_at)! } : {}),
    certificatePem: row.certificate_pem,
    createdAt: iso(row.created_at)!,
  };
}
