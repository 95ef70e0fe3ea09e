/**
 * The audit event catalogue: every event type Gatehouse writes, listed once, so operators can build
 * alerts from it. docs/events.md is generated from this list (`npm run docs`) and a test keeps the
 * two in step. Every event has: id, time, type, actor {type, id, name}, target {type, id, name},
 * sourceIp, protocol, outcome (success | failure | denied | error), reasons [{code, description,
 * policy}], details, requestId.
 */

export interface EventType {
  type: string;
  description: string;
  /** Keys that may appear in `details`. */
  details?: string[];
}

/**
 * `forced`: true on a change an administrator forced on what the configuration file declares
 * (?force=true, --force); the next reload or start puts the declaration back.
 */
const FORCED = 'forced';

/**
 * `eap`: an attempt an EAP method carried (RADIUS: EAP-TTLS, PEAP, EAP-TLS), on the event that
 * concludes it, whichever that is (the decision or a refusal).
 */
const EAP = 'eap';
const EAP_TEXT = ' An attempt carried by EAP (RADIUS WiFi) has details.eap: {method: ttls, peap or tls; outerIdentity: the outer identity of EAP-Response/Identity, which decides nothing (anonymous@realm, say) and is recorded as the peer sent it, cut to 128 characters (details.eap.truncated) with control characters replaced}; the inner identity is the event\'s user.';

/** The three events of a kind; `declarable`: the configuration file may declare objects of it (`forced`). */
const crud = (kind: string, label: string, extra: EventType[] = [], declarable = true): EventType[] => [
  { type: `${kind}.created`, description: `A ${label} was created.`, details: ['object'] },
  { type: `${kind}.updated`, description: `A ${label} was changed.`, details: ['changed', ...(declarable ? [FORCED] : [])] },
  { type: `${kind}.deleted`, description: `A ${label} was deleted.`, ...(declarable ? { details: [FORCED] } : {}) },
  ...extra,
];

