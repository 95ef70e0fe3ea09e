/**
 * oidc-provider's storage adapter over the TTL store (`core.kv('oidc')`), for every model it keeps:
 * sessions, interactions, grants, codes, tokens, device codes, PAR requests, replay detection.
 * Clients are not stored here: they are the applications of type oidc, read on every request.
 *
 *  - key `<Model>:<SHA-256 of id>`, value `{ p: payload without jti, l?: lineage }`, expiring with
 *    the artifact. Ids are bearer credentials (refresh tokens, codes, the session cookie): what the
 *    store holds cannot be presented as one, so a copy of the database redeems nothing. The model
 *    prefix stays in clear, so entries are still listed by model (`Session:`);
 *  - tags: `subject` = the account (suspending a user deletes everything of theirs at once, in
 *    every namespace); `group` = the grant id on grant-bound artifacts (revocation by grant is one
 *    tagged delete), and on sessions the Gatehouse session they belong to (`gs:<lineage>`);
 *  - single use (codes, refresh tokens, device codes, PAR requests): `consume` adds a marker
 *    `<Model>:<SHA-256 of id>:consumed` with the store's insert-if-absent, so of two concurrent
 *    redemptions exactly one wins, on SQLite and on PostgreSQL alike. The marker is untagged and
 *    never deleted, only expires with the artifact, so no revocation can reopen the race. The loser gets
 *    invalid_grant and, for a code or refresh token, the grant is revoked: two uses of one
 *    credential mean one of them is not the client's (RFC 6749 §4.1.2, RFC 9700 §4.14.2);
 *  - secondary indexes `SessionUid:<SHA-256 of uid>` and `UserCode:<SHA-256 of code>` hold the id
 *    they point at encrypted with the secrets keyring (a lookup by uid or user code must give the
 *    model back its id: oidc-provider saves a device code found by its user code), with the same
 *    life and tags as what they index. Likewise an interaction's references to other artifacts
 *    (the device code, the PAR request, the session cookie) are stored encrypted.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { hashSecret } from '../../src/secrets/digest.ts';
import { SecretError, type Keyring } from '../../src/secrets/keyring.ts';
import type { TtlStore, TtlTags } from '../../src/core.ts';

/** Models used once; `consumed` is set on them when they are. */
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode', 'PushedAuthorizationRequest']);
/** Of these, a second use revokes the grant. */
const GRANT_SOURCES = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode']);
/** Artifacts bound to a grant (revoked with it). */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

/** The TTL store keeps nothing forever; a model saved without a lifetime gets this. */
const DEFAULT_TTL_SECONDS = 14 * 86_400;
const MAX_TTL_SECONDS = 366 * 86_400;

interface Stored {
  p: AdapterPayload;
  /** Sessions: the Gatehouse session (lineage) this provider session belongs to. */
  l?: string;
}

export interface AdapterHooks {
  /** The metadata of client `id`, or undefined when there is no such OIDC application (read fresh every time). */
  client(id: string): Promise<AdapterPayload | undefined>;
  /** The Gatehouse session lineage for a provider session being saved now, if the request has one for that account. */
  lineage(accountId: string | undefined): Promise<string | undefined>;
  /** A grant source was redeemed twice at once; the grant is revoked already. */
  reused(model: string, payload: AdapterPayload): Promise<void>;
}

const epoch = () => Math.floor(Date.now() / 1000);

function ttlOf(expiresIn: number | undefined): number {
  const ttl = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_TTL_SECONDS;
  return Math.min(ttl, MAX_TTL_SECONDS);
}

/** Seconds left of a stored artifact (for markers and indexes saved after it). */
function remaining(payload: AdapterPayload): number {
  return typeof payload.exp === 'number' ? Math.max(1, payload.exp - epoch()) : DEFAULT_TTL_SECONDS;
}

