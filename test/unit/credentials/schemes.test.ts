import { describe, it, expect } from 'vitest';
import { PasswordHasher, identifyScheme } from '../../../src/credentials/password.ts';
import { djangoPbkdf2, passlibPbkdf2, saltedSha } from './legacy-hashes.ts';

const hasher = new PasswordHasher({ memoryKiB: 1024, iterations: 1, parallelism: 1 });

const ARGON2_TAIL = '$c29tZXNhbHRzb21lc2FsdA$mV5pDwZ3bdDdpZbYM+sUbpvH4ODHq9M4n/5iMhfSmaY';
const BCRYPT = '$2b$04$XvThvVAQFxnV6ASUJnH3Fu0gtPHanI2X3Hc1hp7S0yZO1a3vQ.p5i';

describe('identifyScheme', () => {
  it.each([
    ['argon2id', `$argon2id$v=19$m=19456,t=2,p=1${ARGON2_TAIL}`],
    ['argon2i', `$argon2i$v=19$m=4096,t=3,p=1${ARGON2_TAIL}`],
    ['argon2d', `$argon2d$m=4096,t=3,p=1${ARGON2_TAIL}`],
    ['bcrypt', BCRYPT],
    ['bcrypt', BCRYPT.replace('$2b$', '$2a$')],
    ['bcrypt', BCRYPT.replace('$2b$', '$2y$')],
    ['pbkdf2-sha256', passlibPbkdf2('x', 'sha256')],
    ['pbkdf2-sha512', passlibPbkdf2('x', 'sha512')],
    ['pbkdf2-sha256', djangoPbkdf2('x')],
    ['ssha', saltedSha('x', 'SSHA')],
    ['ssha512', saltedSha('x', 'SSHA512')],
    ['ssha', saltedSha('x', 'SSHA').replace('{SSHA}', '{ssha}')],
  ])('recognises %s', (scheme, stored) => {
    expect(identifyScheme(stored)).toBe(scheme);
  });
});

describe('malformed or hostile stored hashes', () => {
  const sha1Only = Buffer.alloc(20, 7).toString('base64');
  const cases: Array<[string, unknown]> = [
    ['empty', ''],
    ['plain text', 'hunter2'],
    ['bare prefix', '$argon2id$'],
    ['argon2 missing hash', '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA'],
    ['argon2 bad base64', `$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRz*21lc2FsdA$mV5pDwZ3bdDdpZbYM+sUbpvH4ODHq9M4n/5iMhfSmaY`],
    ['argon2 unknown version', `$argon2id$v=20$m=19456,t=2,p=1${ARGON2_TAIL}`],
    ['argon2 4 GiB memory', `$argon2id$v=19$m=4194304,t=1,p=1${ARGON2_TAIL}`],
    ['argon2 too many passes', `$argon2id$v=19$m=19456,t=1000,p=1${ARGON2_TAIL}`],
    ['argon2 too much total work', `$argon2id$v=19$m=262144,t=16,p=1${ARGON2_TAIL}`],
    ['argon2 zero lanes', `$argon2id$v=19$m=19456,t=2,p=0${ARGON2_TAIL}`],
    ['argon2 memory below 8 KiB per lane', `$argon2id$v=19$m=8,t=2,p=4${ARGON2_TAIL}`],
    ['argon2 reordered params', `$argon2id$v=19$t=2,m=19456,p=1${ARGON2_TAIL}`],
    ['bcrypt truncated', BCRYPT.slice(0, 40)],
    ['bcrypt cost 31', BCRYPT.replace('$04$', '$31$')],
    ['bcrypt cost 3', BCRYPT.replace('$04$', '$03$')],
    ['bcrypt $2x$', BCRYPT.replace('$2b$', '$2x$')],
    ['bcrypt "+4" cost spelling', BCRYPT.replace('$04$', '$+4$')],
    ['pbkdf2 zero rounds', '$pbkdf2-sha256$0$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['pbkdf2 rounds above the cap', '$pbkdf2-sha256$10000001$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['pbkdf2 zero-padded rounds', '$pbkdf2-sha256$06400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['pbkdf2 short checksum', '$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrn'],
    ['pbkdf2-sha512 with a sha256-sized checksum', '$pbkdf2-sha512$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['pbkdf2 "+" in ab64', '$pbkdf2-sha256$6400$0Zrz+itFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['pbkdf2 unsupported digest', '$pbkdf2-sha1$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M'],
    ['django rounds above the cap', 'pbkdf2_sha256$99999999$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo='],
    ['django hash not base64', 'pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tc!Qo='],
    ['django empty salt', 'pbkdf2_sha256$260000$$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo='],
    ['ssha without salt', `{SSHA}${sha1Only}`],
    ['ssha bad base64', '{SSHA}FM6N1jTf/0PflNiYX1GDVd0V3b/acp0w!'],
    ['ssha with whitespace', '{SSHA} FM6N1jTf/0PflNiYX1GDVd0V3b/acp0w'],
    ['unsalted {SHA}', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='],
    ['{MD5}', '{MD5}X03MO1qnZdYdgyfeuILPmQ=='],
    ['md5-crypt', '$1$5pZSV9va$azfrPr6af3Fc7dLblQXVa0'],
    ['very long', `$argon2id$v=19$m=19456,t=2,p=1$${'A'.repeat(5000)}$${'B'.repeat(43)}`],
    ['null', null],
    ['number', 12345],
  ];

  it.each(cases)('%s: is not identified and never verifies', async (_name, stored) => {
    expect(identifyScheme(stored as string)).toBeUndefined();
    const started = performance.now();
    const result = await hasher.verify(stored as string, 'password');
    expect(result).toEqual({ ok: false, needsRehash: false, scheme: undefined });
    // Refused before any work factor is computed.
    expect(performance.now() - started).toBeLessThan(250);
  });
});
