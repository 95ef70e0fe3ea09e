/**
 * Device trust end to end, started the way a user starts Gatehouse: an HTTPS listener asking for
 * client certificates, a device certificate issued through the admin API (from a CSR, and as
 * PKCS#12), posture check-ins over real mTLS connections, and revocation through the admin API.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { makeCa, makeCsr, serverCertificate, type TestCa } from '../helpers/pki.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

interface TlsClient {
  key?: string;
  cert?: string;
  pfx?: Buffer;
  passphrase?: string;
}

/** POSTs JSON over a real TLS connection, presenting `client` as the client certificate. */
function tlsPost(url: string, ca: string, client: TlsClient, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', ca, ...client, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe.each(backends)('device certificates over mTLS ($name)', (backend) => {
  let s: TestServer;
  let serverCa: TestCa;
  let httpsUrl: string;

  beforeAll(async () => {
    serverCa = await makeCa('CN=Test server CA');
    const tls = await serverCertificate(serverCa);
    const dir = mkdtempSync(join(tmpdir(), 'gh-tls-'));
    writeFileSync(join(dir, 'server.pem'), tls.cert);
    writeFileSync(join(dir, 'server.key'), tls.key);
    s = await startTestServer(backend, { server: { https: { host: '127.0.0.1', port: 0, certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') } } });
    httpsUrl = s.gh.listeners.find((l) => l.url.startsWith('https://'))!.url;
  });
  afterAll(async () => s?.stop());

  async function newDevice(name: string): Promise<string> {
    const response = await s.api('/api/v1/devices', { method: 'POST', json: { name, platform: 'macos', managed: true } });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  }

  const posture = { osVersion: '15.1', diskEncrypted: true, firewall: true, screenLock: true };

  it('identifies the device by a certificate issued from a CSR, until it is revoked', async () => {
    const id = await newDevice('alice-mac');
    const { csrPem, key } = await makeCsr('ec-p256', '');
    const issued = await s.api(`/api/v1/devices/${id}/certificates`, { method: 'POST', json: { csr: csrPem } });
    expect(issued.status).toBe(201);
    const cert = (await issued.json()) as { serial: string; certificatePem: string; caPem: string; status: string };
    expect(cert.status).toBe('valid');

    const client = { key: key.privateKeyPem, cert: cert.certificatePem };
    const checkIn = await tlsPost(`${httpsUrl}/device/v1/posture`, serverCa.pem, client, posture);
    expect(checkIn).toMatchObject({ status: 200, json: { compliant: true } });
    const device = (await (await s.api(`/api/v1/devices/${id}`)).json()) as { posture: Record<string, unknown>; lastSeenAt?: string };
    expect(device.posture).toMatchObject({ ...posture, reportedAt: expect.any(String) });
    expect(device.lastSeenAt).toBeDefined();
    const event = (await s.gh.store.directory.audit.query({ type: 'device.posture.reported', limit: 1 })).items[0];
    expect(event).toMatchObject({ actor: { type: 'device', id }, details: { via: 'mtls', compliant: true } });

    expect((await s.api(`/api/v1/certificates/${cert.serial}`, { method: 'DELETE' })).status).toBe(200);
    const refused = await tlsPost(`${httpsUrl}/device/v1/posture`, serverCa.pem, client, posture);
    expect(refused.status).toBe(401);
    expect(String(refused.json.detail)).toMatch(/revoked/);
    expect((await s.api(`/api/v1/certificates/${cert.serial}`, { method: 'DELETE' })).status).toBe(409);
  });

  it('issues a key and certificate as PKCS#12 that identifies the device', async () => {
    const id = await newDevice('bob-laptop');
    const issued = await s.api(`/api/v1/devices/${id}/certificates/pkcs12`, { method: 'POST', json: { password: 'correct horse 42' } });
    expect(issued.status).toBe(201);
    const { pkcs12 } = (await issued.json()) as { pkcs12: string };
    const checkIn = await tlsPost(`${httpsUrl}/device/v1/posture`, serverCa.pem, { pfx: Buffer.from(pkcs12, 'base64'), passphrase: 'correct horse 42' }, { ...posture, diskEncrypted: false });
    expect(checkIn).toMatchObject({ status: 200, json: { compliant: false } });
    const compliance = (await (await s.api(`/api/v1/devices/${id}/compliance`)).json()) as { compliant: boolean; reasons: Array<{ code: string }> };
    expect(compliance.compliant).toBe(false);
    expect(compliance.reasons.map((r) => r.code)).toContain('disk_not_encrypted');
  });

  it('refuses a certificate from another CA and a connection without one', async () => {
    const id = await newDevice('mallory-pc');
    const foreign = await makeCa('CN=Gatehouse Device CA');
    const { key } = await makeCsr('ec-p256', '');
    const forged = await foreign.issue({ subject: `CN=${id}`, publicKey: key.publicKey });
    const refused = await tlsPost(`${httpsUrl}/device/v1/posture`, serverCa.pem, { key: key.privateKeyPem, cert: forged }, posture);
    expect(refused.status).toBe(401);
    const anonymous = await tlsPost(`${httpsUrl}/device/v1/posture`, serverCa.pem, {}, posture);
    expect(anonymous.status).toBe(401);
  });

  it('serves the device CA through the admin API', async () => {
    const ca = (await (await s.api('/api/v1/device-ca')).json()) as { certificatePem: string; crlPem: string };
    expect(ca.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(ca.crlPem).toMatch(/^-----BEGIN X509 CRL-----/);
  });
});