function accountOf(payload: AdapterPayload): string | undefined {
  const session = (payload as { session?: { accountId?: unknown } }).session;
  const account = payload.accountId ?? session?.accountId;
  return typeof account === 'string' && account ? account : undefined;
}

export const lineageGroup = (lineage: string) => `gs:${lineage}`;

/**
 * The key, in the `oidc` namespace, of the artifact (or index) `model` with id `id`. Everything that
 * reads or deletes an entry of this namespace by id goes through here, so all agree on the hash.
 */
export function artifactKey(model: string, id: string): string {
  return `${model}:${hashSecret(id)}`;
}

/** Associated data of the encrypted ids (a ciphertext made for one place cannot be moved to another). */
const sealPurpose = (where: string) => `oidc-id:${where}`;

function reuseError(model: string): Error {
  switch (model) {
    case 'AuthorizationCode':
      return new errors.InvalidGrant('authorization code already consumed');
    case 'RefreshToken':
      return new errors.InvalidGrant('refresh token already used');
    case 'PushedAuthorizationRequest':
      return new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
    default:
      return new errors.InvalidGrant('grant request is invalid');
  }
}

export class TtlAdapter implements Adapter {
  private readonly model: string;
  private readonly kv: TtlStore;
  private readonly hooks: AdapterHooks;
  private readonly keyring: Keyring;

  constructor(model: string, kv: TtlStore, hooks: AdapterHooks, keyring: Keyring) {
    this.model = model;
    this.kv = kv;
    this.hooks = hooks;
    this.keyring = keyring;
  }

  private key(id: string): string {
    return artifactKey(this.model, id);
  }

  private seal(id: string, where: string): string {
    return this.keyring.encrypt(id, sealPurpose(where));
  }

  /** The id sealed here, or undefined when it does not open (the key is gone, or it was tampered with): not found. */
  private open(sealed: unknown, where: string): string | undefined {
    if (typeof sealed !== 'string') return undefined;
    try {
      return this.keyring.decrypt(sealed, sealPurpose(where));
    } catch (err) {
      if (err instanceof SecretError) return undefined;
      throw err;
    }
  }

  /** What is stored of a payload: no jti (the key is its hash), an interaction's references encrypted. */
  private toStored(payload: AdapterPayload): AdapterPayload {
    const { jti: _jti, ...rest } = payload;
    if (this.model !== 'Interaction') return rest;
    const out = rest as AdapterPayload & { deviceCode?: unknown; parJti?: unknown; session?: { cookie?: unknown } };
    if (typeof out.deviceCode === 'string') out.deviceCode = this.seal(out.deviceCode, 'Interaction.deviceCode');
    if (typeof out.parJti === 'string') out.parJti = this.seal(out.parJti, 'Interaction.parJti');
    if (out.session && typeof out.session.cookie === 'string') out.session = { ...out.session, cookie: this.seal(out.session.cookie, 'Interaction.session.cookie') };
    return out;
  }

  /** The payload oidc-provider saved under `id`, from what is stored; undefined if a reference does not open. */
  private fromStored(id: string, stored: AdapterPayload): AdapterPayload | undefined {
    const payload = { ...stored, jti: id } as AdapterPayload & { deviceCode?: unknown; parJti?: unknown; session?: { cookie?: unknown } };
    if (this.model !== 'Interaction') return payload;
    for (const field of ['deviceCode', 'parJti'] as const) {
      if (payload[field] === undefined) continue;
      const opened = this.open(payload[field], `Interaction.${field}`);
      if (opened === undefined) return undefined;
      payload[field] = opened;
    }
    if (payload.session && payload.session.cookie !== undefined) {
      const cookie = this.open(payload.session.cookie, 'Interaction.session.cookie');
      if (cookie === undefined) return undefined;
      payload.session = { ...payload.session, cookie };
    }
    return payload;
  }

