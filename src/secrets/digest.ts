/**
 * The stored form of a generated, high-entropy secret (API keys, application secrets, session
 * tokens, device tokens, recovery codes): SHA-256, hex. A fast hash is enough when the secret has
 * entropy of its own (80 bits for a recovery code, more for the others), so that no search through
 * the candidates can succeed; passwords, which people choose, go through the password hasher
 * (argon2id) instead.
 */
import { createHash } from 'node:crypto';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
