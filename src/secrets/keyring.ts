/**
 * Encryption of secrets at rest (RADIUS shared secrets, TOTP seeds, CA keys): AES-256-GCM under
 * keys from the configuration or the environment. Each ciphertext names the key that made it, so
 * keys can be rotated: the first key encrypts, every listed key decrypts.
 *
 *   format:  v1.<keyId>.<base64url(iv[12] || ciphertext || tag[16])>
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../private-files.ts';

export class SecretError extends Error {
  override readonly name = 'SecretError';
}

export interface KeySpec {
  id: string;
  /** 32 bytes, base64. */
  key: string;
}

export class Keyring {
  private readonly keys: Map<string, Buffer>;
  /**
   * The same keys as KeyObjects for the ciphers: Node checks a Buffer key by trying it as a
   * KeyObject and as a CryptoKey, each failure an exception (about 12 µs per encryption).
   */
  private readonly cipherKeys = new Map<string, KeyObject>();
  private readonly primary: string;

  constructor(specs: KeySpec[]) {
    if (specs.length === 0) throw new SecretError('a keyring needs at least one key');
    this.keys = new Map();
    for (const spec of specs) {
      const key = Buffer.from(spec.key.trim(), 'base64');
      if (key.length !== 32) throw new SecretError(`secret key '${spec.id}' must be 32 bytes base64-encoded (got ${key.length} bytes); make one with: openssl rand -base64 32`);
      if (this.keys.has(spec.id)) throw new SecretError(`secret key id '${spec.id}' is listed twice`);
      this.keys.set(spec.id, key);
      this.cipherKeys.set(spec.id, createSecretKey(key));
    }
    this.primary = specs[0]!.id;
  }

  /**
   * A 32-byte key for one purpose (MACs of CSRF tokens, say), derived from the encrypting key with
   * HKDF-SHA256: every process with the same keyring derives the same key, nothing is stored, and
   * rotating the keyring's first key rotates it too.
   */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.keys.get(this.primary)!, Buffer.alloc(0), `gatehouse:${purpose}`, 32));
  }

  /**
   * @param purpose bound into the ciphertext as associated data, so a ciphertext made for one
   *   purpose (a TOTP seed) cannot be replayed as another (a RADIUS secret).
   */
  encrypt(plaintext: string, purpose: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.cipherKeys.get(this.primary)!, iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${this.primary}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  decrypt(ciphertext: string, purpose: string): string {
    const [version, keyId, payload] = ciphertext.split('.');
    if (version !== 'v1' || !keyId || !payload) throw new SecretError('not a Gatehouse ciphertext');
    const key = this.cipherKeys.get(keyId);
    if (!key) throw new SecretError(`the secret was encrypted with key '${keyId}', which is not configured`);
    const raw = Buffer.from(payload, 'base64url');
    if (raw.length < 28) throw new SecretError('ciphertext is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    try {
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretError('the secret does not decrypt: wrong key or tampered ciphertext');
    }
  }

  /** Whether this ciphertext should be re-encrypted under the current primary key. */
  needsRotation(ciphertext: string): boolean {
    return ciphertext.split('.')[1] !== this.primary;
  }

  /** The id of the key that encrypts (the first configured). */
  get primaryId(): string {
    return this.primary;
  }

  /** The ids of every configured key, the primary first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Whether a key with this id is configured (so its ciphertexts can be decrypted). */
  hasKey(keyId: string): boolean {
    return this.keys.has(keyId);
  }
}

/** The id of the key a ciphertext names, or undefined when it is not a Gatehouse ciphertext. */
export function keyIdOf(ciphertext: string): string | undefined {
  const match = /^v1\.([A-Za-z0-9_-]{1,32})\.[A-Za-z0-9_-]+$/.exec(ciphertext);
  return match?.[1];
}

/**
 * The keyring from configuration; when none is configured, a key file generated on first start
 * (mode 0600, in a directory made 0700 if it does not exist). The caller warns about the latter.
 */
export function loadKeyring(config: { keys: KeySpec[]; keyFile: string }): Keyring {
  if (config.keys.length > 0) return new Keyring(config.keys);
  if (!existsSync(config.keyFile)) {
    makePrivateDir(dirname(config.keyFile));
    writeFileSync(config.keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  }
  chmodSync(config.keyFile, PRIVATE_FILE_MODE);
  return new Keyring([{ id: 'file', key: readFileSync(config.keyFile, 'utf8') }]);
}
