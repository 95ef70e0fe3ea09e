/**
 * The sign-in pipeline: every front-end (the sign-in pages, OpenID Connect, LDAP, and SAML and
 * RADIUS next) hands it what its protocol presented and gets back the access decision. The rules
 * of a sign-in live here once:
 *
 *   presented credential ─▶ identify (login names, service accounts) ─▶ a familiar place or not
 *   (the throttle counts them apart) ─▶ verify (throttle, constant cost, the appended-OTP split)
 *   ─▶ the device certificate as a factor ─▶ the protocol the resource is reached through
 *   ─▶ access.decide ─▶ SignInResult
 *
 * One attempt is one audit event (DESIGN.md): the factor checks that succeed are carried by the
 * access decision that concludes the attempt (details.checks); a check that fails is the event
 * instead; checks no decision took are recorded when the attempt ends.
 *
 * Presented credentials:
 * - password: a login name and a password (LDAP binds, RADIUS PAP, the password page); with
 *   `appendedOtp`, a 6-digit TOTP code may follow the password (clients that have one field).
 * - passkey: a usernameless WebAuthn assertion; alone it must have verified the person (PIN,
 *   biometrics) to stand in for a password.
 * - totp, webauthn: a second factor for a sign-in whose first factor was proven (`proven`).
 * - session: nothing new: a decision for a signed-in person with the factors their session holds.
 * - certificate: a client certificate the connection verified (EAP-TLS): the device service
 *   identifies its device (signed by the Gatehouse device CA, recorded, not revoked, within its
 *   validity, the device still there); the person is the device's owner (`login` picks one of
 *   several owners, and can name no one else); the decision sees the device and the factor
 *   `certificate`. A refusal is one `authn.device` event naming the certificate (and device).
 * - mschapv2: an MS-CHAPv2 response (RFC 2759) made with the person's network password (PEAP in
 *   RADIUS; src/credentials/network-password.ts): checked against the NT-Response the stored network
 *   password gives, throttled as a password; a success carries the Authenticator Response the peer
 *   checks (never the NT hash). It counts as the factor 'password'.
 *
 * An application signing in with its own secret (an LDAP service account) is `asApplication`.
 */
import type { Place } from '../access/risk.ts';
import type { AccessService } from '../access/service.ts';
import type { AuthMethod, Decision } from '../access/types.ts';
import { AttemptAudit, type AuditContext, type Auditor } from '../audit/audit.ts';
import { ValidationError } from '../directory/common.ts';
import { ManagedByConfigError } from '../errors.ts';
import type { DirectoryService, LoginAttribute } from '../directory/service.ts';
import type { Application, Device, Group, Protocol, Reason, User } from '../directory/model.ts';
import type { TotpService } from '../mfa/totp.ts';
import { authenticatorResponse, checkNtResponse } from '../credentials/mschapv2.ts';
import type { NetworkPasswordService } from '../credentials/network-password.ts';
import type { WebAuthnService } from '../mfa/webauthn.ts';
import { reason } from '../reasons.ts';
import type { SessionService } from '../sessions/service.ts';
import { IDENTIFY_REASONS } from '../devices/ca.ts';
import type { DeviceService } from '../devices/service.ts';
import type { PasswordAuthenticator } from './password.ts';
import type { Throttle, ThrottleCounters } from './throttle.ts';
import { protocolFor } from './protocol.ts';

export type AuthnFactor = { method: AuthMethod; at: string };

/**
 * A device the connection identified, and whether a Gatehouse device certificate identified it
 * (`serial`: that certificate's, when the sign-in presented it: EAP-TLS).
 */
export type DeviceEvidence = { device: Device; certificate: boolean; serial?: string };

/** The EAP methods a RADIUS front-end carries a credential in (SignInRequest.eap). */
export type EapMethod = 'ttls' | 'peap' | 'tls';
const EAP_METHODS: ReadonlySet<string> = new Set<EapMethod>(['ttls', 'peap', 'tls']);
/** The most of an outer identity an audit event keeps (characters): it is whatever the peer sent. */
export const OUTER_IDENTITY_MAX = 128;

