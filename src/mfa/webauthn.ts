/**
 * WebAuthn (W3C Web Authentication Level 3): security keys as a second factor and passkeys
 * (discoverable credentials) for sign-in without a username. The ceremonies' cryptography and
 * client-data checks are @simplewebauthn/server's; this module owns what is Gatehouse's:
 *
 *  - challenges live in the TTL store under `webauthn:challenge:<id>` and are consumed atomically,
 *    so each is good for exactly one attempt on any process sharing the store, whatever its outcome;
 *  - RP ID, origins and the user-verification policy come from `mfa.webauthn` in the configuration;
 *  - responses are untrusted JSON: their shape is checked (zod) before the library sees them, and a
 *    malformed one is an `invalid_response` answer, never an exception;
 *  - the signature counter is compared here (§6.1.1, §7.2 step 22) after the signature is verified,
 *    so a regression is reported as a suspected clone and not as a broken assertion, and it is
 *    moved with one conditional update, so two concurrent uses cannot both pass;
 *  - every verification writes exactly one audit event (`authn.webauthn`), registrations, renames
 *    and deletions one each (`mfa.webauthn.*`), in the same transaction as the change they record.
 */
import { reason } from '../reasons.ts';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON, VerifiedAuthenticationResponse, VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Principal, Reason, User } from '../directory/model.ts';
import { ValidationError } from '../directory/service.ts';
import { AlreadyExistsError, NotFoundError, StoreError } from '../errors.ts';
import type { Store, WebAuthnCredentialRecord } from '../store/types.ts';

export type WebAuthnConfig = CoreConfig['mfa']['webauthn'];

export interface WebAuthnServiceDeps {
  store: Store;
  auditor: Auditor;
  config: WebAuthnConfig;
}

/** Why an authentication response was refused. */
export type WebAuthnFailure =
  | 'challenge_unknown'
  | 'credential_unknown'
  | 'user_mismatch'
  | 'invalid_signature'
  | 'counter_regression'
  | 'invalid_response'
  | 'suspended';

export type WebAuthnAuthentication =
  | { ok: true; user: User; credential: WebAuthnCredentialRecord; userVerified: boolean }
  | { ok: false; reason: WebAuthnFailure };

export const DEFAULT_CREDENTIAL_NAME = 'Security key';
export const MAX_CREDENTIAL_NAME_LENGTH = 64;

export const REASONS = {
  challenge_unknown: reason('challenge_unknown'),
  credential_unknown: reason('credential_unknown'),
  user_mismatch: reason('user_mismatch'),
  invalid_signature: reason('invalid_signature'),
  counter_regression: reason('counter_regression'),
  invalid_response: reason('invalid_response'),
  suspended: reason('suspended'),
  ok: reason('webauthn_ok'),
  registered: reason('webauthn_registered'),
  already_registered: reason('already_registered'),
  invalid_name: reason('invalid_name'),
  store_unavailable: reason('store_unavailable'),
} satisfies Record<string, Reason>;

export type RegistrationFailure = 'challenge_unknown' | 'invalid_response' | 'suspended';

/** A registration refused: the ceremony must start again (the challenge is spent). An input error (400). */
export class WebAuthnRegistrationError extends ValidationError {
  readonly code: RegistrationFailure;
  constructor(code: RegistrationFailure, message: string) {
    super([{ path: code === 'challenge_unknown' ? 'challengeId' : code === 'invalid_response' ? 'response' : '', code, message }]);
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Untrusted input: the JSON forms of PublicKeyCredential (WebAuthn L3 §5.1.8, §5.1.9)

/** base64url without padding, bounded before anything else looks at it. */
const b64url = (max: number, min = 1) =>
  z
    .string()
    .max(max)
    .min(min)
    .regex(/^[A-Za-z0-9_-]*$/, 'not base64url')
    .refine((s) => s.length % 4 !== 1, 'not base64url');

/** Credential IDs are at most 1023 bytes (§5.8.3 "credential ID"): 1364 base64url characters. */
const CredentialId = b64url(1364);
/** A user handle is at most 64 bytes (§5.4.3). */
const UserHandle = b64url(86);

const KNOWN_TRANSPORTS = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'] as const;

const AuthenticationResponse = z.object({
  id: CredentialId,
  rawId: CredentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(16 * 1024),
    // rpIdHash (32) + flags (1) + signCount (4) at least: 37 bytes, 50 characters.
    authenticatorData: b64url(16 * 1024, 50),
    signature: b64url(8 * 1024),
    userHandle: UserHandle.nullish(),
  }),
});

