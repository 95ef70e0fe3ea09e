/**
 * Gatehouse's device certificate authority: one self-signed CA per deployment, created on the first
 * start and kept in the store with its key encrypted by the keyring. It issues client certificates
 * to registered devices (from a CSR, or with a generated key as PKCS#12), revokes them, and
 * identifies the device behind a certificate a client presents.
 *
 * A certificate identifies a device only when all of these hold, in this order: it parses; it is
 * signed by our CA's key (never a fingerprint match alone); it is one we recorded issuing; it is
 * not revoked; it is within its validity; its device still exists.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type KeyObject, type webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Device } from '../directory/model.ts';
import { ValidationError } from '../directory/service.ts';
import { SecretError, type Keyring } from '../secrets/keyring.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { reason } from '../reasons.ts';
import type { DeviceCertificateRecord, DirectoryStore, Store } from '../store/types.ts';
import { buildPkcs12 } from './pkcs12.ts';
import type { x509 } from './x509.ts';

/**
 * @peculiar/x509, loaded when a certificate is made or read rather than with this module: it is
 * large (ASN.1 schemas, a DI container), and every command line run builds the core without it.
 */
const x509Library = () => import('./x509.ts');

export const DEVICE_CA_NAME = 'device';
/** Keyring purpose of the CA's private key: its ciphertext cannot be replayed as another secret. */
export const CA_KEY_PURPOSE = 'device-ca-key';
export const CA_SUBJECT: x509.JsonName = [{ O: ['Gatehouse'] }, { CN: ['Gatehouse Device CA'] }];
const CA_VALIDITY_YEARS = 10;
export const DEVICE_ORGANIZATION = 'Gatehouse devices';
/** Issued certificates start this far in the past, for clients whose clocks run a little behind. */
const BACKDATE_MS = 5 * 60_000;
const MAX_CSR_BYTES = 16 * 1024;

type SigningAlgorithm = webcrypto.EcdsaParams | webcrypto.Algorithm;

export type DeviceKeyType = 'ec-p256' | 'ec-p384' | 'rsa';

/** Why a certificate does not identify a device. */
export type IdentifyFailure = 'malformed' | 'not_issued_by_us' | 'unknown' | 'revoked' | 'expired' | 'not_yet_valid' | 'device_missing';

export type Identification =
  | { ok: true; device: Device; certificate: DeviceCertificateRecord }
  | { ok: false; reason: IdentifyFailure; certificate?: DeviceCertificateRecord; fingerprint?: string };

/** What each failure means (src/reasons.ts, the catalogue, holds the text). */
export const IDENTIFY_REASONS: Record<IdentifyFailure, string> = Object.fromEntries(
  (['malformed', 'not_issued_by_us', 'unknown', 'revoked', 'expired', 'not_yet_valid', 'device_missing'] as const).map((code) => [code, reason(code).description]),
) as Record<IdentifyFailure, string>;

export interface IssuedCertificate {
  record: DeviceCertificateRecord;
  certificatePem: string;
  caPem: string;
}

export interface DeviceAuthorityDeps {
  store: Store;
  keyring: Keyring;
  auditor: Auditor;
  config: Pick<CoreConfig, 'devices'>;
  /** The time, for tests that need certificates issued in the past. */
  clock?: () => Date;
  /**
   * Told of each revocation once it has committed, to end what the certificate signed in (the live
   * EAP-TLS network sessions: src/core.ts wires it). A failure is logged: the revocation stands.
   */
  onCertificateRevoked?: ((ctx: AuditContext, certificate: DeviceCertificateRecord) => Promise<unknown>) | undefined;
}

interface LoadedCa {
  pem: string;
  der: Buffer;
  node: X509Certificate;
  cert: x509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
  signingAlgorithm: SigningAlgorithm;
  publicKey: KeyObject;
  /**
   * Certificates this CA was found to have signed, by the SHA-256 of the octets presented (a DER
   * certificate presented again, at every EAP-TLS or mTLS sign-in of a device, is not parsed and
   * its signature not verified again: the same octets give the same answer). Only certificates
   * that verified are kept, so nothing a stranger presents takes a place; at most
   * MAX_VERIFIED, the oldest out first.
   */
  verified: Map<string, Verified>;
}

