/**
 * The store contract. Two kinds of storage on purpose:
 *  - a typed directory store (users, groups, resources, networks, devices, policies, API keys,
 *    memberships, passwords, audit events), and
 *  - a generic TTL key-value store for sessions, codes, tokens, throttling counters and seen message IDs.
 * Every backend passes one conformance suite (test/store/conformance.ts).
 */
import type {
  ApiKey, Application, AuditEvent, Device, Group, ManagedBy, Member, MemberKind, Network, NewAuditEvent, Outcome, Policy, RadiusClient, User,
} from '../directory/model.ts';
import type { AccountingValues, DisconnectReason, DisconnectState, NetworkSession } from '../network-sessions/model.ts';

type Bookkeeping = 'id' | 'managedBy' | 'version' | 'createdAt' | 'updatedAt';
/** The stored fields of an entity: everything but the bookkeeping the store maintains. */
export type Fields<T> = Omit<T, Bookkeeping>;

export interface ListQuery {
  /** Page size, 1..1000 (default 100). */
  limit?: number;
  /** Opaque cursor from a previous page's `next`. */
  after?: string;
  /** Case-insensitive prefix match on the name (and e-mail for users). */
  q?: string;
  managedBy?: ManagedBy;
  /** Collection-specific equality filters on indexed fields, e.g. `{ status: 'active' }`. */
  where?: Record<string, string | number | boolean>;
  /** Users only: direct members of the group with this id. */
  memberOf?: string;
  /** With memberOf: the members of the groups nested in it (at any depth) as well. */
  nested?: boolean;
}

export interface Page<T> {
  items: T[];
  /** Cursor for the next page; absent on the last page. */
  next?: string;
}

export interface UpdateOptions {
  /** Fail with ConflictError('stale') unless the stored version equals this one (HTTP If-Match). */
  expectVersion?: number;
}

/**
 * One kind of directory object. Updates take a function from the current value to the next one and
 * run it inside a transaction with the row locked, so concurrent updates never lose each other's
 * changes (dex's `UpdateClient(id, func(old) (new, error))`).
 */
export interface Collection<T extends { id: string }> {
  readonly kind: string;
  create(fields: Fields<T>, managedBy?: ManagedBy): Promise<T>;
  /** @throws NotFoundError */
  get(id: string): Promise<T>;
  /** The objects with these ids that exist, in name order. */
  getMany(ids: string[]): Promise<T[]>;
  /** Looks an object up by its unique name (username for users). */
  findByName(name: string): Promise<T | undefined>;
  list(query?: ListQuery): Promise<Page<T>>;
  /** Every object, in name order (for reconciliation and caches; directories here are thousands, not millions). */
  all(query?: Omit<ListQuery, 'limit' | 'after'>): Promise<T[]>;
  /** @throws NotFoundError, ConflictError('stale'), AlreadyExistsError (renamed onto an existing name) */
  update(id: string, change: (current: T) => Fields<T> | Promise<Fields<T>>, options?: UpdateOptions): Promise<T>;
  /** @throws NotFoundError, ConflictError('stale') */
  delete(id: string, options?: UpdateOptions): Promise<T>;
}

/** A stored RADIUS client carries its shared secret, encrypted by the caller (src/secrets). */
export type StoredRadiusClient = RadiusClient & { secretEncrypted: string };
/** A stored application carries the SHA-256 of its secret (when it has one), never the secret. */
export type StoredApplication = Omit<Application, 'hasSecret'> & { secretHash?: string };
/** A stored API key carries the SHA-256 of its secret, never the secret. */
export type StoredApiKey = ApiKey & { secretHash: string };

