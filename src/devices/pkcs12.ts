/**
 * PKCS#12 (RFC 7292) files holding one private key, its certificate and the CA chain, for devices
 * that cannot make a CSR (MDM profiles, WiFi supplicants). Written here with node:crypto and a
 * small DER writer: the format is a handful of nested SEQUENCEs, and owning them keeps the
 * algorithms modern and explicit.
 *
 * Algorithms, as Java's keytool and OpenSSL 3 write them by default:
 *  - the key: a pkcs8ShroudedKeyBag, PBES2 (RFC 8018 §6.2) with PBKDF2-HMAC-SHA256 and AES-256-CBC;
 *  - the certificates: plain certBags (certificates are public);
 *  - integrity: an HMAC-SHA256 over the authenticated safe, keyed by the PKCS#12 KDF
 *    (RFC 7292 Appendix B.2, ID 3) from the password.
 * Some older importers (older macOS keychains, Windows before 10 1709, OpenSSL before 1.1) read only
 * the legacy 3DES/SHA-1 variant, which is not offered.
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, type KeyObject } from 'node:crypto';

/** Java keytool's defaults (JDK 12+): enough to slow guessing, cheap enough for phones importing. */
export const PKCS12_ITERATIONS = 10_000;

const OID = {
  data: '1.2.840.113549.1.7.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  keyBag: '1.2.840.113549.1.12.10.1.2', // pkcs8ShroudedKeyBag
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

export interface Pkcs12Input {
  privateKey: KeyObject;
  /** DER of the key's certificate. */
  certificate: Buffer;
  /** DER of the CA certificates, issuer first. */
  chain: Buffer[];
  password: string;
  /** Shown by importers (keychains, certificate stores). */
  friendlyName: string;
  iterations?: number;
}

/** The PFX, DER-encoded. */
export function buildPkcs12(input: Pkcs12Input): Buffer {
  const iterations = input.iterations ?? PKCS12_ITERATIONS;
  // localKeyId pairs the key with its certificate (RFC 7292 §4.2); the certificate's SHA-1 is the
  // value OpenSSL and Windows use.
  const localKeyId = createHash('sha1').update(input.certificate).digest();
  const ownAttributes = [attribute(OID.friendlyName, bmpString(input.friendlyName)), attribute(OID.localKeyId, octetString(localKeyId))];

  const certBags = [
    safeBag(OID.certBag, certBag(input.certificate), ownAttributes),
    ...input.chain.map((der) => safeBag(OID.certBag, certBag(der), [])),
  ];
  const keyBag = safeBag(OID.keyBag, encryptPrivateKey(input.privateKey, input.password, iterations), ownAttributes);

  const authSafe = sequence(dataContentInfo(sequence(...certBags)), dataContentInfo(sequence(keyBag)));
  const macSalt = randomBytes(16);
  const macKey = pkcs12Kdf(input.password, macSalt, 3, iterations, 32);
  const mac = createHmac('sha256', macKey).update(authSafe).digest();
  const macData = sequence(sequence(sequence(oid(OID.sha256), NULL), octetString(mac)), octetString(macSalt), integer(iterations));
  return sequence(integer(3), dataContentInfo(authSafe), macData);
}

/** EncryptedPrivateKeyInfo (RFC 5958 §3) with PBES2: PBKDF2-HMAC-SHA256 → AES-256-CBC. */
function encryptPrivateKey(key: KeyObject, password: string, iterations: number): Buffer {
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  // PBES2 takes the password as its octets (RFC 8018 §3); callers keep it to printable ASCII so
  // every importer agrees on them.
  const cek = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', cek, iv);
  const encrypted = Buffer.concat([cipher.update(plain), cipher.final()]);
  const kdf = sequence(oid(OID.pbkdf2), sequence(octetString(salt), integer(iterations), integer(32), sequence(oid(OID.hmacWithSHA256), NULL)));
  const scheme = sequence(oid(OID.aes256Cbc), octetString(iv));
  return sequence(sequence(oid(OID.pbes2), sequence(kdf, scheme)), octetString(encrypted));
}

/**
 * The PKCS#12 key derivation function with SHA-256 (RFC 7292 Appendix B.2): u = 32 output bytes
 * per round, v = 64-byte blocks, the password as a NUL-terminated BMPString.
 */
export function pkcs12Kdf(password: string, salt: Buffer, id: 1 | 2 | 3, iterations: number, length: number): Buffer {
  const u = 32;
  const v = 64;
  const pass = password === '' ? Buffer.alloc(0) : Buffer.concat([utf16be(password), Buffer.alloc(2)]);
  const D = Buffer.alloc(v, id);
  const fill = (data: Buffer) => {
    const out = Buffer.alloc(v * Math.ceil(data.length / v));
    for (let i = 0; i < out.length; i++) out[i] = data[i % data.length]!;
    return out;
  };
  const I = Buffer.concat([salt.length ? fill(salt) : Buffer.alloc(0), pass.length ? fill(pass) : Buffer.alloc(0)]);
  const rounds = Math.ceil(length / u);
  const out: Buffer[] = [];
  for (let i = 0; i < rounds; i++) {
    let A = createHash('sha256').update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash('sha256').update(A).digest();
    out.push(A);
    if (i === rounds - 1) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, B being A repeated to v bytes.
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

// ---------------------------------------------------------------------------------------------
// PKCS#12 structures

function dataContentInfo(content: Buffer): Buffer {
  return sequence(oid(OID.data), explicit0(octetString(content)));
}

function safeBag(bagId: string, value: Buffer, attributes: Buffer[]): Buffer {
  return sequence(oid(bagId), explicit0(value), ...(attributes.length ? [setOf(attributes)] : []));
}

function certBag(der: Buffer): Buffer {
  return sequence(oid(OID.x509Certificate), explicit0(octetString(der)));
}

function attribute(type: string, value: Buffer): Buffer {
  return sequence(oid(type), setOf([value]));
}

// ---------------------------------------------------------------------------------------------
// A minimal DER writer (X.690 §8, §10)

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

function sequence(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

/** DER sorts the members of a SET OF by their encodings (X.690 §11.6). */
function setOf(items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
}

function explicit0(inner: Buffer): Buffer {
  return tlv(0xa0, inner);
}

function octetString(bytes: Buffer): Buffer {
  return tlv(0x04, bytes);
}

const NULL = Buffer.from([0x05, 0x00]);

function integer(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift((rest & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function utf16be(text: string): Buffer {
  const le = Buffer.from(text, 'utf16le');
  return le.swap16();
}

function bmpString(text: string): Buffer {
  return tlv(0x1e, utf16be(text));
}
