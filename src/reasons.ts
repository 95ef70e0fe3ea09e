/**
 * The reason catalogue: every reason code Gatehouse gives (in audit events' `reasons`, access
 * decisions, `policy explain`, problem details), listed once with what it means, so one code means
 * one thing on every protocol. docs/reasons.md is generated from this list (`npm run docs`) and a
 * test keeps the two in step. A reason given may carry a more specific description (the policy's
 * own, the store's error); its code is always one of these.
 */
import type { Reason } from './directory/model.ts';

export interface ReasonEntry {
  code: string;
  description: string;
  /** Where it appears, for the reference. */
  area: 'authentication' | 'second factor' | 'access' | 'risk' | 'admin API' | 'device' | 'input' | 'SAML' | 'network session' | 'EAP TLS';
}

export const REASON_CATALOGUE = [
  // Authentication (first factors, service accounts, API keys)
  { code: 'bad_credentials', area: 'authentication', description: 'unknown user or wrong password' },
  { code: 'invalid_input', area: 'authentication', description: 'the password or username is not acceptable input' },
  { code: 'throttled', area: 'authentication', description: 'too many failed attempts: wait before trying again' },
  { code: 'suspended', area: 'authentication', description: 'the account is suspended' },
  { code: 'no_password', area: 'authentication', description: 'the account has no password' },
  { code: 'no_network_password', area: 'authentication', description: 'the person has no network password (WiFi with PEAP/MS-CHAPv2 needs one: gatehouse user network-password, or the account page)' },
  { code: 'store_unavailable', area: 'authentication', description: 'the directory is unavailable; refusing (fail closed)' },
  { code: 'password_ok', area: 'authentication', description: 'password verified' },
  { code: 'user_not_verified', area: 'authentication', description: 'the passkey did not verify the person (PIN or biometrics), so it cannot stand in for a password' },
  { code: 'missing_credentials', area: 'authentication', description: 'no credentials were presented' },
  { code: 'malformed_credentials', area: 'authentication', description: 'the credentials presented are not in the expected form' },
  { code: 'unknown_key', area: 'admin API', description: 'the API key is unknown or revoked' },
  { code: 'expired_key', area: 'admin API', description: 'the API key has expired' },
  { code: 'insufficient_scope', area: 'admin API', description: 'the API key lacks the scope this operation needs' },
  // Second factors
  { code: 'invalid_format', area: 'second factor', description: 'not a 6-digit code or a recovery code' },
  { code: 'no_factor', area: 'second factor', description: 'the user has no active TOTP factor' },
  { code: 'invalid_code', area: 'second factor', description: 'wrong code' },
  { code: 'replayed', area: 'second factor', description: 'the code was used already (each code is accepted once)' },
  { code: 'totp_ok', area: 'second factor', description: 'TOTP code verified' },
  { code: 'recovery_code_ok', area: 'second factor', description: 'recovery code accepted and used up' },
  { code: 'challenge_unknown', area: 'second factor', description: 'the challenge is unknown, expired or used already' },
  { code: 'credential_unknown', area: 'second factor', description: 'no such WebAuthn credential is registered' },
  { code: 'user_mismatch', area: 'second factor', description: 'the credential or user handle does not belong to the user the challenge was issued for' },
  { code: 'invalid_signature', area: 'second factor', description: 'the assertion signature does not verify with the registered public key' },
  { code: 'counter_regression', area: 'second factor', description: 'the signature counter did not increase: the authenticator may have been cloned' },
  { code: 'invalid_response', area: 'second factor', description: 'the WebAuthn response is malformed or fails verification' },
  { code: 'webauthn_ok', area: 'second factor', description: 'WebAuthn assertion verified' },
  { code: 'webauthn_registered', area: 'second factor', description: 'WebAuthn credential registered' },
  { code: 'already_registered', area: 'second factor', description: 'this authenticator is registered already' },
  { code: 'invalid_name', area: 'input', description: 'the name is not acceptable' },
  { code: 'weak_password', area: 'input', description: 'the password does not meet the password policy' },
  { code: 'declared_password', area: 'input', description: 'the password is set in the configuration file: an administrator changes it there' },
  { code: 'no_passive', area: 'access', description: 'the SAML request asked for no interaction (IsPassive), but the person would have to sign in or give a second factor' },
  { code: 'cancelled', area: 'access', description: 'the person went back to the application without finishing the sign-in' },
  { code: 'no_authn_context', area: 'access', description: 'the SAML service provider asked for a stronger authentication (RequestedAuthnContext) than the sign-in had' },
  { code: 'no_name_id', area: 'access', description: "the person has no value for the NameID the service provider is registered with (e.g. no email address)" },
  // Access decisions
  { code: 'policy_allow', area: 'access', description: 'a policy allows access' },
  { code: 'policy_deny', area: 'access', description: 'a policy denies access' },
  { code: 'policy_mfa', area: 'access', description: 'a policy requires a second factor' },
  { code: 'mfa_satisfied', area: 'access', description: 'a policy requires a second factor and one was used' },
  { code: 'default', area: 'access', description: 'no policy applies: the configured default (access.defaultAction) decides' },
  { code: 'not_assigned', area: 'access', description: "the resource is not assigned to any of the user's groups (least privilege)" },
  { code: 'unknown_resource', area: 'access', description: 'the resource does not exist' },
  { code: 'unknown_user', area: 'access', description: 'the user does not exist (any more)' },
  { code: 'evaluation_error', area: 'access', description: 'the access request could not be evaluated, so access is denied (fail closed)' },
  { code: 'reuse', area: 'access', description: 'a used authorization code, refresh token or device code was presented again: the grant is revoked' },
  { code: 'concurrent_reuse', area: 'access', description: 'one authorization code or refresh token was redeemed twice at once: the grant is revoked' },
  { code: 'delivery_failed', area: 'access', description: 'a back-channel logout token could not be delivered to the application' },
  // Risk signals
  { code: 'failed_attempts_user', area: 'risk', description: 'recent failed attempts on this account' },
  { code: 'failed_attempts_ip', area: 'risk', description: 'recent failed attempts from this address' },
  { code: 'risky_network', area: 'risk', description: 'the sign-in comes from a network marked as risky' },
  { code: 'new_network', area: 'risk', description: 'first sign-in from this network or address range' },
  { code: 'new_device', area: 'risk', description: 'first sign-in from this device' },
  // Devices
  { code: 'unknown_token', area: 'device', description: 'the device token is unknown or revoked' },
  { code: 'untrusted_header', area: 'device', description: 'a client certificate header came from an address that is not a trusted proxy' },
  { code: 'malformed_header', area: 'device', description: 'the client certificate header from the trusted proxy does not hold a certificate' },
  { code: 'no_device_owner', area: 'device', description: 'a certificate sign-in: the device has no owner to sign in as, or several and the sign-in named none of them' },
  // A presented device certificate (the device endpoint, EAP-TLS): src/devices/ca.ts IDENTIFY_REASONS
  { code: 'malformed', area: 'device', description: 'the client certificate could not be parsed' },
  { code: 'not_issued_by_us', area: 'device', description: 'the client certificate was not issued by the Gatehouse device CA' },
  { code: 'unknown', area: 'device', description: 'the client certificate carries the device CA signature but Gatehouse has no record of issuing it' },
  { code: 'revoked', area: 'device', description: 'the device certificate has been revoked' },
  { code: 'expired', area: 'device', description: 'the device certificate has expired' },
  { code: 'not_yet_valid', area: 'device', description: 'the device certificate is not valid yet' },
  { code: 'device_missing', area: 'device', description: 'the device this certificate was issued to no longer exists' },
  { code: 'certificate_rejected', area: 'device', description: "EAP-TLS: the TLS verification against the device CA refused the client certificate for another reason (details.tls.verify: OpenSSL's code)" },
  // EAP conversations (RADIUS WiFi: TTLS, PEAP, EAP-TLS) that end in their TLS, before any credential is checked (authn.tls)
  { code: 'tls_version', area: 'EAP TLS', description: 'the peer and Gatehouse have no TLS version in common (a supplicant limited to TLS 1.0 or 1.1, say: radius.eap.tls.minVersion)' },
  { code: 'tls_cipher', area: 'EAP TLS', description: 'the peer and Gatehouse have no cipher suite, key exchange group or signature algorithm in common' },
  { code: 'tls_alert', area: 'EAP TLS', description: 'the peer ended the TLS handshake with an alert (details.tls.alert; unknown_ca or bad_certificate: the supplicant does not trust the server certificate)' },
  { code: 'tls_malformed', area: 'EAP TLS', description: 'what the peer sent is not valid TLS, or not what TLS expects at that point' },
  { code: 'tls_failed', area: 'EAP TLS', description: "the TLS handshake or a TLS record failed otherwise (details.tls.error: the TLS engine's code)" },
  // SAML inbound validation (protocols/saml/inbound.ts): the detail names the check that failed
  { code: 'saml_invalid_request', area: 'SAML', description: 'the SAML message was refused by inbound validation (malformed, oversized, unknown issuer or ACS, wrong destination, out of its time window...)' },
  { code: 'saml_invalid_signature', area: 'SAML', description: "the SAML message is unsigned where a signature is required, or its signature is weak, misplaced or does not verify with the service provider's registered certificate" },
  { code: 'saml_replayed_request', area: 'SAML', description: 'the SAML message ID was used already (each message is accepted once)' },
  // Network sessions (RADIUS accounting, Disconnect / CoA)
  { code: 'too_many_sessions', area: 'network session', description: 'the RADIUS client has as many live network sessions as networkSessions.maxLivePerClient allows: the new one is not recorded' },
  { code: 'disconnect_nak', area: 'network session', description: 'the NAS refused the Disconnect-Request or CoA-Request (Disconnect-NAK / CoA-NAK, with its Error-Cause)' },
  { code: 'disconnect_timeout', area: 'network session', description: 'the NAS did not answer the Disconnect-Request or CoA-Request, after every retransmission' },
  { code: 'disconnect_failed', area: 'network session', description: 'the Disconnect-Request or CoA-Request could not be sent (the RADIUS client is gone or has no single address)' },
] as const satisfies readonly ReasonEntry[];