export interface Memberships {
  /** @throws NotFoundError (group or member), AlreadyExistsError, ConflictError (a group cycle) */
  add(groupId: string, kind: MemberKind, memberId: string, managedBy?: ManagedBy): Promise<void>;
  /** @returns whether a membership was removed */
  remove(groupId: string, kind: MemberKind, memberId: string): Promise<boolean>;
  /** Direct members of a group. */
  members(groupId: string): Promise<Member[]>;
  /** Groups a user or group belongs to directly. */
  groupsOf(kind: MemberKind, memberId: string): Promise<Group[]>;
  /** Every group a user belongs to, directly or through nested groups. */
  resolveUserGroups(userId: string): Promise<Group[]>;
  /** Every membership, for reconciliation. */
  all(): Promise<Array<{ groupId: string; kind: MemberKind; memberId: string; managedBy: ManagedBy }>>;
}

export interface PasswordRecord {
  hash: string;
  changedAt: string;
  /** Previous hashes, newest first (for password-history policies). */
  history: string[];
  /** Set when the hash was imported from a declaration (a fingerprint of it), so reconciling is idempotent. */
  source?: string;
}

export interface Passwords {
  get(userId: string): Promise<PasswordRecord | undefined>;
  /** Sets the hash; keeps the replaced one in the history, trimmed to `keepHistory` entries. */
  set(userId: string, hash: string, keepHistory: number, source?: string): Promise<void>;
  /**
   * Replaces the hash only if it is still `expected` (a transparent rehash after login must not
   * overwrite a password changed in between). Does not touch the history.
   */
  rehash(userId: string, expected: string, hash: string): Promise<boolean>;
  delete(userId: string): Promise<void>;
}

export interface AuditQuery {
  limit?: number;
  after?: string;
  /** Events whose actor or target is this user (id or username). */
  user?: string;
  /** Exact type, or a prefix ending in '.' (e.g. `user.`). */
  type?: string;
  outcome?: Outcome;
  /** Events of one request (the reference error and denial pages show). */
  requestId?: string;
  since?: string;
  until?: string;
}

export interface AuditLog {
  append(event: NewAuditEvent): Promise<AuditEvent>;
  /** Newest first. */
  query(query?: AuditQuery): Promise<Page<AuditEvent>>;
  /** Deletes events older than the time given; returns how many. */
  prune(before: string): Promise<number>;
}

export interface TotpRecord {
  userId: string;
  /** The seed, encrypted by the caller (src/secrets). */
  seedEncrypted: string;
  createdAt: string;
  /** Set once the user proved possession with a first code; until then the factor is pending. */
  confirmedAt?: string;
  lastStep?: number;
}

export interface WebAuthnCredentialRecord {
  /** Credential ID, base64url. */
  id: string;
  userId: string;
  name: string;
  /** COSE public key, base64url. */
  publicKey: string;
  counter: number;
  transports: string[];
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  /** A passkey: the authenticator keeps the user handle and can sign in without a username. */
  discoverable: boolean;
  createdAt: string;
  lastUsedAt?: string;
}

/** Second factors. Every state change that must not race is one conditional statement. */
export interface Factors {
  getTotp(userId: string): Promise<TotpRecord | undefined>;
  /**
   * Starts (or restarts) enrolment: a pending factor replacing an earlier pending one. Never
   * replaces a confirmed factor (that takes deleteTotp first). @returns false when one is active
   */
  putTotp(userId: string, seedEncrypted: string): Promise<boolean>;
  /** Swaps the seed's ciphertext (key rotation) if it is still `expected`; confirmation and last step stay. */
  rotateTotpSeed(userId: string, expected: string, next: string): Promise<boolean>;
  /** Marks a pending factor confirmed, recording the step of the code that proved it. @returns false if none is pending */
  confirmTotp(userId: string, step: number): Promise<boolean>;
  /**
   * Records `step` as used if it is later than the last used one, atomically: of two concurrent
   * uses of one code exactly one gets true.
   */
  useTotpStep(userId: string, step: number): Promise<boolean>;
  deleteTotp(userId: string): Promise<boolean>;

  /** Replaces the user's recovery codes (SHA-256 hashes of the codes). */
  setRecoveryCodes(userId: string, hashes: string[]): Promise<void>;
  /** Deletes the code if it is the user's: of concurrent uses exactly one gets true. */
  useRecoveryCode(userId: string, hash: string): Promise<boolean>;
  countRecoveryCodes(userId: string): Promise<number>;