const RegistrationResponse = z.object({
  id: CredentialId,
  rawId: CredentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: b64url(16 * 1024),
    // Attestation statements may carry certificate chains.
    attestationObject: b64url(128 * 1024),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  clientExtensionResults: z
    .object({ credProps: z.object({ rk: z.boolean().optional() }).nullish() })
    .nullish(),
});

const ChallengeId = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/);

interface StoredChallenge {
  ceremony: 'registration' | 'authentication';
  /** The base64url challenge the client must sign. */
  challenge: string;
  /** The user it was issued for; absent for a passkey (username-less) sign-in. */
  userId?: string;
}

type RegistrationInfo = NonNullable<VerifiedRegistrationResponse['registrationInfo']>;

/**
 * Public-key algorithms offered and accepted, pinned rather than the library's runtime-dependent
 * default (which adds ML-DSA-44 where Web Crypto has it): every process sharing a store then agrees,
 * whatever its Node version. ES256 first (every authenticator has it), then Ed25519 and RS256 (Windows Hello).
 */
const ALGORITHMS = [-7, -8, -257]; // COSE algorithm identifiers (IANA registry): ES256, EdDSA (RFC 9053 §2.1, §2.2), RS256 (RFC 8812 §2)

/**
 * The library, loaded at the first ceremony rather than with this module: it is large (ASN.1, CBOR,
 * every attestation format), and every command line run builds the core without needing it.
 */
const library = () => import('@simplewebauthn/server');

const CHALLENGE_PREFIX = 'webauthn:challenge:';

/**
 * The user handle (user.id in the WebAuthn sense, §5.4.3) for a Gatehouse user: a stable opaque
 * value derived from the user's id, never the username or e-mail (it must not carry personal data).
 */
export function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update('gatehouse/webauthn/user-handle\0').update(userId, 'utf8').digest());
}

/** Checks and normalises a credential name; throws ValidationError. */
export function credentialName(name: unknown, fallback?: string): string {
  const trimmed = typeof name === 'string' ? name.trim() : '';
  if (trimmed === '' && fallback !== undefined && (name === undefined || typeof name === 'string')) return fallback;
  const problem =
    typeof name !== 'string' ? 'the name must be a string'
    : trimmed === '' ? 'the name must not be empty'
    : [...trimmed].length > MAX_CREDENTIAL_NAME_LENGTH ? `the name must be at most ${MAX_CREDENTIAL_NAME_LENGTH} characters`
    : !trimmed.isWellFormed() || /\p{Cc}/u.test(trimmed) ? 'the name must not contain control characters'
    : undefined;
  if (problem) throw new ValidationError([{ path: 'name', code: 'invalid_name', message: problem }]);
  return trimmed;
}

