/**
 * MS-CHAPv2's computations (RFC 2759 §8), for PEAPv0 with inner EAP-MSCHAPv2 (issue 14): what the
 * server needs to check a peer's NT-Response and to prove itself with the Authenticator Response.
 *
 * MS-CHAPv2 is built on MD4 and single DES, which Node 24's OpenSSL 3 only has in its legacy
 * provider (`createHash('md4')` and `des-ecb` throw "unsupported"). So:
 * - MD4 (RFC 1320) is written here, in a few lines, checked against the RFC's test suite;
 * - single DES is triple DES with the same key three times (E_K(D_K(E_K(x))) = E_K(x)), which the
 *   default provider keeps (`des-ede3-ecb`); checked against the FIPS 81 example.
 *
 * The NT hash (MD4 of the UTF-16LE password) is as good as the password to an attacker who has it,
 * and MS-CHAPv2 exchanges fall to a DES brute force: issue 14 says never to derive it from a
 * person's main password, but from a separate generated network password used for this only.
 */
import { createCipheriv, createHash, createSecretKey, timingSafeEqual } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// MD4 (RFC 1320)

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

/** MD4 of `data` (RFC 1320 §3). */
export function md4(data: Buffer): Buffer {
  const bitLength = data.length * 8;
  // §3.1-3.2: pad with 0x80 and zeros to 56 mod 64, then the 64-bit length, little-endian.
  const padded = Buffer.alloc(Math.ceil((data.length + 9) / 64) * 64);
  data.copy(padded);
  padded[data.length] = 0x80;
  padded.writeUInt32LE(bitLength >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLength / 0x1_0000_0000), padded.length - 4);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Array<number>(16);
  const f = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number) => p ^ q ^ r;
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readUInt32LE(block + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    // Round 1: [abcd k s] a = (a + F(b,c,d) + X[k]) <<< s
    for (const k of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + x[k]!) | 0, 3);
      d = rotl((d + f(a, b, c) + x[k + 1]!) | 0, 7);
      c = rotl((c + f(d, a, b) + x[k + 2]!) | 0, 11);
      b = rotl((b + f(c, d, a) + x[k + 3]!) | 0, 19);
    }
    // Round 2: a = (a + G(b,c,d) + X[k] + 5A827999) <<< s
    for (const k of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + x[k]! + 0x5a827999) | 0, 3);
      d = rotl((d + g(a, b, c) + x[k + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + g(d, a, b) + x[k + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + g(c, d, a) + x[k + 12]! + 0x5a827999) | 0, 13);
    }
    // Round 3: a = (a + H(b,c,d) + X[k] + 6ED9EBA1) <<< s
    for (const k of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + x[k]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + h(a, b, c) + x[k + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + h(d, a, b) + x[k + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + h(c, d, a) + x[k + 12]! + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}

// ---------------------------------------------------------------------------------------------
// DES (one block, one key)

/** RFC 2759 §8.6: a 7-octet key spread over 8 octets, 7 bits each (the parity bit, ignored by DES, left 0). */
function desKey(seven: Buffer): Buffer {
  const out = Buffer.alloc(8);
  let bits = 0n;
  for (const byte of seven) bits = (bits << 8n) | BigInt(byte);
  for (let i = 0; i < 8; i++) out[i] = Number((bits >> BigInt(49 - 7 * i)) & 0x7fn) << 1;
  return out;
}

/** DES-encrypts one 8-octet block with an 8-octet key (as 3DES-EDE with K1 = K2 = K3). */
export function desEncrypt(block: Buffer, key: Buffer): Buffer {
  // A KeyObject: a Buffer key costs Node two exceptions built and caught per cipher (KeyObject? CryptoKey?).
  const cipher = createCipheriv('des-ede3-ecb', createSecretKey(Buffer.concat([key, key, key])), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

// ---------------------------------------------------------------------------------------------
// MS-CHAPv2 (RFC 2759 §8)

/** §8.3 NtPasswordHash: MD4 of the password in UTF-16LE. */
export function ntPasswordHash(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}

/** §8.2 ChallengeHash: the first 8 octets of SHA-1(PeerChallenge + AuthenticatorChallenge + UserName). */
export function challengeHash(peerChallenge: Buffer, authenticatorChallenge: Buffer, userName: string): Buffer {
  return createHash('sha1').update(peerChallenge).update(authenticatorChallenge).update(Buffer.from(userName, 'utf8')).digest().subarray(0, 8);
}

/** §8.5 ChallengeResponse: the hash zero-padded to 21 octets, three DES keys of 7, each encrypting the challenge. */
export function challengeResponse(challenge: Buffer, passwordHash: Buffer): Buffer {
  const z = Buffer.alloc(21);
  passwordHash.copy(z);
  return Buffer.concat([0, 7, 14].map((i) => desEncrypt(challenge, desKey(z.subarray(i, i + 7)))));
}

/** §8.1 GenerateNTResponse, from the NT hash. */
export function ntResponse(authenticatorChallenge: Buffer, peerChallenge: Buffer, userName: string, passwordHash: Buffer): Buffer {
  return challengeResponse(challengeHash(peerChallenge, authenticatorChallenge, userName), passwordHash);
}

const MAGIC1 = Buffer.from('Magic server to client signing constant');
const MAGIC2 = Buffer.from('Pad to make it do more than one iteration');

/** §8.7 GenerateAuthenticatorResponse: "S=" and 40 upper-case hex digits. */
export function authenticatorResponse(passwordHash: Buffer, ntResp: Buffer, peerChallenge: Buffer, authenticatorChallenge: Buffer, userName: string): string {
  const passwordHashHash = md4(passwordHash);
  const digest = createHash('sha1').update(passwordHashHash).update(ntResp).update(MAGIC1).digest();
  const challenge = challengeHash(peerChallenge, authenticatorChallenge, userName);
  return `S=${createHash('sha1').update(digest).update(challenge).update(MAGIC2).digest('hex').toUpperCase()}`;
}

/** Whether a peer's NT-Response is the one its password gives, in constant time. */
export function checkNtResponse(received: Buffer, authenticatorChallenge: Buffer, peerChallenge: Buffer, userName: string, passwordHash: Buffer): boolean {
  const expected = ntResponse(authenticatorChallenge, peerChallenge, userName, passwordHash);
  return received.length === expected.length && timingSafeEqual(received, expected);
}
