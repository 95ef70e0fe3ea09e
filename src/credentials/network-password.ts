/**
 * Network passwords (issue 14): a separate generated password per person for WiFi with PEAP and
 * inner EAP-MSCHAPv2. MS-CHAPv2 needs the password itself (its NT hash, MD4 of UTF-16LE, which is
 * as good as the password to whoever holds it), so it is never the main password nor derived from
 * it: Gatehouse generates it, shows it once, and keeps it encrypted with the keyring under a purpose
 * of its own (as TOTP seeds), one per person, gone with the person.
 *
 *   generate(ctx, userId) ─▶ the password, shown once (event credential.network_password.generated, without it)
 *   remove(ctx, userId)   ─▶ event credential.network_password.removed
 *   has(userId)
 *   ntHashOf(userId)      ─▶ the NT hash, for the sign-in pipeline only (src/authn/attempt.ts, kind mschapv2)
 *
 * Generated: 20 characters from a 32-letter alphabet without look-alikes (100 bits), in groups of
 * four joined by dashes, so that it can be typed once into a phone's WiFi settings.
 */
import { randomInt } from 'node:crypto';
import type { Auditor, AuditContext } from '../audit/audit.ts';
import type { User } from '../directory/model.ts';
import { ntPasswordHash } from './mschapv2.ts';
import type { Keyring } from '../secrets/keyring.ts';
import type { Store } from '../store/types.ts';

/** Associated data of the ciphertexts: a network password's ciphertext cannot stand in for another secret. */
export const NETWORK_PASSWORD_PURPOSE = 'network-password';
/** 32 letters and digits without 0/o, 1/l/i: 5 bits each. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const LENGTH = 20;

export function generateNetworkPassword(): string {
  const chars = Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]!);
  return Array.from({ length: LENGTH / 4 }, (_, i) => chars.slice(i * 4, i * 4 + 4).join('')).join('-');
}

export interface NetworkPasswordDeps {
  store: Store;
  keyring: Keyring;
  auditor: Auditor;
}

export class NetworkPasswordService {
  private readonly deps: NetworkPasswordDeps;
  constructor(deps: NetworkPasswordDeps) {
    this.deps = deps;
  }

  /**
   * A new network password for the person, replacing any earlier one; returned this once.
   * @throws NotFoundError (user)
   */
  async generate(ctx: AuditContext, userId: string): Promise<{ password: string; createdAt: string }> {
    const password = generateNetworkPassword();
    const encrypted = this.deps.keyring.encrypt(password, NETWORK_PASSWORD_PURPOSE);
    return this.deps.auditor.change(ctx, async (tx, emit) => {
      const user = await tx.users.get(userId);
      const replaced = (await tx.factors.getNetworkPassword(userId)) !== undefined;
      const record = await tx.factors.setNetworkPassword(userId, encrypted);
      await emit({ type: 'credential.network_password.generated', outcome: 'success', target: target(user), details: { replaced } });
      return { password, createdAt: record.createdAt };
    });
  }

  /** Removes the person's network password. @returns false when there was none. @throws NotFoundError (user) */
  async remove(ctx: AuditContext, userId: string): Promise<boolean> {
    return this.deps.auditor.change(ctx, async (tx, emit) => {
      const user = await tx.users.get(userId);
      const removed = await tx.factors.deleteNetworkPassword(userId);
      if (removed) await emit({ type: 'credential.network_password.removed', outcome: 'success', target: target(user) });
      return removed;
    });
  }

  /** Whether the person has one, and since when. */
  async status(userId: string): Promise<{ networkPassword: boolean; createdAt?: string }> {
    const record = await this.deps.store.directory.factors.getNetworkPassword(userId);
    return record ? { networkPassword: true, createdAt: record.createdAt } : { networkPassword: false };
  }

  async has(userId: string): Promise<boolean> {
    return (await this.status(userId)).networkPassword;
  }

  /**
   * The NT hash of the person's network password (RFC 2759 §8.3), for the sign-in pipeline only:
   * never returned by any surface. Undefined when the person has none.
   */
  async ntHashOf(userId: string): Promise<Buffer | undefined> {
    const record = await this.deps.store.directory.factors.getNetworkPassword(userId);
    return record ? ntPasswordHash(this.deps.keyring.decrypt(record.passwordEncrypted, NETWORK_PASSWORD_PURPOSE)) : undefined;
  }
}

const target = (user: User) => ({ type: 'user' as const, id: user.id, name: user.username });
