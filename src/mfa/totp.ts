/**
 * TOTP second factor (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, what every authenticator app
 * speaks) with recovery codes.
 *
 *   enrol ─▶ pending (seed encrypted at rest) ─▶ confirm with a first code ─▶ active + recovery codes
 *   verify: parse ─▶ throttle ─▶ active factor? ─▶ code within ±window steps ─▶ step later than the
 *           last accepted one, recorded atomically (RFC 6238 §5.2: a code is accepted once) ─▶ one audit event
 *
 * Seeds are encrypted with the keyring (AES-256-GCM, purpose-bound) and never logged or audited.
 */
import { reason } from '../reasons.ts';
import type { TOTP } from 'otplib';
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import type { Throttle, ThrottleKeys } from '../authn/throttle.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Outcome, Principal, Reason, Target, User } from '../directory/model.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { NotFoundError } from '../errors.ts';
import type { DirectoryStore, Store, TotpRecord } from '../store/types.ts';
import { generateRecoveryCodes, hashRecoveryCode, MAX_RECOVERY_INPUT, normalizeRecoveryCode } from './recovery.ts';

export type TotpConfig = CoreConfig['mfa']['totp'];

/** Associated data of seed ciphertexts: a seed cannot be passed off as another kind of secret. */
export const TOTP_SEED_PURPOSE = 'totp-seed';
export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
const MAX_LABEL = 128;

export interface TotpServiceDeps {
  store: Store;
  keyring: Keyring;
  auditor: Auditor;
  config: TotpConfig;
  /** Backs off code guessing per user; without it nothing is throttled (tests). */
  throttle?: Throttle;
  /** Clock in ms since the epoch (tests move it to simulate clock skew). */
  now?: () => number;
}

export interface TotpEnrolment {
  /** Base32 (RFC 4648, no padding), for typing into an app by hand. */
  secret: string;
  /** `otpauth://totp/Issuer:label?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30` */
  uri: string;
  /** The URI as a QR code, an SVG document. */
  qrSvg: string;
  /** The URI as a QR code, a `data:image/png;base64,…` URL. */
  qrDataUrl: string;
}

export type TotpFailureReason = 'invalid_format' | 'no_factor' | 'invalid_code' | 'replayed' | 'throttled' | 'store_unavailable';

export type TotpVerification =
  | { ok: true; method: 'totp' | 'recovery' }
  | { ok: false; reason: TotpFailureReason; retryAfterSeconds?: number };

export interface TotpStatus {
  totp: 'none' | 'pending' | 'active';
  recoveryCodesLeft: number;
}

export type TotpErrorCode = 'invalid_label' | 'already_active' | 'invalid_format' | 'invalid_code' | 'not_pending' | 'not_active' | 'throttled';

/** A refused enrolment, confirmation or regeneration; `code` says why (the admin API maps it to 400/409/429). */
export class TotpError extends Error {
  override readonly name = 'TotpError';
  readonly code: TotpErrorCode;
  readonly retryAfterSeconds?: number;
  constructor(code: TotpErrorCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.code = code;
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
}

const REASONS = {
  invalid_format: reason('invalid_format'),
  no_factor: reason('no_factor'),
  invalid_code: reason('invalid_code'),
  replayed: reason('replayed'),
  throttled: reason('throttled'),
  store_unavailable: reason('store_unavailable'),
  totp: reason('totp_ok'),
  recovery: reason('recovery_code_ok'),
} satisfies Record<string, Reason>;

/** Input as typed, parsed once: a TOTP code, a recovery code, or neither. */
export type ParsedCode = { kind: 'totp'; code: string } | { kind: 'recovery'; normalized: string };

export function parseCode(input: unknown): ParsedCode | undefined {
  if (typeof input !== 'string' || input.length > MAX_RECOVERY_INPUT) return undefined;
  // Apps show "123 456"; people type it that way.
  const compact = input.replace(/\s/g, '');
  if (compact.length === TOTP_DIGITS && /^[0-9]+$/.test(compact)) return { kind: 'totp', code: compact };
  const normalized = normalizeRecoveryCode(input);
  return normalized ? { kind: 'recovery', normalized } : undefined;
}

/**
 * The Key URI an authenticator app scans (Google Authenticator's Key Uri Format): the issuer both as
 * the label prefix and as a parameter, and the algorithm spelled out even though it is the default.
 */
export function otpauthUri(issuer: string, label: string, secret: string): string {
  const e = encodeURIComponent;
  return `otpauth://totp/${e(issuer)}:${e(label)}?secret=${secret}&issuer=${e(issuer)}&algorithm=SHA1&digits=${TOTP_DIGITS}&period=${TOTP_PERIOD}`;
}

/** An account label for the URI: printable, at most 128 characters, no ':' (it separates the issuer). */
export function checkLabel(label: unknown): string {
  const trimmed = typeof label === 'string' ? label.trim() : '';
  if (!trimmed || trimmed.length > MAX_LABEL || !trimmed.isWellFormed() || /[:\p{Cc}]/u.test(trimmed)) {
    throw new TotpError('invalid_label', `the account label must be 1-${MAX_LABEL} printable characters without ':'`);
  }
  return trimmed;
}

type Emit = (draft: EventDraft) => Promise<void>;

export class TotpService {
  private readonly store: Store;
  private readonly keyring: Keyring;
  private readonly auditor: Auditor;
  private readonly config: TotpConfig;
  private readonly throttle: Throttle | undefined;
  private readonly now: () => number;
  private otp: Promise<TOTP> | undefined;

