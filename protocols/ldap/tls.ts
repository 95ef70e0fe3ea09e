/** TLS for the LDAP front-end: one certificate serves StartTLS (RFC 4511 §4.14) and LDAPS. */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { LdapOptions } from './options.ts';

export interface LdapTls {
  /** For `tls.createServer` (LDAPS): a tls.Server builds its own context from these. */
  options: SecureContextOptions;
  /** For `new TLSSocket(…, { secureContext })` (StartTLS). */
  context: SecureContext;
}

/** The certificate of `ldap.tls`, read once at start; undefined when TLS is not configured. */
export function ldapTls(options: Pick<LdapOptions, 'tls'>): LdapTls | undefined {
  if (!options.tls) return undefined;
  // TLS 1.2 is the floor (Node's default today; stated so it stays).
  const contextOptions: SecureContextOptions = { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile), minVersion: 'TLSv1.2' };
  return { options: contextOptions, context: createSecureContext(contextOptions) };
}
