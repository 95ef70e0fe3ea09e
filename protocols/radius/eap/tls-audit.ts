/**
 * The audit event of an EAP conversation that ends in its TLS, before any credential reaches the
 * sign-in (DESIGN.md: every attempt is one event). The sign-in does not run for these; the
 * conversation ends with EAP-Failure as before, and this records why:
 *
 *   - EAP-TLS, the client certificate refused by the TLS verification against the device CA (another
 *     CA's, an expired one, none at all): `authn.device` (as a certificate the sign-in refuses), reason
 *     not_issued_by_us, expired, not_yet_valid, missing_credentials or certificate_rejected;
 *   - any method (TTLS, PEAP, EAP-TLS), a failed handshake or TLS record (no version or cipher in
 *     common, the peer's alert, records that are not TLS): `authn.tls`, reason tls_version,
 *     tls_cipher, tls_alert, tls_malformed or tls_failed.
 *
 * Everything in the event comes from a fixed set or is bounded: the reason codes above; the TLS
 * engine's code (OpenSSL's own names, checked against a pattern) and the alert's name (RFC 8446 §6,
 * else "other"), never its text; the outer identity as details.eap has it (eapDetails); the
 * presented certificate's subject and issuer cut to 256 characters with control characters
 * replaced, its serial to 64 hex digits, its SHA-256 fingerprint. One event per conversation, written
 * as a failed password's is: nothing is kept in memory for it.
 */
import { randomUUID } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Core } from '../../../src/core.ts';
import { eapDetails, type EapMethod } from '../../../src/authn/attempt.ts';
import { fingerprintOf } from '../../../src/devices/ca.ts';
import type { Reason } from '../../../src/directory/model.ts';
import { reason as catalogued } from '../../../src/reasons.ts';

/** The most of a certificate's subject or issuer an event keeps (characters). */
export const NAME_MAX = 256;
/** The most of a serial an event keeps (hex digits: RFC 5280 allows 20 octets). */
const SERIAL_MAX = 64;

/** TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2): a peer's alert is named from this list only. */
const ALERTS: Record<number, string> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 21: 'decryption_failed', 22: 'record_overflow',
  30: 'decompression_failure', 40: 'handshake_failure', 41: 'no_certificate', 42: 'bad_certificate', 43: 'unsupported_certificate',
  44: 'certificate_revoked', 45: 'certificate_expired', 46: 'certificate_unknown', 47: 'illegal_parameter', 48: 'unknown_ca',
  49: 'access_denied', 50: 'decode_error', 51: 'decrypt_error', 60: 'export_restriction', 70: 'protocol_version',
  71: 'insufficient_security', 80: 'internal_error', 86: 'inappropriate_fallback', 90: 'user_canceled', 100: 'no_renegotiation',
  109: 'missing_extension', 110: 'unsupported_extension', 111: 'certificate_unobtainable', 112: 'unrecognized_name',
  113: 'bad_certificate_status_response', 114: 'bad_certificate_hash_value', 115: 'unknown_psk_identity', 116: 'certificate_required',
  120: 'no_application_protocol',
};

const VERSION_ERRORS = new Set(['ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'ERR_SSL_VERSION_TOO_LOW', 'ERR_SSL_VERSION_TOO_HIGH', 'ERR_SSL_WRONG_SSL_VERSION']);
const CIPHER_ERRORS = new Set([
  'ERR_SSL_NO_SHARED_CIPHER', 'ERR_SSL_NO_CIPHERS_AVAILABLE', 'ERR_SSL_NO_SHARED_SIGNATURE_ALGORITHMS', 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM',
  'ERR_SSL_NO_SUITABLE_KEY_SHARE', 'ERR_SSL_NO_SHARED_GROUPS', 'ERR_SSL_NO_SUITABLE_GROUPS',
]);
const MALFORMED_ERROR = /LENGTH|UNEXPECTED|WRONG_VERSION_NUMBER|HTTP|EXTENSION|PARSE|PACKET|RECORD|DECODE|UNKNOWN_PROTOCOL|EXCESSIVE|BAD_MESSAGE/;
const ALERT_ERROR = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_/;
/** OpenSSL's codes as Node names them: kept only in this form, and so bounded. */
const ENGINE_CODE = /^ERR_SSL_[A-Z0-9_]{1,64}$/;
const VERIFY_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const NOT_OURS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
]);

/** What the handler knows when the TLS of a conversation fails. */
export interface TlsFailure {
  method: EapMethod;
  outerIdentity: string;
  /** The RADIUS client's name. */
  client: string;
  clientIp: string;
  /** The handshake's or a record's error (TlsSession.feed), when TLS itself failed. */
  error?: Error | undefined;
  /** EAP-TLS: why the verification refused the client certificate (TlsSession.authorizationError). */
  verify?: string | undefined;
  /** The certificate the peer presented, if any. */
  certificate?: PeerCertificate | undefined;
  /** The TLS version, once negotiated. */
  version?: string | null | undefined;
}

