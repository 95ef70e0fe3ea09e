/**
 * Test PKI: CSRs of every key type, throwaway CAs (for TLS server certificates and for "foreign"
 * device certificates that imitate Gatehouse's), and certificates they sign.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, type KeyObject, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x509 } from '../../src/devices/x509.ts';

export type TestKeyType = 'ec-p256' | 'ec-p384' | 'ec-p521' | 'rsa-1024' | 'rsa-2048' | 'ed25519';

export interface TestKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  privateKeyPem: string;
  keys: webcrypto.CryptoKeyPair;
  signingAlgorithm: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

export function makeKey(type: TestKeyType): TestKey {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  let algorithm: webcrypto.Algorithm | webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  let signingAlgorithm: webcrypto.Algorithm | webcrypto.EcdsaParams;
  if (type.startsWith('ec-')) {
    const curve = { 'ec-p256': 'P-256', 'ec-p384': 'P-384', 'ec-p521': 'P-521' }[type as 'ec-p256']!;
    pair = generateKeyPairSync('ec', { namedCurve: curve });
    algorithm = { name: 'ECDSA', namedCurve: curve } as webcrypto.EcKeyImportParams;
    signingAlgorithm = { name: 'ECDSA', hash: curve === 'P-256' ? 'SHA-256' : curve === 'P-384' ? 'SHA-384' : 'SHA-512' } as webcrypto.EcdsaParams;
  } else if (type.startsWith('rsa-')) {
    pair = generateKeyPairSync('rsa', { modulusLength: Number(type.slice(4)) });
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as webcrypto.RsaHashedImportParams;
    signingAlgorithm = algorithm;
  } else {
    pair = generateKeyPairSync('ed25519');
    algorithm = { name: 'Ed25519' };
    signingAlgorithm = { name: 'Ed25519' };
  }
  return {
    ...pair,
    privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    keys: { privateKey: pair.privateKey.toCryptoKey(algorithm, true, ['sign']), publicKey: pair.publicKey.toCryptoKey(algorithm, true, ['verify']) } as webcrypto.CryptoKeyPair,
    signingAlgorithm,
  };
}

/** A CSR and its key. `subject` '' leaves the subject empty. */
export async function makeCsr(type: TestKeyType = 'ec-p256', subject = 'CN=laptop'): Promise<{ csrPem: string; key: TestKey }> {
  const key = makeKey(type);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    ...(subject ? { name: subject } : {}),
    keys: key.keys,
    signingAlgorithm: key.signingAlgorithm,
  });
  return { csrPem: csr.toString('pem'), key };
}

/** The CSR with one bit of its signature flipped (the last byte of the DER). */
export function tamperCsr(csrPem: string): string {
  const der = new x509.Pkcs10CertificateRequest(csrPem).rawData;
  const bytes = new Uint8Array(der.slice(0));
  bytes[bytes.length - 1]! ^= 0x01;
  return new x509.Pkcs10CertificateRequest(bytes).toString('pem');
}

export interface TestCa {
  pem: string;
  cert: x509.X509Certificate;
  key: TestKey;
  /** Signs a certificate for `publicKey`. */
  issue(options: { subject: string | x509.JsonName; publicKey: KeyObject; extensions?: x509.Extension[]; notBefore?: Date; notAfter?: Date }): Promise<string>;
}

/** A throwaway CA; `subject` may imitate Gatehouse's own. */
export async function makeCa(subject: string | x509.JsonName = 'CN=Test CA'): Promise<TestCa> {
  const key = makeKey('ec-p256');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^./, '4'),
    name: subject,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000 * 30),
    keys: key.keys,
    signingAlgorithm: key.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ],
  });
  return {
    pem: cert.toString('pem'),
    cert,
    key,
    async issue(options) {
      const issued = await x509.X509CertificateGenerator.create({
        serialNumber: randomBytes(16).toString('hex').replace(/^./, '4'),
        subject: options.subject,
        issuer: cert.subjectName,
        notBefore: options.notBefore ?? new Date(Date.now() - 3_600_000),
        notAfter: options.notAfter ?? new Date(Date.now() + 86_400_000 * 7),
        publicKey: new x509.PublicKey(options.publicKey.export({ type: 'spki', format: 'der' })),
        signingKey: key.keys.privateKey,
        signingAlgorithm: key.signingAlgorithm,
        extensions: [await x509.AuthorityKeyIdentifierExtension.create(cert), ...(options.extensions ?? [])],
      });
      return issued.toString('pem');
    },
  };
}

/** A TLS server certificate for 127.0.0.1 / localhost, signed by `ca`. */
export async function serverCertificate(ca: TestCa): Promise<{ key: string; cert: string }> {
  const key = makeKey('ec-p256');
  const cert = await ca.issue({
    subject: 'CN=localhost',
    publicKey: key.publicKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return { key: key.privateKeyPem, cert };
}

/** Runs openssl with files written from `files` (name → content); returns stdout, or throws with stderr. */
export function openssl(args: (files: Record<string, string>) => string[], files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-openssl-'));
  try {
    const paths: Record<string, string> = {};
    for (const [name, content] of Object.entries(files)) {
      paths[name] = join(dir, name);
      writeFileSync(paths[name], content);
    }
    return execFileSync('openssl', args(paths), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
