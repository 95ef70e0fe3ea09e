/** Pure pieces of the TOTP factor: input parsing, the Key URI, labels, and the tests' own RFC 6238 reference. */
import { describe, expect, it } from 'vitest';
import { checkLabel, otpauthUri, parseCode, TotpError } from '../../../src/mfa/totp.ts';
import { base32Decode, totpAt } from './totp-reference.ts';

describe('the reference RFC 6238 implementation used by the tests', () => {
  // RFC 6238 Appendix B, SHA-1 rows: the key is the ASCII string "12345678901234567890".
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ])('at %i gives %s', (time, code) => {
    expect(base32Decode(secret).toString()).toBe('12345678901234567890');
    expect(totpAt(secret, time, 8)).toBe(code);
  });
});

describe('parseCode', () => {
  it.each([
    ['123456', '123456'],
    ['123 456', '123456'],
    [' 012345\t', '012345'],
  ])('reads %j as the TOTP code %s', (input, code) => {
    expect(parseCode(input)).toEqual({ kind: 'totp', code });
  });

  it.each([
    ['abcd-efgh-ijkl-mnop', 'abcdefghijklmnop'],
    ['ABCD EFGH IJKL MNOP', 'abcdefghijklmnop'],
    ['abcdefgh23457777', 'abcdefgh23457777'],
  ])('reads %j as a recovery code', (input, normalized) => {
    expect(parseCode(input)).toEqual({ kind: 'recovery', normalized });
  });

  it.each([
    ['empty', ''],
    ['five digits', '12345'],
    ['seven digits', '1234567'],
    ['a letter', '12a456'],
    ['a sign', '-12345'],
    ['full-width digits', '１２３４５６'],
    ['Arabic-Indic digits', '١٢٣٤٥٦'],
    ['a NUL byte', '123456\u0000'],
    ['a lone surrogate', '12345\ud800'],
    ['a recovery code one short', 'abcd-efgh-ijkl-mno'],
    ['a recovery code with 0/1/8/9', 'abcd-efgh-ijkl-mno1'],
    ['one megabyte', '1'.repeat(1024 * 1024)],
    ['a number', 123456],
    ['null', null],
    ['an object', { code: '123456' }],
  ])('refuses %s', (_name, input) => {
    expect(parseCode(input)).toBeUndefined();
  });
});

describe('otpauthUri', () => {
  it('spells out every parameter, issuer first in the label', () => {
    const uri = otpauthUri('Gatehouse', 'alice@example.com', 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    expect(uri).toBe('otpauth://totp/Gatehouse:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30');
  });

  it('percent-encodes issuer and label (spaces as %20, which authenticator apps expect, not +)', () => {
    const url = new URL(otpauthUri('ACME Co', 'Jöhn Doe', 'ABC'));
    expect(url.protocol).toBe('otpauth:');
    expect(url.href).toContain('/ACME%20Co:J%C3%B6hn%20Doe?');
    expect(url.searchParams.get('issuer')).toBe('ACME Co');
  });
});

describe('checkLabel', () => {
  it('trims and accepts printable labels', () => {
    expect(checkLabel('  alice@example.com ')).toBe('alice@example.com');
  });
  it.each(['', '   ', 'a:b', 'x'.repeat(129), 'tab\there', 'bad\ud800', 42])('refuses %j', (label) => {
    expect(() => checkLabel(label)).toThrow(TotpError);
  });
});
