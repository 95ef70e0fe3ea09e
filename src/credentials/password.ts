// Password hashing and verification for Gatehouse.
//
// New hashes are always argon2id (OWASP's first choice). Verification also
// accepts the formats that directories and applications we migrate from use
// (other argon2 variants, bcrypt, passlib/Django PBKDF2, LDAP {SSHA}), and
// reports `needsRehash` so the caller can upgrade a hash at the moment it
// holds the plaintext, i.e. right after a successful login.
//
// Unicode: NIST SP 800-63B-4 §3.1.1.2 recommends normalising passwords, so we
// hash the NFKC form; the same password typed with a different keyboard or IME
// (composed vs decomposed accents, full-width digits, ligatures) then matches.

import { randomBytes } from 'node:crypto';
import * as argon2 from '@node-rs/argon2';
import type { Algorithm } from '@node-rs/argon2';
import { PasswordInputError, validatePasswordInput } from './input.ts';
import { argon2ParamsProblem, parseStoredHash } from './schemes.ts';
import type { ParsedHash, PasswordScheme } from './schemes.ts';
import { withArgon2Slot } from './slots.ts';
import { matchesHash } from './verifiers.ts';

export { identifyScheme, HASH_LIMITS } from './schemes.ts';
export type { PasswordScheme } from './schemes.ts';
export { MAX_PASSWORD_BYTES, PasswordInputError, validatePasswordInput } from './input.ts';
export type { PasswordProblem } from './input.ts';
export {
  DEFAULT_PASSWORD_POLICY,
  SERVICE_CONTEXT_WORDS,
  checkPasswordPolicy,
  passwordContextWords,
  validatePasswordPolicy,
} from './policy.ts';
export type { PasswordPolicy } from './policy.ts';

export interface Argon2Params {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1. */
export const DEFAULT_ARGON2: Readonly<Argon2Params> = Object.freeze({
  memoryKiB: 19456,
  iterations: 2,
  parallelism: 1,
});

export interface PasswordVerification {
  ok: boolean;
  /** True when the password matched but the stored hash should be replaced by hash(password). */
  needsRehash: boolean;
  /** Scheme of the stored hash; undefined when it was unsupported, malformed or out of range. */
  scheme: PasswordScheme | undefined;
}

// @node-rs/argon2 declares Algorithm as an ambient const enum, which cannot be
// referenced under isolatedModules/type stripping; 2 is Algorithm.Argon2id.
const ARGON2ID = 2 as Algorithm;
/** Argon2 version 0x13, the current one and what the library produces. */
const ARGON2_CURRENT_VERSION = 19;

export class PasswordHasher {
  readonly #params: Readonly<Argon2Params>;
  #dummyHash: Promise<string> | undefined;

  constructor(params: Argon2Params = DEFAULT_ARGON2) {
    const problem = argon2ParamsProblem(params);
    if (problem) throw new RangeError(`invalid argon2 parameters: ${problem}`);
    this.#params = Object.freeze({ ...params });
  }

  /** Hashes the NFKC form of `password` with argon2id. Throws PasswordInputError on invalid input. */
  async hash(password: string): Promise<string> {
    const problem = validatePasswordInput(password);
    if (problem) throw new PasswordInputError(problem);
    return this.#argon2id(password.normalize('NFKC'));
  }

  /**
   * Checks `password` against a stored hash of any supported scheme. Never
   * throws: an unusable stored hash or password input simply does not match.
   */
  async verify(stored: string, password: string): Promise<PasswordVerification> {
    const parsed = parseStoredHash(stored);
    if (!parsed) return { ok: false, needsRehash: false, scheme: undefined };
    const ok = validatePasswordInput(password) === undefined && (await matchesAny(parsed, candidates(parsed, password)));
    return { ok, needsRehash: ok && this.#needsRehash(parsed), scheme: parsed.scheme };
  }

  /**
   * Does the work of verifying against a real argon2id hash with our
   * parameters and discards the result. Call it when the user does not exist
   * so that the response time does not reveal which usernames are registered.
   */
  async dummyVerify(password: string): Promise<void> {
    // Mirror verify(): invalid input is rejected there before any hashing too.
    if (validatePasswordInput(password)) return;
    try {
      const dummy = await this.#dummy();
      await withArgon2Slot(() => argon2.verify(dummy, password.normalize('NFKC')));
    } catch {
      // Only the time spent matters here.
    }
  }

  #needsRehash(parsed: ParsedHash): boolean {
    if (parsed.kind !== 'argon2' || parsed.scheme !== 'argon2id') return true;
    const params = this.#params;
    return (
      parsed.version !== ARGON2_CURRENT_VERSION ||
      parsed.memoryKiB !== params.memoryKiB ||
      parsed.iterations !== params.iterations ||
      parsed.parallelism !== params.parallelism
    );
  }

  /** The dummy hash is made once, on first need; a failed attempt is retried next time. */
  #dummy(): Promise<string> {
    this.#dummyHash ??= this.#argon2id(randomBytes(32).toString('base64url')).catch((error: unknown) => {
      this.#dummyHash = undefined;
      throw error;
    });
    return this.#dummyHash;
  }

  #argon2id(password: string): Promise<string> {
    return withArgon2Slot(() => argon2.hash(password, {
      algorithm: ARGON2ID,
      memoryCost: this.#params.memoryKiB,
      timeCost: this.#params.iterations,
      parallelism: this.#params.parallelism,
    }));
  }
}

/**
 * The forms of the password to try, in order. argon2id hashes are ours and
 * always hold the NFKC form. Every other scheme was produced by a system we
 * imported from, which most likely hashed the raw input, yet may have
 * normalised it; so try the raw form first, then NFKC if that differs.
 */
function candidates(parsed: ParsedHash, password: string): string[] {
  const normalized = password.normalize('NFKC');
  if (parsed.scheme === 'argon2id') return [normalized];
  return normalized === password ? [password] : [password, normalized];
}

async function matchesAny(parsed: ParsedHash, forms: readonly string[]): Promise<boolean> {
  for (const form of forms) {
    if (await matchesHash(parsed, form)) return true;
  }
  return false;
}