  listWebAuthn(userId: string): Promise<WebAuthnCredentialRecord[]>;
  getWebAuthn(credentialId: string): Promise<WebAuthnCredentialRecord | undefined>;
  /** @throws AlreadyExistsError when the credential ID is registered already */
  addWebAuthn(record: Omit<WebAuthnCredentialRecord, 'createdAt' | 'lastUsedAt'>): Promise<WebAuthnCredentialRecord>;
  /** Moves the signature counter from `expected` to `next` and stamps the use; false if it moved meanwhile. */
  useWebAuthn(credentialId: string, expected: number, next: number): Promise<boolean>;
  renameWebAuthn(credentialId: string, name: string): Promise<boolean>;
  deleteWebAuthn(credentialId: string): Promise<boolean>;

  /** The person's network password (MS-CHAPv2 in PEAP), encrypted by the caller. */
  getNetworkPassword(userId: string): Promise<NetworkPasswordRecord | undefined>;
  /** Sets or replaces it. @throws NotFoundError when the user does not exist */
  setNetworkPassword(userId: string, passwordEncrypted: string): Promise<NetworkPasswordRecord>;
  deleteNetworkPassword(userId: string): Promise<boolean>;
}

export interface NetworkPasswordRecord {
  userId: string;
  passwordEncrypted: string;
  createdAt: string;
}

export interface CertificateAuthorityRecord {
  name: string;
  certificatePem: string;
  /** The private key (PKCS#8 PEM), encrypted by the caller. */
  keyEncrypted: string;
  createdAt: string;
}

export interface DeviceCertificateRecord {
  /** Hex serial number. */
  serial: string;
  deviceId: string;
  /** SHA-256 of the DER encoding, lower-case hex. */
  fingerprint: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  revokedAt?: string;
  certificatePem: string;
  createdAt: string;
}

/** Gatehouse's own certificate authorities and what they issued to devices. */
export interface Pki {
  getAuthority(name: string): Promise<CertificateAuthorityRecord | undefined>;
  /** Stores the authority unless one with this name exists; returns the one that is stored (first start of several processes: one wins). */
  addAuthorityIfAbsent(record: Omit<CertificateAuthorityRecord, 'createdAt'>): Promise<CertificateAuthorityRecord>;
  /** @throws NotFoundError (device), AlreadyExistsError (serial or fingerprint) */
  addCertificate(record: Omit<DeviceCertificateRecord, 'createdAt' | 'revokedAt'>): Promise<DeviceCertificateRecord>;
  getCertificate(serial: string): Promise<DeviceCertificateRecord | undefined>;
  findCertificateByFingerprint(fingerprint: string): Promise<DeviceCertificateRecord | undefined>;
  listCertificates(deviceId: string): Promise<DeviceCertificateRecord[]>;
  /** @returns false if unknown or already revoked */
  revokeCertificate(serial: string): Promise<boolean>;
  /** Every revoked certificate that has not expired yet (for a CRL). */
  listRevoked(): Promise<DeviceCertificateRecord[]>;

  /** Device tokens authenticate posture check-ins from agents without a certificate (SHA-256 of the token). */
  addDeviceToken(deviceId: string, tokenHash: string): Promise<void>;
  findDeviceByToken(tokenHash: string): Promise<string | undefined>;
  deleteDeviceTokens(deviceId: string): Promise<number>;
}

/**
 * A key Gatehouse signs with: a JWS key of the OpenID Connect provider (use 'sig') or a key that
 * signs HTTP cookies (use 'cookie'). Keys come in generations: the newest generation signs, older
 * ones stay published (JWKS) or accepted (cookies) until they retire.
 */
export interface SigningKeyRecord {
  kid: string;
  use: 'sig' | 'cookie';
  /** JWS algorithm ('RS256', 'ES256', …) of a 'sig' key; 'HS256' for a cookie key. */
  alg: string;
  generation: number;
  /** The public JWK of a 'sig' key (what JWKS publishes); absent for cookie keys. */
  publicJwk?: Record<string, unknown>;
  /** The private key (a JWK, as JSON), encrypted by the caller. */
  privateEncrypted: string;
  createdAt: string;
  /** When the key stops being published and accepted; set once a newer generation replaces it. */
  retiresAt?: string;
}