/** What identify() needs of a certificate whose signature verified: its fingerprint and validity. */
interface Verified {
  fingerprint: string;
  validFrom: Date;
  validTo: Date;
}
const MAX_VERIFIED = 10_000;

/** The CSR problem named by a stable code, the JSON path of the field and a sentence for people. */
function refusal(code: string, message: string): ValidationError {
  return new ValidationError([{ path: 'csr', code, message }]);
}

export class DeviceAuthority {
  private readonly store: Store;
  private readonly keyring: Keyring;
  private readonly auditor: Auditor;
  private readonly config: Pick<CoreConfig, 'devices'>;
  private readonly clock: () => Date;
  private readonly onCertificateRevoked: DeviceAuthorityDeps['onCertificateRevoked'];
  private ca: LoadedCa | undefined;
  private initializing: Promise<void> | undefined;

  constructor(deps: DeviceAuthorityDeps) {
    this.store = deps.store;
    this.keyring = deps.keyring;
    this.auditor = deps.auditor;
    this.config = deps.config;
    this.clock = deps.clock ?? (() => new Date());
    this.onCertificateRevoked = deps.onCertificateRevoked;
  }

  private get dir(): DirectoryStore {
    return this.store.directory;
  }

  /**
   * Loads the CA, creating it on the very first start. Several processes starting at once may each
   * make a key; the store keeps the first and everyone loads that one.
   */
  init(): Promise<void> {
    this.initializing ??= this.load().catch((err: unknown) => {
      this.initializing = undefined; // a failed start (store down) may be retried
      throw err;
    });
    return this.initializing;
  }

  private async load(): Promise<void> {
    let record = await this.dir.pki.getAuthority(DEVICE_CA_NAME);
    if (!record) {
      const made = await this.createAuthority();
      record = await this.dir.pki.addAuthorityIfAbsent({ name: DEVICE_CA_NAME, certificatePem: made.pem, keyEncrypted: made.keyEncrypted });
      if (record.certificatePem === made.pem) {
        const cert = new X509Certificate(made.pem);
        await this.auditor.record({ actor: { type: 'system', name: 'gatehouse' } }, {
          type: 'device.ca.created', outcome: 'success', target: { type: 'ca', name: DEVICE_CA_NAME },
          details: { subject: cert.subject, fingerprint: fingerprintOf(cert.raw), notAfter: cert.validToDate.toISOString(), algorithm: 'ECDSA P-256' },
        });
      }
    }
    let keyPem: string;
    try {
      keyPem = this.keyring.decrypt(record.keyEncrypted, CA_KEY_PURPOSE);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      throw new SecretError(`the device CA's private key cannot be decrypted (${err.message}): configure the secrets.keys it was encrypted with`);
    }
    this.ca = await loadAuthority(record.certificatePem, keyPem);
  }

  /** The CA certificate (PEM): what clients and TLS listeners trust. */
  get certificatePem(): string {
    return this.loaded().pem;
  }

  private loaded(): LoadedCa {
    if (!this.ca) throw new Error('the device CA is not loaded: call init() first');
    return this.ca;
  }

