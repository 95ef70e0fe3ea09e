/**
 * Recovery codes: the way back in when the authenticator is lost. Each is 80 random bits written as
 * four groups of four lower-case base32 characters (`abcd-efgh-ijkl-mnop`: no 0/1/8/9 to confuse
 * with letters), shown once, stored only as the SHA-256 of its normalized form, usable once.
 *
 * 80 bits rather than the usual 60: the hashes are unsalted (the store looks codes up by hash), so
 * a stolen table must stay out of reach of offline search too.
 */
import { randomBytes } from 'node:crypto';
import { hashSecret } from '../secrets/digest.ts';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** 16 base32 characters = 80 bits = 10 random bytes. */
const CODE_BYTES = 10;
const CODE_CHARS = 16;
const GROUP = 4;

/** Longest input considered at all (a code with generous spacing); anything longer is not a code. */
export const MAX_RECOVERY_INPUT = 64;

/** A fresh recovery code, grouped for reading: `abcd-efgh-ijkl-mnop`. */
export function generateRecoveryCode(): string {
  const bytes = randomBytes(CODE_BYTES);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.match(new RegExp(`.{${GROUP}}`, 'g'))!.join('-');
}

/**
 * The normalized form of something typed as a recovery code (case, spaces and dashes ignored), or
 * undefined when it cannot be one.
 */
export function normalizeRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_RECOVERY_INPUT) return undefined;
  const compact = input.replace(/[\s-]/g, '').toLowerCase();
  return compact.length === CODE_CHARS && /^[a-z2-7]+$/.test(compact) ? compact : undefined;
}

/** What the store keeps: SHA-256 (hex) of the normalized code. */
export function hashRecoveryCode(normalized: string): string {
  return hashSecret(normalized);
}

/** `count` distinct codes and their hashes, in the same order. */
export function generateRecoveryCodes(count: number): { codes: string[]; hashes: string[] } {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(generateRecoveryCode());
  const list = [...codes];
  return { codes: list, hashes: list.map((c) => hashRecoveryCode(normalizeRecoveryCode(c)!)) };
}
