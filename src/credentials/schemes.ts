// Parsing of stored password hashes.
//
// Everything here is pure string/byte work with no hashing, so it can run
// before any expensive computation is queued. Parsing is deliberately strict:
// stored hashes may come from imports we do not control, and a value that is
// malformed or asks for an absurd work factor must be refused *before* we
// spend CPU or memory on it (see the MAX_* limits below).

export type PasswordScheme =
  | 'argon2id'
  | 'argon2i'
  | 'argon2d'
  | 'bcrypt'
  | 'pbkdf2-sha256'
  | 'pbkdf2-sha512'
  | 'ssha'
  | 'ssha512';

export type Argon2Scheme = 'argon2id' | 'argon2i' | 'argon2d';

/** Upper bounds on work factors read from stored hashes (anti-DoS). */
export const HASH_LIMITS = {
  /** No legitimate encoded hash we accept is anywhere near this long. */
  maxEncodedLength: 1024,
  /** 256 MiB per verification: generous for real deployments, bounded for hostile ones. */
  argon2MaxMemoryKiB: 262_144,
  argon2MaxIterations: 16,
  argon2MaxParallelism: 16,
  /** memory × passes; bounds the total time of one argon2 verification (~1 GiB of passes). */
  argon2MaxWorkKiB: 1_048_576,
  /** Each bcrypt cost step doubles the time; 15 is about 2 s on commodity hardware. */
  bcryptMaxCost: 15,
  pbkdf2MaxIterations: 10_000_000,
  /** Salts longer than this are not something any known producer emits. */
  maxSaltBytes: 1024,
} as const;

export interface Argon2Hash {
  kind: 'argon2';
  scheme: Argon2Scheme;
  /** 0x13 = 19 is current; a missing `v=` field means the original 0x10 = 16. */
  version: number;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  encoded: string;
}

export interface BcryptHash {
  kind: 'bcrypt';
  scheme: 'bcrypt';
  cost: number;
  encoded: string;
}

export interface Pbkdf2Hash {
  kind: 'pbkdf2';
  scheme: 'pbkdf2-sha256' | 'pbkdf2-sha512';
  digest: 'sha256' | 'sha512';
  iterations: number;
  salt: Buffer;
  expected: Buffer;
}

export interface SaltedShaHash {
  kind: 'ssha';
  scheme: 'ssha' | 'ssha512';
  digest: 'sha1' | 'sha512';
  salt: Buffer;
  expected: Buffer;
}

export type ParsedHash = Argon2Hash | BcryptHash | Pbkdf2Hash | SaltedShaHash;

/**
 * Parses a stored hash into its scheme and parameters, or returns undefined if
 * it is not in a supported format or is outside the accepted work-factor
 * limits. Never throws, whatever the input.
 */
export function parseStoredHash(stored: unknown): ParsedHash | undefined {
  if (typeof stored !== 'string' || stored.length > HASH_LIMITS.maxEncodedLength) {
    return undefined;
  }
  return (
    parseArgon2(stored) ??
    parseBcrypt(stored) ??
    parsePasslibPbkdf2(stored) ??
    parseDjangoPbkdf2(stored) ??
    parseSaltedSha(stored)
  );
}

/** The scheme of a stored hash, or undefined if it is unsupported, malformed or out of range. */
export function identifyScheme(stored: string): PasswordScheme | undefined {
  return parseStoredHash(stored)?.scheme;
}

// --- argon2 (PHC string format) -------------------------------------------

// $argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>; salt >= 8 bytes, hash >= 4 bytes.
const ARGON2_PHC =
  /^\$(argon2id|argon2i|argon2d)\$(?:v=(16|19)\$)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{6,})$/;

function parseArgon2(stored: string): Argon2Hash | undefined {
  const match = ARGON2_PHC.exec(stored);
  if (!match) return undefined;
  const [, scheme, version, m, t, p, salt, hash] = match;
  const parsed: Argon2Hash = {
    kind: 'argon2',
    scheme: scheme as Argon2Scheme,
    version: version === undefined ? 16 : Number(version),
    memoryKiB: Number(m),
    iterations: Number(t),
    parallelism: Number(p),
    encoded: stored,
  };
  const wellEncoded = decodeBase64(salt ?? '') && decodeBase64(hash ?? '');
  return wellEncoded && argon2ParamsProblem(parsed) === undefined ? parsed : undefined;
}

/**
 * Why a set of argon2 parameters is unacceptable, or undefined if it is fine.
 * Shared by the stored-hash parser and the hasher's constructor, so that we
 * can never produce a hash that we would later refuse to verify.
 */
export function argon2ParamsProblem(params: {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}): string | undefined {
  const { memoryKiB, iterations, parallelism } = params;
  const limits = HASH_LIMITS;
  if (!isIntegerIn(parallelism, 1, limits.argon2MaxParallelism)) {
    return `parallelism must be an integer from 1 to ${limits.argon2MaxParallelism}`;
  }
  // Argon2 itself requires at least 8 KiB per lane.
  if (!isIntegerIn(memoryKiB, 8 * parallelism, limits.argon2MaxMemoryKiB)) {
    return `memoryKiB must be an integer from ${8 * parallelism} to ${limits.argon2MaxMemoryKiB}`;
  }
  if (!isIntegerIn(iterations, 1, limits.argon2MaxIterations)) {
    return `iterations must be an integer from 1 to ${limits.argon2MaxIterations}`;
  }
  if (memoryKiB * iterations > limits.argon2MaxWorkKiB) {
    return `memoryKiB × iterations must not exceed ${limits.argon2MaxWorkKiB}`;
  }
  return undefined;
}

