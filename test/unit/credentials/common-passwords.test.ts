import { describe, it, expect } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import {
  commonPasswords,
  isCommonPassword,
  parseCommonPasswordList,
} from '../../../src/credentials/common-passwords.ts';

const LIST_FILE = new URL('../../../src/credentials/common-passwords.txt', import.meta.url);

describe('shipped common-password list', () => {
  it('is a reasonably sized plain-text file with its provenance in the header', () => {
    expect(statSync(LIST_FILE).size).toBeLessThan(2 * 1024 * 1024);
    const header = readFileSync(LIST_FILE, 'utf8').split('\n').slice(0, 4).join('\n');
    expect(header).toMatch(/^# /);
    expect(header).toMatch(/Source: npm @zxcvbn-ts\/language-common/);
    expect(header).toMatch(/Licence: MIT/);
  });

  it('loads at least 10,000 lower-cased entries, without the header', () => {
    const list = commonPasswords();
    expect(list.size).toBeGreaterThanOrEqual(10_000);
    const malformed = [...list].filter((entry) => entry === '' || entry.startsWith('# ') || entry !== entry.toLowerCase());
    expect(malformed).toEqual([]);
  });

  it('is loaded once and then reused', () => {
    expect(commonPasswords()).toBe(commonPasswords());
  });

  it('contains the perennial favourites', () => {
    for (const password of ['123456', 'password', 'qwerty', 'letmein', 'trustno1', 'iloveyou']) {
      expect(isCommonPassword(password)).toBe(true);
    }
    expect(isCommonPassword('violet tractor under the umbrella')).toBe(false);
  });
});

describe('parseCommonPasswordList', () => {
  it('skips "# " comments and blank lines, and tolerates CRLF', () => {
    const parsed = parseCommonPasswordList('# header\r\nalpha\r\n\r\n#hashtag\nbeta\n');
    expect([...parsed]).toEqual(['alpha', '#hashtag', 'beta']);
  });
});
