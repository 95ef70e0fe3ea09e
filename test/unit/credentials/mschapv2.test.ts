/**
 * MS-CHAPv2's building blocks (src/credentials/mschapv2.ts) on the published vectors: MD4 on
 * the RFC 1320 §A.5 test suite, DES on the FIPS 81 / classic example, and the whole of RFC 2759 §9.2
 * (NtPasswordHash, PasswordHashHash, ChallengeHash, NT-Response, Authenticator Response).
 */
import { describe, expect, it } from 'vitest';
import {
  authenticatorResponse, challengeHash, checkNtResponse, desEncrypt, md4, ntPasswordHash, ntResponse,
} from '../../../src/credentials/mschapv2.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('MD4 (RFC 1320 §A.5)', () => {
  it.each([
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ])('MD4(%j)', (input, digest) => {
    expect(md4(Buffer.from(input)).toString('hex')).toBe(digest);
  });
});

describe('DES', () => {
  it('encrypts the classic example block', () => {
    expect(desEncrypt(hex('0123456789ABCDEF'), hex('133457799BBCDFF1')).toString('hex')).toBe('85e813540f0ab405');
  });
});

describe('MS-CHAPv2 (RFC 2759 §9.2)', () => {
  const userName = 'User';
  const password = 'clientPass';
  const authChallenge = hex('5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28');
  const peerChallenge = hex('21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E');
  const expectedNtResponse = hex('82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF');

  it('matches every intermediate value', () => {
    const hash = ntPasswordHash(password);
    expect(hash).toEqual(hex('44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE'));
    expect(md4(hash)).toEqual(hex('41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F'));
    expect(challengeHash(peerChallenge, authChallenge, userName)).toEqual(hex('D0 2E 43 86 BC E9 12 26'));
    expect(ntResponse(authChallenge, peerChallenge, userName, hash)).toEqual(expectedNtResponse);
    expect(authenticatorResponse(hash, expectedNtResponse, peerChallenge, authChallenge, userName)).toBe('S=407A5589115FD0D6209F510FE9C04566932CDA56');
  });

  it('checks an NT-Response: the right one passes, a flipped bit or another password does not', () => {
    const hash = ntPasswordHash(password);
    expect(checkNtResponse(expectedNtResponse, authChallenge, peerChallenge, userName, hash)).toBe(true);
    const flipped = Buffer.from(expectedNtResponse);
    flipped[23] = flipped[23]! ^ 1;
    expect(checkNtResponse(flipped, authChallenge, peerChallenge, userName, hash)).toBe(false);
    expect(checkNtResponse(expectedNtResponse, authChallenge, peerChallenge, userName, ntPasswordHash('clientPass!'))).toBe(false);
    expect(checkNtResponse(expectedNtResponse.subarray(0, 23), authChallenge, peerChallenge, userName, hash)).toBe(false);
  });
});
