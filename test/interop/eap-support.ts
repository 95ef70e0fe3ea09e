/**
 * What the eapol_test interop tests share: a Gatehouse with RADIUS and EAP on (a server certificate
 * from a throwaway CA, written to a temporary folder), and eapol_test run against it with a
 * network block made of the test's defaults and the case's own entries.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AuditEvent } from '../../src/directory/model.ts';
import type { Backend } from '../helpers/backends.ts';
import { makeCa, serverCertificate } from '../helpers/pki.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const run = promisify(execFile);

export interface Outcome {
  code: number;
  output: string;
}

export interface EapServer {
  t: TestServer;
  /** The temporary folder (removed by stop). */
  dir: string;
  /** The CA of the server certificate, for the supplicant's ca_cert. */
  caFile: string;
  /** The RADIUS authentication port. */
  port: number;
  /** eapol_test with `network={ key_mgmt=WPA-EAP ca_cert=… <defaults> <network> }`; never throws. */
  eapolTest(name: string, network: Record<string, string>, extra?: string[]): Promise<Outcome>;
  stop(): Promise<void>;
}

export async function startEapServer(backend: Backend, options: { prefix: string; secret: string; defaults: Record<string, string> }): Promise<EapServer> {
  const dir = mkdtempSync(join(tmpdir(), options.prefix));
  const ca = await makeCa('CN=WiFi Test CA');
  const { cert, key } = await serverCertificate(ca);
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.pem);
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key);
  const t = await startTestServer(backend, {
    radius: { enabled: true, hosts: ['127.0.0.1'], authPort: 0, acctPort: 0, rejectDelaySeconds: 0, eap: { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } } },
  });
  const port = Number(new URL(t.gh.listeners.find((l) => l.name.startsWith('radius authentication'))!.url).port);
  return {
    t,
    dir,
    caFile,
    port,
    async eapolTest(name, network, extra = []) {
      const lines = Object.entries({ key_mgmt: 'WPA-EAP', ca_cert: `"${caFile}"`, ...options.defaults, ...network }).map(([k, v]) => `  ${k}=${v}`);
      const conf = join(dir, `${name}.conf`);
      writeFileSync(conf, `network={\n${lines.join('\n')}\n}\n`);
      try {
        const { stdout } = await run('eapol_test', ['-c', conf, '-a', '127.0.0.1', '-p', String(port), '-s', options.secret, '-r0', '-t', '15', ...extra], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
        return { code: 0, output: stdout };
      } catch (error) {
        const e = error as { code?: number; stdout?: string };
        return { code: e.code ?? -1, output: e.stdout ?? '' };
      }
    },
    async stop() {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The audit events of the newest RADIUS sign-in attempt (by its request id): one per attempt. */
export async function lastAttempt(t: TestServer): Promise<AuditEvent[]> {
  const newest = (await t.gh.core.audit.query({ limit: 50 })).items.find((e) => e.requestId?.startsWith('radius-'));
  if (!newest) throw new Error('no RADIUS attempt in the audit log');
  return (await t.gh.core.audit.query({ requestId: newest.requestId! })).items;
}
