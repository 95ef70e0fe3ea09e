import { describe, it, expect } from 'vitest';
import {
  DEFAULT_PASSWORD_POLICY,
  checkPasswordPolicy,
  passwordContextWords,
  validatePasswordPolicy,
} from '../../../src/credentials/password.ts';
import type { PasswordPolicy } from '../../../src/credentials/password.ts';

const NO_CONTEXT = { words: [] };
const codes = (password: string, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY, words: string[] = []) =>
  checkPasswordPolicy(password, policy, { words }).map((problem) => problem.code);

describe('DEFAULT_PASSWORD_POLICY', () => {
  it('follows NIST SP 800-63B-4', () => {
    expect(DEFAULT_PASSWORD_POLICY).toEqual({
      minLength: 15,
      maxLength: 64,
      rejectCommon: true,
      rejectContextWords: true,
      composition: { lowercase: 0, uppercase: 0, digits: 0, symbols: 0 },
      history: 0,
    });
    expect(validatePasswordPolicy(DEFAULT_PASSWORD_POLICY)).toEqual([]);
  });

  it('accepts a long, uncommon passphrase', () => {
    expect(checkPasswordPolicy('violet tractor under the umbrella', DEFAULT_PASSWORD_POLICY, NO_CONTEXT)).toEqual([]);
  });
});

describe('length', () => {
  it('rejects passwords shorter than the minimum, with a clear message', () => {
    expect(checkPasswordPolicy('violet tractor', DEFAULT_PASSWORD_POLICY, NO_CONTEXT)).toEqual([
      { code: 'too_short', message: 'password must be at least 15 characters' },
    ]);
  });

  it('rejects passwords longer than the maximum', () => {
    const words = 'violet tractor under the umbrella sings quietly beside marble gates';
    expect(words.length).toBeGreaterThan(64);
    expect(checkPasswordPolicy(words, DEFAULT_PASSWORD_POLICY, NO_CONTEXT)).toEqual([
      { code: 'too_long', message: 'password must be at most 64 characters' },
    ]);
    expect(codes(words.slice(0, 64))).toEqual([]);
  });

  it('counts code points, not UTF-16 units', () => {
    // 64 astral characters are 128 UTF-16 units but 64 code points.
    const foxes = '🦊🐻'.repeat(32);
    expect(codes(foxes)).toEqual([]);
    expect(codes(`${foxes}x`)).toEqual(['too_long']);
    expect(codes('🦊🐻'.repeat(7))).toEqual(['too_short']); // 14 code points, 28 units
  });

  it('counts after NFKC normalisation', () => {
    // "ﬁ" (U+FB01) is one code point but normalises to "fi": 14 typed, 15 counted.
    const password = 'zebra quilt ﬁg';
    expect([...password].length).toBe(14);
    expect(codes(password)).toEqual([]);
    expect(codes('zebra quilt fg')).toEqual(['too_short']);
  });
});

describe('common passwords', () => {
  const eightChars = { ...DEFAULT_PASSWORD_POLICY, minLength: 8 };

  it('rejects passwords on the shipped list, case-insensitively', () => {
    expect(codes('password', eightChars)).toEqual(['common']);
    expect(codes('PassWord', eightChars)).toEqual(['common']);
    expect(codes('qwertyuiop12345')).toEqual(['common']);
  });

  it('rejects a common password with digits or symbols appended', () => {
    expect(codes('Password123!', eightChars)).toEqual(['common']);
    expect(codes('baseball1234567!!')).toEqual(['common']);
  });

  it('does not strip anything but a trailing suffix', () => {
    expect(codes('123!baseballplayer', eightChars)).toEqual([]);
  });

  it('can be switched off', () => {
    expect(codes('password', { ...eightChars, rejectCommon: false })).toEqual([]);
  });

  it('explains the rejection', () => {
    const [problem] = checkPasswordPolicy('password', eightChars, NO_CONTEXT);
    expect(problem?.message).toMatch(/too common/);
  });
});

describe('context words', () => {
  const words = passwordContextWords({
    username: 'mhopper',
    email: 'margaret.hopper@example.com',
    displayName: 'Margaret Ann Hopper',
  });

  it('collects username, email local part, display-name parts and the service name', () => {
    expect(words).toEqual(['gatehouse', 'mhopper', 'margaret.hopper', 'Margaret', 'Ann', 'Hopper']);
  });

  it.each([
    ['the username', 'mhopper-violet-tractor'],
    ['the email local part', 'xx margaret.hopper xx'],
    ['a display-name part, in any case', 'violet tractor HOPPER'],
    ['the service name', 'my gatehouse password!'],
  ])('rejects a password containing %s', (_name, password) => {
    expect(checkPasswordPolicy(password, DEFAULT_PASSWORD_POLICY, { words })).toEqual([
      {
        code: 'context',
        message: 'password must not contain your username, email address, name, or the service name',
      },
    ]);
  });

  it('ignores short words inside a password but not a password equal to one', () => {
    const policy = { ...DEFAULT_PASSWORD_POLICY, minLength: 3 };
    expect(codes('violet ann tractor', policy, words)).toEqual([]);
    expect(codes('ANN', policy, words)).toEqual(['context']);
  });

  it('can be switched off', () => {
    expect(codes('mhopper-violet-tractor', { ...DEFAULT_PASSWORD_POLICY, rejectContextWords: false }, words)).toEqual([]);
  });
});

describe('composition (off by default, per SP 800-63B-4)', () => {
  const strict: PasswordPolicy = {
    ...DEFAULT_PASSWORD_POLICY,
    composition: { lowercase: 1, uppercase: 2, digits: 1, symbols: 1 },
  };

  it('reports every missing class', () => {
    expect(checkPasswordPolicy('violettractorumbrella', strict, NO_CONTEXT)).toEqual([
      { code: 'composition_uppercase', message: 'password must contain at least 2 uppercase letters' },
      { code: 'composition_digits', message: 'password must contain at least 1 digit' },
      { code: 'composition_symbols', message: 'password must contain at least 1 symbol' },
    ]);
  });

  it('counts Unicode letters and digits', () => {
    expect(codes('Émile Ürban 7 tractors', strict)).toEqual([]);
    expect(codes('émile ürban 7 tractors', strict)).toEqual(['composition_uppercase']);
    expect(codes('ÉMILE ÜRBAN 7 TRACTORS', strict)).toEqual(['composition_lowercase']);
  });
});

describe('input problems', () => {
  it('reports malformed input instead of policy problems', () => {
    expect(codes('violet\0tractor umbrella')).toEqual(['nul_character']);
    expect(codes('violet tractor\uD800 umbrella')).toEqual(['malformed_unicode']);
    expect(codes('')).toEqual(['empty']);
  });

  it('reports several problems at once', () => {
    expect(codes('Gatehouse1', DEFAULT_PASSWORD_POLICY, ['gatehouse'])).toEqual(['too_short', 'context']);
  });
});

describe('validatePasswordPolicy', () => {
  it.each([
    ['a maximum below 64', { maxLength: 32 }],
    ['a minimum below 8', { minLength: 6 }],
    ['a maximum below the minimum', { minLength: 100, maxLength: 80 }],
    ['a negative history', { history: -1 }],
    ['a fractional composition count', { composition: { lowercase: 0.5, uppercase: 0, digits: 0, symbols: 0 } }],
  ])('rejects %s', (_name, override) => {
    expect(validatePasswordPolicy({ ...DEFAULT_PASSWORD_POLICY, ...override })).toHaveLength(1);
  });
});
