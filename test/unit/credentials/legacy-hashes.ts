// Independent generators for legacy hash formats, written straight from the
// format descriptions with node:crypto so that they share no code with the
// parsers under test.

import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';

/** passlib "adapted base64": standard alphabet with '.' for '+', no padding. */
export function ab64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '').replaceAll('+', '.');
}

export function passlibPbkdf2(
  password: string,
  digest: 'sha256' | 'sha512',
  rounds = 1000,
  salt: Buffer = randomBytes(16),
): string {
  const keyLength = digest === 'sha256' ? 32 : 64;
  const checksum = pbkdf2Sync(password, salt, rounds, keyLength, digest);
  return `$pbkdf2-${digest}$${rounds}$${ab64(salt)}$${ab64(checksum)}`;
}

export function djangoPbkdf2(password: string, iterations = 1000, salt = 'Zq3lUjGc4R8wX2vB'): string {
  const hash = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  return `pbkdf2_sha256$${iterations}$${salt}$${hash.toString('base64')}`;
}

export function saltedSha(
  password: string,
  variant: 'SSHA' | 'SSHA512',
  salt: Buffer = randomBytes(8),
): string {
  const digest = createHash(variant === 'SSHA' ? 'sha1' : 'sha512').update(password).update(salt).digest();
  return `{${variant}}${Buffer.concat([digest, salt]).toString('base64')}`;
}