export type Presented =
  | { kind: 'password'; login: string; password: string; loginAttributes?: readonly LoginAttribute[]; appendedOtp?: { separator: string } }
  | { kind: 'passkey'; challengeId: string; response: unknown }
  | { kind: 'totp'; userId: string; code: string }
  | { kind: 'webauthn'; userId: string; challengeId: string; response: unknown }
  | { kind: 'session'; userId: string }
  | { kind: 'certificate'; certificate: Buffer | string; login?: string }
  | { kind: 'mschapv2'; login: string; authenticatorChallenge: Buffer; peerChallenge: Buffer; ntResponse: Buffer };

export interface SignInRequest {
  presented: Presented;
  /** `portal`, `ldap`, `app:<name>`, `radius:<name>`. */
  resource: string;
  /**
   * The protocol the front-end carries the request in (ldap, radius, oidc, saml). The sign-in
   * pages leave it out: the resource decides (protocolFor).
   */
  protocol?: Protocol;
  clientIp?: string | undefined;
  /** Links the attempt's events to the request (the denial page's reference). */
  requestId?: string | undefined;
  /**
   * The device behind the request, when the connection identifies one (mTLS, a trusted proxy's
   * header); asked only once a credential is verified.
   */
  device?: (() => Promise<DeviceEvidence | undefined>) | undefined;
  /** Factors proven earlier in this sign-in (before a second factor) or held by the session. */
  proven?: readonly AuthnFactor[];
  /**
   * How the credential came, when an EAP method carried it (RADIUS): the method, and the outer
   * identity of EAP-Response/Identity, which decides nothing (the inner identity or the certificate
   * does) and is whatever the peer chose. Recorded in details.eap of the event that concludes the
   * attempt (the decision or the refusal), bounded (eapDetails); never a metric label.
   */
  eap?: { method: EapMethod; outerIdentity?: string | undefined } | undefined;
}

/** An attempt the credentials did not get past: no decision was made. */
export interface Refused {
  ok: false;
  /** Why, from the reason catalogue (bad_credentials, throttled, suspended, store_unavailable, …). */
  reason: Reason;
  retryAfterSeconds?: number;
  /** Set when the credential was right but the account cannot sign in (suspended). */
  user?: User;
}

/** A person's attempt that got to the access decision. */
export interface Decided {
  ok: true;
  decision: Decision;
  user: User;
  /** The factors the decision was made with (the certificate factor included when it counted). */
  authn: AuthnFactor[];
  /**
   * The factors the person proved with credentials, to keep in a session or a pending sign-in:
   * `authn` without the device certificate, which only this connection proves.
   */
  proven: AuthnFactor[];
  protocol: Protocol;
  device?: DeviceEvidence;
  /** kind mschapv2: the Authenticator Response ("S=" and 40 hex digits, RFC 2759 §8.7) that proves the server knew the password. */
  mschapv2?: { authenticatorResponse: string };
  /** The person's groups the decision was made with (read in this attempt): a RADIUS reply's attributes come from them. */
  groups?: Group[];
}

export type SignInResult = Decided | Refused;

/** An application's sign-in with its own secret. */
export type ApplicationSignIn =
  | { ok: true; decision: Decision; application: Application; protocol: Protocol }
  | Refused;

export interface SignInDeps {
  auditor: Auditor;
  directory: DirectoryService;
  passwords: PasswordAuthenticator;
  throttle: Throttle;
  access: AccessService;
  totp: TotpService;
  webauthn: WebAuthnService;
  sessions: SessionService;
  /** Identifies the device behind a client certificate (`certificate` sign-ins). */
  devices: Pick<DeviceService, 'authority' | 'recordRefusal'>;
  networkPasswords: NetworkPasswordService;
}

const TOTP_DIGITS = 6;
const now = () => new Date().toISOString();

export class SignIn {
  private readonly deps: SignInDeps;
  constructor(deps: SignInDeps) {
    this.deps = deps;
  }

  /** The protocol a request for `resource` is made through when the front-end does not carry it in its own (shared with `policy explain`). */
  protocolFor(resource: string): Promise<Protocol> {
    return protocolFor(resource, (name) => this.deps.directory.applications.byName(name));
  }