export const EVENT_CATALOGUE: readonly EventType[] = [
  {
    type: 'authn.password',
    description: 'A password was checked, on any protocol. When the check is part of a sign-in (a sign-in step, an LDAP bind) and succeeds, the access decision that follows carries it (access.decision, details.checks): one event per attempt. Otherwise: outcome success: the password matched an active user (e.g. the current password before a change); failure: unknown user or wrong password (reason bad_credentials), throttled (reason throttled, details.retryAfterSeconds) or invalid input; details.familiar: whether the attempt came from a place the person signed in from before (the throttle counts those apart; absent for unknown users and service accounts); denied: the password matched but the user is suspended; error: the store failed and the attempt was refused (fail closed).' + EAP_TEXT,
    details: ['username', 'familiar', 'rehashed', 'retryAfterSeconds', EAP],
  },
  {
    type: 'access.decision',
    description: 'The access core decided a request: outcome success (allow) or denied (deny, or a second factor is required: details.decision mfa with details.methods). reasons lists every policy that applied (with its name), the default when none did, least-privilege refusals (not_assigned, unknown_resource) and the risk signals. A decision that concludes an authentication attempt (a sign-in step, an LDAP bind) is that attempt\'s one event: details.checks lists the factor checks of the attempt that succeeded, each with its type (authn.password, authn.totp, authn.webauthn), reasons and details as their own events would have them; a check that fails is an event of its own and no decision follows it. details.device: the device the request came from ({id, managed, compliant, certificate: whether its certificate identified it}, e.g. EAP-TLS).' + EAP_TEXT,
    details: ['decision', 'methods', 'risk', 'networks', 'groups', 'authn', 'device', 'checks', EAP],
  },
  { type: 'authn.apikey', description: 'A request to the admin API presented a missing, unknown, expired or revoked API key, or one without the scope the request needs (outcome failure or denied). Successful key use is not an event of its own: every change it makes is.', details: ['scope'] },
  ...crud('user', 'user', [
    { type: 'user.password.set', description: 'A user\'s password was set: by an administrator (set or reset), or by the user themself in the portal (the actor is then the user, who proved the current password first: an authn.password event), or imported from the configuration file (details.imported).', details: ['imported', FORCED] },
    { type: 'user.password.rehashed', description: 'A password hash in an old scheme (bcrypt, PBKDF2, {SSHA}) or with old argon2 parameters was upgraded to argon2id at sign-in.', details: ['from'] },
    { type: 'user.suspended', description: 'A user was suspended: every front-end refuses them from then on, and their sessions and tokens are revoked as soon as the change commits.', details: [FORCED] },
    { type: 'user.activated', description: 'A suspended user was reactivated.', details: [FORCED] },
  ]),
  ...crud('group', 'group', [
    { type: 'group.member.added', description: 'A user or group became a direct member of a group.', details: ['member', 'memberKind'] },
    { type: 'group.member.removed', description: 'A user or group stopped being a direct member of a group.', details: ['member', 'memberKind', FORCED] },
  ]),
  ...crud('application', 'application', [
    { type: 'application.secret_rotated', description: "An application's secret was replaced by a generated one (shown once; only its hash is stored).", details: [FORCED] },
  ]),
  ...crud('radius_client', 'RADIUS client'),
  { type: 'radius.unknown_client', description: 'A RADIUS packet came from an address no RADIUS client covers and was dropped unanswered (RFC 2865 §3). Every such packet is counted in /metrics (gatehouse_radius_dropped_total{reason="unknown_client"}); this event is written at most once per source address per radius.unknownClientAuditSeconds (and for at most 100 sources per period), so a flood cannot fill the audit log.', details: ['port', 'listener', 'periodSeconds'] },
  ...crud('network', 'named network'),
  ...crud('device', 'device', [], false),
  ...crud('policy', 'conditional-access policy'),
  { type: 'network_session.started', description: 'RADIUS accounting (RFC 2866) reported a new network session (an Accounting-Request Start, or an Interim-Update or Stop whose Start was lost: details.startMissing). The actor is the user User-Name names (anonymous with the name as sent when it names none).', details: ['client', 'nas', 'framedIpAddress', 'callingStationId', 'startMissing'] },
  { type: 'network_session.stopped', description: 'RADIUS accounting reported the end of a network session (Accounting-Request Stop), with its final counters.', details: ['client', 'terminateCause', 'sessionTime', 'inputOctets', 'outputOctets'] },
  { type: 'network_session.refused', description: 'A new network session was not recorded (and its Accounting-Request not answered) because its RADIUS client has networkSessions.maxLivePerClient live ones (reason too_many_sessions). At most one event per client and minute.', details: ['acctSessionId', 'username', 'live'] },
  { type: 'network_session.cleared', description: 'A NAS sent Accounting-On or Accounting-Off: every live session it had was marked ended (terminate cause NAS-Reboot).', details: ['status', 'nas', 'sessions'] },
  { type: 'network_session.expired', description: 'The sweep closed live network sessions without accounting for networkSessions.staleAfterIntervals interim intervals (terminate cause Stale).', details: ['sessions', 'staleAfterSeconds'] },
  { type: 'network_session.disconnect_requested', description: 'A network session is to be ended with a Disconnect-Request or CoA-Request (RFC 5176): details.reason admin (an administrator asked: the actor), user_suspended, user_deleted, not_assigned (the user is in no group the RADIUS client is assigned to), device_noncompliant, certificate_revoked (the device certificate the session signed in with over EAP-TLS was revoked; the device\'s sessions on another certificate stay), certificate_expired (that certificate has expired since) or device_deleted (the device the EAP-TLS sign-in identified was deleted). A process running the RADIUS front-end sends it.', details: ['reason', 'client', 'username'] },
  { type: 'network_session.disconnect', description: 'The outcome of a Disconnect-Request or CoA-Request (details.mode): success, the NAS acknowledged (ACK) and the session is ended; failure, it refused (NAK, reason disconnect_nak with the Error-Cause) or did not answer after every retransmission (disconnect_timeout); error, it could not be sent (disconnect_failed: RADIUS client gone, no address).', details: ['mode', 'state', 'attempts', 'reason', 'client', 'username', 'detail'] },
  { type: 'apikey.created', description: 'An admin API key was created (the secret is shown once and never stored).', details: ['scopes'] },
  { type: 'apikey.revoked', description: 'An admin API key was revoked.', details: [FORCED] },
  { type: 'config.reconciled', description: 'The objects declared in the configuration file were reconciled into the store, at start or on reload (SIGHUP). Each change is an event of its own as well.', details: ['file', 'created', 'updated', 'deleted'] },
  { type: 'config.rejected', description: 'A configuration reload was refused (invalid file or a conflict with API-managed objects); the last good configuration stays in force.', details: ['file', 'errors'] },
  {
    type: 'authn.totp',
    description: 'A second-factor code was checked: a TOTP code or a recovery code (a success in a sign-in step or an LDAP bind is carried by the access decision that follows: access.decision details.checks). outcome success: accepted (details.method totp or recovery; a recovery code is used up); failure: reason invalid_format (not 6 digits nor a recovery code), no_factor (no active TOTP), invalid_code, replayed (the code was accepted before: each is accepted once) or throttled (details.retryAfterSeconds); error: the store or the seed key failed and the attempt was refused (fail closed).' + EAP_TEXT,
    details: ['method', 'delta', 'recoveryCodesLeft', 'retryAfterSeconds', 'seedRotated', EAP],
  },
  {
    type: 'authn.network_password',
    description: "A network password was checked with MS-CHAPv2 (PEAP inside RADIUS: the peer's NT-Response against the one the person's network password gives). In a sign-in, a success is carried by the access decision that follows (access.decision details.checks). failure: unknown user or wrong network password (reason bad_credentials), no network password (reason no_network_password), throttled (reason throttled, details.retryAfterSeconds) or invalid input; denied: the response matched but the user is suspended; error: the store or the key failed and the attempt was refused (fail closed)." + EAP_TEXT,
    details: ['username', 'method', 'retryAfterSeconds', EAP],
  },
  { type: 'credential.network_password.generated', description: "A person's network password (for WiFi with PEAP/MS-CHAPv2) was generated, replacing any earlier one (details.replaced); it is shown once and never recorded.", details: ['replaced'] },
  { type: 'credential.network_password.removed', description: "A person's network password was removed: PEAP/MS-CHAPv2 sign-ins refuse them until a new one is generated." },
  { type: 'mfa.totp.enrolled', description: 'TOTP enrolment started (or restarted): a new seed is stored, encrypted, as a pending factor until confirmed. denied (reason already_active): an active factor must be reset first.', details: ['restarted'] },
  { type: 'mfa.totp.confirmed', description: 'A pending TOTP factor was confirmed with a first code and became active; fresh recovery codes were issued (details.recoveryCodes: how many). failure: reason invalid_format, invalid_code, not_pending or throttled.', details: ['delta', 'recoveryCodes', 'retryAfterSeconds'] },
  { type: 'mfa.totp.reset', description: "An administrator removed a user's TOTP factor and recovery codes (details say what was there).", details: ['totp', 'recoveryCodes'] },
  { type: 'mfa.recovery_codes.regenerated', description: "A user's recovery codes were replaced with fresh ones (the old ones stop working). denied (reason not_active): there is no active TOTP factor.", details: ['recoveryCodes'] },
  {
    type: 'authn.webauthn',
    description: 'A WebAuthn assertion (security key as second factor, or passkey sign-in without a username: details.passkey) was verified (a success in a sign-in step is carried by the access decision that follows: access.decision details.checks). outcome success: the signature verified, the counter moved (details.userVerified: the authenticator verified the user); failure: reason challenge_unknown (unknown, expired or already used challenge), invalid_response (malformed, or wrong origin, RP ID, type or missing user verification), credential_unknown, user_mismatch (the credential or user handle is not the user\'s the challenge was issued for) or invalid_signature; denied: reason counter_regression (the signature counter did not increase: a cloned authenticator is suspected; the credential is left unchanged) or suspended; error: the store failed and the attempt was refused (fail closed).',
    details: ['passkey', 'credentialId', 'credentialName', 'userVerified', 'counter', 'storedCounter'],
  },
  { type: 'mfa.webauthn.registered', description: 'A WebAuthn authenticator (security key or passkey) was registered for a user. failure: reason challenge_unknown, invalid_response, invalid_name, suspended, unknown_user or already_registered (the credential is registered already).', details: ['credentialId', 'name', 'discoverable', 'deviceType', 'backedUp', 'userVerified', 'aaguid'] },
  { type: 'mfa.webauthn.renamed', description: "A user's WebAuthn authenticator was renamed.", details: ['credentialId', 'name', 'previousName'] },
  { type: 'mfa.webauthn.deleted', description: "A user's WebAuthn authenticator was removed; it can no longer sign in.", details: ['credentialId', 'name'] },
  // Sessions (src/sessions)
  { type: 'session.ended', description: 'A Gatehouse session (the sign-in shared by the portal, OIDC and SAML) was ended: details.reason logout (the person signed out), revoked (the person ended it from the portal), password_changed (their other sessions end when the password changes), admin, suspended or deleted (the user was suspended or deleted: every session ends at once). Sessions that time out are not audited.', details: ['reason', 'session', 'startedAt'] },
  // Sign-in pages and portal (protocols/web)
  { type: 'session.started', description: 'A person signed in through the sign-in pages and a Gatehouse session started (details.session: the first 16 hex digits of its handle, as in session.ended; details.methods: the factors proven; details.resource: what the sign-in was for, portal or app:<name>; details.device: the device identified by its certificate). The attempt before it is the access.decision event with the same request id (its details.checks: the factors checked in that step). A session the same browser had before ends with session.ended reason logout: sessions are rotated at sign-in.', details: ['session', 'methods', 'resource', 'device'] },
  { type: 'session.elevated', description: 'A session proved a further factor for a resource that asked for it (step-up): the factor is added and the session token rotated, so details.session is the new handle prefix and details.previous the old one.', details: ['session', 'previous', 'methods', 'resource'] },
  // OpenID Connect (protocols/oidc). Each authorization is decided and audited by the access core (access.decision, protocol oidc).
  { type: 'oidc.keys.created', description: 'Signing keys of the OpenID Connect provider were created: the first generation on the first start, or keys for an algorithm newly added to oidc.signingAlgorithms. Private keys are stored encrypted with the secrets keyring. When several processes start at once, only the one whose keys were stored records it.', details: ['generation', 'keys'] },
  { type: 'oidc.keys.rotated', description: 'The signing keys were rotated (`gatehouse keys rotate`): the new generation signs from now on; the previous keys stay published and accepted until details.retiresAt (oidc.keys.rotationOverlapHours), then retire.', details: ['generation', 'keys', 'retiring', 'retiresAt'] },
  { type: 'oidc.token.refused', description: "A code redemption, refresh, device-code poll or userinfo call was refused (invalid_grant / invalid_token) because the person may no longer have tokens for the client: reason unknown_user, suspended, not_assigned (none of the person's groups is assigned to the application any more) or unknown_resource.", details: ['client', 'endpoint', 'grantType'] },
  { type: 'oidc.token.reuse_detected', description: 'An authorization code or refresh token that was already used was presented again (or twice at once: details.concurrent): the request is refused and every token of the grant is revoked (RFC 9700 §4.14.2). Someone other than the client may hold the credential.', details: ['artifact', 'grantId', 'concurrent'] },
  { type: 'oidc.client.auth_failed', description: 'A client failed to authenticate at the token, introspection, revocation, PAR, device authorization or userinfo endpoint (outcome failure): unknown client, wrong secret, or an authentication method it is not registered for; reasons[0].code is the OAuth error. Refused before its secret was checked after too many wrong secrets from the address (429 with Retry-After): reason throttled, details.retryAfterSeconds.', details: ['endpoint', 'retryAfterSeconds'] },
  { type: 'oidc.backchannel_logout', description: "A logout token (OpenID Connect Back-Channel Logout) was sent to a client's backchannelLogoutUri because the Gatehouse session it was signed in with ended: outcome success (the client answered 200/204) or failure (reason delivery_failed).", details: ['user', 'sid'] },
  // SAML 2.0 (protocols/saml)
  { type: 'saml.request.refused', description: "An inbound SAML message (AuthnRequest, LogoutRequest, LogoutResponse) was refused before any decision (outcome failure): reasons[0].code is saml_refused and details.check the check that failed (as inbound validation names it: signature, issuer, ACS, destination, age, replay, size, DOCTYPE, RelayState). When the message could be trusted enough to answer, the SP got a Requester status; otherwise the browser got an error page. Recorded at most once a minute per address and code.", details: ['check', 'binding', 'message', 'issuer', 'detail'] },
  { type: 'saml.response.issued', description: 'A SAML assertion was sent to a service provider (the access decision that allowed it is the access.decision event of the same request): details.flow sp-initiated or idp-initiated, the NameID format, whether it was encrypted, the ACS URL.', details: ['flow', 'nameIdFormat', 'encrypted', 'acs', 'inResponseTo'] },
  { type: 'saml.response.refused', description: 'A SAML service provider was answered with an error status instead of an assertion (outcome denied): RequestDenied after a deny decision or a cancelled sign-in, NoPassive for IsPassive without a session (or one that needs a second factor), InvalidNameIDPolicy when the person has no value for the NameID, NoAuthnContext when the SP asked for a stronger authentication (RequestedAuthnContext) than the sign-in had.', details: ['status', 'flow', 'inResponseTo'] },
  { type: 'saml.logout', description: "Single Logout: details.initiator is the SP that asked (or 'gatehouse' for IdP-initiated), details.notified the other SPs of the session sent a LogoutRequest, details.partial whether one of them failed to confirm. The Gatehouse session ends with it (session.ended).", details: ['initiator', 'notified', 'partial'] },
  // The secrets keyring (src/secrets)
  { type: 'keyring.reencrypted', description: "`gatehouse keyring reencrypt` re-encrypted the stored secrets under the keyring's primary key (target.name, the first of secrets.keys). details.kinds counts, per kind of secret (totp-seed, network-password, radius-client-secret, signing-key, cookie-key, ca-key), those re-encrypted, already current, changed meanwhile by someone else (left to that change) and failed (they do not decrypt with the configured keys: left as they are); details.remaining: stored secrets that do not decrypt under the primary key afterwards (still under an older key, or not decrypting at all). Outcome success when none remain (details.complete: the older keys can be removed), failure otherwise. Never a secret nor a ciphertext.", details: ['primary', 'kinds', 'reencrypted', 'failed', 'remaining', 'complete'] },
  // Device trust (src/devices)
  { type: 'device.ca.created', description: 'The device certificate authority was created on the first start (EC P-256, 10 years); its private key is stored encrypted with the secrets keyring. When several processes start at once, only the one whose CA was stored records it.', details: ['subject', 'fingerprint', 'notAfter', 'algorithm'] },
  { type: 'device.certificate.issued', description: 'The device CA issued a client certificate to a device, from a CSR (details.format csr) or with a generated key returned as PKCS#12 (pkcs12). The certificate and this event commit together.', details: ['serial', 'fingerprint', 'notAfter', 'keyType', 'format'] },
  { type: 'device.certificate.refused', description: 'A device certificate request was refused and nothing was stored (outcome failure): reason malformed_csr, bad_signature (the CSR is not signed by the key it carries), unsupported_key (not EC P-256/P-384 nor RSA of 2048-8192 bits), bad_subject (control characters, several CNs, or a CN naming another device) or weak_password (PKCS#12 password).', details: ['format'] },
  { type: 'device.certificate.revoked', description: 'A device certificate was revoked: from then on it identifies its device nowhere (mTLS, proxy header, EAP-TLS).', details: ['serial', 'fingerprint'] },
  { type: 'device.token.issued', description: 'A device token was issued for posture check-ins by an agent without a certificate (shown once; only its SHA-256 is stored).' },
  { type: 'device.token.revoked', description: "Every device token of a device was revoked.", details: ['count'] },
  { type: 'device.posture.reported', description: "An authenticated device reported its posture (details.via mtls, header or token); the device's posture and lastSeenAt were replaced. reasons: the compliance requirements it fails (empty when compliant).", details: ['via', 'osVersion', 'diskEncrypted', 'firewall', 'screenLock', 'compliant'] },
  { type: 'authn.device', description: 'A device failed to authenticate to the device endpoint, or a certificate sign-in (EAP-TLS, details.via radius) was refused before any decision (outcome failure): reason missing_credentials, malformed_credentials, unknown_token, untrusted_header (a client-certificate header from an address that is not a trusted proxy), malformed_header, or for a presented certificate malformed, not_issued_by_us, unknown, revoked, expired, not_yet_valid or device_missing; for a certificate sign-in also no_device_owner (the device has no owner, or several) and suspended (details.username). A certificate the device CA issued (revoked, expired...) names the device it was issued to: the target, or details.device {id}. EAP-TLS refuses some certificates in the TLS handshake already, before the sign-in (which then does not run): none presented (missing_credentials), another CA\'s (not_issued_by_us), out of its validity (expired, not_yet_valid) or refused for another reason (certificate_rejected); that event has target the RADIUS client (details.client), details.tls {version, verify: OpenSSL\'s code}, and the presented certificate\'s subject and issuer (cut to 256 characters, control characters replaced), serial and fingerprint (SHA-256).' + EAP_TEXT, details: ['via', 'serial', 'fingerprint', 'subject', 'issuer', 'username', 'device', 'client', 'tls', EAP] },
  {
    type: 'authn.tls',
    description: 'An EAP conversation (RADIUS WiFi: TTLS, PEAP or EAP-TLS) ended in its TLS before any credential was checked (outcome failure; the sign-in does not run): reason tls_version (no TLS version in common: a TLS 1.0/1.1-only supplicant), tls_cipher (no cipher suite, group or signature algorithm in common), tls_alert (the peer\'s alert, named in details.tls.alert from the RFC 8446 list, else other: unknown_ca or bad_certificate mean the supplicant does not trust the server certificate), tls_malformed (not valid TLS) or tls_failed (details.tls.error: the TLS engine\'s code, OpenSSL\'s name for it). target: the RADIUS client (details.client); details.tls.version once negotiated; a client certificate the peer presented by subject, issuer, serial and fingerprint, bounded as in authn.device. One event per conversation, as for a wrong password.' + EAP_TEXT,
    details: ['client', 'tls', 'serial', 'fingerprint', 'subject', 'issuer', EAP],
  },
];