export type NewSigningKey = Omit<SigningKeyRecord, 'createdAt' | 'retiresAt'>;

export interface SigningKeys {
  /** Every key that has not retired, newest generation first (then by use and algorithm). */
  list(): Promise<SigningKeyRecord[]>;
  /**
   * Stores the keys together, unless a key of the same use, algorithm and generation exists: of
   * concurrent callers exactly one wins (first start of several processes; two rotations at once).
   * With `retiresAt`, every key of an older generation that is not retiring yet retires then.
   * @returns whether the keys were stored
   */
  add(keys: NewSigningKey[], retiresAt?: string): Promise<boolean>;
  /** Deletes the keys retired at `before` or earlier; returns how many. */
  prune(before: string): Promise<number>;
}

/** Which NAS a record comes from: the RADIUS client, and the NAS within it when it says (RFC 2866 §5.5). */
export interface NasRef {
  client: string;
  nasIdentifier?: string | undefined;
  nasIpAddress?: string | undefined;
}

/** One Accounting-Request Start, Interim-Update or Stop (RFC 2866 §5.1), parsed. */
export interface AccountingRecord extends NasRef, AccountingValues {
  kind: 'start' | 'interim' | 'stop';
  acctSessionId: string;
  userId?: string | undefined;
  deviceId?: string | undefined;
  /** The device certificate the sign-in presented (EAP-TLS), by serial. */
  certificateSerial?: string | undefined;
  /** When the event happened (Event-Timestamp, else arrival less Acct-Delay-Time), ms. */
  at: number;
  /** A live session with no record after this (ms) is closed by `expireStale`. */
  staleAt: number;
}

/**
 * What became of a record: a new session, a change of one, a retransmission or an out-of-order
 * record that changed nothing ('ignored'), or a new live session refused because its client has
 * `maxLive` already.
 */
export type AccountingOutcome =
  | { outcome: 'created' | 'updated' | 'ignored'; session: NetworkSession }
  | { outcome: 'refused'; live: number };

export interface NetworkSessionQuery {
  limit?: number;
  after?: string;
  userId?: string;
  client?: string;
  live?: boolean;
  /** Sessions signed in with this device certificate (serial, lower-case hex). */
  certificateSerial?: string;
  /** Sessions the sign-in identified this device for (EAP-TLS). */
  deviceId?: string;
}

/** How a claimed Disconnect / CoA request ended. */
export interface DisconnectResult {
  state: Extract<DisconnectState, 'acked' | 'nak' | 'timeout' | 'failed'>;
  attempts: number;
  detail?: string | undefined;
  /** Whether an ACK ends the session: true for a Disconnect (the default), false for a CoA (it changes the session). */
  endsSession?: boolean;
}

/**
 * Network sessions (RADIUS accounting) and the Disconnect / CoA work queued on them. Every state
 * change is one conditional statement, so several processes may record, sweep and claim at once.
 */
