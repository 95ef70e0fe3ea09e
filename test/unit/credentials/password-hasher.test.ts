import { describe, it, expect } from 'vitest';
import * as argon2 from '@node-rs/argon2';
import type { Algorithm, Version } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import {
  DEFAULT_ARGON2,
  PasswordHasher,
  PasswordInputError,
} from '../../../src/credentials/password.ts';

// Low cost keeps the suite fast; defaults are exercised in one test only.
const FAST = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const hasher = new PasswordHasher(FAST);

// @node-rs/argon2's Algorithm/Version are const enums (not importable at run time).
const ARGON2D = 0 as Algorithm;
const ARGON2I = 1 as Algorithm;
const V0x10 = 0 as Version;

describe('PasswordHasher: argon2id', () => {
  it('hashes to an argon2id PHC string with the configured parameters', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  });

  it('round-trips and needs no rehash with unchanged parameters', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify(stored, 'correct horse battery staple')).toEqual({
      ok: true,
      needsRehash: false,
      scheme: 'argon2id',
    });
  });

  it('rejects a wrong password', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    expect(await hasher.verify(stored, 'correct horse battery stapler')).toEqual({
      ok: false,
      needsRehash: false,
      scheme: 'argon2id',
    });
  });

  it('salts every hash', async () => {
    expect(await hasher.hash('same password')).not.toBe(await hasher.hash('same password'));
  });

  it.each([
    ['memory', { ...FAST, memoryKiB: 2048 }],
    ['iterations', { ...FAST, iterations: 2 }],
    ['parallelism', { ...FAST, parallelism: 2 }],
  ])('asks for a rehash when the configured %s changes', async (_name, params) => {
    const stored = await hasher.hash('correct horse battery staple');
    const result = await new PasswordHasher(params).verify(stored, 'correct horse battery staple');
    expect(result).toEqual({ ok: true, needsRehash: true, scheme: 'argon2id' });
  });

  it('never asks for a rehash after a failed verification', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    const result = await new PasswordHasher({ ...FAST, iterations: 2 }).verify(stored, 'wrong');
    expect(result.needsRehash).toBe(false);
  });

  it('uses the OWASP defaults when given DEFAULT_ARGON2', async () => {
    expect(DEFAULT_ARGON2).toEqual({ memoryKiB: 19456, iterations: 2, parallelism: 1 });
    const defaults = new PasswordHasher(DEFAULT_ARGON2);
    const stored = await defaults.hash('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await defaults.verify(stored, 'correct horse battery staple')).toEqual({
      ok: true,
      needsRehash: false,
      scheme: 'argon2id',
    });
  });

  it('hashes the NFKC form, so equivalent spellings match', async () => {
    // U+FB01 LATIN SMALL LIGATURE FI, and "é" precomposed vs e + combining acute.
    const stored = await hasher.hash('\uFB01nance caf\u00E9 morning');
    expect((await hasher.verify(stored, 'finance caf\u00E9 morning')).ok).toBe(true);
    expect((await hasher.verify(stored, 'finance cafe\u0301 morning')).ok).toBe(true);
    expect((await hasher.verify(stored, '\uFB01nance caf\u00E9 morning')).ok).toBe(true);
  });

  it('verifies argon2i and argon2d hashes and asks to upgrade them', async () => {
    const options = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
    const argon2i = await argon2.hash('imported secret', { ...options, algorithm: ARGON2I });
    const argon2d = await argon2.hash('imported secret', { ...options, algorithm: ARGON2D, version: V0x10 });
    expect(argon2d).toMatch(/^\$argon2d\$v=16\$/);
    expect(await hasher.verify(argon2i, 'imported secret')).toEqual({ ok: true, needsRehash: true, scheme: 'argon2i' });
    expect(await hasher.verify(argon2d, 'imported secret')).toEqual({ ok: true, needsRehash: true, scheme: 'argon2d' });
    expect((await hasher.verify(argon2i, 'imported secreT')).ok).toBe(false);
    // Hashes from before the v= field existed are version 0x10.
    const versionless = argon2d.replace('v=16$', '');
    expect(await hasher.verify(versionless, 'imported secret')).toEqual({ ok: true, needsRehash: true, scheme: 'argon2d' });
  });

  it('asks to rehash an argon2id hash of an older argon2 version', async () => {
    const old = await argon2.hash('old secret', { memoryCost: 1024, timeCost: 1, parallelism: 1, version: V0x10 });
    expect(await hasher.verify(old, 'old secret')).toEqual({ ok: true, needsRehash: true, scheme: 'argon2id' });
  });

  it.each([
    ['memory below the argon2 minimum', { memoryKiB: 4, iterations: 1, parallelism: 1 }],
    ['memory above the verification cap', { memoryKiB: 1_048_576, iterations: 1, parallelism: 1 }],
    ['zero iterations', { memoryKiB: 1024, iterations: 0, parallelism: 1 }],
    ['fractional parallelism', { memoryKiB: 1024, iterations: 1, parallelism: 1.5 }],
  ])('refuses to be configured with %s', (_name, params) => {
    expect(() => new PasswordHasher(params)).toThrow(RangeError);
  });

  it('refuses to hash invalid input', async () => {
    await expect(hasher.hash('')).rejects.toThrow(PasswordInputError);
    await expect(hasher.hash('x'.repeat(2000))).rejects.toThrow('password is longer than 1024 bytes');
    await expect(hasher.hash('bad\uD800')).rejects.toThrow(PasswordInputError);
    await expect(hasher.hash(42 as unknown as string)).rejects.toThrow(PasswordInputError);
  });

  it('treats invalid password input as a mismatch without throwing', async () => {
    const stored = await hasher.hash('correct horse battery staple');
    for (const input of ['', 'a\0b', 'x'.repeat(1_000_000), '\uDC00', null, undefined, 7]) {
      const result = await hasher.verify(stored, input as string);
      expect(result).toEqual({ ok: false, needsRehash: false, scheme: 'argon2id' });
    }
  });
});