  /** One authentication attempt, concluded by its access decision. Never throws for bad input; a store failure refuses (fail closed). */
  async attempt(request: SignInRequest): Promise<SignInResult> {
    const attempt = new AttemptAudit(eapDetails(request.eap));
    try {
      const protocol = request.protocol ?? (await this.protocolFor(request.resource));
      return await this.run(request, protocol, attempt);
    } catch (err) {
      // Fail closed: whatever broke (the store, most likely), the attempt is refused.
      this.deps.auditor.warn('a sign-in attempt failed; refusing it', err);
      return { ok: false, reason: reason('store_unavailable', err instanceof Error ? err.message : String(err)) };
    } finally {
      // Checks no decision took (a right password with a wrong code) are recorded on their own.
      await this.deps.auditor.settle(attempt);
    }
  }

  /**
   * A person changes their own password (the portal, LDAP Password Modify): the current one is
   * checked like a sign-in's (throttled, audited), the new one against the policy and history, and
   * the person's other sessions end (`keepSession`, the one making the change, stays). A password
   * the configuration file sets is not the person's to change (reason declared_password).
   */
  async changeOwnPassword(ctx: AuditContext, change: { userId: string; current: string; next: string; keepSession?: string }): Promise<
    { ok: true } | { ok: false; reason: Reason; retryAfterSeconds?: number; problems?: string[]; problemCodes?: string[] }
  > {
    const user = await this.deps.directory.users.byId(change.userId);
    if (!user) return { ok: false, reason: reason('bad_credentials') };
    const { familiar } = await this.familiar(user, ctx.sourceIp);
    const checked = await this.deps.passwords.authenticate({ username: user.username, password: change.current, context: ctx, familiar });
    if (checked.outcome === 'error') return { ok: false, reason: checked.reasons[0] ?? reason('store_unavailable') };
    if (checked.outcome !== 'success' || checked.user.id !== user.id) {
      const refused = checked.reasons[0] ?? reason('bad_credentials');
      return { ok: false, reason: refused, ...(checked.outcome === 'failure' && checked.retryAfterSeconds !== undefined ? { retryAfterSeconds: checked.retryAfterSeconds } : {}) };
    }
    try {
      await this.deps.directory.users.setPassword(ctx, user.id, change.next);
    } catch (err) {
      if (err instanceof ValidationError) return { ok: false, reason: reason('weak_password'), problems: err.problems.map((p) => p.message), problemCodes: err.problems.map((p) => p.code) };
      // The file's password would come back at the next reload: the person is told who changes it.
      if (err instanceof ManagedByConfigError) return { ok: false, reason: reason('declared_password'), problems: ['Your password is managed by your administrator: ask them to change it.'] };
      throw err;
    }
    await this.deps.sessions.endAll(ctx, user.id, 'password_changed', change.keepSession);
    return { ok: true };
  }

  // -------------------------------------------------------------------------------------------

