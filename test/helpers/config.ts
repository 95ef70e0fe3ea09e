/** The configuration every test server and core starts from. */
import { randomBytes } from 'node:crypto';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
export const TEST_SECRET_KEY = randomBytes(32).toString('base64');

/** Fast but real argon2id parameters for tests (the schema's minimum memory). */
export const FAST_ARGON2 = { memoryKiB: 8192, iterations: 1, parallelism: 1 };

/** The test configuration with `overrides` merged in deeply (objects merge, anything else replaces). */
export function testConfig(url: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return merge(
    {
      server: { http: { host: '127.0.0.1', port: 0 } },
      ldap: { port: 0 },
      storage: { url },
      secrets: { keys: [{ id: 'test', key: TEST_SECRET_KEY }] },
      log: { level: 'silent' },
      passwords: { argon2: FAST_ARGON2 },
    },
    overrides,
  );
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const bothObjects = [current, value].every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
    out[key] = bothObjects ? merge(current as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return out;
}

