/**
 * The core: what every front-end (admin API, OIDC, SAML, LDAP, RADIUS, portal) is given, its public
 * surface. Front-ends call these services and never reach the store or each other (an import rule
 * checked by `npm test` holds them to it): a sign-in goes through `signIn`, a read of the directory
 * through `directory`, an audit event through `audit`.
 */
import { AccessService } from './access/service.ts';
import { Auditor } from './audit/audit.ts';
import { PasswordAuthenticator } from './authn/password.ts';
import { Throttle } from './authn/throttle.ts';
import type { CoreConfig } from './config/schema.ts';
import { PasswordHasher } from './credentials/password.ts';
import { DirectoryService } from './directory/service.ts';
import type { Logger } from './log.ts';
import { CidrSet, clientIp } from './net/client-ip.ts';
import { TotpService } from './mfa/totp.ts';
import { NetworkPasswordService } from './credentials/network-password.ts';
import { WebAuthnService } from './mfa/webauthn.ts';
import type { Keyring } from './secrets/keyring.ts';
import { DeviceService } from './devices/service.ts';
import { SigningKeyManager, type SigningKeyOptions } from './keys/signing.ts';
import { SessionService } from './sessions/service.ts';
import { NetworkSessionService } from './network-sessions/service.ts';
import { SignIn } from './authn/attempt.ts';
import { namespacedTtl } from './store/namespaced.ts';
import type { Store, TtlStore } from './store/types.ts';

/** The TTL store's types, for front-ends' namespaces (core.kv). */
export type { Counter, TtlEntry, TtlStore, TtlTags } from './store/types.ts';

export interface Core {
  readonly config: CoreConfig;
  readonly logger: Logger;
  /** The audit log: `audit.record(ctx, draft)`; `audit.query` for reading it back. */
  readonly audit: Auditor;
  readonly directory: DirectoryService;
  /** The sign-in pipeline every front-end calls with what its protocol presented. */
  readonly signIn: SignIn;
  /** The password check alone: the pipeline's first factor (front-ends sign people in through `signIn`). */
  readonly passwords: PasswordAuthenticator;
  readonly throttle: Throttle;
  readonly keyring: Keyring;
  /** Conditional access: build, evaluate, audit and explain access decisions. */
  readonly access: AccessService;
  /** Device trust: the device CA, device tokens, posture check-ins and compliance. */
  readonly devices: DeviceService;
  /**
   * Signing keys (OIDC JWKS, cookie keys), generated on the first start, rotated with overlap: the
   * keys for these algorithms (the oidc section says which).
   */
  signingKeys(options: SigningKeyOptions): SigningKeyManager;
  /** Gatehouse sessions shared by the portal, OIDC and SAML. */
  readonly sessions: SessionService;
  /** Network sessions from RADIUS accounting, and ending them (Disconnect / CoA work through the store). */
  readonly networkSessions: NetworkSessionService;
  /** Second factors. */
  readonly totp: TotpService;
  /** Per-person generated network passwords (WiFi, PEAP/MS-CHAPv2). */
  readonly networkPasswords: NetworkPasswordService;
  readonly webauthn: WebAuthnService;
  /**
   * A front-end's own namespace in the shared TTL store (OIDC grants and codes, SAML message IDs,
   * RADIUS challenge state): lives across processes on PostgreSQL; tags stay global.
   */
  kv(namespace: string): TtlStore;
  /** The client address of a request, honouring forwarded headers only from trusted proxies. */
  clientIp(socketAddress: string | undefined, forwardedFor?: string | string[]): string | undefined;
  /** Store reachable and migrated (readiness). */
  health(): Promise<{ ok: boolean; detail: string }>;
}

export function createCore(config: CoreConfig, store: Store, keyring: Keyring, logger: Logger): Core {
  const auditor = new Auditor(logger, store.directory);
  const hasher = new PasswordHasher(config.passwords.argon2);
  // Per-network allowances (throttle.networks) need the named networks an address falls in.
  const throttle: Throttle = new Throttle(store.ttl, config.throttle, { networksOf: (ip) => access.networksOf(ip) });
  const trustedProxies = new CidrSet(config.server.trustedProxies);
  // A revoked certificate ends the network sessions it signed in (EAP-TLS) at once.
  const devices = new DeviceService({ store, keyring, auditor, config, onCertificateRevoked: (ctx, certificate) => networkSessions.certificateRevoked(ctx, certificate.serial) });
  const sessions = new SessionService({ store, auditor, config: config.sessions });
  const directory = new DirectoryService({
    store, auditor, hasher, passwordPolicy: config.passwords.policy, keyring, endSessions: (ctx, userId, reason) => sessions.endAll(ctx, userId, reason),
    // A deleted device's network sessions (EAP-TLS) end at once, as a revoked certificate's do.
    onDeviceDeleted: (ctx, device) => networkSessions.deviceDeleted(ctx, device.id),
  });
  const passwords = new PasswordAuthenticator({ store, hasher, throttle, auditor });
  const access: AccessService = new AccessService({ store, throttle, auditor, config, isCompliant: (device, now) => devices.compliance(device, new Date(now)).compliant });
  const totp = new TotpService({ store, keyring, auditor, config: config.mfa.totp, throttle });
  const webauthn = new WebAuthnService({ store, auditor, config: config.mfa.webauthn });
  const networkPasswords = new NetworkPasswordService({ store, keyring, auditor });
  const networkSessions: NetworkSessionService = new NetworkSessionService({ store, auditor, config: config.networkSessions, directory, devices });
  return {
    config,
    logger,
    audit: auditor,
    keyring,
    throttle,
    directory,
    signIn: new SignIn({ auditor, directory, passwords, throttle, access, totp, webauthn, sessions, devices, networkPasswords }),
    passwords,
    devices,
    access,
    sessions,
    networkSessions,
    signingKeys: (options) => new SigningKeyManager({ store, keyring, auditor }, options),
    totp,
    networkPasswords,
    webauthn,
    kv: (namespace) => namespacedTtl(store.ttl, namespace),
    clientIp: (socketAddress, forwardedFor) => clientIp(socketAddress, forwardedFor, trustedProxies),
    health: () => store.health(),
  };
}
