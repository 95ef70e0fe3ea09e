/**
 * The device CA's output read by tools no one here wrote: openssl verifies an issued certificate as
 * a TLS client certificate, reads the CRL and imports the PKCS#12 files; curl presents a PKCS#12
 * file over mTLS to the device endpoint. A missing openssl or curl fails the suite: .ci/run
 * installs them. (The same features without the tools: test/core/devices.test.ts and
 * test/server/mtls.test.ts.)
 */
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueDevicePkcs12, revokeDeviceCertificate, type DeviceAdminEnv } from '../../src/devices/admin.ts';
import { createDeviceApi } from '../../src/devices/http.ts';
import type { DeviceService } from '../../src/devices/service.ts';
import type { Device } from '../../src/directory/model.ts';
import { createHttpApp } from '../../src/server/http.ts';
import { Metrics } from '../../src/server/metrics.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { makeCa, makeCsr, openssl, serverCertificate, type TestCa } from '../helpers/pki.ts';

const ADMIN = { actor: { type: 'apikey' as const, id: 'k1', name: 'ops' }, sourceIp: '192.0.2.10', protocol: 'admin' };
const REPORT = { osVersion: '14.5', diskEncrypted: true, firewall: true, screenLock: true };

/**
 * Called in each test rather than in a beforeAll: a failing hook would only mark the tests skipped,
 * and a missing tool must fail them.
 */
function requireTool(command: string, args: string[]): void {
  expect(() => execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), `${command} is missing: apt-get install ${command}`).not.toThrow();
}

