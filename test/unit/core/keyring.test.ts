import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keyring, loadKeyring, SecretError } from '../../../src/secrets/keyring.ts';

const key = () => randomBytes(32).toString('base64');

describe('keyring', () => {
  it('round-trips, binds the purpose, and detects tampering', () => {
    const ring = new Keyring([{ id: 'k1', key: key() }]);
    const c = ring.encrypt('s3cret', 'radius');
    expect(c).toMatch(/^v1\.k1\./);
    expect(c).not.toContain('s3cret');
    expect(ring.encrypt('s3cret', 'radius')).not.toBe(c); // fresh IV each time
    expect(ring.decrypt(c, 'radius')).toBe('s3cret');
    expect(() => ring.decrypt(c, 'totp')).toThrow(SecretError);
    // Change the second-to-last character: all its 6 bits are data (the last one's may be padding bits).
    const flipped = c.slice(0, -2) + (c.at(-2) === 'A' ? 'B' : 'A') + c.slice(-1);
    expect(flipped).not.toBe(c);
    expect(() => ring.decrypt(flipped, 'radius')).toThrow(/tampered/);
    expect(() => ring.decrypt('v1.k1.AAAA', 'radius')).toThrow(/truncated/);
    expect(() => ring.decrypt('garbage', 'radius')).toThrow(SecretError);
  });

  it('derives a stable key per purpose from the first key', () => {
    const first = { id: 'a', key: key() };
    const ring = new Keyring([first, { id: 'b', key: key() }]);
    expect(ring.derive('web')).toHaveLength(32);
    expect(new Keyring([first]).derive('web').equals(ring.derive('web'))).toBe(true);
    expect(ring.derive('web').equals(ring.derive('other'))).toBe(false);
    expect(new Keyring([{ id: 'a', key: key() }]).derive('web').equals(ring.derive('web'))).toBe(false);
  });

  it('rotates: the first key encrypts, every key decrypts', () => {
    const oldKey = { id: 'old', key: key() };
    const old = new Keyring([oldKey]);
    const c = old.encrypt('v', 'p');
    const rotated = new Keyring([{ id: 'new', key: key() }, oldKey]);
    expect(rotated.decrypt(c, 'p')).toBe('v');
    expect(rotated.needsRotation(c)).toBe(true);
    expect(rotated.needsRotation(rotated.encrypt('v', 'p'))).toBe(false);
    expect(() => new Keyring([{ id: 'new', key: key() }]).decrypt(c, 'p')).toThrow(/key 'old', which is not configured/);
  });

  it('refuses bad keys clearly', () => {
    expect(() => new Keyring([])).toThrow(SecretError);
    expect(() => new Keyring([{ id: 'k', key: 'c2hvcnQ=' }])).toThrow(/32 bytes/);
    const k = key();
    expect(() => new Keyring([{ id: 'k', key: k }, { id: 'k', key: k }])).toThrow(/twice/);
  });

  it('generates a private key file on first start and reuses it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gh-key-')), 'sub', 'secret.key');
    const a = loadKeyring({ keys: [], keyFile: file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const content = readFileSync(file, 'utf8');
    const b = loadKeyring({ keys: [], keyFile: file });
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(b.decrypt(a.encrypt('x', 'p'), 'p')).toBe('x');
  });
});
