// Checks a candidate password against an already-parsed stored hash. All
// expensive work is asynchronous so that logins never block the event loop:
// argon2 and crypto.pbkdf2 run on the libuv thread pool; bcrypt (bcryptjs, pure
// JavaScript) works in slices that yield between rounds. bcrypt only ever runs
// once per imported account, which is then rehashed to argon2id. SSHA is a
// single SHA computation and stays synchronous.

import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import * as argon2 from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import type { ParsedHash, Pbkdf2Hash, SaltedShaHash } from './schemes.ts';
import { withArgon2Slot } from './slots.ts';

const pbkdf2Async = promisify(pbkdf2);

/**
 * True if `candidate` matches `parsed`. Any failure inside a hashing library
 * (for instance an encoding it rejects that our parser let through) counts as
 * a mismatch: a stored hash must never turn a login into an exception.
 */
export async function matchesHash(parsed: ParsedHash, candidate: string): Promise<boolean> {
  try {
    switch (parsed.kind) {
      case 'argon2':
        return await withArgon2Slot(() => argon2.verify(parsed.encoded, candidate));
      case 'bcrypt':
        return await bcrypt.compare(candidate, parsed.encoded);
      case 'pbkdf2':
        return await matchesPbkdf2(parsed, candidate);
      case 'ssha':
        return matchesSaltedSha(parsed, candidate);
    }
  } catch {
    return false;
  }
}

async function matchesPbkdf2(parsed: Pbkdf2Hash, candidate: string): Promise<boolean> {
  const { salt, iterations, expected, digest } = parsed;
  const actual = await pbkdf2Async(Buffer.from(candidate, 'utf8'), salt, iterations, expected.length, digest);
  return timingSafeEqual(actual, expected);
}

function matchesSaltedSha(parsed: SaltedShaHash, candidate: string): boolean {
  const actual = createHash(parsed.digest).update(candidate, 'utf8').update(parsed.salt).digest();
  return timingSafeEqual(actual, parsed.expected);
}