/** The event type, reason and TLS details for a failure (pure: tests call it). */
export function classifyTlsFailure(failure: Pick<TlsFailure, 'method' | 'error' | 'verify'>): { type: 'authn.device' | 'authn.tls'; reason: Reason; tls: Record<string, string> } {
  if (!failure.error) {
    // The handshake completed; the verification refused the client certificate (EAP-TLS).
    const verify = failure.verify;
    const tls: Record<string, string> = verify && VERIFY_CODE.test(verify) ? { verify } : {};
    if (verify === undefined || verify === 'no client certificate') return { type: 'authn.device', reason: catalogued('missing_credentials', 'no client certificate'), tls };
    if (verify === 'CERT_HAS_EXPIRED') return { type: 'authn.device', reason: catalogued('expired'), tls };
    if (verify === 'CERT_NOT_YET_VALID') return { type: 'authn.device', reason: catalogued('not_yet_valid'), tls };
    if (NOT_OURS.has(verify)) return { type: 'authn.device', reason: catalogued('not_issued_by_us'), tls };
    return { type: 'authn.device', reason: catalogued('certificate_rejected'), tls };
  }
  const raw = (failure.error as Error & { code?: unknown }).code;
  const code = typeof raw === 'string' && ENGINE_CODE.test(raw) ? raw : undefined;
  const tls: Record<string, string> = code ? { error: code } : {};
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return { type: 'authn.device', reason: catalogued('missing_credentials', 'no client certificate'), tls };
  if (code && ALERT_ERROR.test(code)) {
    // OpenSSL's text names the alert's number; only the name from the list above is kept.
    const number = /alert number (\d{1,3})\b/.exec(String(failure.error.message).slice(0, 1024))?.[1];
    tls.alert = (number !== undefined ? ALERTS[Number(number)] : undefined) ?? 'other';
    return { type: 'authn.tls', reason: catalogued('tls_alert', tls.alert), tls };
  }
  if (code && VERSION_ERRORS.has(code)) return { type: 'authn.tls', reason: catalogued('tls_version'), tls };
  if (code && CIPHER_ERRORS.has(code)) return { type: 'authn.tls', reason: catalogued('tls_cipher'), tls };
  if (code && MALFORMED_ERROR.test(code)) return { type: 'authn.tls', reason: catalogued('tls_malformed'), tls };
  return { type: 'authn.tls', reason: catalogued('tls_failed'), tls };
}

/** The presented certificate as the event names it, bounded. */
export function certificateDetails(certificate: PeerCertificate | undefined): Record<string, unknown> {
  if (!certificate?.raw) return {};
  const serial = typeof certificate.serialNumber === 'string' ? certificate.serialNumber.toLowerCase().replace(/[^0-9a-f]/g, '') : '';
  const subject = nameOf(certificate.subject);
  const issuer = nameOf(certificate.issuer);
  return {
    ...(serial ? { serial: serial.slice(0, SERIAL_MAX) } : {}),
    fingerprint: fingerprintOf(certificate.raw),
    ...(subject ? { subject } : {}),
    ...(issuer ? { issuer } : {}),
  };
}

/**
 * Records the event of a conversation whose TLS failed (see above). Never throws: the conversation
 * ends with EAP-Failure whatever the audit log does (the auditor logs an event it could not store).
 */
export async function recordTlsFailure(core: Pick<Core, 'audit' | 'devices'>, failure: TlsFailure): Promise<void> {
  try {
    const { type, reason, tls } = classifyTlsFailure(failure);
    const version = failure.version && /^TLSv1(?:\.[0-3])?$/.test(failure.version) ? { version: failure.version } : {};
    const certificate = certificateDetails(failure.certificate);
    // A certificate of ours that is out of its validity names the device it was issued to, as the
    // sign-in's refusal does: only when the serial's record has the same fingerprint (the verifier's
    // code alone does not prove who signed it).
    let issuedTo: { device: { id: string } } | Record<string, never> = {};
    if ((reason.code === 'expired' || reason.code === 'not_yet_valid') && typeof certificate.serial === 'string') {
      const record = await core.devices.authority.get(certificate.serial).catch(() => undefined);
      if (record && record.fingerprint === certificate.fingerprint) issuedTo = { device: { id: record.deviceId } };
    }
    await core.audit.record(
      { actor: { type: 'anonymous' }, protocol: 'radius', sourceIp: failure.clientIp, requestId: `radius-${randomUUID()}` },
      {
        type, outcome: 'failure', reasons: [reason], target: { type: 'radius_client', name: failure.client },
        details: { ...(type === 'authn.device' ? { via: 'radius' } : {}), ...certificate, ...issuedTo, client: failure.client, tls: { ...version, ...tls }, ...eapDetails({ method: failure.method, outerIdentity: failure.outerIdentity }) },
      },
    );
  } catch (err) {
    core.audit.warn('the audit event of a failed EAP TLS conversation could not be recorded', err);
  }
}

/** `CN=x, O=y` from a certificate name Node parsed, bounded before any work on its values. */
function nameOf(name: unknown): string | undefined {
  if (typeof name !== 'object' || name === null) return undefined;
  let text = '';
  for (const [key, value] of Object.entries(name as Record<string, unknown>)) {
    const values = (Array.isArray(value) ? value : [value]).slice(0, 8);
    text += `${text ? ', ' : ''}${key.slice(0, 64)}=${values.map((v) => String(v).slice(0, NAME_MAX + 1)).join('+')}`;
    if (text.length > NAME_MAX) break;
  }
  const chars = [...text.slice(0, NAME_MAX * 2 + 2).toWellFormed()];
  const cut = chars.length > NAME_MAX;
  const shown = (cut ? `${chars.slice(0, NAME_MAX - 1).join('')}…` : chars.join('')).replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
  return shown || undefined;
}