  private async createAuthority(): Promise<{ pem: string; keyEncrypted: string }> {
    const { privateKey, publicKey } = await generateKeys('ec', { namedCurve: 'P-256' });
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
    const keys = {
      privateKey: privateKey.toCryptoKey(algorithm, false, ['sign']),
      publicKey: publicKey.toCryptoKey(algorithm, true, ['verify']),
    } as webcrypto.CryptoKeyPair;
    const now = this.clock();
    const notAfter = new Date(now);
    notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
    const { x509 } = await x509Library();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: CA_SUBJECT,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as SigningAlgorithm,
      keys,
      extensions: [
        // pathLen 0: the CA signs device certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    return { pem: cert.toString('pem'), keyEncrypted: this.keyring.encrypt(keyPem, CA_KEY_PURPOSE) };
  }

  // -------------------------------------------------------------------------------------------
  // Issuing

  /**
   * Issues a certificate for the key in a PKCS#10 request. Only the key is taken from the CSR: the
   * subject, names and extensions are Gatehouse's own. Refusals are 400s naming the problem, are
   * audited, and store nothing.
   */
  async issueFromCsr(ctx: AuditContext, deviceId: string, csrPem: string): Promise<IssuedCertificate> {
    const device = await this.dir.devices.get(deviceId);
    let checked: { publicKey: x509.PublicKey; keyType: DeviceKeyType };
    try {
      checked = await checkCsr(csrPem, device);
    } catch (err) {
      if (err instanceof ValidationError) {
        const problem = err.problems[0]!;
        await this.auditor.record(ctx, {
          type: 'device.certificate.refused', outcome: 'failure', target: deviceTarget(device),
          reasons: [{ code: problem.code, description: problem.message }], details: { format: 'csr' },
        });
      }
      throw err;
    }
    return this.issue(ctx, device, checked.publicKey, checked.keyType, 'csr');
  }

  /**
   * Generates a key for the device and returns it with its certificate and the CA certificate as a
   * password-protected PKCS#12 file. The key is never stored.
   */
  async issuePkcs12(ctx: AuditContext, deviceId: string, password: string, keyType: 'ec-p256' | 'rsa' = 'ec-p256'): Promise<IssuedCertificate & { pkcs12: Buffer }> {
    const device = await this.dir.devices.get(deviceId);
    const problem = pkcs12PasswordProblem(password);
    if (problem) {
      await this.auditor.record(ctx, {
        type: 'device.certificate.refused', outcome: 'failure', target: deviceTarget(device),
        reasons: [{ code: 'weak_password', description: problem }], details: { format: 'pkcs12' },
      });
      throw new ValidationError([{ path: 'password', code: 'weak_password', message: problem }]);
    }
    // Generated off the event loop: an RSA-3072 key takes a noticeable fraction of a second.
    const pair = keyType === 'rsa' ? await generateKeys('rsa', { modulusLength: 3072 }) : await generateKeys('ec', { namedCurve: 'P-256' });
    const { x509 } = await x509Library();
    const publicKey = new x509.PublicKey(pair.publicKey.export({ type: 'spki', format: 'der' }));
    const issued = await this.issue(ctx, device, publicKey, keyType, 'pkcs12');
    const pkcs12 = buildPkcs12({
      privateKey: pair.privateKey,
      certificate: Buffer.from(new X509Certificate(issued.certificatePem).raw),
      chain: [this.loaded().der],
      password,
      friendlyName: `${device.name} (Gatehouse device)`,
    });
    return { ...issued, pkcs12 };
  }

  private async issue(ctx: AuditContext, device: Device, publicKey: x509.PublicKey, keyType: DeviceKeyType, format: 'csr' | 'pkcs12'): Promise<IssuedCertificate> {
    const ca = this.loaded();
    const now = this.clock();
    const notBefore = new Date(now.getTime() - BACKDATE_MS);
    const wanted = new Date(now.getTime() + this.config.devices.certificateValidityDays * 86_400_000);
    // Never past the CA's own end: such a certificate would fail path validation anyway.
    const notAfter = wanted > ca.node.validToDate ? ca.node.validToDate : wanted;
    const rsa = publicKey.algorithm.name.startsWith('RSA');
    const { x509 } = await x509Library();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ O: [DEVICE_ORGANIZATION] }, { CN: [device.id] }],
      issuer: ca.cert.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        // RSA keys may also do key transport (RSA key exchange in older TLS and EAP-TLS stacks).
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0), true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: deviceUri(device.id) }]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ],
    });
    const der = Buffer.from(cert.rawData);
    const node = new X509Certificate(der);
    const fields = {
      serial: cert.serialNumber.toLowerCase(),
      deviceId: device.id,
      fingerprint: fingerprintOf(der),
      subject: cert.subject,
      notBefore: node.validFromDate.toISOString(),
      notAfter: node.validToDate.toISOString(),
      certificatePem: cert.toString('pem'),
    };
    const record = await this.change(ctx, async (tx, emit) => {
      const stored = await tx.pki.addCertificate(fields);
      await emit({
        type: 'device.certificate.issued', outcome: 'success', target: deviceTarget(device),
        details: { serial: stored.serial, fingerprint: stored.fingerprint, notAfter: stored.notAfter, keyType, format },
      });
      return stored;
    });
    return { record, certificatePem: record.certificatePem, caPem: ca.pem };
  }

  // -------------------------------------------------------------------------------------------
  // Revocation

  /**
   * Revokes a certificate; it stops identifying its device at once, on every process, and the live
   * network sessions it signed in (EAP-TLS) are queued to end (onCertificateRevoked).
   */
  async revoke(ctx: AuditContext, serial: string): Promise<DeviceCertificateRecord> {
    const normalized = normalizeSerial(serial);
    const existing = normalized === undefined ? undefined : await this.dir.pki.getCertificate(normalized);
    if (!existing) throw new NotFoundError('certificate', serial);
    if (existing.revokedAt) throw new ConflictError(`certificate ${existing.serial} was revoked already (${existing.revokedAt})`);
    const device = await this.dir.devices.get(existing.deviceId);
    const revoked = await this.change(ctx, async (tx, emit) => {
      if (!(await tx.pki.revokeCertificate(existing.serial))) throw new ConflictError(`certificate ${existing.serial} was revoked already`);
      await emit({ type: 'device.certificate.revoked', outcome: 'success', target: deviceTarget(device), details: { serial: existing.serial, fingerprint: existing.fingerprint } });
      return (await tx.pki.getCertificate(existing.serial))!;
    });
    // Committed: a failure here leaves the sessions to the next review (networkSessions.reviewSeconds).
    await this.onCertificateRevoked?.(ctx, revoked).catch((err: unknown) => this.auditor.warn(`certificate ${revoked.serial} was revoked, but its network sessions could not be queued to end now; the next review ends them`, err));
    return revoked;
  }

  /** One issued certificate by its serial (lower-case hex). */
  get(serial: string): Promise<DeviceCertificateRecord | undefined> {
    return this.dir.pki.getCertificate(serial);
  }

  /** The certificates issued to a device, oldest first. */
  async list(deviceId: string): Promise<DeviceCertificateRecord[]> {
    await this.dir.devices.get(deviceId);
    return this.dir.pki.listCertificates(deviceId);
  }

  /** A CRL (RFC 5280 §5) of the revoked certificates that have not expired, valid for a day. */
  async crlPem(): Promise<string> {
    const ca = this.loaded();
    const now = this.clock();
    const revoked = await this.dir.pki.listRevoked();
    const { x509 } = await x509Library();
    const crl = await x509.X509CrlGenerator.create({
      issuer: ca.cert.subjectName,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86_400_000),
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm,
      entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt!) })),
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.cert)],
    });
    // PEM label as RFC 7468 §5 and OpenSSL spell it (the library writes "CRL").
    return toPem(Buffer.from(crl.rawData), 'X509 CRL');
  }

  // -------------------------------------------------------------------------------------------
  // Identification

  /** The device a presented certificate (DER or PEM) belongs to, or why it does not identify one. */
  async identify(certificate: Buffer | string, now: Date = this.clock()): Promise<Identification> {
    const ca = this.loaded();
    const presented = typeof certificate === 'string' ? undefined : fingerprintOf(certificate);
    let checked = presented === undefined ? undefined : ca.verified.get(presented);
    if (!checked) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(certificate);
      } catch {
        return { ok: false, reason: 'malformed' };
      }
      const fingerprint = fingerprintOf(cert.raw);
      // The signature, checked against our key: a certificate from another CA with the same names
      // (or a recorded fingerprint on a forged certificate) never passes.
      if (!cert.checkIssued(ca.node) || !safeVerify(cert, ca.publicKey)) return { ok: false, reason: 'not_issued_by_us', fingerprint };
      checked = { fingerprint, validFrom: cert.validFromDate, validTo: cert.validToDate };
      if (presented !== undefined) {
        if (ca.verified.size >= MAX_VERIFIED) ca.verified.delete(ca.verified.keys().next().value!);
        ca.verified.set(presented, checked);
      }
    }
    const { fingerprint } = checked;
    const record = await this.dir.pki.findCertificateByFingerprint(fingerprint);
    if (!record) return { ok: false, reason: 'unknown', fingerprint };
    if (record.revokedAt) return { ok: false, reason: 'revoked', certificate: record, fingerprint };
    if (now < checked.validFrom) return { ok: false, reason: 'not_yet_valid', certificate: record, fingerprint };
    if (now > checked.validTo) return { ok: false, reason: 'expired', certificate: record, fingerprint };
    try {
      return { ok: true, device: await this.dir.devices.get(record.deviceId), certificate: record };
    } catch (err) {
      if (err instanceof NotFoundError) return { ok: false, reason: 'device_missing', certificate: record, fingerprint };
      throw err;
    }
  }

  /** A change and its audit events in one transaction; the events are logged once committed. */
  private change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: (draft: EventDraft) => Promise<void>) => Promise<R>): Promise<R> {
    return this.auditor.change(ctx, work);
  }
}

