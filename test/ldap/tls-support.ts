/** A throwaway CA and a server certificate for 127.0.0.1 written to files, for `ldap.tls`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, serverCertificate } from '../helpers/pki.ts';

export interface TlsFiles {
  /** The CA certificate (PEM) clients trust. */
  ca: string;
  tls: { certFile: string; keyFile: string };
  remove(): void;
}

export async function tlsFiles(): Promise<TlsFiles> {
  const ca = await makeCa('CN=LDAP Test CA');
  const { cert, key } = await serverCertificate(ca);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ldap-tls-'));
  const tls = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  writeFileSync(tls.certFile, cert);
  writeFileSync(tls.keyFile, key);
  return { ca: ca.pem, tls, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
