/**
 * Device identification over real connections: a node:https server asking for client
 * certificates, serving the Gatehouse HTTP app with the device endpoint, and real TLS clients
 * presenting certificates issued through the device CA. Then the proxy header (believed only from
 * trusted proxies) and device tokens over plain HTTP. curl presenting a PKCS#12 file is in
 * test/interop/device-pki.test.ts (it needs the curl tool).
 */
import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/front-ends.ts';
import { issueDeviceCertificate, revokeDeviceCertificate, type DeviceAdminEnv } from '../../src/devices/admin.ts';
import { createDeviceApi, deviceFromRequest } from '../../src/devices/http.ts';
import { DeviceService } from '../../src/devices/service.ts';
import type { Device } from '../../src/directory/model.ts';
import { createHttpApp, type HttpMount } from '../../src/server/http.ts';
import { Metrics } from '../../src/server/metrics.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { makeCa, makeCsr, makeKey, serverCertificate, type TestCa } from '../helpers/pki.ts';

const ADMIN = { actor: { type: 'apikey' as const, id: 'k1', name: 'ops' }, protocol: 'admin' };
const REPORT = { osVersion: '14.5', diskEncrypted: true, firewall: true, screenLock: true };

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/** One request; `agent: false` (a fresh connection) unless an agent is given. */
function request(url: string, options: { method?: string; json?: unknown; body?: string; headers?: Record<string, string>; tls?: https.RequestOptions; agent?: http.Agent }): Promise<Reply> {
  const target = new URL(url);
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
  const headers = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: options.method ?? 'GET', headers, agent: options.agent ?? false, ...options.tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return String((server.address() as AddressInfo).port);
}

