/**
 * Rotating the secrets keyring: which key every stored secret is encrypted under (`status`), and
 * re-encrypting those under an older key with the primary one (`reencrypt`), so that the old key
 * can then be removed from the configuration (`gatehouse keyring status|reencrypt`).
 *
 * Both walk the store in pages (a large directory is never loaded at once). Each secret is
 * re-encrypted on its own with a compare-and-swap of its ciphertext: a change made meanwhile by a
 * running server (a re-enrolment, a new RADIUS secret, a TOTP seed rotated at sign-in) wins and is
 * never overwritten, so it is safe to run beside running servers and to run again. A secret that
 * does not decrypt (its key is not configured, or it was tampered with) is reported and left as it
 * is. Plaintexts live only in memory, for the moment between decrypting and encrypting.
 *
 * Entries of the TTL store sealed with the keyring (OpenID Connect interactions, the portal's
 * show-once values) are counted, never re-encrypted: they expire within their lifetime, and one
 * sealed under a removed key is simply not found (the person starts that sign-in again).
 */
import type { Auditor, AuditContext } from '../audit/audit.ts';
import { NETWORK_PASSWORD_PURPOSE } from '../credentials/network-password.ts';
import { CA_KEY_PURPOSE } from '../devices/ca.ts';
import { RADIUS_SECRET_PURPOSE } from '../directory/resources.ts';
import { COOKIE_KEY_PURPOSE, SIGNING_KEY_PURPOSE } from '../keys/signing.ts';
import { TOTP_SEED_PURPOSE } from '../mfa/totp.ts';
import { STORED_SECRET_KINDS, type Store, type StoredCiphertext, type StoredSecretKind } from '../store/types.ts';
import { keyIdOf, SecretError, type Keyring } from './keyring.ts';

/** The keyring purpose (associated data) of each kind, and how an operator calls it. */
export const SECRET_KINDS: Record<StoredSecretKind, { purpose: string; label: string }> = {
  'totp-seed': { purpose: TOTP_SEED_PURPOSE, label: 'TOTP seeds' },
  'network-password': { purpose: NETWORK_PASSWORD_PURPOSE, label: 'network passwords (PEAP)' },
  'radius-client-secret': { purpose: RADIUS_SECRET_PURPOSE, label: 'RADIUS client shared secrets' },
  'signing-key': { purpose: SIGNING_KEY_PURPOSE, label: 'signing keys (OpenID Connect, SAML)' },
  'cookie-key': { purpose: COOKIE_KEY_PURPOSE, label: 'cookie keys' },
  'ca-key': { purpose: CA_KEY_PURPOSE, label: 'device CA private key' },
};

export const DEFAULT_PAGE_SIZE = 200;
/** At most this many problems are listed one by one (all are counted). */
const MAX_LISTED_PROBLEMS = 100;

/** A ciphertext that cannot be decrypted with the configured keys. */
export interface SecretProblem {
  kind: StoredSecretKind;
  /** Username, RADIUS client name, key id or CA name. */
  name: string;
  /** The key the ciphertext names; absent when it is not a Gatehouse ciphertext at all. */
  keyId?: string;
  problem: 'unknown_key' | 'does_not_decrypt' | 'malformed';
}

export interface KindStatus {
  kind: StoredSecretKind;
  label: string;
  total: number;
  /** How many ciphertexts name each key id. */
  byKey: Record<string, number>;
  /** Not Gatehouse ciphertexts at all (damaged). */
  malformed: number;
  /** With `verify`: ciphertexts under a configured key that do not decrypt (wrong key material, tampered). */
  undecryptable?: number;
}

/** Live TTL-store entries sealed with the keyring, grouped by what holds them (`oidc:Interaction`, `web:flash`). */
export interface TransientStatus {
  area: string;
  total: number;
  byKey: Record<string, number>;
  /** When the last entry sealed under a key other than the primary expires (ISO time). */
  oldKeysGoneBy?: string;
}