  private tags(payload: AdapterPayload, lineage?: string): TtlTags {
    const subject = accountOf(payload);
    const group = GRANTABLE.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : lineage ? lineageGroup(lineage) : undefined;
    return { ...(subject ? { subject } : {}), ...(group ? { group } : {}) };
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const ttl = ttlOf(expiresIn);
    if (this.model === 'ReplayDetection') {
      // A JWT id seen once (DPoP proof, client assertion): insert-if-absent makes the check atomic.
      if (!(await this.kv.add(this.key(id), { p: this.toStored(payload) }, ttl))) throw new errors.InvalidRequest('the proof or assertion was already used (replay)');
      return;
    }
    let lineage: string | undefined;
    if (this.model === 'Session') {
      lineage = (await this.hooks.lineage(accountOf(payload))) ?? (await this.kv.get<Stored>(this.key(id)))?.l;
    }
    const tags = this.tags(payload, lineage);
    await this.kv.put(this.key(id), { p: this.toStored(payload), ...(lineage ? { l: lineage } : {}) } satisfies Stored, ttl, tags);
    if (this.model === 'Session' && typeof payload.uid === 'string') await this.kv.put(artifactKey('SessionUid', payload.uid), this.seal(id, 'SessionUid'), ttl, tags);
    if (this.model === 'DeviceCode' && typeof payload.userCode === 'string') await this.kv.put(artifactKey('UserCode', payload.userCode), this.seal(id, 'UserCode'), ttl, tags);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.model === 'Client') return this.hooks.client(id);
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) return undefined;
    if (!CONSUMABLE.has(this.model)) {
      const stored = await this.kv.get<Stored>(this.key(id));
      return stored && this.fromStored(id, stored.p);
    }
    const [stored, consumed] = await Promise.all([this.kv.get<Stored>(this.key(id)), this.kv.get<number>(`${this.key(id)}:consumed`)]);
    if (!stored) return undefined;
    const payload = this.fromStored(id, stored.p);
    return payload && (consumed === undefined ? payload : { ...payload, consumed });
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    if (typeof uid !== 'string' || uid.length === 0 || uid.length > 256) return undefined;
    const id = this.open(await this.kv.get<string>(artifactKey('SessionUid', uid)), 'SessionUid');
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    if (typeof userCode !== 'string' || userCode.length === 0 || userCode.length > 256) return undefined;
    const id = this.open(await this.kv.get<string>(artifactKey('UserCode', userCode)), 'UserCode');
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const stored = await this.kv.get<Stored>(this.key(id));
    if (!stored) throw reuseError(this.model);
    // The marker carries no tags: no revocation or deletion can remove it and let a second use in;
    // it expires with the artifact.
    const first = await this.kv.add(`${this.key(id)}:consumed`, epoch(), remaining(stored.p));
    if (first) return;
    if (GRANT_SOURCES.has(this.model) && typeof stored.p.grantId === 'string') {
      await this.kv.deleteTagged({ group: stored.p.grantId });
      await this.kv.delete(artifactKey('Grant', stored.p.grantId));
      await this.hooks.reused(this.model, stored.p);
    }
    throw reuseError(this.model);
  }

  async destroy(id: string): Promise<void> {
    const stored = await this.kv.get<Stored>(this.key(id));
    await Promise.all([
      this.kv.delete(this.key(id)),
      this.model === 'Session' && typeof stored?.p.uid === 'string' ? this.kv.delete(artifactKey('SessionUid', stored.p.uid)) : undefined,
      this.model === 'DeviceCode' && typeof stored?.p.userCode === 'string' ? this.kv.delete(artifactKey('UserCode', stored.p.userCode)) : undefined,
    ]);
  }

  /**
   * oidc-provider revokes a grant's artifacts of every model together (lib/helpers/revoke.js), so
   * one tagged delete serves all of them; the grant itself is destroyed separately.
   */
  async revokeByGrantId(grantId: string): Promise<void> {
    await this.kv.deleteTagged({ group: grantId });
  }
}