function close(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe.each(backends)('device identification over real connections ($name)', (backend) => {
  let t: TestCore;
  let devices: DeviceService;
  let serverCa: TestCa;
  let device: Device;
  let client: { key: string; cert: string; serial: string };
  let tlsServer: https.Server;
  let trustedHttp: Server;
  let untrustedHttp: Server;
  let httpsUrl: string;
  let trustedUrl: string;
  let untrustedUrl: string;
  /** What deviceFromRequest said for the last request on the TLS server. */
  let seen: Awaited<ReturnType<typeof deviceFromRequest>> | 'unset' = 'unset';

  const app = (config: Config, extra: HttpMount[] = []) =>
    createHttpApp(t.core, new Metrics(), [...extra, createDeviceApi({ devices, config })]).callback();
  const tls = (credentials: { key: string; cert: string } | undefined): https.RequestOptions => ({ ca: serverCa.pem, ...(credentials ?? {}) });
  const events = async (type: string) => (await t.store.directory.audit.query({ type, limit: 100 })).items;
  const adminEnv = (): DeviceAdminEnv => ({ core: { devices, directory: t.core.directory }, audit: ADMIN });

  beforeAll(async () => {
    t = await coreFor(backend, { server: { trustedProxies: ['127.0.0.1/32'] } });
    devices = new DeviceService({ store: t.store, keyring: t.core.keyring, auditor: t.core.audit, config: t.config });
    await devices.init();
    device = (await t.core.directory.resources.create(CLI_CTX, 'devices', { name: 'laptop-7', owners: [], platform: 'macos', managed: true, posture: {}, attributes: {} } as never)) as Device;

    // The client's certificate, issued by the admin API's handler from a CSR the client made.
    const { csrPem, key } = await makeCsr('ec-p256', 'CN=laptop-7');
    const issued = await issueDeviceCertificate({ params: { id: 'laptop-7' }, body: { csr: csrPem } }, adminEnv());
    client = { key: key.privateKeyPem, cert: issued.certificatePem, serial: issued.serial };

    // The TLS server: its own certificate from a throwaway CA; it asks for a client certificate
    // (naming the device CA) but lets the application decide what to make of it.
    serverCa = await makeCa('CN=Test TLS CA');
    const serverCert = await serverCertificate(serverCa);
    const probe: HttpMount = async (ctx, next) => {
      if (ctx.path === '/probe') {
        seen = await deviceFromRequest(ctx, { devices, config: t.config });
        ctx.body = { device: seen?.device.id ?? null, via: seen?.via ?? null };
        return;
      }
      return next();
    };
    tlsServer = https.createServer({ ...serverCert, requestCert: true, rejectUnauthorized: false, ca: [devices.authority.certificatePem] }, app(t.config, [probe]));
    httpsUrl = `https://127.0.0.1:${await listen(tlsServer)}`;

    // Plain HTTP behind a "proxy": the same app, once trusting 127.0.0.1 and once not.
    trustedHttp = http.createServer(app(t.config, [probe]));
    trustedUrl = `http://127.0.0.1:${await listen(trustedHttp)}`;
    const untrustedConfig = { ...t.config, server: { ...t.config.server, trustedProxies: ['10.0.0.0/8'] } };
    untrustedHttp = http.createServer(app(untrustedConfig));
    untrustedUrl = `http://127.0.0.1:${await listen(untrustedHttp)}`;
  });
  afterAll(async () => {
    await close(tlsServer);
    await close(trustedHttp);
    await close(untrustedHttp);
    await t?.cleanup();
  });

  it('identifies the device by its certificate over mTLS and stores its posture; after revocation refuses it', async () => {
    const checkIn = await request(`${httpsUrl}/device/v1/posture`, { method: 'POST', json: REPORT, tls: tls(client) });
    expect(checkIn.status).toBe(200);
    expect(checkIn.body).toMatchObject({ deviceId: device.id, compliant: true, reasons: [] });
    expect(checkIn.headers['cache-control']).toBe('no-store');

    const stored = await t.core.directory.resources.find('devices', device.id);
    expect(stored.posture).toMatchObject({ ...REPORT, reportedAt: expect.any(String) });
    expect(stored.lastSeenAt).toBe(stored.posture.reportedAt);
    expect((await events('device.posture.reported'))[0]).toMatchObject({ outcome: 'success', target: { id: device.id }, details: { via: 'mtls', compliant: true }, sourceIp: '127.0.0.1', protocol: 'device' });

    const me = await request(`${httpsUrl}/device/v1/me`, { tls: tls(client) });
    expect(me).toMatchObject({ status: 200, body: { deviceId: device.id, name: 'laptop-7', via: 'mtls', compliant: true } });
    expect(await request(`${httpsUrl}/probe`, { tls: tls(client) })).toMatchObject({ status: 200, body: { device: device.id, via: 'mtls' } });

    // One kept-alive connection across the revocation: every request is checked anew.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: serverCa.pem, key: client.key, cert: client.cert });
    try {
      const sockets = new Set<unknown>();
      agent.on('free', (socket) => sockets.add(socket));
      expect((await request(`${httpsUrl}/device/v1/me`, { agent })).status).toBe(200);
      expect(await revokeDeviceCertificate({ params: { serial: client.serial } }, adminEnv())).toMatchObject({ serial: client.serial, status: 'revoked' });
      const refused = await request(`${httpsUrl}/device/v1/me`, { agent });
      expect(refused.status).toBe(401);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }

    const after = await request(`${httpsUrl}/device/v1/posture`, { method: 'POST', json: REPORT, tls: tls(client) });
    expect(after.status).toBe(401);
    expect(after.headers['content-type']).toContain('application/problem+json');
    expect(after.headers['www-authenticate']).toBe('Device realm="gatehouse"');
    expect(after.body).toMatchObject({ status: 401, title: 'Unauthorized', detail: `the device certificate has been revoked (serial ${client.serial})` });
    expect((await events('authn.device'))[0]).toMatchObject({ outcome: 'failure', reasons: [{ code: 'revoked' }], details: { via: 'mtls', serial: client.serial } });
    expect(await request(`${httpsUrl}/probe`, { tls: tls(client) })).toMatchObject({ body: { device: null } });
  });

  it('refuses a certificate from another CA with the same names, and a connection without one', async () => {
    const foreignCa = await makeCa([{ O: ['Gatehouse'] }, { CN: ['Gatehouse Device CA'] }]);
    const key = makeKey('ec-p256');
    const cert = await foreignCa.issue({ subject: [{ O: ['Gatehouse devices'] }, { CN: [device.id] }], publicKey: key.publicKey });
    const foreign = await request(`${httpsUrl}/device/v1/posture`, { method: 'POST', json: REPORT, tls: tls({ key: key.privateKeyPem, cert }) });
    expect(foreign.status).toBe(401);
    expect(foreign.body.detail).toBe('the client certificate was not issued by the Gatehouse device CA');
    expect((await events('authn.device'))[0]).toMatchObject({ reasons: [{ code: 'not_issued_by_us' }] });

    const none = await request(`${httpsUrl}/device/v1/posture`, { method: 'POST', json: REPORT, tls: tls(undefined) });
    expect(none.status).toBe(401);
    expect(none.body.detail).toMatch(/present its Gatehouse device certificate \(mTLS\) or send Authorization: Device <token>/);
  });

  it('believes the client-certificate header only from a trusted proxy', async () => {
    const { csrPem, key: _key } = await makeCsr('ec-p256', '');
    const issued = await devices.authority.issueFromCsr(ADMIN, device.id, csrPem);
    const header = { 'x-client-cert': encodeURIComponent(issued.certificatePem) };

    const trusted = await request(`${trustedUrl}/device/v1/posture`, { method: 'POST', json: REPORT, headers: header });
    expect(trusted).toMatchObject({ status: 200, body: { deviceId: device.id, compliant: true } });
    expect((await events('device.posture.reported'))[0]).toMatchObject({ details: { via: 'header' } });
    expect(await request(`${trustedUrl}/probe`, { headers: header })).toMatchObject({ body: { device: device.id, via: 'header' } });
    // nginx-style URL-encoding and bare base64 DER work alike; junk does not.
    const der = issued.certificatePem.replace(/-----[^-]+-----|\s/g, '');
    expect((await request(`${trustedUrl}/device/v1/me`, { headers: { 'x-client-cert': der } })).status).toBe(200);
    const junk = await request(`${trustedUrl}/device/v1/me`, { headers: { 'x-client-cert': '%%%not a cert' } });
    expect(junk.status).toBe(401);
    expect(junk.body.detail).toMatch(/does not hold a PEM or base64 certificate/);

    const untrusted = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', json: REPORT, headers: header });
    expect(untrusted.status).toBe(401);
    expect(untrusted.body.detail).toMatch(/x-client-cert header is accepted only from trusted proxies/);
    expect((await events('authn.device'))[0]).toMatchObject({ reasons: [{ code: 'untrusted_header' }], details: { via: 'header' } });

    // A revoked certificate in the header is refused too.
    await devices.authority.revoke(ADMIN, issued.record.serial);
    expect((await request(`${trustedUrl}/device/v1/me`, { headers: header })).body).toMatchObject({ status: 401, detail: expect.stringContaining('revoked') });
  });

  it('accepts a device token, and refuses unknown and malformed ones', async () => {
    const token = await devices.issueDeviceToken(ADMIN, device.id);
    const ok = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', json: { osVersion: '13.0', diskEncrypted: false }, headers: { authorization: `Device ${token}` } });
    expect(ok).toMatchObject({ status: 200, body: { deviceId: device.id, compliant: false } });
    expect(ok.body.reasons.map((r: { code: string }) => r.code)).toEqual(['disk_not_encrypted', 'no_screen_lock']);
    expect((await events('device.posture.reported'))[0]).toMatchObject({ details: { via: 'token' } });

    const unknown = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', json: REPORT, headers: { authorization: 'Device ghd_not-a-real-token' } });
    expect(unknown).toMatchObject({ status: 401, body: { detail: 'the device token is unknown or revoked' } });
    const malformed = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', json: REPORT, headers: { authorization: `Bearer ${token}` } });
    expect(malformed).toMatchObject({ status: 401, body: { detail: 'the Authorization header must be "Device <token>"' } });

    // Bad bodies from an authenticated device: clear 400s, nothing written.
    const before = await t.core.directory.resources.find('devices', device.id);
    const auth = { authorization: `Device ${token}` };
    const badJson = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', body: '{"osVersion":', headers: auth });
    expect(badJson).toMatchObject({ status: 400, body: { detail: expect.stringContaining('malformed JSON') } });
    const unknownField = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', json: { ...REPORT, jailbroken: false }, headers: auth });
    expect(unknownField).toMatchObject({ status: 400, body: { errors: [{ path: 'jailbroken', message: "unknown field 'jailbroken'" }] } });
    const wrongType = await request(`${untrustedUrl}/device/v1/posture`, { method: 'POST', json: { diskEncrypted: 'yes' }, headers: auth });
    expect(wrongType).toMatchObject({ status: 400, body: { errors: [{ path: 'diskEncrypted' }] } });
    expect((await t.core.directory.resources.find('devices', device.id)).version).toBe(before.version);

    expect((await request(`${untrustedUrl}/device/v1/posture`, { headers: auth })).status).toBe(405);
  });

  it('publishes the CA certificate and the CRL', async () => {
    const ca = await request(`${untrustedUrl}/device/v1/ca.pem`, {});
    expect(ca.status).toBe(200);
    expect(ca.body).toBe(devices.authority.certificatePem);
    const crl = await request(`${untrustedUrl}/device/v1/crl.pem`, {});
    expect(crl.body).toContain('-----BEGIN X509 CRL-----');
  });
});