describe.each(backends)('device PKI with openssl and curl ($name)', (backend) => {
  let t: TestCore;
  let devices: DeviceService;
  let laptop: Device;
  let phone: Device;

  const createDevice = (name: string, extra: Record<string, unknown> = {}) =>
    t.core.directory.resources.create(CLI_CTX, 'devices', { name, owners: [], platform: 'macos', managed: true, posture: {}, attributes: {}, ...extra } as never) as Promise<Device>;
  const events = async (type: string) => (await t.store.directory.audit.query({ type, limit: 1000 })).items;
  const adminEnv = (): DeviceAdminEnv => ({ core: { devices, directory: t.core.directory }, audit: ADMIN });

  beforeAll(async () => {
    t = await coreFor(backend);
    devices = t.core.devices;
    await devices.init();
    laptop = await createDevice('laptop', { serial: 'C02XYZ' });
    phone = await createDevice('phone', { platform: 'ios' });
  });
  afterAll(async () => t?.cleanup());

  describe('openssl', () => {
    it('verifies an issued certificate as a TLS client certificate chaining to the CA', async () => {
      requireTool('openssl', ['version']);
      const { csrPem } = await makeCsr('ec-p256', 'CN=laptop, O=Somebody Else, OU=ignored');
      const issued = await devices.authority.issueFromCsr(ADMIN, laptop.id, csrPem);
      expect(openssl((f) => ['verify', '-CAfile', f.ca!, '-purpose', 'sslclient', f.cert!], { ca: issued.caPem, cert: issued.certificatePem })).toContain(': OK');
    });

    it('reads the CRL, signed by the CA, listing a revoked certificate', async () => {
      requireTool('openssl', ['version']);
      const issued = await devices.authority.issueFromCsr(ADMIN, laptop.id, (await makeCsr()).csrPem);
      await devices.authority.revoke(ADMIN, issued.record.serial);
      const crl = openssl((f) => ['crl', '-in', f.crl!, '-CAfile', f.ca!, '-noout', '-text'], { crl: await devices.authority.crlPem(), ca: devices.authority.certificatePem });
      expect(crl.toLowerCase()).toContain(issued.record.serial);
    });

    const PASSWORD = 'correct horse 42';

    it.each(['ec-p256', 'rsa'] as const)('imports a PKCS#12 file with a %s key, its certificate and the CA', async (keyType) => {
      requireTool('openssl', ['version']);
      const issued = await devices.authority.issuePkcs12(ADMIN, phone.id, PASSWORD, keyType);
      const info = openssl((f) => ['pkcs12', '-info', '-in', f.p12!, '-passin', `pass:${PASSWORD}`, '-nodes'], { p12: issued.pkcs12 });
      const certs = info.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
      const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/.exec(info)![0];
      expect(certs.map((c) => new X509Certificate(c).fingerprint256)).toEqual([new X509Certificate(issued.certificatePem).fingerprint256, new X509Certificate(devices.authority.certificatePem).fingerprint256]);
      // The key is the certificate's.
      const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: 'spki', format: 'der' });
      expect(spki(createPublicKey(createPrivateKey(keyPem))).equals(spki(new X509Certificate(certs[0]!).publicKey))).toBe(true);
      expect(createPrivateKey(keyPem).asymmetricKeyType).toBe(keyType === 'rsa' ? 'rsa' : 'ec');
      expect(info).toContain('friendlyName: phone (Gatehouse device)');
      expect((await devices.authority.identify(certs[0]!)).ok).toBe(true);
      expect((await events('device.certificate.issued'))[0]).toMatchObject({ details: { format: 'pkcs12', keyType } });

      // The MAC and the key encryption are keyed by the password.
      expect(() => openssl((f) => ['pkcs12', '-info', '-in', f.p12!, '-passin', 'pass:wrong password', '-nodes'], { p12: issued.pkcs12 })).toThrow(/mac verify/i);
      expect(openssl((f) => ['pkcs12', '-in', f.p12!, '-passin', `pass:${PASSWORD}`, '-noout'], { p12: issued.pkcs12 })).toBe('');
    });
  });

  describe('curl', () => {
    let serverCa: TestCa;
    let tlsServer: https.Server | undefined;
    let httpsUrl: string;

    beforeAll(async () => {
      // A TLS server that asks for a client certificate (naming the device CA) and lets the device
      // endpoint decide what to make of it, as in test/server/mtls.test.ts.
      serverCa = await makeCa('CN=Test TLS CA');
      const app = createHttpApp(t.core, new Metrics(), [createDeviceApi({ devices, config: t.config })]).callback();
      tlsServer = https.createServer({ ...(await serverCertificate(serverCa)), requestCert: true, rejectUnauthorized: false, ca: [devices.authority.certificatePem] }, app);
      tlsServer.listen(0, '127.0.0.1');
      await once(tlsServer, 'listening');
      httpsUrl = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      if (!tlsServer) return;
      tlsServer.closeAllConnections();
      await new Promise((resolve) => tlsServer!.close(resolve));
    });

    it('works with a PKCS#12 file in curl, a client no one here wrote', async () => {
      requireTool('curl', ['--version']);
      const device = await createDevice('laptop-7');
      const issued = await issueDevicePkcs12({ params: { id: device.id }, body: { password: 'p12-Password', keyType: 'ec-p256' } }, adminEnv());
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-curl-'));
      try {
        writeFileSync(join(dir, 'device.p12'), Buffer.from(issued.pkcs12, 'base64'));
        writeFileSync(join(dir, 'server-ca.pem'), serverCa.pem);
        const curl = (path: string, extra: string[] = []) =>
          promisify(execFile)('curl', ['-sS', '--cacert', join(dir, 'server-ca.pem'), '--cert-type', 'P12', '--cert', `${join(dir, 'device.p12')}:p12-Password`, ...extra, `${httpsUrl}${path}`], { encoding: 'utf8' });
        const { stdout } = await curl('/device/v1/posture', ['-H', 'content-type: application/json', '--data', JSON.stringify(REPORT)]);
        expect(JSON.parse(stdout)).toMatchObject({ deviceId: device.id, compliant: true });

        await revokeDeviceCertificate({ params: { serial: issued.serial } }, adminEnv());
        const refused = await curl('/device/v1/me');
        expect(JSON.parse(refused.stdout)).toMatchObject({ status: 401, detail: expect.stringContaining('revoked') });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