// --- bcrypt (modular crypt format) ----------------------------------------

// Only the canonical 60-character form. $2x$ (the buggy pre-2011 crypt_blowfish)
// is deliberately unsupported: its results differ for some non-ASCII passwords.
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

function parseBcrypt(stored: string): BcryptHash | undefined {
  const match = BCRYPT.exec(stored);
  if (!match) return undefined;
  const cost = Number(match[1]);
  if (!isIntegerIn(cost, 4, HASH_LIMITS.bcryptMaxCost)) return undefined;
  return { kind: 'bcrypt', scheme: 'bcrypt', cost, encoded: stored };
}

// --- PBKDF2 ---------------------------------------------------------------

const DIGEST_BYTES = { sha256: 32, sha512: 64 } as const;

// passlib: $pbkdf2-sha256$<rounds>$<salt ab64>$<checksum ab64>. passlib never
// zero-pads rounds, so a leading zero marks a value we did not expect.
const PASSLIB_PBKDF2 = /^\$pbkdf2-(sha256|sha512)\$([1-9]\d{0,7})\$([./A-Za-z0-9]*)\$([./A-Za-z0-9]+)$/;

function parsePasslibPbkdf2(stored: string): Pbkdf2Hash | undefined {
  const match = PASSLIB_PBKDF2.exec(stored);
  if (!match) return undefined;
  const [, digestName, rounds, salt, checksum] = match;
  const digest = digestName as 'sha256' | 'sha512';
  return pbkdf2Hash(digest, Number(rounds), decodeAb64(salt ?? ''), decodeAb64(checksum ?? ''));
}

// Django: pbkdf2_sha256$<iterations>$<salt>$<b64 hash>. Django uses the salt
// text itself (UTF-8), not a decoding of it, as the PBKDF2 salt.
const DJANGO_PBKDF2 = /^pbkdf2_sha256\$([1-9]\d{0,7})\$([^$]+)\$([A-Za-z0-9+/]+={0,2})$/;

function parseDjangoPbkdf2(stored: string): Pbkdf2Hash | undefined {
  const match = DJANGO_PBKDF2.exec(stored);
  if (!match) return undefined;
  const [, iterations, salt, hash] = match;
  return pbkdf2Hash('sha256', Number(iterations), Buffer.from(salt ?? '', 'utf8'), decodeBase64(hash ?? ''));
}

function pbkdf2Hash(
  digest: 'sha256' | 'sha512',
  iterations: number,
  salt: Buffer | undefined,
  expected: Buffer | undefined,
): Pbkdf2Hash | undefined {
  if (!isIntegerIn(iterations, 1, HASH_LIMITS.pbkdf2MaxIterations)) return undefined;
  if (!salt || salt.length > HASH_LIMITS.maxSaltBytes) return undefined;
  if (!expected || expected.length !== DIGEST_BYTES[digest]) return undefined;
  return { kind: 'pbkdf2', scheme: `pbkdf2-${digest}`, digest, iterations, salt, expected };
}

// --- LDAP salted SHA (RFC 2307 style userPassword) ------------------------

// {SSHA}base64(SHA1(password || salt) || salt); the prefix is case-insensitive in LDAP.
const SALTED_SHA = /^\{(ssha|ssha512)\}([A-Za-z0-9+/]+={0,2})$/i;

const SALTED_SHA_DIGESTS = {
  ssha: { digest: 'sha1', bytes: 20 },
  ssha512: { digest: 'sha512', bytes: 64 },
} as const;

function parseSaltedSha(stored: string): SaltedShaHash | undefined {
  const match = SALTED_SHA.exec(stored);
  if (!match) return undefined;
  const scheme = (match[1] ?? '').toLowerCase() as 'ssha' | 'ssha512';
  const { digest, bytes } = SALTED_SHA_DIGESTS[scheme];
  const decoded = decodeBase64(match[2] ?? '');
  // Without at least one salt byte this would be the unsalted {SHA} scheme.
  if (!decoded || decoded.length <= bytes) return undefined;
  const salt = decoded.subarray(bytes);
  if (salt.length > HASH_LIMITS.maxSaltBytes) return undefined;
  return { kind: 'ssha', scheme, digest, salt, expected: decoded.subarray(0, bytes) };
}

// --- helpers --------------------------------------------------------------

function isIntegerIn(value: number, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= min && value <= max;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict standard base64 (padding optional). Buffer.from() silently skips
 * characters outside the alphabet and ignores stray trailing bits, so we
 * require a canonical round trip to be sure the bytes are what was written.
 */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '');
  const bytes = Buffer.from(unpadded, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === unpadded ? bytes : undefined;
}

/** passlib's "adapted base64": '.' instead of '+', no padding. */
export function decodeAb64(text: string): Buffer | undefined {
  if (!/^[./A-Za-z0-9]*$/.test(text)) return undefined;
  return decodeBase64(text.replaceAll('.', '+'));
}