// ---------------------------------------------------------------------------------------------
// CSR checks

/**
 * Parses and checks a CSR: PEM of one CERTIFICATE REQUEST; an accepted key type; a valid
 * self-signature (proof the requester holds the key); a sane subject that, if it names a CN, names
 * this device (its id, name or serial), so a CSR pasted onto the wrong device is caught.
 */
export async function checkCsr(text: string, device: Device): Promise<{ publicKey: x509.PublicKey; keyType: DeviceKeyType }> {
  if (typeof text !== 'string' || text.trim() === '') throw refusal('malformed_csr', 'the CSR is empty: send a PEM "-----BEGIN CERTIFICATE REQUEST-----" block');
  if (text.length > MAX_CSR_BYTES) throw refusal('malformed_csr', `the CSR is larger than ${MAX_CSR_BYTES} bytes`);
  const der = csrDer(text);
  const { x509 } = await x509Library();
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
    void csr.subject;
    void csr.publicKey.algorithm;
  } catch (err) {
    throw refusal('malformed_csr', `the CSR is not a valid PKCS#10 request (${err instanceof Error ? err.message : String(err)})`);
  }

  const keyType = checkKey(Buffer.from(csr.publicKey.rawData));

  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw refusal('bad_signature', "the CSR's signature does not verify with its own public key: it was altered or not signed by the key it carries");

  checkSubject(csr, device);
  return { publicKey: csr.publicKey, keyType };
}