export type ReasonCode = (typeof REASON_CATALOGUE)[number]['code'];

const BY_CODE = new Map<string, ReasonEntry>(REASON_CATALOGUE.map((r) => [r.code, r]));

/** The reason for `code`, its description from the catalogue, with `detail` after a colon when given. */
export function reason(code: ReasonCode, detail?: string): Reason {
  const description = BY_CODE.get(code)!.description;
  return { code, description: detail ? `${description}: ${detail}` : description };
}

/** docs/reasons.md. */
export function renderReasonCatalogue(): string {
  const lines = [
    '# Reason codes',
    '',
    '<!-- Generated from src/reasons.ts by `npm run docs`; do not edit by hand. -->',
    '',
    "Every reason Gatehouse gives — in audit events' `reasons`, access decisions, `gatehouse policy explain` and",
    'the admin API — has one of these codes. A reason may carry a more specific description (a policy\'s own',
    "text, the store's error); the code always means what this table says. Audit events: [events.md](events.md).",
    '',
  ];
  for (const area of [...new Set(REASON_CATALOGUE.map((r) => r.area))]) {
    lines.push(`## ${area[0]!.toUpperCase()}${area.slice(1)}`, '', '| code | meaning |', '|---|---|');
    for (const r of REASON_CATALOGUE.filter((e) => e.area === area)) lines.push(`| \`${r.code}\` | ${r.description} |`);
    lines.push('');
  }
  return lines.join('\n');
}