/** An error message from outside (library, client data) fit for an audit reason. */
function clip(text: string, max = 200): string {
  const clean = text.replace(/\p{Cc}/gu, ' ');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function zodSummary(err: z.ZodError): string {
  return clip(err.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(response)'}: ${i.message}`).join('; '));
}

const userPrincipal = (u: User): Principal => ({ type: 'user', id: u.id, name: u.username });
const userTarget = (u: User) => ({ type: 'user', id: u.id, name: u.username });

/** What one verification found out, for its audit event. */
interface Attempt {
  user?: User;
  credential?: WebAuthnCredentialRecord;
  credentialId?: string;
  passkey: boolean;
  details: Record<string, unknown>;
}

export class WebAuthnService {
  private readonly store: Store;
  private readonly auditor: Auditor;
  private readonly config: WebAuthnConfig;

  constructor(deps: WebAuthnServiceDeps) {
    this.store = deps.store;
    this.auditor = deps.auditor;
    this.config = deps.config;
  }

  private get requireUserVerification(): boolean {
    return this.config.userVerification === 'required';
  }

  // -------------------------------------------------------------------------------------------
  // Registration (§7.1)

  /** Options for navigator.credentials.create(); the challenge is bound to the user. */
  async registrationOptions(_ctx: AuditContext, user: User): Promise<{ challengeId: string; options: PublicKeyCredentialCreationOptionsJSON }> {
    if (user.status !== 'active') throw new WebAuthnRegistrationError('suspended', 'the account is suspended');
    const existing = await this.store.directory.factors.listWebAuthn(user.id);
    const { generateRegistrationOptions } = await library();
    const options = await generateRegistrationOptions({
      rpName: this.config.rpName,
      rpID: this.config.rpId,
      userName: user.username,
      userID: userHandleOf(user.id),
      userDisplayName: user.displayName ?? user.username,
      timeout: this.config.challengeTimeoutSeconds * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports })),
      // A fresh object each time: the library writes requireResidentKey into it.
      authenticatorSelection: { residentKey: 'preferred', userVerification: this.config.userVerification },
      supportedAlgorithmIDs: ALGORITHMS,
    });
    const challengeId = await this.putChallenge({ ceremony: 'registration', challenge: options.challenge, userId: user.id });
    return { challengeId, options };
  }

  /**
   * Verifies a registration response and stores the credential. The challenge is spent whatever
   * the outcome. @throws WebAuthnRegistrationError, ValidationError (name), AlreadyExistsError (the
   * authenticator is registered already, to this or another user)
   */
  async verifyRegistration(ctx: AuditContext, user: User, challengeId: string, response: unknown, name?: string): Promise<WebAuthnCredentialRecord> {
    const stored = await this.takeChallenge(challengeId);
    const fail = async (reason: Reason, details: Record<string, unknown>, error: Error): Promise<never> => {
      await this.auditor.record(ctx, { type: 'mfa.webauthn.registered', outcome: 'failure', target: userTarget(user), reasons: [reason], details });
      throw error;
    };
    if (!stored || stored.ceremony !== 'registration' || stored.userId !== user.id) {
      return fail(REASONS.challenge_unknown, {}, new WebAuthnRegistrationError('challenge_unknown', 'the registration challenge is unknown, expired or used already: start again'));
    }
    let label: string;
    try {
      label = credentialName(name, DEFAULT_CREDENTIAL_NAME);
    } catch (err) {
      return fail(REASONS.invalid_name, {}, err as Error);
    }
    const current = await this.findUser(user.id);
    if (!current) return fail(reason('unknown_user'), {}, new NotFoundError('user', user.id));
    if (current.status !== 'active') {
      return fail(REASONS.suspended, {}, new WebAuthnRegistrationError('suspended', 'the account is suspended'));
    }
    const parsed = RegistrationResponse.safeParse(response);
    if (!parsed.success) {
      const detail = zodSummary(parsed.error);
      return fail({ ...REASONS.invalid_response, description: `${REASONS.invalid_response.description}: ${detail}` }, {}, new WebAuthnRegistrationError('invalid_response', `malformed registration response: ${detail}`));
    }
    const body = parsed.data;
    let info: RegistrationInfo;
    const { verifyRegistrationResponse } = await library();
    try {
      const verification = await verifyRegistrationResponse({
        response: {
          id: body.id,
          rawId: body.rawId,
          type: body.type,
          response: { clientDataJSON: body.response.clientDataJSON, attestationObject: body.response.attestationObject },
          clientExtensionResults: {},
        } satisfies RegistrationResponseJSON,
        expectedChallenge: stored.challenge,
        expectedOrigin: this.config.origins,
        expectedRPID: this.config.rpId,
        requireUserVerification: this.requireUserVerification,
        supportedAlgorithmIDs: ALGORITHMS,
      });
      if (!verification.verified) throw new Error('the attestation statement does not verify');
      info = verification.registrationInfo;
      // The library takes the credential ID from the authenticator data; the one the client names must agree.
      if (info.credential.id !== body.id) throw new Error('the credential ID does not match the authenticator data');
    } catch (err) {
      const detail = clip(err instanceof Error ? err.message : String(err));
      return fail({ ...REASONS.invalid_response, description: `${REASONS.invalid_response.description}: ${detail}` }, { credentialId: body.id }, new WebAuthnRegistrationError('invalid_response', `the registration response does not verify: ${detail}`));
    }

    const record = {
      id: info.credential.id,
      userId: user.id,
      name: label,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: [...new Set((body.response.transports ?? []).filter((t) => (KNOWN_TRANSPORTS as readonly string[]).includes(t)))],
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      // credProps (§10.1.3) tells whether the authenticator made a discoverable credential.
      discoverable: body.clientExtensionResults?.credProps?.rk === true,
    };
    const details = {
      credentialId: record.id, name: record.name, discoverable: record.discoverable, deviceType: record.deviceType,
      backedUp: record.backedUp, userVerified: info.userVerified, aaguid: info.aaguid,
    };
    try {
      const { credential, event } = await this.store.directory.transaction(async (tx) => {
        const credential = await tx.factors.addWebAuthn(record);
        const event = await this.auditor.append(tx, ctx, { type: 'mfa.webauthn.registered', outcome: 'success', target: userTarget(user), reasons: [REASONS.registered], details });
        return { credential, event };
      });
      this.auditor.log(event);
      return credential;
    } catch (err) {
      if (err instanceof AlreadyExistsError) {
        return fail(REASONS.already_registered, { credentialId: record.id }, new AlreadyExistsError('WebAuthn credential', record.id, 'this authenticator is registered already'));
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Authentication (§7.2)

  /**
   * Options for navigator.credentials.get(). With a user: their credentials are allowed and the
   * challenge is bound to them (second factor). Without: an empty allow list, so the client offers
   * the passkeys it holds for the RP, and the credential names the user (passkey sign-in).
   * A user without credentials gets options too (so a username-first page does not reveal which
   * accounts have authenticators); nothing can verify against them.
   */
  async authenticationOptions(_ctx: AuditContext, user?: User): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
    const credentials = user ? await this.store.directory.factors.listWebAuthn(user.id) : [];
    const { generateAuthenticationOptions } = await library();
    const options = await generateAuthenticationOptions({
      rpID: this.config.rpId,
      allowCredentials: credentials.map((c) => ({ id: c.id, transports: c.transports })),
      timeout: this.config.challengeTimeoutSeconds * 1000,
      userVerification: this.config.userVerification,
    });
    const challengeId = await this.putChallenge({ ceremony: 'authentication', challenge: options.challenge, ...(user ? { userId: user.id } : {}) });
    return { challengeId, options };
  }

  /**
   * Verifies an assertion. Refusals are answers, not exceptions; a store failure is audited
   * (outcome error) and rethrown: the attempt is refused either way (fail closed).
   */
  async verifyAuthentication(ctx: AuditContext, challengeId: string, response: unknown): Promise<WebAuthnAuthentication> {
    const attempt: Attempt = { passkey: false, details: {} };
    try {
      return await this.authenticate(ctx, challengeId, response, attempt);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      const reason = { ...REASONS.store_unavailable, description: `${REASONS.store_unavailable.description}: ${clip(err.message)}` };
      await this.auditor.record(ctx, this.authnEvent(attempt, 'error', reason));
      throw err;
    }
  }

  private async authenticate(ctx: AuditContext, challengeId: string, response: unknown, attempt: Attempt): Promise<WebAuthnAuthentication> {
    const refuse = async (reason: WebAuthnFailure, detail?: string): Promise<WebAuthnAuthentication> => {
      const base = REASONS[reason];
      const outcome = reason === 'counter_regression' || reason === 'suspended' ? 'denied' : 'failure';
      await this.auditor.record(ctx, this.authnEvent(attempt, outcome, detail ? { ...base, description: `${base.description}: ${detail}` } : base));
      return { ok: false, reason };
    };

    // 1. The challenge: spent now, whatever happens next.
    const stored = await this.takeChallenge(challengeId);
    if (stored?.userId) attempt.user = await this.findUser(stored.userId);
    attempt.passkey = stored !== undefined && stored.userId === undefined;
    if (!stored || stored.ceremony !== 'authentication' || (stored.userId && !attempt.user)) {
      // Name the account the response claims, so replays against it show up in its audit trail.
      if (!attempt.user) await this.identifyClaim(response, attempt);
      return refuse('challenge_unknown');
    }

    // 2. The response's shape.
    const parsed = AuthenticationResponse.safeParse(response);
    if (!parsed.success) return refuse('invalid_response', zodSummary(parsed.error));
    const body = parsed.data;
    attempt.credentialId = body.id;

    // 3. The credential and its owner (§7.2 steps 6-7).
    const credential = await this.store.directory.factors.getWebAuthn(body.id);
    if (!credential) return refuse('credential_unknown');
    attempt.credential = credential;
    if (attempt.user && credential.userId !== attempt.user.id) return refuse('user_mismatch', 'the credential belongs to another user');
    const owner = attempt.user ?? (await this.findUser(credential.userId));
    if (!owner) return refuse('credential_unknown');
    attempt.user = owner;
    const handle = body.response.userHandle ?? undefined;
    if (handle !== undefined && handle !== Buffer.from(userHandleOf(owner.id)).toString('base64url')) return refuse('user_mismatch', 'the user handle is not the credential owner\'s');
    // Without a user named beforehand, the user handle is what identifies them (§7.2 step 6).
    if (attempt.passkey && handle === undefined) return refuse('invalid_response', 'a passkey sign-in must return the user handle');

    // 4. Client data, RP ID hash, flags and signature (the library); the counter is ours (below),
    //    so it is given a zero counter here, which turns the library's own counter check off.
    let verified: boolean;
    let info: VerifiedAuthenticationResponse['authenticationInfo'];
    const { verifyAuthenticationResponse } = await library();
    try {
      const result = await verifyAuthenticationResponse({
        response: {
          id: body.id,
          rawId: body.rawId,
          type: body.type,
          response: {
            clientDataJSON: body.response.clientDataJSON,
            authenticatorData: body.response.authenticatorData,
            signature: body.response.signature,
            ...(handle !== undefined ? { userHandle: handle } : {}),
          },
          clientExtensionResults: {},
        } satisfies AuthenticationResponseJSON,
        expectedChallenge: stored.challenge,
        expectedOrigin: this.config.origins,
        expectedRPID: this.config.rpId,
        credential: {
          id: credential.id,
          publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')),
          counter: 0,
          transports: credential.transports,
        },
        requireUserVerification: this.requireUserVerification,
      });
      verified = result.verified;
      info = result.authenticationInfo;
    } catch (err) {
      return refuse('invalid_response', clip(err instanceof Error ? err.message : String(err)));
    }
    attempt.details = { counter: info.newCounter, storedCounter: credential.counter, userVerified: info.userVerified };
    if (!verified) return refuse('invalid_signature');

    // 5. Signature counter (§6.1.1): when either side counts, the new value must be greater. A
    //    zero after a non-zero is a regression too, or a clone could opt out by sending zeros.
    const next = info.newCounter;
    if ((next > 0 || credential.counter > 0) && next <= credential.counter) return refuse('counter_regression');

    // 6. The account must be active (checked after the proof, as for passwords).
    if (owner.status !== 'active') return refuse('suspended');

    // 7. Move the counter from the value we checked against, and audit, in one transaction: of two
    //    concurrent uses of one counter value only one gets through. In a sign-in attempt the
    //    event is held for the decision that concludes it (one event per attempt; audit.ts).
    const done = await this.store.directory.transaction(async (tx) => {
      if (!(await tx.factors.useWebAuthn(credential.id, credential.counter, next))) return undefined;
      const updated = (await tx.factors.getWebAuthn(credential.id))!;
      attempt.credential = updated;
      const event = ctx.attempt ? undefined : await this.auditor.append(tx, ctx, this.authnEvent(attempt, 'success', REASONS.ok));
      return { updated, event };
    });
    if (!done) return refuse('counter_regression', 'the counter moved meanwhile (concurrent use of the credential)');
    if (done.event) this.auditor.log(done.event);
    else await this.auditor.record(ctx, this.authnEvent(attempt, 'success', REASONS.ok));
    return { ok: true, user: owner, credential: done.updated, userVerified: info.userVerified };
  }

  /** Best effort, for the audit event only: the credential and owner a response claims (nothing is verified). */
  private async identifyClaim(response: unknown, attempt: Attempt): Promise<void> {
    const parsed = AuthenticationResponse.safeParse(response);
    if (!parsed.success) return;
    attempt.credentialId = parsed.data.id;
    const credential = await this.store.directory.factors.getWebAuthn(parsed.data.id);
    if (!credential) return;
    attempt.credential = credential;
    attempt.user = await this.findUser(credential.userId);
  }

  private authnEvent(attempt: Attempt, outcome: 'success' | 'failure' | 'denied' | 'error', reason: Reason): EventDraft {
    const { user, credential } = attempt;
    return {
      type: 'authn.webauthn',
      outcome,
      actor: user ? userPrincipal(user) : { type: 'anonymous' },
      ...(user ? { target: userTarget(user) } : {}),
      reasons: [reason],
      details: {
        passkey: attempt.passkey,
        ...(credential ? { credentialId: credential.id, credentialName: credential.name } : attempt.credentialId ? { credentialId: attempt.credentialId } : {}),
        ...attempt.details,
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Management

  list(userId: string): Promise<WebAuthnCredentialRecord[]> {
    return this.store.directory.factors.listWebAuthn(userId);
  }

  /** @throws NotFoundError (no such credential of this user), ValidationError (name) */
  async rename(ctx: AuditContext, userId: string, credentialId: string, name: string): Promise<WebAuthnCredentialRecord> {
    const label = credentialName(name);
    return this.changeCredential(ctx, userId, credentialId, async (tx, credential) => {
      await tx.factors.renameWebAuthn(credential.id, label);
      return {
        result: { ...credential, name: label },
        draft: { type: 'mfa.webauthn.renamed', outcome: 'success', details: { credentialId: credential.id, name: label, previousName: credential.name } },
      };
    });
  }

  /** @throws NotFoundError (no such credential of this user) */
  async remove(ctx: AuditContext, userId: string, credentialId: string): Promise<WebAuthnCredentialRecord> {
    return this.changeCredential(ctx, userId, credentialId, async (tx, credential) => {
      await tx.factors.deleteWebAuthn(credential.id);
      return { result: credential, draft: { type: 'mfa.webauthn.deleted', outcome: 'success', details: { credentialId: credential.id, name: credential.name } } };
    });
  }

  private async changeCredential(
    ctx: AuditContext,
    userId: string,
    credentialId: string,
    work: (tx: Store['directory'], credential: WebAuthnCredentialRecord) => Promise<{ result: WebAuthnCredentialRecord; draft: EventDraft }>,
  ): Promise<WebAuthnCredentialRecord> {
    const { result, event } = await this.store.directory.transaction(async (tx) => {
      const credential = typeof credentialId === 'string' && credentialId.length <= 1364 ? await tx.factors.getWebAuthn(credentialId) : undefined;
      // Another user's credential is "not found" for this one: existence is not revealed.
      if (!credential || credential.userId !== userId) throw new NotFoundError('WebAuthn credential', clip(String(credentialId), 80));
      const user = await tx.users.get(userId);
      const { result, draft } = await work(tx, credential);
      const event = await this.auditor.append(tx, ctx, { ...draft, target: userTarget(user) });
      return { result, event };
    });
    this.auditor.log(event);
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Challenges

  private async putChallenge(value: StoredChallenge): Promise<string> {
    const id = randomBytes(18).toString('base64url');
    // Tagged with the user, so suspending them revokes their pending ceremonies too.
    await this.store.ttl.put(CHALLENGE_PREFIX + id, value, this.config.challengeTimeoutSeconds, value.userId ? { subject: value.userId } : {});
    return id;
  }

  /** Atomically reads and deletes a challenge: of concurrent attempts exactly one gets it. */
  private async takeChallenge(challengeId: unknown): Promise<StoredChallenge | undefined> {
    if (!ChallengeId.safeParse(challengeId).success) return undefined;
    return this.store.ttl.consume<StoredChallenge>(CHALLENGE_PREFIX + (challengeId as string));
  }

  private async findUser(id: string): Promise<User | undefined> {
    try {
      return await this.store.directory.users.get(id);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }
}
