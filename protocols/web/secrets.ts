/**
 * The web front-end's MAC key, for CSRF tokens and anything else it signs. Every process behind a
 * load balancer must agree on it: it is derived from the secrets keyring (Keyring.derive), so
 * processes with the same configuration compute the same key and nothing is stored. Rotating the
 * keyring's first key rotates it: forms open at that moment must be submitted again, nothing worse.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Core } from '../../src/core.ts';

const KEY_PURPOSE = 'web-hmac-key';

export class WebSecrets {
  private readonly key: Buffer;

  constructor(core: Core) {
    this.key = core.keyring.derive(KEY_PURPOSE);
  }

  /** HMAC-SHA256 of `value` under the web key, domain-separated by `label`; base64url. */
  async mac(label: string, value: string): Promise<string> {
    return createHmac('sha256', this.key).update(label).update('\0').update(value).digest('base64url');
  }

  /** Whether `presented` is the MAC of `value` (constant-time compare). */
  async verify(label: string, value: string, presented: unknown): Promise<boolean> {
    if (typeof presented !== 'string' || presented.length !== 43) return false;
    const expected = Buffer.from(await this.mac(label, value));
    return timingSafeEqual(expected, Buffer.from(presented));
  }
}
