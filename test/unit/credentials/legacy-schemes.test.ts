import { describe, it, expect } from 'vitest';
import { PasswordHasher } from '../../../src/credentials/password.ts';
import { djangoPbkdf2, passlibPbkdf2, saltedSha } from './legacy-hashes.ts';

const hasher = new PasswordHasher({ memoryKiB: 1024, iterations: 1, parallelism: 1 });

const matched = (scheme: string) => ({ ok: true, needsRehash: true, scheme });
const mismatched = (scheme: string) => ({ ok: false, needsRehash: false, scheme });

describe('PBKDF2, passlib format', () => {
  it.each(['sha256', 'sha512'] as const)('verifies generated pbkdf2-%s hashes', async (digest) => {
    const stored = passlibPbkdf2('legacy pbkdf2 secret', digest);
    expect(await hasher.verify(stored, 'legacy pbkdf2 secret')).toEqual(matched(`pbkdf2-${digest}`));
    expect(await hasher.verify(stored, 'legacy pbkdf2 secreT')).toEqual(mismatched(`pbkdf2-${digest}`));
  });

  it('handles salts whose ab64 encoding contains "."', async () => {
    const salt = Buffer.from('fbeffbeffbeffbeffbeffbeffbeffbef', 'hex'); // encodes to "++/v..." in base64
    const stored = passlibPbkdf2('dotted salt', 'sha256', 1000, salt);
    expect(stored.split('$')[3]).toContain('.');
    expect((await hasher.verify(stored, 'dotted salt')).ok).toBe(true);
  });

  it.each([
    // passlib documentation, pbkdf2_digest page.
    ['password', '$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['password', '$pbkdf2-sha256$29000$bi3FuPcewzhnjBGi1FqLcQ$XxCvGSouMoOmuy27dcdn4XkjaF0YScsvwN8rrLnk9EM'],
    ['password', '$pbkdf2-sha256$6400$.6UI/S.nXIk8jcbdHx3Fhg$98jZicV16ODfEsEZeYPGHU3kbrUrvUEXOPimVSQDD44'],
    // Authelia documentation: the digest of "insecure_secret".
    [
      'insecure_secret',
      '$pbkdf2-sha512$310000$c8p78n7pUMln0jzvd4aK4Q$JNRBzwAo0ek5qKn50cFzzvE9RXV88h1wJn5KGiHrD0YKtZaR/nCb2CJPOsKaPK0hjf.9yHxzQGZziziccp6Yng',
    ],
  ])('verifies the published vector for %j: %s', async (password, stored) => {
    const result = await hasher.verify(stored, password);
    expect(result.ok).toBe(true);
    expect(result.needsRehash).toBe(true);
  });

  it('rejects a vector whose checksum was altered', async () => {
    // The passlib vector above with a corrupted tail (as it is sometimes misquoted).
    const stored = '$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnvW4Qe6s';
    expect(await hasher.verify(stored, 'password')).toEqual(mismatched('pbkdf2-sha256'));
  });
});

describe('PBKDF2, Django format', () => {
  it('verifies generated hashes', async () => {
    const stored = djangoPbkdf2('legacy django secret');
    expect(await hasher.verify(stored, 'legacy django secret')).toEqual(matched('pbkdf2-sha256'));
    expect(await hasher.verify(stored, 'legacy django secreT')).toEqual(mismatched('pbkdf2-sha256'));
  });

  it("verifies Django 3.2's published make_password('lètmein', 'seasalt') vector", async () => {
    const stored = 'pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=';
    expect(await hasher.verify(stored, 'l\u00E8tmein')).toEqual(matched('pbkdf2-sha256'));
    // Decomposed input matches too, through the NFKC retry.
    expect(await hasher.verify(stored, 'le\u0300tmein')).toEqual(matched('pbkdf2-sha256'));
    expect(await hasher.verify(stored, 'letmein')).toEqual(mismatched('pbkdf2-sha256'));
  });
});

describe('LDAP salted SHA', () => {
  it.each(['SSHA', 'SSHA512'] as const)('verifies generated {%s} hashes', async (variant) => {
    const scheme = variant.toLowerCase();
    const stored = saltedSha('legacy ldap secret', variant);
    expect(await hasher.verify(stored, 'legacy ldap secret')).toEqual(matched(scheme));
    expect(await hasher.verify(stored, 'legacy ldap secreT')).toEqual(mismatched(scheme));
  });

  it('treats the scheme prefix case-insensitively', async () => {
    const stored = saltedSha('legacy ldap secret', 'SSHA512');
    for (const prefix of ['{ssha512}', '{Ssha512}']) {
      const result = await hasher.verify(stored.replace('{SSHA512}', prefix), 'legacy ldap secret');
      expect(result).toEqual(matched('ssha512'));
    }
  });

  it('accepts any salt length, such as the 4 bytes slappasswd uses', async () => {
    const stored = saltedSha('short salt', 'SSHA', Buffer.from([1, 2, 3, 4]));
    expect((await hasher.verify(stored, 'short salt')).ok).toBe(true);
  });

  it('verifies a published slappasswd output ("fargle")', async () => {
    expect(await hasher.verify('{SSHA}FM6N1jTf/0PflNiYX1GDVd0V3b/acp0w', 'fargle')).toEqual(matched('ssha'));
  });

});

describe('Unicode normalisation for legacy schemes', () => {
  const raw = '\uFB01sh and chips, please'; // starts with the "ﬁ" ligature
  const nfkc = raw.normalize('NFKC');

  it('matches a legacy hash of the raw (unnormalised) input', async () => {
    const stored = passlibPbkdf2(raw, 'sha256');
    expect((await hasher.verify(stored, raw)).ok).toBe(true);
    // Typing the NFKC form does not match a hash of the raw form: only the input is normalised.
    expect((await hasher.verify(stored, nfkc)).ok).toBe(false);
  });

  it('matches a legacy hash of the NFKC form when the raw form fails', async () => {
    for (const stored of [passlibPbkdf2(nfkc, 'sha512'), djangoPbkdf2(nfkc), saltedSha(nfkc, 'SSHA')]) {
      expect((await hasher.verify(stored, raw)).ok).toBe(true);
    }
  });
});