const TYPES = new Set(EVENT_CATALOGUE.map((e) => e.type));

export function isKnownEventType(type: string): boolean {
  return TYPES.has(type);
}

/** docs/events.md, generated. */
export function renderEventCatalogue(): string {
  const lines = [
    '# Audit event catalogue',
    '',
    '<!-- Generated from src/audit/catalogue.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every authentication attempt and every administrative change writes exactly one audit event to the',
    'store (in the same transaction as the change) and one JSON log line (`"msg":"audit"`) to standard output:',
    'at `warn` when its outcome is not success, else at `info`, except the changes the configuration file makes',
    '(actor type `config`), logged at `debug`: each reconciliation logs one `info` line with its counts per kind.',
    'Query them with `GET /api/v1/audit?user=&type=&outcome=&since=&until=`.',
    '',
    'A change of what the configuration file declares, made through the admin API (`?force=true`) or the CLI (`--force`)',
    'rather than in the file, carries `details.forced: true`: the next reload or start puts the declaration back. Without',
    'force such a change is refused (409) and writes no event.',
    '',
    'Fields of every event: `id`, `time` (ISO 8601), `type`, `actor` `{type, id, name}` (type: user, apikey, device, cli,',
    'config, system, anonymous), `target` `{type, id, name}`, `sourceIp`, `protocol`, `outcome`',
    '(`success`, `failure`, `denied`, `error`), `reasons` `[{code, description, policy}]`, `details`, `requestId`.',
    '',
    '| type | when | details |',
    '|---|---|---|',
    ...EVENT_CATALOGUE.map((e) => `| \`${e.type}\` | ${e.description} | ${(e.details ?? []).map((d) => `\`${d}\``).join(', ')} |`),
    '',
  ];
  return lines.join('\n');
}
