import { describe, it, expect } from 'vitest';
import { MAX_PASSWORD_BYTES, validatePasswordInput } from '../../../src/credentials/password.ts';

describe('validatePasswordInput', () => {
  it('accepts ordinary and non-ASCII passwords', () => {
    expect(validatePasswordInput('correct horse battery staple')).toBeUndefined();
    expect(validatePasswordInput('пароль-密码-🦊-パスワード')).toBeUndefined();
  });

  it.each([undefined, null, 42, {}, ['a'], Buffer.from('password')])('rejects the non-string %j', (value) => {
    expect(validatePasswordInput(value)).toEqual({ code: 'not_string', message: 'password must be a string' });
  });

  it('rejects the empty string', () => {
    expect(validatePasswordInput('')?.code).toBe('empty');
  });

  it('rejects a 1 MB string with a clear message', () => {
    expect(validatePasswordInput('a'.repeat(1024 * 1024))).toEqual({
      code: 'too_many_bytes',
      message: 'password is longer than 1024 bytes',
    });
  });

  it('counts UTF-8 bytes, not characters', () => {
    expect(MAX_PASSWORD_BYTES).toBe(1024);
    expect(validatePasswordInput('a'.repeat(1024))).toBeUndefined();
    expect(validatePasswordInput('a'.repeat(1025))?.code).toBe('too_many_bytes');
    // 4 UTF-8 bytes but only 2 UTF-16 units each: 256 fit, 257 do not.
    expect(validatePasswordInput('🦊'.repeat(256))).toBeUndefined();
    expect(validatePasswordInput('🦊'.repeat(257))?.code).toBe('too_many_bytes');
    expect(validatePasswordInput('é'.repeat(513))?.code).toBe('too_many_bytes');
  });

  it.each([
    ['a lone high surrogate', 'abc\uD800def'],
    ['a lone low surrogate', '\uDC00abc'],
    ['a reversed pair', 'x\uDE0A\uD83Dx'],
  ])('rejects %s (how invalid UTF-8 surfaces after decoding)', (_name, value) => {
    expect(validatePasswordInput(value)?.code).toBe('malformed_unicode');
  });

  it('rejects NUL characters anywhere', () => {
    for (const value of ['\0', 'abc\0', '\0abc', 'ab\0cd']) {
      expect(validatePasswordInput(value)).toEqual({
        code: 'nul_character',
        message: 'password must not contain NUL characters',
      });
    }
  });
});