export interface NetworkSessions {
  /**
   * Applies a Start, Interim-Update or Stop to the session it names (created if unknown: a lost
   * Start). Idempotent: a retransmission changes nothing. A Start or Interim-Update for a session
   * that has stopped, or one older than what is stored (a shorter Acct-Session-Time), is ignored;
   * a Stop always records the final counters. A new live session is refused when the client has
   * `maxLive` live ones.
   */
  record(record: AccountingRecord, options: { maxLive: number }): Promise<AccountingOutcome>;
  /** Accounting-On / -Off (RFC 2866 §5.1): the NAS restarted, so every live session of it ended. @returns how many */
  clearNas(nas: NasRef, at: number, terminateCause: string): Promise<number>;
  /** @throws NotFoundError */
  get(id: string): Promise<NetworkSession>;
  /** Newest first. */
  list(query?: NetworkSessionQuery): Promise<Page<NetworkSession>>;
  countLive(client: string): Promise<number>;
  /** Closes every live session whose stale deadline passed (terminate cause 'Stale'). @returns how many */
  expireStale(now: number): Promise<number>;
  /** Deletes sessions that stopped before `before` (ms) and have no Disconnect work open. @returns how many */
  prune(before: number): Promise<number>;
  /**
   * Queues a Disconnect for a live session. Without `again`, only if none was ever requested for it
   * (the automatic triggers ask once); with it, also after one that ended (acked, nak, timeout,
   * failed). Never while one is pending or being sent. @returns whether it was queued
   */
  requestDisconnect(id: string, reason: DisconnectReason, requestedBy: string, options?: { again?: boolean }): Promise<boolean>;
  /**
   * Claims up to `limit` pending requests (and requests whose claimant's lease ran out) for
   * `owner` until `leaseUntil` (ms): of concurrent claimants, each request goes to exactly one.
   */
  claimDisconnects(owner: string, leaseUntil: number, limit: number): Promise<NetworkSession[]>;
  /**
   * Records the outcome of a claimed request; an ACK also ends the session (the NAS sends its Stop
   * later with the final counters). @returns false when `owner` no longer holds the claim
   */
  finishDisconnect(id: string, owner: string, result: DisconnectResult, at: number): Promise<boolean>;
}

/**
 * The kinds of stored secret Gatehouse keeps encrypted with the secrets keyring (src/secrets): TOTP
 * seeds, network passwords, RADIUS client shared secrets, private signing keys (OIDC/SAML) and
 * cookie keys, the device CA's private key.
 */
export const STORED_SECRET_KINDS = ['totp-seed', 'network-password', 'radius-client-secret', 'signing-key', 'cookie-key', 'ca-key'] as const;
export type StoredSecretKind = (typeof STORED_SECRET_KINDS)[number];

export interface StoredCiphertext {
  /** The row it lives in (user id, client id, kid, CA name), for `swap`. */
  ref: string;
  /** What an operator knows it by (username, client name, kid, CA name). */
  name: string;
  ciphertext: string;
}

/** A live entry of the TTL store that holds ciphertexts (an OpenID Connect interaction, a portal flash). */
export interface TransientCiphertexts {
  key: string;
  /** Every keyring ciphertext in the stored value. */
  ciphertexts: string[];
  /** ms since the epoch. */
  expiresAt: number;
}

/**
 * Every ciphertext of the keyring, by kind, for key rotation (`gatehouse keyring status|reencrypt`):
 * read in pages, replaced one at a time with a compare-and-swap.
 */
export interface Ciphertexts {
  /** One page of a kind's ciphertexts in `ref` order, after the cursor `after` (a page's `next`). */
  page(kind: StoredSecretKind, after: string | undefined, limit: number): Promise<Page<StoredCiphertext>>;
  /**
   * Replaces the ciphertext only if it is still `expected`: a concurrent change (a re-enrolment, a
   * new secret) wins, and nothing else of the row changes. @returns false when it changed or is gone
   */
  swap(kind: StoredSecretKind, ref: string, expected: string, next: string): Promise<boolean>;
  /** One page of the live TTL entries holding ciphertexts, in key order. */
  transient(after: string | undefined, limit: number): Promise<Page<TransientCiphertexts>>;
}

export interface DirectoryStore {
  readonly users: Collection<User>;
  readonly groups: Collection<Group>;
  readonly applications: Collection<StoredApplication>;
  readonly radiusClients: Collection<StoredRadiusClient>;
  readonly networks: Collection<Network>;
  readonly devices: Collection<Device>;
  readonly policies: Collection<Policy>;
  readonly apiKeys: Collection<StoredApiKey> & { findBySecretHash(hash: string): Promise<StoredApiKey | undefined> };
  readonly memberships: Memberships;
  readonly passwords: Passwords;
  readonly factors: Factors;
  readonly pki: Pki;
  readonly signingKeys: SigningKeys;
  readonly audit: AuditLog;
  readonly networkSessions: NetworkSessions;
  readonly ciphertexts: Ciphertexts;
  /**
   * Runs `work` in one transaction: everything it does through `tx` commits together or not at
   * all. Inside, use only `tx` (on SQLite the transaction holds the only connection).
   */
  transaction<R>(work: (tx: DirectoryStore) => Promise<R>): Promise<R>;
}

