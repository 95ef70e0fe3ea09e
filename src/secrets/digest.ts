/**
 * The stored form of a generated, high-entropy secret (API keys, application secrets, session
 * tokens, device tokens, recovery codes): SHA-256, hex. A fast hash is enough when the secret has
 * its own entropy (nobody can guess their way through 2^128 candidates); passwords, which people
 * choose, go through the password hasher (argon2id) instead.
 */
import { createHash } from 'node:crypto';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
