/**
 * The web front-end's MAC key, for CSRF tokens and anything else it signs. Every process behind a
 * load balancer must agree on it, so it is not made per process: the first process to need it
 * generates 32 random bytes, encrypts them with the secrets keyring (purpose-bound, like TOTP seeds)
 * and adds them to the shared TTL store; everyone else reads and decrypts that. When the keyring no
 * longer decrypts it (its key was rotated out), a new one replaces it: forms open at that moment
 * must be submitted again, nothing worse.
 *
 * Kept in memory for a few minutes, then read again, so a replaced key reaches every process.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Core } from '../../src/core.ts';
import { SecretError } from '../../src/secrets/keyring.ts';

const KEY_ENTRY = 'hmac-key';
const KEY_PURPOSE = 'web-hmac-key';
/** The TTL store's longest lifetime (366 days); each process renews it once a day while it uses the key. */
const KEY_TTL_SECONDS = 366 * 86_400;
const RENEW_MS = 86_400_000;
const CACHE_MS = 5 * 60_000;

export class WebSecrets {
  private readonly core: Core;
  private cached: { key: Promise<Buffer>; at: number } | undefined;
  private renewedAt = 0;

  constructor(core: Core) {
    this.core = core;
  }

  /** HMAC-SHA256 of `value` under the web key, domain-separated by `label`; base64url. */
  async mac(label: string, value: string): Promise<string> {
    const key = await this.key();
    return createHmac('sha256', key).update(label).update('\0').update(value).digest('base64url');
  }

  /** Whether `presented` is the MAC of `value` (constant-time compare). */
  async verify(label: string, value: string, presented: unknown): Promise<boolean> {
    if (typeof presented !== 'string' || presented.length !== 43) return false;
    const expected = Buffer.from(await this.mac(label, value));
    return timingSafeEqual(expected, Buffer.from(presented));
  }

  private key(): Promise<Buffer> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) {
      const key = this.load();
      this.cached = { key, at: now };
      // A failed load (store down) is not cached: the next request tries again.
      key.catch(() => {
        if (this.cached?.key === key) this.cached = undefined;
      });
    }
    return this.cached.key;
  }

  private async load(): Promise<Buffer> {
    const kv = this.core.kv('web');
    const stored = await kv.get<string>(KEY_ENTRY);
    if (stored !== undefined) {
      try {
        const key = Buffer.from(this.core.keyring.decrypt(stored, KEY_PURPOSE), 'base64');
        if (Date.now() - this.renewedAt > RENEW_MS) {
          await kv.put(KEY_ENTRY, stored, KEY_TTL_SECONDS);
          this.renewedAt = Date.now();
        }
        return key;
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        this.core.logger.warn({ err }, 'the web MAC key does not decrypt with the configured secrets keys; replacing it (open sign-in forms must be submitted again)');
        const fresh = randomBytes(32);
        await kv.put(KEY_ENTRY, this.core.keyring.encrypt(fresh.toString('base64'), KEY_PURPOSE), KEY_TTL_SECONDS);
        return fresh;
      }
    }
    const fresh = randomBytes(32);
    if (await kv.add(KEY_ENTRY, this.core.keyring.encrypt(fresh.toString('base64'), KEY_PURPOSE), KEY_TTL_SECONDS)) {
      this.renewedAt = Date.now();
      return fresh;
    }
    // Another process stored its key first: use that one.
    const winner = await kv.get<string>(KEY_ENTRY);
    if (winner === undefined) throw new Error('the web MAC key vanished while it was being created');
    return Buffer.from(this.core.keyring.decrypt(winner, KEY_PURPOSE), 'base64');
  }
}
