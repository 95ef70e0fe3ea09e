/**
 * EAP-TLS (RFC 5216; TLS 1.3 per RFC 9190): the supplicant proves itself with a client certificate
 * in the TLS handshake, a Gatehouse device certificate. The handler (handler.ts) runs the TLS
 * conversation as for TTLS; this module holds what differs:
 *
 *   - the TLS context asks for a client certificate and verifies it against the Gatehouse device CA
 *     (the core's, so nothing needs configuring); a failed verification ends the handshake;
 *   - after the handshake, on TLS 1.3, the commitment message: one octet 0x00 of application data
 *     (RFC 9190 §2.1.1), so the peer knows no more handshake messages follow;
 *   - the peer ACKs the server's last flight; then the certificate is the credential of
 *     `core.signIn.attempt({ kind: 'certificate' })`: the device it identifies (not revoked, within
 *     its validity, recorded), its owner, the access decision with the device's posture. The outer
 *     identity (EAP-Response/Identity) decides nothing.
 *
 * The keying material (RFC 5216 §2.3, RFC 9190 §2.3) is tls-session.ts's, method 'tls'.
 */
import { randomUUID } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Core } from '../../../src/core.ts';
import type { SignInResult } from '../../../src/authn/attempt.ts';
import type { EapConfig } from './config.ts';
import type { TlsSession } from './tls-session.ts';

/** RFC 9190 §2.1.1: the TLS 1.3 commitment message. */
const COMMITMENT = Buffer.from([0x00]);

export interface ServerMaterial {
  cert: string;
  key: string;
  /** `radius.eap.tls.ca`, when set: trusted instead of the device CA in the handshake. */
  ca?: string;
}

/**
 * The TLS context of EAP-TLS: the server certificate of `radius.eap.tls` and, as the CA client
 * certificates must chain to, the Gatehouse device CA (made once per CA certificate: the CA is
 * loaded when the core starts and does not change while it runs), or `radius.eap.tls.ca` when set.
 * Either way the sign-in accepts only certificates the device CA issued and recorded.
 */
export function eapTlsContexts(tls: NonNullable<EapConfig['tls']>, material: ServerMaterial, core: Pick<Core, 'devices'>): () => SecureContext {
  let made: { ca: string; context: SecureContext } | undefined;
  return () => {
    const ca = material.ca ?? core.devices.authority.certificatePem;
    if (made?.ca !== ca) made = { ca, context: createSecureContext({ ...material, ca, minVersion: tls.minVersion, maxVersion: tls.maxVersion }) };
    return made.context;
  };
}

/**
 * Once the handshake is complete: whether the client certificate verified against the device CA
 * (else why not), and what to send in the server's last flight besides what TLS wrote (TLS 1.3:
 * the commitment message).
 */
export async function afterHandshake(session: TlsSession): Promise<{ ok: true; out: Buffer } | { ok: false; why: string }> {
  if (!session.authorized) return { ok: false, why: `client certificate: ${session.authorizationError ?? 'none presented'}` };
  const out = session.version === 'TLSv1.3' ? await session.send(COMMITMENT) : Buffer.alloc(0);
  return { ok: true, out };
}

/** The certificate sign-in for the conversation's verified client certificate. */
export async function signInWithCertificate(core: Pick<Core, 'signIn'>, session: TlsSession, request: { client: string; clientIp: string; outerIdentity?: string }): Promise<SignInResult | undefined> {
  const certificate = session.peerCertificate();
  if (!certificate?.raw) return undefined;
  return core.signIn.attempt({
    presented: { kind: 'certificate', certificate: certificate.raw },
    resource: `radius:${request.client}`,
    protocol: 'radius',
    clientIp: request.clientIp,
    requestId: `radius-${randomUUID()}`,
    eap: { method: 'tls', outerIdentity: request.outerIdentity },
  });
}
