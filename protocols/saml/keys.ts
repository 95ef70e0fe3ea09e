/**
 * The identity provider's signing keys and certificates. SAML signs with the RSA key of the core's
 * signing-key service (src/keys/signing.ts: the RS256 key of each generation, encrypted at rest with
 * the keyring, made on the first start, rotated by `gatehouse keys rotate`), so one rotation moves
 * OpenID Connect and SAML together. SAML metadata carries keys as X.509 certificates; each key's is
 * self-signed and derived from the key record alone (serial from the key id, validity from its
 * creation, RSASSA-PKCS1-v1_5 being deterministic), so every process behind a load balancer publishes
 * byte-identical certificates without storing anything more. During a rotation's overlap both
 * generations' certificates are in the metadata; the newest signs.
 */
import { createHash, createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { SYSTEM } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import { x509 } from '../../src/devices/x509.ts';
import type { SigningKeyManager } from '../../src/keys/signing.ts';

const VALIDITY_YEARS = 20;

export interface SamlKey {
  kid: string;
  /** PEM (PKCS#8) private key, for the signers. */
  privatePem: string;
  privateKey: KeyObject;
  /** PEM certificate, and its base64 DER body as metadata and KeyInfo carry it. */
  certificatePem: string;
  certificateBase64: string;
}

export interface SamlKeys {
  /** The key that signs (newest generation). */
  current: SamlKey;
  /** Every published key, the signing one first (retiring ones until they retire). */
  published: SamlKey[];
  fingerprint: string;
}

async function certificateFor(kid: string, createdAt: string, jwk: webcrypto.JsonWebKey): Promise<string> {
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, key_ops: _ops, ...publicJwk } = jwk as Record<string, unknown>;
  const keys = {
    privateKey: await webcrypto.subtle.importKey('jwk', { ...jwk, key_ops: ['sign'], alg: 'RS256' }, algorithm, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('jwk', { ...(publicJwk as webcrypto.JsonWebKey), key_ops: ['verify'], alg: 'RS256' }, algorithm, true, ['verify']),
  } as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.parse(createdAt) - 60 * 60_000);
  notBefore.setUTCMilliseconds(0);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // Positive, 16 bytes, from the key id: the same in every process.
    serialNumber: `01${createHash('sha256').update(kid).digest('hex').slice(0, 30)}`,
    name: 'CN=Gatehouse SAML signing, O=Gatehouse',
    notBefore,
    notAfter,
    signingAlgorithm: algorithm,
    keys,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  return cert.toString('pem');
}

/** The manager SAML uses: the RS256 keys of the shared generations. */
export function samlKeyManager(core: Core, overlapHours: number): SigningKeyManager {
  return core.signingKeys({ algorithms: ['RS256'], rotationOverlapHours: overlapHours });
}

/** Makes the keys if this store has none yet (a first start without OIDC), then loads them. */
export async function loadSamlKeys(manager: SigningKeyManager): Promise<SamlKeys> {
  await manager.ensure(SYSTEM);
  const [set, records] = await Promise.all([manager.load(), manager.list()]);
  const created = new Map(records.map((r) => [r.kid, r.createdAt] as const));
  const published: SamlKey[] = [];
  for (const jwk of set.jwks.keys as unknown as Array<webcrypto.JsonWebKey & { kid: string; alg?: string }>) {
    if (jwk.kty !== 'RSA' || jwk.alg !== 'RS256') continue;
    const { key_ops: _ops, ...privateJwk } = jwk;
    const privateKey = createPrivateKey({ key: privateJwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    const certificatePem = await certificateFor(jwk.kid, created.get(jwk.kid) ?? '2000-01-01T00:00:00Z', privateJwk);
    published.push({
      kid: jwk.kid,
      privateKey,
      privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      certificatePem,
      certificateBase64: certificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''),
    });
  }
  if (!published[0]) throw new Error('no RSA signing key: the keys were made without RS256');
  return { current: published[0], published, fingerprint: set.fingerprint };
}