  private async run(given: SignInRequest, protocol: Protocol, attempt: AttemptAudit): Promise<SignInResult> {
    // The device may be asked for twice (a familiar place before the password, the decision after): looked up once.
    const request: SignInRequest = given.device ? { ...given, device: once(given.device) } : given;
    const presented = request.presented;
    const ctx = (user?: Pick<User, 'id' | 'username'>): AuditContext => ({
      actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'anonymous' },
      protocol,
      ...(request.clientIp ? { sourceIp: request.clientIp } : {}),
      ...(request.requestId ? { requestId: request.requestId } : {}),
      attempt,
    });
    const proven = request.proven ?? [];
    switch (presented.kind) {
      case 'password':
        return this.password(request, protocol, presented, ctx);
      case 'passkey': {
        const result = await this.deps.webauthn.verifyAuthentication(ctx(), presented.challengeId, presented.response);
        if (!result.ok) return { ok: false, reason: reason(result.reason === 'suspended' ? 'suspended' : 'bad_credentials') };
        // Alone, a passkey must be more than something you have: the authenticator must have
        // verified the person (PIN, biometrics) for it to stand in for a password.
        if (!result.userVerified) return { ok: false, reason: reason('user_not_verified'), user: result.user };
        return this.decide(request, protocol, ctx(result.user), result.user, { add: [{ method: 'webauthn', at: now() }] });
      }
      case 'totp': {
        const user = await this.activeUser(presented.userId);
        if (!user) return { ok: false, reason: reason('suspended') };
        const result = await this.deps.totp.verify(ctx(user), user.id, presented.code);
        if (!result.ok) {
          const code = result.reason === 'store_unavailable' ? 'store_unavailable' : result.reason === 'throttled' ? 'throttled' : result.reason === 'replayed' ? 'replayed' : 'invalid_code';
          return { ok: false, reason: reason(code), ...(result.retryAfterSeconds !== undefined ? { retryAfterSeconds: result.retryAfterSeconds } : {}), user };
        }
        return this.decide(request, protocol, ctx(user), user, { proven, add: [{ method: 'totp', at: now() }] });
      }
      case 'webauthn': {
        const user = await this.activeUser(presented.userId);
        if (!user) return { ok: false, reason: reason('suspended') };
        const result = await this.deps.webauthn.verifyAuthentication(ctx(user), presented.challengeId, presented.response);
        if (!result.ok || result.user.id !== user.id) return { ok: false, reason: reason(result.ok ? 'user_mismatch' : result.reason === 'suspended' ? 'suspended' : 'bad_credentials'), user };
        return this.decide(request, protocol, ctx(user), user, { proven, add: [{ method: 'webauthn', at: now() }] });
      }
      case 'session': {
        const user = await this.activeUser(presented.userId);
        if (!user) return { ok: false, reason: reason('suspended') };
        return this.decide(request, protocol, ctx(user), user, { proven });
      }
      case 'certificate':
        return this.certificate(request, protocol, presented, ctx);
      case 'mschapv2':
        return this.mschapv2(request, protocol, presented, ctx);
    }
  }

  /**
   * A client certificate as the credential: the device service's checks (DeviceAuthority.identify,
   * the same as mTLS), then the device's owner. Nothing is throttled: a certificate cannot be
   * guessed, and the TLS handshake already proved the key.
   */
  private async certificate(
    request: SignInRequest,
    protocol: Protocol,
    presented: Extract<Presented, { kind: 'certificate' }>,
    ctx: (user?: Pick<User, 'id' | 'username'>) => AuditContext,
  ): Promise<SignInResult> {
    const identified = await this.deps.devices.authority.identify(presented.certificate);
    if (!identified.ok) {
      const why: Reason = { code: identified.reason, description: IDENTIFY_REASONS[identified.reason] };
      const serial = identified.certificate?.serial;
      // A certificate of ours (revoked, expired...) names the device it was issued to.
      const issuedTo = identified.certificate?.deviceId;
      await this.deps.devices.recordRefusal(ctx(), why, {
        via: protocol, ...(serial ? { serial } : {}), ...(identified.fingerprint ? { fingerprint: identified.fingerprint } : {}), ...(issuedTo ? { device: { id: issuedTo } } : {}),
      });
      return { ok: false, reason: why };
    }
    const { device, certificate } = identified;
    const refuse = async (why: Reason, user?: User): Promise<Refused> => {
      await this.deps.devices.recordRefusal(ctx(user), why, { via: protocol, serial: certificate.serial, fingerprint: certificate.fingerprint, ...(user ? { username: user.username } : {}) }, device);
      return { ok: false, reason: why, ...(user ? { user } : {}) };
    };
    const owner = presented.login !== undefined && device.owners.includes(presented.login)
      ? presented.login
      : device.owners.length === 1 ? device.owners[0] : undefined;
    if (owner === undefined) {
      return refuse(reason('no_device_owner', device.owners.length ? `${device.owners.length} owners and the sign-in named none of them` : 'the device has no owner'));
    }
    const user = await this.deps.directory.users.byLogin(owner, ['uid']);
    if (!user) return refuse(reason('no_device_owner', `the owner ${owner} does not exist`));
    if (user.status !== 'active') return refuse(reason('suspended'), user);
    const evidence: DeviceEvidence = { device, certificate: true, serial: certificate.serial };
    return this.decide({ ...request, device: async () => evidence }, protocol, ctx(user), user, { add: [{ method: 'certificate', at: now() }] });
  }

  /**
   * An MS-CHAPv2 response against the person's network password: throttled as a password (the
   * reservation before the check), one authn.network_password event, the decision with the factor
   * 'password'. The NT hash never leaves this function; the Authenticator Response does.
   */
  private async mschapv2(
    request: SignInRequest,
    protocol: Protocol,
    presented: Extract<Presented, { kind: 'mschapv2' }>,
    ctx: (user?: Pick<User, 'id' | 'username'>) => AuditContext,
  ): Promise<SignInResult> {
    const username = typeof presented.login === 'string' && presented.login.length <= 256 && presented.login.isWellFormed() ? presented.login.trim().toLowerCase() : '';
    const record = async (outcome: 'success' | 'failure' | 'denied' | 'error', why: Reason, user?: User, details: Record<string, unknown> = {}) =>
      this.deps.auditor.record(ctx(user), {
        type: 'authn.network_password',
        outcome,
        ...(user ? { target: { type: 'user', id: user.id, name: user.username } } : username ? { target: { type: 'user', name: username } } : {}),
        reasons: [why],
        details: { ...(username ? { username } : {}), method: 'mschapv2', ...details },
      });
    const { authenticatorChallenge: authChallenge, peerChallenge, ntResponse } = presented;
    if (!username || !Buffer.isBuffer(authChallenge) || authChallenge.length !== 16 || !Buffer.isBuffer(peerChallenge) || peerChallenge.length !== 16 || !Buffer.isBuffer(ntResponse) || ntResponse.length !== 24) {
      const why = reason('invalid_input');
      await record('failure', why);
      return { ok: false, reason: why };
    }
    const known = await this.deps.directory.users.byLogin(username, ['uid']);
    const where = known ? await this.familiar(known, request.clientIp, request.device) : undefined;
    const reserved = await this.deps.throttle.reserve({ user: username, ...(request.clientIp ? { ip: request.clientIp } : {}), ...(where?.familiar ? { familiar: true } : {}) });
    if (!reserved.allowed) {
      const why = reason('throttled', `per ${reserved.scope}`);
      await record('failure', why, known, { retryAfterSeconds: reserved.retryAfterSeconds });
      return { ok: false, reason: why, retryAfterSeconds: reserved.retryAfterSeconds };
    }
    const hash = known ? await this.deps.networkPasswords.ntHashOf(known.id) : undefined;
    // The response is computed against the name the peer hashed (RFC 2759 §8.2), as presented.
    if (!known || !hash || !checkNtResponse(ntResponse, authChallenge, peerChallenge, presented.login, hash)) {
      // The reservation stands as the failure.
      const why = reason(known && !hash ? 'no_network_password' : 'bad_credentials');
      await record('failure', why, known);
      return { ok: false, reason: why, ...(known ? { user: known } : {}) };
    }
    await reserved.reservation.success();
    if (known.status !== 'active') {
      const why = reason('suspended');
      await record('denied', why, known);
      return { ok: false, reason: why, user: known };
    }
    await record('success', reason('password_ok', 'network password (MS-CHAPv2)'), known);
    const failures = reserved.reservation.counters.ip ? { ip: reserved.reservation.counters.ip } : {};
    const decided = await this.decide(request, protocol, ctx(known), known, { failures, ...(where?.place ? { place: where.place } : {}), add: [{ method: 'password', at: now() }] });
    if (!decided.ok || decided.decision.action !== 'allow') return decided;
    return { ...decided, mschapv2: { authenticatorResponse: authenticatorResponse(hash, ntResponse, peerChallenge, authChallenge, presented.login) } };
  }

  private async password(
    request: SignInRequest,
    protocol: Protocol,
    presented: Extract<Presented, { kind: 'password' }>,
    ctx: (user?: Pick<User, 'id' | 'username'>) => AuditContext,
  ): Promise<SignInResult> {
    const known = await this.deps.directory.users.byLogin(presented.login, presented.loginAttributes ?? ['uid']);
    const username = known?.username ?? presented.login;
    const where = known ? await this.familiar(known, request.clientIp, request.device) : undefined;
    const check = (password: string) => this.deps.passwords.authenticate({ username, password, user: known ?? null, context: ctx(), ...(where ? { familiar: where.familiar } : {}) });
    // The decision reuses the place read for the throttle.
    const place = where?.place ? { place: where.place } : {};

    // A person with active TOTP probably appended a code: that split is tried first, so a correct
    // password+code never also counts as one failed password attempt.
    const split = presented.appendedOtp ? await this.splitCode(known, presented.password, presented.appendedOtp.separator) : undefined;
    if (split) {
      const first = await check(split.password);
      if (first.outcome === 'success') {
        const verified = await this.deps.totp.verify(ctx(first.user), first.user.id, split.code);
        if (!verified.ok) return { ok: false, reason: reason(verified.reason === 'store_unavailable' ? 'store_unavailable' : 'invalid_code'), user: first.user };
        const at = now();
        return this.decide(request, protocol, ctx(first.user), first.user, { groups: first.groups, failures: first.failures, ...place, add: [{ method: 'password', at }, { method: 'totp', at }] });
      }
    }
    const result = await check(presented.password);
    if (result.outcome !== 'success') {
      return {
        ok: false,
        reason: result.reasons[0] ?? reason('bad_credentials'),
        ...(result.outcome === 'failure' && result.retryAfterSeconds !== undefined ? { retryAfterSeconds: result.retryAfterSeconds } : {}),
        ...(result.user ? { user: result.user } : {}),
      };
    }
    return this.decide(request, protocol, ctx(result.user), result.user, { groups: result.groups, failures: result.failures, ...place, add: [{ method: 'password', at: now() }] });
  }

  /**
   * Whether a person's attempt comes from a familiar place, so the throttle counts it apart from
   * attempts elsewhere (src/authn/throttle.ts): an address in a network or address range they signed
   * in from before, else a certificate of one of their own devices they signed in with before (the
   * risk memory decides; the device is looked up only when the network is not familiar). Nothing
   * here comes from what the client claims: the address is the connection's (forwarded only by
   * trusted proxies), the device proved by its certificate. Unreadable: not familiar.
   */
  private async familiar(user: User, clientIp: string | undefined, device?: () => Promise<DeviceEvidence | undefined>): Promise<{ familiar: boolean; place?: Place }> {
    try {
      return await this.deps.access.familiar({
        userId: user.id,
        clientIp,
        ...(device
          ? {
              device: async () => {
                const evidence = await device();
                return evidence?.certificate && evidence.device.owners.includes(user.username) ? evidence.device.id : undefined;
              },
            }
          : {}),
      });
    } catch {
      // The password check that follows reads the same store and refuses, audited (fail closed).
      return { familiar: false };
    }
  }

  /** A password with a 6-digit code appended (after the separator), for a person whose TOTP is active. */
  private async splitCode(user: User | undefined, password: string, separator: string): Promise<{ password: string; code: string } | undefined> {
    const suffix = separator.length + TOTP_DIGITS;
    if (!user || password.length <= suffix) return undefined;
    const code = password.slice(-TOTP_DIGITS);
    if (!/^[0-9]{6}$/.test(code) || password.slice(-suffix, -TOTP_DIGITS) !== separator) return undefined;
    if ((await this.deps.totp.status(user.id)).totp !== 'active') return undefined;
    return { password: password.slice(0, -suffix), code };
  }

  /**
   * An application signing in as itself with its secret (an LDAP service account): the same
   * throttle as a person's (keyed `app:<name>`, which no username can be, and by client address),
   * the secret checked in constant time, then the decision with the application as both the
   * principal and the resource, so network conditions and deny policies apply.
   */
  async asApplication(request: Omit<SignInRequest, 'presented' | 'resource' | 'proven' | 'device' | 'eap'> & { name: string; secret: string; protocol: Protocol; accept?: (app: Application) => string | undefined }): Promise<ApplicationSignIn> {
    const attempt = new AttemptAudit();
    try {
      return await this.application(request, request.protocol, request, attempt);
    } finally {
      await this.deps.auditor.settle(attempt);
    }
  }

  private async application(request: Pick<SignInRequest, 'clientIp' | 'requestId'>, protocol: Protocol, presented: { name: string; secret: string; accept?: ((app: Application) => string | undefined) | undefined }, attempt: AttemptAudit): Promise<ApplicationSignIn> {
    const principal = `app:${presented.name}`;
    const keys = { user: principal, ...(request.clientIp ? { ip: request.clientIp } : {}) };
    const ctx: AuditContext = { actor: { type: 'anonymous', name: principal }, protocol, ...(request.clientIp ? { sourceIp: request.clientIp } : {}), ...(request.requestId ? { requestId: request.requestId } : {}), attempt };
    // authn.password, as for a person's sign-in: the secret is this account's password.
    const record = (outcome: 'success' | 'failure' | 'error', app: Application | undefined, why: Reason, details: Record<string, unknown> = {}) =>
      this.deps.auditor.record(ctx, {
        type: 'authn.password',
        outcome,
        ...(app ? { actor: { type: 'application' as const, id: app.id, name: app.name } } : {}),
        target: { type: 'application', ...(app ? { id: app.id } : {}), name: presented.name },
        reasons: [why],
        details: { username: principal, ...details },
      });

    let app: Application | undefined;
    try {
      // Reserved before the secret is checked, as a person's password (src/authn/throttle.ts).
      const reserved = await this.deps.throttle.reserve(keys);
      if (!reserved.allowed) {
        const why = reason('throttled', `per ${reserved.scope}`);
        await record('failure', undefined, why, { retryAfterSeconds: reserved.retryAfterSeconds });
        return { ok: false, reason: why, retryAfterSeconds: reserved.retryAfterSeconds };
      }
      app = await this.deps.directory.applications.verifySecret(presented.name, presented.secret);
      const problem = app ? presented.accept?.(app) : undefined;
      if (!app || problem !== undefined) {
        // The reservation stands as the failure.
        const why = reason('bad_credentials', problem);
        await record('failure', undefined, why);
        return { ok: false, reason: why };
      }
      await reserved.reservation.success();
    } catch (err) {
      // Fail closed.
      const why = reason('store_unavailable', err instanceof Error ? err.message : String(err));
      await record('error', undefined, why);
      return { ok: false, reason: why };
    }
    await record('success', app, reason('password_ok', 'service account secret'));
    const { decision } = await this.deps.access.decide(
      { ...ctx, actor: { type: 'application', id: app.id, name: app.name } },
      { application: app, resource: principal, protocol, ...(request.clientIp ? { clientIp: request.clientIp } : {}), authn: [{ method: 'password', at: now() }] },
    );
    return { ok: true, decision, application: app, protocol };
  }

  /**
   * The access decision for a person with these factors. A certificate of one of the person's own
   * devices counts as a factor ('certificate') for this request only: the connection proves it.
   */
  private async decide(
    request: SignInRequest,
    protocol: Protocol,
    ctx: AuditContext,
    user: User,
    factors: { proven?: readonly AuthnFactor[]; add?: AuthnFactor[]; groups?: Awaited<ReturnType<DirectoryService['users']['groupsOf']>>; failures?: ThrottleCounters; place?: Place },
  ): Promise<SignInResult> {
    const added = factors.add ?? [];
    const proven: AuthnFactor[] = [...(factors.proven ?? []).filter((a) => !added.some((b) => b.method === a.method)), ...added];
    let authn = proven;
    const device = await request.device?.();
    if (device?.certificate && device.device.owners.includes(user.username) && !authn.some((a) => a.method === 'certificate')) {
      authn = [...authn, { method: 'certificate', at: now() }];
    }
    const { decision, groups } = await this.deps.access.decide(ctx, {
      user,
      ...(factors.groups ? { groups: factors.groups } : {}),
      ...(factors.failures ? { failures: factors.failures } : {}),
      ...(factors.place ? { place: factors.place } : {}),
      resource: request.resource,
      protocol,
      ...(request.clientIp ? { clientIp: request.clientIp } : {}),
      ...(device ? { device } : {}),
      authn,
    });
    return { ok: true, decision, user, authn, proven, protocol, ...(device ? { device } : {}), ...(groups ? { groups } : {}) };
  }

  private async activeUser(id: string): Promise<User | undefined> {
    const user = await this.deps.directory.users.byId(id);
    return user?.status === 'active' ? user : undefined;
  }
}

/**
 * The audit details of SignInRequest.eap: a known method, and the outer identity as the peer sent
 * it, bounded: at most OUTER_IDENTITY_MAX characters (a longer one is cut, details.eap.truncated),
 * control characters and lone surrogates replaced. Anything else is left out.
 */
export function eapDetails(eap: SignInRequest['eap']): Record<string, unknown> | undefined {
  if (typeof eap !== 'object' || eap === null || typeof eap.method !== 'string' || !EAP_METHODS.has(eap.method)) return undefined;
  const given = typeof eap.outerIdentity === 'string' ? eap.outerIdentity : '';
  // Bounded before any work on it: no more than this many UTF-16 units can make the cap.
  const chars = [...given.slice(0, OUTER_IDENTITY_MAX * 2 + 2).toWellFormed()];
  const outer = chars.slice(0, OUTER_IDENTITY_MAX).join('').replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
  const truncated = chars.length > OUTER_IDENTITY_MAX;
  return { eap: { method: eap.method, ...(outer ? { outerIdentity: outer } : {}), ...(truncated ? { truncated: true } : {}) } };
}

/** A function that runs once; later calls get its first promise. */
function once<T>(work: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= work());
}