  constructor(deps: TotpServiceDeps) {
    this.store = deps.store;
    this.keyring = deps.keyring;
    this.auditor = deps.auditor;
    this.config = deps.config;
    this.throttle = deps.throttle;
    this.now = deps.now ?? Date.now;
  }

  /**
   * otplib, loaded at the first enrolment or check rather than with the core, which every command
   * line run builds without needing it (qrcode likewise, in `enrol`).
   */
  private generator(): Promise<TOTP> {
    this.otp ??= import('otplib').then(({ NobleCryptoPlugin, ScureBase32Plugin, TOTP }) =>
      new TOTP({ crypto: new NobleCryptoPlugin(), base32: new ScureBase32Plugin(), algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD }));
    return this.otp;
  }

  /**
   * Starts enrolment: a new 160-bit seed, stored encrypted as a pending factor (restarting any
   * pending enrolment). An active factor is never replaced here: `reset` it first.
   * @throws TotpError('invalid_label' | 'already_active'), NotFoundError (user)
   */
  async enrol(ctx: AuditContext, userId: string, label: string): Promise<TotpEnrolment> {
    const account = checkLabel(label);
    const user = await this.store.directory.users.get(userId);
    // Everything that can fail without the store is done before anything is written.
    const [otp, { default: QRCode }] = await Promise.all([this.generator(), import('qrcode')]);
    const secret = otp.generateSecret();
    const uri = otpauthUri(this.config.issuer, account, secret);
    const [qrSvg, qrDataUrl] = await Promise.all([
      QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
      QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2 }),
    ]);
    const seedEncrypted = this.keyring.encrypt(secret, TOTP_SEED_PURPOSE);
    try {
      await this.change(ctx, async (tx, emit) => {
        const current = await tx.factors.getTotp(userId);
        // putTotp itself refuses to replace an active factor, so a racing confirmation cannot be undone.
        if (current?.confirmedAt !== undefined || !(await tx.factors.putTotp(userId, seedEncrypted))) {
          throw new TotpError('already_active', 'TOTP is active already: reset it before enrolling again');
        }
        await emit({ type: 'mfa.totp.enrolled', outcome: 'success', target: userTarget(user), details: { restarted: current !== undefined } });
      });
    } catch (err) {
      if (err instanceof TotpError) await this.refused(ctx, 'mfa.totp.enrolled', user, err);
      throw err;
    }
    return { secret, uri, qrSvg, qrDataUrl };
  }

  /**
   * Activates a pending factor with a first code from the app and issues fresh recovery codes,
   * returned this once. Failures are audited and thrown.
   * @throws TotpError('invalid_format' | 'invalid_code' | 'not_pending' | 'throttled'), NotFoundError (user)
   */
  async confirm(ctx: AuditContext, userId: string, code: string): Promise<{ recoveryCodes: string[] }> {
    const user = await this.store.directory.users.get(userId);
    try {
      const parsed = parseCode(code);
      if (parsed?.kind !== 'totp') throw new TotpError('invalid_format', 'the code must be 6 digits');
      await this.checkThrottle(userId);
      const record = await this.store.directory.factors.getTotp(userId);
      if (!record || record.confirmedAt !== undefined) throw new TotpError('not_pending', 'there is no pending TOTP enrolment to confirm');
      const match = await this.match(this.keyring.decrypt(record.seedEncrypted, TOTP_SEED_PURPOSE), parsed.code);
      if (!match) {
        await this.throttle?.failure(throttleKeys(userId));
        throw new TotpError('invalid_code', 'wrong code: check the time on the device and try the current code');
      }
      const { codes, hashes } = generateRecoveryCodes(this.config.recoveryCodes);
      await this.change(ctx, async (tx, emit) => {
        // The conditional update comes first: it locks the row, so the seed read next is the one confirmed.
        if (!(await tx.factors.confirmTotp(userId, match.step))) throw new TotpError('not_pending', 'the enrolment was confirmed meanwhile');
        if ((await tx.factors.getTotp(userId))?.seedEncrypted !== record.seedEncrypted) throw new TotpError('not_pending', 'the enrolment was restarted meanwhile: scan the new code');
        await tx.factors.setRecoveryCodes(userId, hashes);
        await emit({ type: 'mfa.totp.confirmed', outcome: 'success', actor: userPrincipal(user), target: userTarget(user), details: { delta: match.delta, recoveryCodes: codes.length } });
      });
      await this.throttle?.success(throttleKeys(userId));
      return { recoveryCodes: codes };
    } catch (err) {
      if (err instanceof TotpError) await this.refused(ctx, 'mfa.totp.confirmed', user, err, userPrincipal(user));
      throw err;
    }
  }

  /**
   * Checks a second-factor code: a TOTP code (6 digits) or a recovery code (used up). Never throws:
   * any failure to check refuses (fail closed). Every call writes one `authn.totp` event.
   */
  async verify(ctx: AuditContext, userId: string, code: string): Promise<TotpVerification> {
    let user: User | undefined;
    let result: TotpVerification;
    let details: Record<string, unknown> = {};
    let failure: string | undefined;
    try {
      user = await this.store.directory.users.get(userId).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      ({ result, details } = user ? await this.check(userId, code) : { result: { ok: false, reason: 'no_factor' }, details: {} });
    } catch (err) {
      result = { ok: false, reason: 'store_unavailable' };
      failure = err instanceof Error ? err.message : String(err);
    }
    const reason = result.ok ? REASONS[result.method] : REASONS[result.reason];
    const outcome: Outcome = result.ok ? 'success' : result.reason === 'store_unavailable' ? 'error' : 'failure';
    await this.auditor.record(ctx, {
      type: 'authn.totp',
      outcome,
      ...(user ? { actor: userPrincipal(user) } : {}),
      target: user ? userTarget(user) : { type: 'user', id: userId },
      reasons: [failure ? { ...reason, description: `${reason.description}: ${failure}` } : reason],
      details: {
        ...(result.ok ? { method: result.method } : {}),
        ...details,
        ...(!result.ok && result.retryAfterSeconds !== undefined ? { retryAfterSeconds: result.retryAfterSeconds } : {}),
      },
    });
    return result;
  }

  async status(userId: string): Promise<TotpStatus> {
    const [record, recoveryCodesLeft] = await Promise.all([this.store.directory.factors.getTotp(userId), this.store.directory.factors.countRecoveryCodes(userId)]);
    return { totp: !record ? 'none' : record.confirmedAt !== undefined ? 'active' : 'pending', recoveryCodesLeft };
  }

  /**
   * Removes the user's TOTP factor (pending or active) and recovery codes (an administrator, when a
   * device is lost). @throws NotFoundError (user)
   */
  async reset(ctx: AuditContext, userId: string): Promise<{ removed: boolean }> {
    const user = await this.store.directory.users.get(userId);
    return this.change(ctx, async (tx, emit) => {
      const recoveryCodes = await tx.factors.countRecoveryCodes(userId);
      const totp = await tx.factors.deleteTotp(userId);
      await tx.factors.setRecoveryCodes(userId, []);
      await emit({ type: 'mfa.totp.reset', outcome: 'success', target: userTarget(user), details: { totp, recoveryCodes } });
      return { removed: totp || recoveryCodes > 0 };
    });
  }

  /** Replaces the recovery codes with fresh ones, returned this once. @throws TotpError('not_active'), NotFoundError (user) */
  async regenerateRecoveryCodes(ctx: AuditContext, userId: string): Promise<{ recoveryCodes: string[] }> {
    const user = await this.store.directory.users.get(userId);
    const { codes, hashes } = generateRecoveryCodes(this.config.recoveryCodes);
    try {
      await this.change(ctx, async (tx, emit) => {
        if ((await tx.factors.getTotp(userId))?.confirmedAt === undefined) throw new TotpError('not_active', 'recovery codes need an active TOTP factor');
        await tx.factors.setRecoveryCodes(userId, hashes);
        await emit({ type: 'mfa.recovery_codes.regenerated', outcome: 'success', target: userTarget(user), details: { recoveryCodes: codes.length } });
      });
    } catch (err) {
      if (err instanceof TotpError) await this.refused(ctx, 'mfa.recovery_codes.regenerated', user, err);
      throw err;
    }
    return { recoveryCodes: codes };
  }

  // -------------------------------------------------------------------------------------------

  private async check(userId: string, input: string): Promise<{ result: TotpVerification; details: Record<string, unknown> }> {
    const parsed = parseCode(input);
    if (!parsed) return { result: { ok: false, reason: 'invalid_format' }, details: {} };
    // Reserved before the code is checked, so concurrent guesses cannot all pass (src/authn/throttle.ts).
    const reserved = await this.throttle?.reserve(throttleKeys(userId));
    if (reserved && !reserved.allowed) return { result: { ok: false, reason: 'throttled', retryAfterSeconds: reserved.retryAfterSeconds }, details: {} };
    const reservation = reserved?.reservation;
    const { factors } = this.store.directory;
    const record = await factors.getTotp(userId);
    // Recovery codes back up the TOTP factor: without an active one they open nothing (and nothing was guessed).
    if (record?.confirmedAt === undefined) {
      await reservation?.release();
      return { result: { ok: false, reason: 'no_factor' }, details: {} };
    }

    let result: TotpVerification;
    let details: Record<string, unknown> = {};
    if (parsed.kind === 'recovery') {
      const used = await factors.useRecoveryCode(userId, hashRecoveryCode(parsed.normalized));
      result = used ? { ok: true, method: 'recovery' } : { ok: false, reason: 'invalid_code' };
      if (used) details = { recoveryCodesLeft: await factors.countRecoveryCodes(userId) };
    } else {
      const secret = this.keyring.decrypt(record.seedEncrypted, TOTP_SEED_PURPOSE);
      const match = await this.match(secret, parsed.code, record.lastStep);
      if (match) {
        // Of two concurrent uses of one code the database lets exactly one through.
        result = (await factors.useTotpStep(userId, match.step)) ? { ok: true, method: 'totp' } : { ok: false, reason: 'replayed' };
        details = { delta: match.delta };
        if (result.ok && (await this.rotate(record, secret))) details.seedRotated = true;
      } else {
        const earlier = record.lastStep !== undefined && (await this.match(secret, parsed.code));
        result = { ok: false, reason: earlier ? 'replayed' : 'invalid_code' };
      }
    }
    // A wrong or replayed code: the reservation stands as the failure.
    if (result.ok) await reservation?.success();
    return { result, details };
  }

  /**
   * The time step, within ±window of now and later than `after`, whose code this is. otplib checks
   * the steps in constant time per comparison and reports the step that matched.
   */
  private async match(secret: string, code: string, after?: number): Promise<{ step: number; delta: number } | undefined> {
    const epoch = Math.floor(this.now() / 1000);
    const latest = Math.floor(epoch / TOTP_PERIOD) + this.config.window;
    // Nothing in the window is later than `after` (otplib refuses such a bound rather than answering).
    if (after !== undefined && after >= latest) return undefined;
    const result = await (await this.generator()).verify(code, {
      secret,
      epoch,
      epochTolerance: this.config.window * TOTP_PERIOD,
      ...(after !== undefined ? { afterTimeStep: after } : {}),
    });
    return result.valid ? { step: result.timeStep, delta: result.delta } : undefined;
  }

  /**
   * Re-encrypts a seed under the primary key after it was used: a compare-and-swap of the
   * ciphertext, so a re-enrolment in between wins. Best effort: the verification has succeeded already.
   */
  private async rotate(record: TotpRecord, secret: string): Promise<boolean> {
    if (!this.keyring.needsRotation(record.seedEncrypted)) return false;
    try {
      return await this.store.directory.factors.rotateTotpSeed(record.userId, record.seedEncrypted, this.keyring.encrypt(secret, TOTP_SEED_PURPOSE));
    } catch {
      return false;
    }
  }

  private async checkThrottle(userId: string): Promise<void> {
    const verdict = await this.throttle?.check(throttleKeys(userId));
    if (verdict && !verdict.allowed) throw new TotpError('throttled', 'too many failed attempts: wait before trying again', verdict.retryAfterSeconds);
  }

  /** A change and its audit events in one transaction; the events are logged once committed. */
  private change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: Emit) => Promise<R>): Promise<R> {
    return this.auditor.change(ctx, work);
  }

  private async refused(ctx: AuditContext, type: string, user: User, err: TotpError, actor?: Principal): Promise<void> {
    await this.auditor.record(ctx, {
      type,
      outcome: err.code === 'already_active' || err.code === 'not_active' ? 'denied' : 'failure',
      ...(actor ? { actor } : {}),
      target: userTarget(user),
      reasons: [{ code: err.code, description: err.message }],
      ...(err.retryAfterSeconds !== undefined ? { details: { retryAfterSeconds: err.retryAfterSeconds } } : {}),
    });
  }
}

/** TOTP failures are counted apart from password failures, per user. */
const throttleKeys = (userId: string): ThrottleKeys => ({ user: `totp:${userId}` });
const userTarget = (user: User): Target => ({ type: 'user', id: user.id, name: user.username });
const userPrincipal = (user: User): Principal => ({ type: 'user', id: user.id, name: user.username });