export interface KeyringStatus {
  primary: string;
  configured: string[];
  kinds: KindStatus[];
  transient: TransientStatus[];
  /** Stored secrets under a configured key other than the primary: what `reencrypt` re-encrypts. */
  toReencrypt: number;
  /** Stored secrets that cannot be decrypted: under a key that is not configured, malformed, or (verify) not decrypting. */
  unreadable: number;
  /** Key ids stored secrets name that are not configured. */
  unknownKeys: string[];
  /** Configured keys, other than the primary, that no stored secret uses: removable once `transient` shows none under them. */
  unused: string[];
  problems: SecretProblem[];
  /** More problems than listed. */
  problemsTruncated: boolean;
}

export interface KindReencryption {
  kind: StoredSecretKind;
  label: string;
  /** Re-encrypted under the primary key by this run. */
  reencrypted: number;
  /** Under the primary key already. */
  current: number;
  /** Changed or deleted meanwhile by someone else: left to that change. */
  changed: number;
  /** Could not be decrypted: left as they are. */
  failed: number;
}

export interface ReencryptResult {
  primary: string;
  kinds: KindReencryption[];
  /** The store as it stands after the run, every secret decrypted (`after.problems`: what does not decrypt). */
  after: KeyringStatus;
  /** Every stored secret is under the primary key now: the other keys can be removed. */
  complete: boolean;
}

export interface RotationDeps {
  store: Store;
  keyring: Keyring;
  auditor: Auditor;
}

export class KeyringRotation {
  private readonly deps: RotationDeps;
  private readonly pageSize: number;
  constructor(deps: RotationDeps, options: { pageSize?: number } = {}) {
    this.deps = deps;
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  }

  /**
   * How many stored secrets of each kind are under which key, and what cannot be decrypted. With
   * `verify`, every ciphertext under a configured key is also decrypted (in memory only), which
   * finds damaged or tampered ones and key material that changed under an unchanged id.
   */
  async status(options: { verify?: boolean } = {}): Promise<KeyringStatus> {
    const { keyring } = this.deps;
    const problems = new Problems();
    const kinds: KindStatus[] = [];
    let toReencrypt = 0;
    for (const kind of STORED_SECRET_KINDS) {
      const status: KindStatus = { kind, label: SECRET_KINDS[kind].label, total: 0, byKey: {}, malformed: 0, ...(options.verify ? { undecryptable: 0 } : {}) };
      for await (const item of this.walk(kind)) {
        status.total++;
        const keyId = keyIdOf(item.ciphertext);
        if (keyId === undefined) {
          status.malformed++;
          problems.add({ kind, name: item.name, problem: 'malformed' });
          continue;
        }
        status.byKey[keyId] = (status.byKey[keyId] ?? 0) + 1;
        if (!keyring.hasKey(keyId)) problems.add({ kind, name: item.name, keyId, problem: 'unknown_key' });
        else if (options.verify && this.open(kind, item) === undefined) {
          status.undecryptable!++;
          problems.add({ kind, name: item.name, keyId, problem: 'does_not_decrypt' });
        } else if (keyId !== keyring.primaryId) toReencrypt++;
      }
      kinds.push(status);
    }
    const used = new Set(kinds.flatMap((k) => Object.keys(k.byKey)));
    const unknownKeys = [...used].filter((id) => !keyring.hasKey(id)).sort();
    return {
      primary: keyring.primaryId,
      configured: keyring.keyIds,
      kinds,
      transient: await this.transient(),
      toReencrypt,
      unreadable: problems.count,
      unknownKeys,
      unused: keyring.keyIds.filter((id) => id !== keyring.primaryId && !used.has(id)),
      problems: problems.listed,
      problemsTruncated: problems.count > problems.listed.length,
    };
  }

