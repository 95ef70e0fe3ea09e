/**
 * The access request and decision: what every front-end hands the access core and gets back.
 */
import type { Protocol, Reason, UserStatus } from '../directory/model.ts';

export type RiskLevel = 'low' | 'medium' | 'high';
export const RISK_ORDER: Record<RiskLevel, number> = { low: 0, medium: 1, high: 2 };

export type AuthMethod = 'password' | 'totp' | 'webauthn' | 'certificate';
export type SecondFactor = Exclude<AuthMethod, 'password'>;
export const SECOND_FACTORS: readonly SecondFactor[] = ['totp', 'webauthn', 'certificate'];

/** What is being accessed. Applications and RADIUS clients carry their assignment. */
export type AccessResource =
  | { kind: 'app' | 'radius'; name: string; exists: boolean; assignedGroups: string[] }
  | { kind: 'ldap' | 'portal' | 'admin' };

export interface AccessDevice {
  id: string;
  name: string;
  managed: boolean;
  compliant: boolean;
  /** Identified by a Gatehouse device certificate (mTLS or a trusted proxy's header). */
  certificate: boolean;
}

export interface AccessRequest {
  /** The person signing in, or an application signing in with its own secret (then `principal` says so and the name is `app:<name>`). */
  user: { id: string; username: string; status: UserStatus };
  /**
   * Absent for a person. 'application' for an application authenticating as itself (an LDAP
   * service account): it has no groups, so only policies for all users apply to it, and least
   * privilege does not apply to the application as its own resource.
   */
  principal?: 'application';
  /** Names of every group the user is in, nested groups resolved. */
  groups: string[];
  resource: AccessResource;
  protocol: Protocol;
  clientIp?: string;
  /** Names of the named networks the client IP falls in. */
  networks: string[];
  device?: AccessDevice;
  /** Authentication methods already satisfied in this sign-in or session, with their time (ISO 8601). */
  authn: Array<{ method: AuthMethod; at: string }>;
  risk: { level: RiskLevel; signals: Reason[] };
  /** Evaluation time, ms since the epoch. */
  now: number;
}

export type Decision =
  | { action: 'allow'; reasons: Reason[] }
  | { action: 'deny'; reasons: Reason[] }
  | { action: 'mfa'; methods: SecondFactor[]; reasons: Reason[] };
