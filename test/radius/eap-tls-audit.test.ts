/**
 * What the audit event of an EAP conversation that ends in its TLS says (protocols/radius/eap/
 * tls-audit.ts): the TLS engine's errors and the verifier's codes map to a fixed set of reasons,
 * the peer's alert is named from RFC 8446's list only, nothing of the engine's or the peer's text
 * is kept, and a presented certificate's subject and issuer (the peer's choice) are bounded.
 */
import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateDetails, classifyTlsFailure, NAME_MAX } from '../../protocols/radius/eap/tls-audit.ts';
import { REASON_CATALOGUE } from '../../src/reasons.ts';

const engine = (code: unknown, message = 'x') => Object.assign(new Error(message), { code });

describe('classifyTlsFailure', () => {
  it('maps the engine errors to the fixed reasons, keeping only codes in OpenSSL\'s form', () => {
    const cases: Array<[unknown, string, string, string | undefined]> = [
      ['ERR_SSL_UNSUPPORTED_PROTOCOL', 'authn.tls', 'tls_version', 'ERR_SSL_UNSUPPORTED_PROTOCOL'],
      ['ERR_SSL_NO_SHARED_CIPHER', 'authn.tls', 'tls_cipher', 'ERR_SSL_NO_SHARED_CIPHER'],
      ['ERR_SSL_HTTP_REQUEST', 'authn.tls', 'tls_malformed', 'ERR_SSL_HTTP_REQUEST'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'authn.tls', 'tls_malformed', 'ERR_SSL_WRONG_VERSION_NUMBER'],
      ['ERR_SSL_BAD_SIGNATURE', 'authn.tls', 'tls_failed', 'ERR_SSL_BAD_SIGNATURE'],
      ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'authn.device', 'missing_credentials', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
      // Not the engine's form (our own errors, or anything else): no code kept.
      [undefined, 'authn.tls', 'tls_failed', undefined],
      [42, 'authn.tls', 'tls_failed', undefined],
      ['ERR_SSL_evil text\n', 'authn.tls', 'tls_failed', undefined],
      [`ERR_SSL_${'A'.repeat(500)}`, 'authn.tls', 'tls_failed', undefined],
    ];
    for (const [code, type, reason, kept] of cases) {
      const got = classifyTlsFailure({ method: 'ttls', error: engine(code) });
      expect([got.type, got.reason.code, got.tls.error]).toEqual([type, reason, kept]);
    }
  });

  it("names the peer's alert from RFC 8446's list, else 'other', from the number only", () => {
    const alert = (number: string, code = 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA') => classifyTlsFailure({ method: 'peap', error: engine(code, `error:0A000418:SSL routines::tlsv1 alert unknown ca:ssl/record/rec_layer_s3.c:907:SSL alert number ${number}\n`) });
    expect(alert('48')).toMatchObject({ type: 'authn.tls', reason: { code: 'tls_alert' }, tls: { alert: 'unknown_ca', error: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' } });
    expect(alert('42', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE').tls.alert).toBe('bad_certificate');
    expect(alert('70', 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION').tls.alert).toBe('protocol_version');
    expect(alert('200').tls.alert).toBe('other');
    expect(alert('9999').tls.alert).toBe('other');
    expect(alert('<script>').tls.alert).toBe('other');
  });

  it("maps the verifier's codes (EAP-TLS, handshake complete) to the device reasons", () => {
    const verify = (code: string | undefined) => classifyTlsFailure({ method: 'tls', verify: code });
    expect(verify('CERT_HAS_EXPIRED')).toMatchObject({ type: 'authn.device', reason: { code: 'expired' }, tls: { verify: 'CERT_HAS_EXPIRED' } });
    expect(verify('CERT_NOT_YET_VALID').reason.code).toBe('not_yet_valid');
    for (const code of ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_SIGNATURE_FAILURE']) {
      expect(verify(code).reason.code).toBe('not_issued_by_us');
    }
    expect(verify('INVALID_PURPOSE')).toMatchObject({ reason: { code: 'certificate_rejected' }, tls: { verify: 'INVALID_PURPOSE' } });
    expect(verify('no client certificate')).toMatchObject({ reason: { code: 'missing_credentials' }, tls: {} });
    expect(verify('something else, with text').tls).toEqual({});
  });

  it('gives only catalogued reason codes', () => {
    const codes = new Set<string>(REASON_CATALOGUE.map((r) => r.code));
    for (const code of ['tls_version', 'tls_cipher', 'tls_alert', 'tls_malformed', 'tls_failed', 'missing_credentials', 'expired', 'not_yet_valid', 'not_issued_by_us', 'certificate_rejected']) expect(codes.has(code)).toBe(true);
  });
});

describe('certificateDetails', () => {
  const raw = Buffer.from('not really DER, only hashed');

  it('names the subject, issuer, serial (lower-case hex) and SHA-256 fingerprint', () => {
    const details = certificateDetails({ raw, subject: { CN: 'laptop', O: 'Gatehouse devices' }, issuer: { O: 'Gatehouse', CN: 'Gatehouse Device CA' }, serialNumber: '4A0B' } as unknown as PeerCertificate);
    expect(details).toEqual({ serial: '4a0b', fingerprint: createHash('sha256').update(raw).digest('hex'), subject: 'CN=laptop, O=Gatehouse devices', issuer: 'O=Gatehouse, CN=Gatehouse Device CA' });
  });

  it("bounds the peer's choices: long, many-valued or control-character names, a long serial", () => {
    const hostile = {
      CN: `evil\r\n\u001b[31m${'x'.repeat(100_000)}`,
      OU: Array.from({ length: 10_000 }, (_, i) => `unit-${i}`),
      ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`.repeat(50), 'v'])),
    };
    const details = certificateDetails({ raw, subject: hostile, issuer: { OU: Array.from({ length: 10_000 }, () => '\u0000'.repeat(1000)) }, serialNumber: 'AB'.repeat(1000) } as unknown as PeerCertificate);
    const subject = details.subject as string;
    expect([...subject].length).toBeLessThanOrEqual(NAME_MAX);
    expect(subject.startsWith('CN=evil\ufffd\ufffd\ufffd[31mxxx')).toBe(true);
    expect(subject.endsWith('…')).toBe(true);
    expect([...(details.issuer as string)].length).toBeLessThanOrEqual(NAME_MAX);
    expect(details.issuer).not.toMatch(/[\u0000-\u001f]/);
    expect(details.serial).toBe('ab'.repeat(32));
  });

  it('nothing without a certificate', () => {
    expect(certificateDetails(undefined)).toEqual({});
    expect(certificateDetails({} as PeerCertificate)).toEqual({});
  });
});
