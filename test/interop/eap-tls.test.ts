/**
 * EAP-TLS with a Gatehouse device certificate, through hostapd's supplicant test tool (Debian
 * eapoltest, /usr/bin/eapol_test) against a real Gatehouse on both stores. The laptop's certificate
 * comes from the device CA the way `gatehouse device cert issue` (a CSR, the key stays on the
 * device) and `gatehouse device cert pkcs12` (a generated key in a PKCS#12 file) hand it out. Over
 * TLS 1.2 and TLS 1.3 (RFC 9190, the commitment message): SUCCESS, "MPPE keys OK", User-Name = the
 * device's owner whatever the identity said. FAILURE: a revoked certificate, one from a foreign CA,
 * an expired one, a TLS 1.0/1.1-only supplicant, a device out of compliance; each
 * attempt one audit event (those the TLS handshake refuses too, without reaching the sign-in).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_SUBJECT } from '../../src/devices/ca.ts';
import { DeviceService } from '../../src/devices/service.ts';
import { GroupInput, UserInput, type AuditEvent, type Device, type DeviceInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { makeCa, makeCsr, makeKey } from '../helpers/pki.ts';
import type { TestServer } from '../helpers/server.ts';
import { lastAttempt, startEapServer, type EapServer, type Outcome } from './eap-support.ts';

const SECRET = 'eapol-test-shared-secret-tls-01';
const COMPLIANT = { osVersion: '14.4', diskEncrypted: true, screenLock: true };
const P12_PASSWORD = 'a long pkcs12 password';

describe.each(backends)('eapol_test EAP-TLS against Gatehouse ($name)', (backend) => {
  let eap: EapServer;
  let t: TestServer;
  let dir: string;
  let laptop: Device;
  let n = 0;

  const createDevice = (name: string, extra: Partial<DeviceInput> = {}) =>
    t.gh.core.directory.resources.create(CLI_CTX, 'devices', { name, owners: ['alice'], platform: 'macos', managed: true, posture: {}, attributes: {}, ...extra } as never) as Promise<Device>;
  /** cert.pem and key.pem as after `gatehouse device cert issue --csr` (the key made on the device). */
  async function pemFiles(device: Device, devices: DeviceService = t.gh.core.devices): Promise<{ client_cert: string; private_key: string; serial: string }> {
    const { csrPem, key } = await makeCsr('ec-p256', '');
    const issued = await devices.authority.issueFromCsr(CLI_CTX, device.id, csrPem);
    const base = join(dir, `device-${++n}`);
    writeFileSync(`${base}.crt`, issued.certificatePem);
    writeFileSync(`${base}.key`, key.privateKeyPem);
    return { client_cert: `"${base}.crt"`, private_key: `"${base}.key"`, serial: issued.record.serial };
  }

  beforeAll(async () => {
    eap = await startEapServer(backend, { prefix: 'gatehouse-eap-tls-', secret: SECRET, defaults: { eap: 'TLS', identity: '"whoever@example.org"' } });
    ({ t, dir } = eap);
    const d = t.gh.core.directory;
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'wifi', attributes: { radiusVlan: 20 } }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'alice', password: 'correct horse battery staple', groups: ['wifi'] }));
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'ap', address: '127.0.0.1/32', secret: SECRET, groups: ['wifi'], settings: {} });
    await d.resources.create(CLI_CTX, 'policies', { name: 'wifi-compliant', enabled: true, users: { exclude: [] }, resources: { include: ['radius:ap'] }, conditions: { device: { compliant: false } }, action: 'deny' });
    laptop = await createDevice('laptop');
    await t.gh.core.devices.checkIn(CLI_CTX, laptop.id, COMPLIANT, 'token');
  });
  afterAll(async () => eap?.stop());

  const eapolTest = (name: string, network: Record<string, string>): Promise<Outcome> => eap.eapolTest(name, network);
  const expectFailure = ({ code, output }: Outcome) => {
    expect(output).not.toContain('MS-MPPE-Send-Key');
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
  };

  for (const [label, phase1] of [['TLS 1.2', '"tls_disable_tlsv1_3=1"'], ['TLS 1.3', '"tls_disable_tlsv1_3=0"']] as const) {
    it(`EAP-TLS over ${label} with a device certificate: SUCCESS, MPPE keys OK, User-Name = the owner, the group's VLAN`, async () => {
      const { serial, ...files } = await pemFiles(laptop);
      const { code, output } = await eapolTest(`ok-${label.replace(/\W/g, '')}`, { ...files, phase1 });
      expect(output).toContain(`SSL: Using TLS version ${label === 'TLS 1.3' ? 'TLSv1.3' : 'TLSv1.2'}`);
      expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
      expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
      expect(code).toBe(0);
      expect(output).toMatch(/Attribute 1 \(User-Name\) length=7\s+Value: 'alice'/);
      expect(output).toMatch(/Attribute 81 \(Tunnel-Private-Group-Id\) length=5\s+Value: 013230/);
      // The device and the certificate, for the network session (the NAS echoes Class in accounting).
      expect(output).toMatch(new RegExp(`Attribute 25 \\(Class\\) length=\\d+\\s+Value: ${Buffer.from(`gatehouse-device:${laptop.id};serial=${serial}`).toString('hex')}`));
      // One audit event for the attempt: the decision, naming the method, the outer identity, the owner and the device.
      const events = await lastAttempt(t);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'access.decision', outcome: 'success', protocol: 'radius', actor: { type: 'user', name: 'alice' },
        details: { device: { id: laptop.id, certificate: true }, authn: ['certificate'], eap: { method: 'tls', outerIdentity: 'whoever@example.org' } },
      });
    });
  }

  it('with the PKCS#12 file `gatehouse device cert pkcs12` hands out: SUCCESS, MPPE keys OK', async () => {
    const issued = await t.gh.core.devices.authority.issuePkcs12(CLI_CTX, laptop.id, P12_PASSWORD);
    writeFileSync(join(dir, 'laptop.p12'), issued.pkcs12);
    const { code, output } = await eapolTest('pkcs12', { private_key: `"${join(dir, 'laptop.p12')}"`, private_key_passwd: `"${P12_PASSWORD}"`, phase1: '"tls_disable_tlsv1_3=0"' });
    expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
    expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
    expect(code).toBe(0);
  });

  it('a revoked certificate: FAILURE (it worked before)', async () => {
    const { serial, ...files } = await pemFiles(laptop);
    expect((await eapolTest('before-revoke', files)).output.trim().split('\n').at(-1)).toBe('SUCCESS');
    await t.gh.core.devices.authority.revoke(CLI_CTX, serial);
    expectFailure(await eapolTest('revoked', files));
    // One audit event for the attempt: the refusal, naming the method, the outer identity, the certificate and its device.
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.device', outcome: 'failure', reasons: [{ code: 'revoked' }],
      details: { via: 'radius', serial, device: { id: laptop.id }, eap: { method: 'tls', outerIdentity: 'whoever@example.org' } },
    });
  });

  /** The one audit event of the newest attempt, which the TLS handshake refused: the sign-in never ran. */
  async function refusedInTls(): Promise<AuditEvent> {
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events.map((e) => e.type)).not.toContain('access.decision');
    return events[0]!;
  }

  for (const [label, phase1, version] of [['TLS 1.2', '"tls_disable_tlsv1_3=1"', 'TLSv1.2'], ['TLS 1.3', '"tls_disable_tlsv1_3=0"', 'TLSv1.3']] as const) {
    it(`a certificate from a foreign CA that imitates the device CA (${label}): FAILURE, one audit event naming the certificate`, async () => {
      const impostor = await makeCa(CA_SUBJECT);
      const key = makeKey('ec-p256');
      const forged = await impostor.issue({ subject: [{ CN: [laptop.id] }, { O: ['Gatehouse devices'] }], publicKey: key.publicKey });
      writeFileSync(join(dir, 'forged.crt'), forged);
      writeFileSync(join(dir, 'forged.key'), key.privateKeyPem);
      expectFailure(await eapolTest('forged', { client_cert: `"${join(dir, 'forged.crt')}"`, private_key: `"${join(dir, 'forged.key')}"`, phase1 }));
      const x = new X509Certificate(forged);
      expect(await refusedInTls()).toMatchObject({
        type: 'authn.device', outcome: 'failure', protocol: 'radius', sourceIp: '127.0.0.1', target: { type: 'radius_client', name: 'ap' },
        reasons: [{ code: 'not_issued_by_us' }],
        details: {
          via: 'radius', client: 'ap', serial: x.serialNumber.toLowerCase(), fingerprint: createHash('sha256').update(x.raw).digest('hex'),
          subject: `CN=${laptop.id}, O=Gatehouse devices`, issuer: 'O=Gatehouse, CN=Gatehouse Device CA',
          tls: { version }, eap: { method: 'tls', outerIdentity: 'whoever@example.org' },
        },
      });
    });
  }

  // No client certificate at all: eapol_test does not start EAP-TLS without one ("EAP-TLS: Private
  // key not configured", a Nak before any TLS); a peer that sends an empty Certificate message is
  // test/radius/eap-tls.test.ts's (a real TLS client, TLS 1.2 and 1.3: authn.device, missing_credentials).

  it('an expired certificate: FAILURE, one audit event naming the certificate and its device', async () => {
    const past = new DeviceService({
      store: t.gh.store, keyring: t.gh.core.keyring, auditor: t.gh.core.audit,
      config: { devices: { ...t.gh.core.config.devices, certificateValidityDays: 1 } }, clock: () => new Date(Date.now() - 3 * 86_400_000),
    });
    await past.init();
    const { serial, ...files } = await pemFiles(laptop, past);
    expectFailure(await eapolTest('expired', files));
    expect(await refusedInTls()).toMatchObject({
      type: 'authn.device', outcome: 'failure', reasons: [{ code: 'expired' }],
      details: { via: 'radius', serial, device: { id: laptop.id }, tls: { verify: 'CERT_HAS_EXPIRED' }, eap: { method: 'tls', outerIdentity: 'whoever@example.org' } },
    });
  });

  it('a supplicant limited to TLS 1.0/1.1: FAILURE, one audit event (authn.tls, tls_version)', async () => {
    const { serial: _serial, ...files } = await pemFiles(laptop);
    expectFailure(await eapolTest('tls11', { ...files, phase1: '"tls_disable_tlsv1_2=1 tls_disable_tlsv1_3=1"' }));
    expect(await refusedInTls()).toMatchObject({
      type: 'authn.tls', outcome: 'failure', reasons: [{ code: 'tls_version' }],
      details: { client: 'ap', tls: { error: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }, eap: { method: 'tls', outerIdentity: 'whoever@example.org' } },
    });
  });

  it('a device out of compliance: FAILURE', async () => {
    const phone = await createDevice('phone', { platform: 'ios' });
    await t.gh.core.devices.checkIn(CLI_CTX, phone.id, { ...COMPLIANT, diskEncrypted: false }, 'token');
    const { serial: _serial, ...files } = await pemFiles(phone);
    expectFailure(await eapolTest('non-compliant', { ...files, phase1: '"tls_disable_tlsv1_3=0"' }));
  });
});
