/**
 * Gatehouse's signing keys, a core service (the OpenID Connect provider signs with them; the SAML
 * front-end will too). For OIDC: one JWS key per configured algorithm, plus a key that signs the
 * provider's cookies, made together as a generation. The first start makes generation 1 (when
 * several processes start at once on one PostgreSQL, the store keeps exactly one of their
 * generations and everyone loads that); `gatehouse keys rotate` makes the next one, which signs from
 * then on while the previous generation stays published in the JWKS (and accepted on cookies) for
 * `oidc.keys.rotationOverlapHours`, then retires. Private keys are encrypted with the secrets
 * keyring, bound to their purpose.
 */
import { createHash, generateKeyPair, randomBytes, type JsonWebKey } from 'node:crypto';
import { promisify } from 'node:util';
import type { Auditor, AuditContext } from '../audit/audit.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { ConflictError } from '../errors.ts';
import type { NewSigningKey, SigningKeyRecord, Store } from '../store/types.ts';

const generate = promisify(generateKeyPair);

/** Keyring purposes: a signing key's ciphertext cannot be replayed as another kind of secret. */
export const SIGNING_KEY_PURPOSE = 'oidc-signing-key';
export const COOKIE_KEY_PURPOSE = 'cookie-signing-key';
const COOKIE_ALG = 'HS256';

/** JWS algorithms the keys can be made for (never HS*: no client secret is ever a key). */
export const SIGNING_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** Which keys to keep, and how long the previous ones stay published after a rotation (the oidc section sets them). */
export interface SigningKeyOptions {
  algorithms: readonly SigningAlgorithm[];
  rotationOverlapHours: number;
}