/** EC P-256/P-384 or RSA of 2048 to 8192 bits: what every TLS and EAP-TLS stack accepts and no one can factor. */
function checkKey(spki: Buffer): DeviceKeyType {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw refusal('unsupported_key', 'the public key in the CSR is of an unknown type; use EC P-256, EC P-384 or RSA (2048 bits or more)');
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'ec-p256';
    if (details.namedCurve === 'secp384r1') return 'ec-p384';
    throw refusal('unsupported_key', `EC keys on curve ${details.namedCurve ?? 'unknown'} are not accepted; use P-256 or P-384`);
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) throw refusal('unsupported_key', `RSA keys of ${bits} bits are too weak; use 2048 bits or more (or EC P-256)`);
    if (bits > 8192) throw refusal('unsupported_key', `RSA keys of ${bits} bits are not accepted; use at most 8192 bits`);
    return 'rsa';
  }
  throw refusal('unsupported_key', `${type ?? 'unknown'} keys are not accepted (TLS client certificates on most devices need EC or RSA); use EC P-256, EC P-384 or RSA (2048 bits or more)`);
}

function checkSubject(csr: x509.Pkcs10CertificateRequest, device: Device): void {
  const subject = csr.subject;
  if (subject.length > 1024) throw refusal('bad_subject', 'the CSR subject is longer than 1024 characters');
  // Control characters in a DN are never legitimate and confuse logs and parsers downstream.
  for (const rdn of csr.subjectName.toJSON()) {
    for (const values of Object.values(rdn)) {
      for (const value of values) {
        if (typeof value === 'string' && /[\u0000-\u001f\u007f]/.test(value)) throw refusal('bad_subject', 'the CSR subject contains control characters');
      }
    }
  }
  const names = csr.subjectName.getField('CN');
  if (names.length > 1) throw refusal('bad_subject', 'the CSR subject names more than one CN');
  const cn = names[0];
  if (cn === undefined || cn === '') return;
  const mine = [device.id, device.name, device.serial].filter((v): v is string => !!v).map((v) => v.toLowerCase());
  if (!mine.includes(cn.toLowerCase())) {
    throw refusal(
      'bad_subject',
      `the CSR asks for CN=${JSON.stringify(cn)}, which is not this device (id ${device.id}, name ${JSON.stringify(device.name)}): was it made for another device? Leave the subject empty or use the device id or name`,
    );
  }
}