export interface TtlTags {
  /** The user a value belongs to, so all of a user's sessions and tokens can be revoked at once. */
  subject?: string;
  /** A grouping key, e.g. an OAuth grant id. */
  group?: string;
}

/** The generic key-value store with expiry. Keys are namespaced by the caller ("session:…"). */
export interface TtlStore {
  put(key: string, value: unknown, ttlSeconds: number, tags?: TtlTags): Promise<void>;
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** Stores the value only if the key is absent or expired. @returns whether it was stored. */
  add(key: string, value: unknown, ttlSeconds: number, tags?: TtlTags): Promise<boolean>;
  /** Atomically reads and deletes: of concurrent consumers exactly one gets the value. */
  consume<T = unknown>(key: string): Promise<T | undefined>;
  delete(key: string): Promise<boolean>;
  /** Deletes every live entry with these tags; returns how many. */
  deleteTagged(tags: TtlTags): Promise<number>;
  /**
   * The live entries with these tags whose keys start with `keyPrefix`, soonest expiry last
   * (a user's sessions, a grant's tokens), at most `limit` (default 1000).
   */
  listTagged<T = unknown>(tags: TtlTags, keyPrefix: string, limit?: number): Promise<Array<TtlEntry<T>>>;
  /** Atomically adds one to a counter (starting from 0 when absent or expired) and extends its life. */
  increment(key: string, ttlSeconds: number): Promise<Counter>;
  /**
   * `increment` of several distinct counters in one statement (a throttle's account and address),
   * each atomically; the counters in the order of `keys`.
   */
  incrementAll(keys: readonly string[], ttlSeconds: number): Promise<Counter[]>;
  /**
   * Atomically takes one off a live counter (absent or expired: nothing); a counter that reaches
   * zero is deleted. With `undo` (what an increment returned, and the counter as it stood before
   * it), a decrement that finds the counter still as that increment left it also puts back its
   * time and expiry, so a taken-back increment leaves no trace; when anything counted since, only
   * the count goes down. @returns the counter after, undefined when absent, expired or deleted.
   */
  decrement(key: string, undo?: { after: Counter; before?: Counter | undefined }): Promise<Counter | undefined>;
  /**
   * `delete` of some keys and `decrement` of others (each as its own call would do it), together:
   * one transaction, and on PostgreSQL one statement for the usual case (a throttle's success
   * forgives the account's counter and takes back the address's increment). The keys are distinct.
   */
  deleteAndDecrement(deletes: readonly string[], decrements: ReadonlyArray<{ key: string; undo?: { after: Counter; before?: Counter | undefined } | undefined }>): Promise<void>;
  counter(key: string): Promise<Counter | undefined>;
  /** `counter` of several keys in one read, in the order of `keys`. */
  counters(keys: readonly string[]): Promise<Array<Counter | undefined>>;
  /** Deletes expired entries; returns how many. */
  sweep(): Promise<number>;
}

export interface TtlEntry<T> {
  key: string;
  value: T;
  /** ms since the epoch. */
  expiresAt: number;
}

export interface Counter {
  count: number;
  /** When the counter last changed (ms since the epoch). */
  updatedAt: number;
  /** When it is forgotten (ms since the epoch). */
  expiresAt: number;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** The connection URL with any password redacted. */
  readonly url: string;
  readonly directory: DirectoryStore;
  readonly ttl: TtlStore;
  migrate(): Promise<{ applied: string[] }>;
  /** Reachable and migrated: `{ ok: false, detail }` otherwise (for /readyz). */
  health(): Promise<{ ok: boolean; detail: string }>;
  close(): Promise<void>;
}