/** What the provider is built from: private JWKs (signing ones first) and the cookie keys. */
export interface KeySet {
  /** For oidc-provider's `jwks`: the newest generation signs; retiring keys only verify (key_ops). */
  jwks: { keys: Array<Record<string, unknown>> };
  /** Cookie-signing keys, newest first (Keygrip signs with the first and accepts all). */
  cookieKeys: string[];
  /** Changes whenever the set of keys does. */
  fingerprint: string;
  generation: number;
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: the key id. */
export function thumbprint(jwk: JsonWebKey): string {
  const required: Record<string, string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const members = required[jwk.kty!];
  if (!members) throw new Error(`no thumbprint for key type ${jwk.kty}`);
  const canonical = `{${members.map((m) => `"${m}":"${String(jwk[m as keyof JsonWebKey])}"`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

async function makeKeyPair(alg: SigningAlgorithm): Promise<{ privateJwk: JsonWebKey; publicJwk: JsonWebKey }> {
  const pair =
    alg === 'RS256' || alg === 'PS256' ? await generate('rsa', { modulusLength: 2048 })
    : alg === 'ES256' ? await generate('ec', { namedCurve: 'P-256' })
    : alg === 'ES384' ? await generate('ec', { namedCurve: 'P-384' })
    : await generate('ed25519');
  return { privateJwk: pair.privateKey.export({ format: 'jwk' }), publicJwk: pair.publicKey.export({ format: 'jwk' }) };
}

export interface SigningKeyDeps {
  store: Store;
  keyring: Keyring;
  auditor: Auditor;
}

export class SigningKeyManager {
  private readonly deps: SigningKeyDeps;
  private readonly algorithms: readonly SigningAlgorithm[];
  private readonly overlapHours: number;

  constructor(deps: SigningKeyDeps, options: SigningKeyOptions) {
    this.deps = deps;
    this.algorithms = options.algorithms;
    this.overlapHours = options.rotationOverlapHours;
  }

  private get store() {
    return this.deps.store.directory.signingKeys;
  }

  /**
   * Makes sure a signing generation exists with a key for every configured algorithm: the first
   * generation on a new store, or the keys of an algorithm added to the configuration since.
   */
  async ensure(ctx: AuditContext): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.store.list();
      const generation = current[0]?.generation ?? 0;
      const have = new Set(current.filter((k) => k.generation === generation).map((k) => `${k.use}/${k.alg}`));
      const wanted = generation === 0 ? 1 : generation;
      const missing = [
        ...this.algorithms.filter((alg) => !have.has(`sig/${alg}`)),
        ...(have.has(`cookie/${COOKIE_ALG}`) ? [] : ['cookie' as const]),
      ];
      if (missing.length === 0) return;
      const keys = await Promise.all(missing.map((m) => (m === 'cookie' ? this.cookieKey(wanted) : this.signingKey(m, wanted))));
      const stored = await this.deps.auditor.change(ctx, async (tx, emit) => {
        if (!(await tx.signingKeys.add(keys))) return false;
        await emit({
          type: 'oidc.keys.created',
          outcome: 'success',
          details: { generation: wanted, keys: keys.map((k) => ({ kid: k.kid, use: k.use, alg: k.alg })) },
        });
        return true;
      });
      if (stored) return;
      // Another process stored them first: look again (theirs may lack nothing).
    }
    throw new ConflictError('the signing keys could not be created: other processes kept changing them');
  }

  /**
   * Makes the next generation, which signs from now on; the current one retires after the overlap.
   * @throws ConflictError when another rotation won the race
   */
  async rotate(ctx: AuditContext): Promise<{ generation: number; keys: SigningKeyRecord[]; previousRetireAt: string }> {
    const current = await this.store.list();
    const generation = (current[0]?.generation ?? 0) + 1;
    const keys = await Promise.all([...this.algorithms.map((alg) => this.signingKey(alg, generation)), this.cookieKey(generation)]);
    const retiresAt = new Date(Date.now() + this.overlapHours * 3_600_000).toISOString();
    const previous = current.filter((k) => !k.retiresAt).map((k) => k.kid);
    await this.deps.auditor.change(ctx, async (tx, emit) => {
      if (!(await tx.signingKeys.add(keys, retiresAt))) throw new ConflictError('the keys were rotated by someone else at the same time; list them and try again if needed');
      await emit({
        type: 'oidc.keys.rotated',
        outcome: 'success',
        details: { generation, keys: keys.map((k) => ({ kid: k.kid, use: k.use, alg: k.alg })), retiring: previous, retiresAt },
      });
    });
    await this.store.prune(new Date().toISOString());
    const listed = await this.store.list();
    return { generation, keys: listed.filter((k) => k.generation === generation), previousRetireAt: retiresAt };
  }

  /** Every key that has not retired, newest generation first. */
  list(): Promise<SigningKeyRecord[]> {
    return this.store.list();
  }

  /** The keys as the provider takes them, decrypted. */
  async load(): Promise<KeySet> {
    const records = await this.store.list();
    const generation = records[0]?.generation ?? 0;
    if (generation === 0) throw new Error('no signing keys: the OpenID Connect provider was not initialised');
    const signing = records.filter((k) => k.use === 'sig' && this.algorithms.includes(k.alg as SigningAlgorithm));
    const current = signing.filter((k) => k.generation === generation);
    const retiring = signing.filter((k) => k.generation !== generation);
    const jwk = (k: SigningKeyRecord) => JSON.parse(this.deps.keyring.decrypt(k.privateEncrypted, SIGNING_KEY_PURPOSE)) as Record<string, unknown>;
    return {
      generation,
      jwks: {
        keys: [
          ...current.map(jwk),
          // Published and trusted until they retire, never chosen to sign.
          ...retiring.map((k) => ({ ...jwk(k), key_ops: ['verify'] })),
        ],
      },
      cookieKeys: records.filter((k) => k.use === 'cookie').map((k) => this.deps.keyring.decrypt(k.privateEncrypted, COOKIE_KEY_PURPOSE)),
      fingerprint: records.map((k) => `${k.kid}@${k.retiresAt ?? ''}`).join(','),
    };
  }

  /** A cheap check whether the stored keys changed since `fingerprint` (one read, nothing decrypted). */
  async changedSince(fingerprint: string): Promise<boolean> {
    const records = await this.store.list();
    return records.map((k) => `${k.kid}@${k.retiresAt ?? ''}`).join(',') !== fingerprint;
  }

  private async signingKey(alg: SigningAlgorithm, generation: number): Promise<NewSigningKey> {
    const { privateJwk, publicJwk } = await makeKeyPair(alg);
    const kid = thumbprint(publicJwk);
    const meta = { kid, alg, use: 'sig' };
    return {
      kid,
      use: 'sig',
      alg,
      generation,
      publicJwk: { ...publicJwk, ...meta },
      privateEncrypted: this.deps.keyring.encrypt(JSON.stringify({ ...privateJwk, ...meta }), SIGNING_KEY_PURPOSE),
    };
  }

  private async cookieKey(generation: number): Promise<NewSigningKey> {
    return {
      kid: `cookie-${generation}-${randomBytes(6).toString('base64url')}`,
      use: 'cookie',
      alg: COOKIE_ALG,
      generation,
      privateEncrypted: this.deps.keyring.encrypt(randomBytes(32).toString('base64url'), COOKIE_KEY_PURPOSE),
    };
  }
}
