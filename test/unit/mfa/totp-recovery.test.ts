/** Recovery codes: format, entropy, normalization and what is stored. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateRecoveryCode, generateRecoveryCodes, hashRecoveryCode, normalizeRecoveryCode } from '../../../src/mfa/recovery.ts';

describe('recovery codes', () => {
  it('are four groups of four lower-case base32 characters (80 bits)', () => {
    for (let i = 0; i < 200; i++) expect(generateRecoveryCode()).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
  });

  it('use the whole alphabet in every position (no bias from the bit packing)', () => {
    const seen = Array.from({ length: 16 }, () => new Set<string>());
    for (let i = 0; i < 3000; i++) [...generateRecoveryCode().replace(/-/g, '')].forEach((c, p) => seen[p]!.add(c));
    for (const position of seen) expect(position.size).toBe(32);
  });

  it('come as a set of distinct codes with their SHA-256 hashes', () => {
    const { codes, hashes } = generateRecoveryCodes(20);
    expect(new Set(codes).size).toBe(20);
    expect(hashes).toEqual(codes.map((c) => createHash('sha256').update(c.replace(/-/g, '')).digest('hex')));
    expect(generateRecoveryCodes(0)).toEqual({ codes: [], hashes: [] });
  });

  it('normalize case, spaces and dashes, and nothing else', () => {
    expect(normalizeRecoveryCode(' ABCD-efgh ijkl-MNOP ')).toBe('abcdefghijklmnop');
    expect(normalizeRecoveryCode('abcd-efgh-ijkl-mno0')).toBeUndefined();
    expect(normalizeRecoveryCode('abcd-efgh-ijkl')).toBeUndefined();
    expect(normalizeRecoveryCode('a'.repeat(100_000))).toBeUndefined();
    expect(normalizeRecoveryCode(undefined)).toBeUndefined();
    expect(hashRecoveryCode('abcdefghijklmnop')).toMatch(/^[0-9a-f]{64}$/);
  });
});