  /**
   * Re-encrypts every stored secret that is not under the primary key, then counts again (with
   * `verify`); audits one `keyring.reencrypted` event with the counts (never a secret).
   */
  async reencrypt(ctx: AuditContext): Promise<ReencryptResult> {
    const { keyring, store, auditor } = this.deps;
    const kinds: KindReencryption[] = [];
    for (const kind of STORED_SECRET_KINDS) {
      const counts: KindReencryption = { kind, label: SECRET_KINDS[kind].label, reencrypted: 0, current: 0, changed: 0, failed: 0 };
      for await (const item of this.walk(kind)) {
        const keyId = keyIdOf(item.ciphertext);
        if (keyId === keyring.primaryId) {
          counts.current++;
          continue;
        }
        const plaintext = keyId === undefined || !keyring.hasKey(keyId) ? undefined : this.open(kind, item);
        if (plaintext === undefined) {
          // Left as it is; the count after the pass names it.
          counts.failed++;
          continue;
        }
        const next = keyring.encrypt(plaintext, SECRET_KINDS[kind].purpose);
        if (await store.directory.ciphertexts.swap(kind, item.ref, item.ciphertext, next)) counts.reencrypted++;
        else counts.changed++;
      }
      kinds.push(counts);
    }
    // Counted again, decrypting everything: complete means every stored secret opens under the primary key.
    const after = await this.status({ verify: true });
    const complete = after.toReencrypt === 0 && after.unreadable === 0;
    await auditor.record(ctx, {
      type: 'keyring.reencrypted',
      outcome: complete ? 'success' : 'failure',
      target: { type: 'keyring', name: keyring.primaryId },
      details: {
        primary: keyring.primaryId,
        kinds: Object.fromEntries(kinds.map(({ kind, reencrypted, current, changed, failed }) => [kind, { reencrypted, current, changed, failed }])),
        reencrypted: kinds.reduce((n, k) => n + k.reencrypted, 0),
        failed: kinds.reduce((n, k) => n + k.failed, 0),
        remaining: after.toReencrypt + after.unreadable,
        complete,
      },
    });
    return { primary: keyring.primaryId, kinds, after, complete };
  }

  /** Every stored ciphertext of a kind, a page at a time. */
  private async *walk(kind: StoredSecretKind): AsyncGenerator<StoredCiphertext> {
    let after: string | undefined;
    do {
      const page = await this.deps.store.directory.ciphertexts.page(kind, after, this.pageSize);
      yield* page.items;
      after = page.next;
    } while (after !== undefined);
  }

  /** The plaintext, or undefined when it does not decrypt with the configured keys. */
  private open(kind: StoredSecretKind, item: StoredCiphertext): string | undefined {
    try {
      return this.deps.keyring.decrypt(item.ciphertext, SECRET_KINDS[kind].purpose);
    } catch (err) {
      if (err instanceof SecretError) return undefined;
      throw err;
    }
  }

  private async transient(): Promise<TransientStatus[]> {
    const areas = new Map<string, TransientStatus>();
    let after: string | undefined;
    do {
      const page = await this.deps.store.directory.ciphertexts.transient(after, this.pageSize);
      for (const entry of page.items) {
        const area = entry.key.split(':').slice(0, 2).join(':');
        const status = areas.get(area) ?? { area, total: 0, byKey: {} };
        for (const ciphertext of entry.ciphertexts) {
          const keyId = keyIdOf(ciphertext)!;
          status.total++;
          status.byKey[keyId] = (status.byKey[keyId] ?? 0) + 1;
          if (keyId !== this.deps.keyring.primaryId) {
            const gone = new Date(entry.expiresAt).toISOString();
            if (!status.oldKeysGoneBy || gone > status.oldKeysGoneBy) status.oldKeysGoneBy = gone;
          }
        }
        areas.set(area, status);
      }
      after = page.next;
    } while (after !== undefined);
    return [...areas.values()].sort((a, b) => a.area.localeCompare(b.area));
  }
}

/** Every problem counted, the first ones listed. */
class Problems {
  readonly listed: SecretProblem[] = [];
  count = 0;
  add(problem: SecretProblem): void {
    this.count++;
    if (this.listed.length < MAX_LISTED_PROBLEMS) this.listed.push(problem);
  }
}