/** Why a PKCS#12 password is refused, or undefined. */
export function pkcs12PasswordProblem(password: unknown): string | undefined {
  if (typeof password !== 'string') return 'a password is required to protect the PKCS#12 file';
  if (password.length < 8) return 'the PKCS#12 password must be at least 8 characters';
  if (password.length > 128) return 'the PKCS#12 password must be at most 128 characters';
  // Importers disagree on how to encode non-ASCII passwords (UTF-8 vs. UTF-16): keep to ASCII.
  if (!/^[\x20-\x7e]+$/.test(password)) return 'the PKCS#12 password may contain only printable ASCII characters (importers disagree on other encodings)';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function loadAuthority(pem: string, keyPem: string): Promise<LoadedCa> {
  const node = new X509Certificate(pem);
  const { x509 } = await x509Library();
  const cert = new x509.X509Certificate(pem);
  const key = createPrivateKey(keyPem);
  let signingKey: webcrypto.CryptoKey;
  let signingAlgorithm: SigningAlgorithm;
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
    signingKey = key.toCryptoKey({ name: 'ECDSA', namedCurve: curve }, false, ['sign']);
    signingAlgorithm = { name: 'ECDSA', hash: curve === 'P-384' ? 'SHA-384' : 'SHA-256' } as SigningAlgorithm;
  } else if (key.asymmetricKeyType === 'rsa') {
    signingKey = key.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as SigningAlgorithm;
  } else {
    throw new Error(`the device CA key is of unsupported type ${key.asymmetricKeyType}`);
  }
  return { pem: cert.toString('pem'), der: Buffer.from(node.raw), node, cert, signingKey, signingAlgorithm, publicKey: node.publicKey, verified: new Map() };
}

const generateKeys = promisify(generateKeyPair) as unknown as (
  type: 'ec' | 'rsa',
  options: { namedCurve: string } | { modulusLength: number },
) => Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;

/** 16 random bytes, the first in 0x40..0x7f: a positive DER INTEGER of exactly 16 octets (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

/** Serials as the store keeps them: lower-case hex; colons and spaces (as tools print them) are dropped. */
export function normalizeSerial(serial: string): string | undefined {
  const hex = serial.trim().replace(/[:\s]/g, '').toLowerCase();
  return /^[0-9a-f]{1,64}$/.test(hex) ? hex : undefined;
}

export function fingerprintOf(der: Buffer | Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

export function deviceUri(deviceId: string): string {
  return `urn:gatehouse:device:${deviceId}`;
}

function deviceTarget(device: Device) {
  return { type: 'device', id: device.id, name: device.name };
}

function safeVerify(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.verify(key);
  } catch {
    return false;
  }
}

function toPem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** The DER inside the CSR's PEM block; clear errors for anything else. */
function csrDer(text: string): Buffer {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!match) throw refusal('malformed_csr', 'the CSR is not PEM: expected a "-----BEGIN CERTIFICATE REQUEST-----" block');
  const found = match[1]!;
  if (found !== 'CERTIFICATE REQUEST' && found !== 'NEW CERTIFICATE REQUEST') throw refusal('malformed_csr', `expected a CERTIFICATE REQUEST but got a ${found} PEM block`);
  const body = match[2]!.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw refusal('malformed_csr', 'the CSR PEM block is not valid base64');
  return Buffer.from(body, 'base64');
}