describe('PasswordHasher: bcrypt', () => {
  it('verifies a hash made by bcryptjs and asks to upgrade it', async () => {
    const stored = await bcrypt.hash('legacy bcrypt secret', 4);
    expect(stored).toMatch(/^\$2b\$04\$/);
    expect(await hasher.verify(stored, 'legacy bcrypt secret')).toEqual({ ok: true, needsRehash: true, scheme: 'bcrypt' });
    expect(await hasher.verify(stored, 'legacy bcrypt secreT')).toEqual({ ok: false, needsRehash: false, scheme: 'bcrypt' });
  });

  it('accepts the $2a$ and $2y$ prefixes', async () => {
    const stored = await bcrypt.hash('legacy bcrypt secret', 4);
    for (const prefix of ['$2a$', '$2y$']) {
      const result = await hasher.verify(stored.replace('$2b$', prefix), 'legacy bcrypt secret');
      expect(result).toEqual({ ok: true, needsRehash: true, scheme: 'bcrypt' });
    }
  });

  it('refuses a cost above the cap without computing it', async () => {
    const stored = (await bcrypt.hash('legacy bcrypt secret', 4)).replace('$04$', '$31$');
    const started = performance.now();
    expect(await hasher.verify(stored, 'legacy bcrypt secret')).toEqual({ ok: false, needsRehash: false, scheme: undefined });
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('PasswordHasher.dummyVerify', () => {
  it('resolves, repeatedly, without revealing anything', async () => {
    const dummy = new PasswordHasher(FAST);
    await expect(dummy.dummyVerify('some password')).resolves.toBeUndefined();
    await expect(dummy.dummyVerify('another password')).resolves.toBeUndefined();
  });

  it('does not throw on invalid input', async () => {
    await expect(hasher.dummyVerify('')).resolves.toBeUndefined();
    await expect(hasher.dummyVerify(undefined as unknown as string)).resolves.toBeUndefined();
    await expect(hasher.dummyVerify('x'.repeat(1_000_000))).resolves.toBeUndefined();
  });

  it('costs about as much as verifying a real hash', async () => {
    // Coarse bound only: the point is that it does real argon2 work. Measured in CPU time spent by
    // this process (the hashing threads included), which other load on a shared machine does not
    // inflate as it does wall time; the median of a few runs each.
    const params = { memoryKiB: 16384, iterations: 2, parallelism: 1 };
    const real = new PasswordHasher(params);
    const stored = await real.hash('correct horse battery staple');
    await real.dummyVerify('warm-up'); // builds the cached dummy hash
    const cpu = async (work: () => Promise<unknown>) => {
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = process.cpuUsage();
        await work();
        const used = process.cpuUsage(started);
        runs.push(used.user + used.system);
      }
      return runs.sort((a, b) => a - b)[2]!;
    };
    const verifyCpu = await cpu(() => real.verify(stored, 'wrong password'));
    const dummyCpu = await cpu(() => real.dummyVerify('wrong password'));
    expect(dummyCpu).toBeGreaterThan(verifyCpu / 4);
  });
});
