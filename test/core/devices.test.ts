/**
 * Device trust through the core, on every backend: the device CA (created once, shared), issuing
 * from CSRs and as PKCS#12, refusals that store nothing, identification of presented certificates
 * (ours, revoked, foreign, expired, unrecorded), device tokens, posture check-ins and the CRL.
 * What openssl says about the certificates, the CRL and the PKCS#12 files is checked in
 * test/interop/device-pki.test.ts (it needs the openssl tool).
 */
import { X509Certificate, createHash, createPrivateKey, randomBytes, type webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DeviceCa, DeviceCertificateList, DeviceCompliance, DeviceToken, IssuedCertificate, IssuedPkcs12, getDeviceCa, getDeviceCertificate, getDeviceCompliance,
  issueDeviceCertificate, issueDevicePkcs12, issueDeviceToken, listDeviceCertificates, revokeDeviceCertificate, revokeDeviceTokens, type DeviceAdminEnv,
} from '../../src/devices/admin.ts';
import { CA_KEY_PURPOSE, DEVICE_CA_NAME } from '../../src/devices/ca.ts';
import { DeviceService } from '../../src/devices/service.ts';
import { x509 } from '../../src/devices/x509.ts';
import type { Device, DeviceInput } from '../../src/directory/model.ts';
import { ValidationError } from '../../src/directory/service.ts';
import { Keyring } from '../../src/secrets/keyring.ts';
import { ConflictError, NotFoundError } from '../../src/errors.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { makeCa, makeCsr, makeKey, tamperCsr } from '../helpers/pki.ts';

const ADMIN = { actor: { type: 'apikey' as const, id: 'k1', name: 'ops' }, sourceIp: '192.0.2.10', protocol: 'admin' };

describe.each(backends)('device trust ($name)', (backend) => {
  let t: TestCore;
  let devices: DeviceService;
  let laptop: Device;
  let phone: Device;

  const service = (overrides: { clock?: () => Date; validityDays?: number } = {}) =>
    new DeviceService({
      store: t.store, keyring: t.core.keyring, auditor: t.core.audit,
      config: { devices: { ...t.config.devices, certificateValidityDays: overrides.validityDays ?? t.config.devices.certificateValidityDays } },
      ...(overrides.clock ? { clock: overrides.clock } : {}),
    });
  const createDevice = (name: string, extra: Partial<DeviceInput> = {}) =>
    t.core.directory.resources.create(CLI_CTX, 'devices', { name, owners: [], platform: 'macos', managed: true, posture: {}, attributes: {}, ...extra } as never) as Promise<Device>;
  const events = async (type: string) => (await t.store.directory.audit.query({ type, limit: 1000 })).items;

  beforeAll(async () => {
    t = await coreFor(backend);
    laptop = await createDevice('laptop', { serial: 'C02XYZ' });
    phone = await createDevice('phone', { platform: 'ios' });
  });
  afterAll(async () => t?.cleanup());

  describe('the device CA', () => {
    it('is created once, even by two processes starting at once, and reused with its key encrypted at rest', async () => {
      const a = service();
      const b = service();
      await Promise.all([a.init(), b.init()]);
      expect(a.authority.certificatePem).toBe(b.authority.certificatePem);
      devices = service();
      await devices.init();
      expect(devices.authority.certificatePem).toBe(a.authority.certificatePem);
      expect(await events('device.ca.created')).toHaveLength(1);

      const stored = (await t.store.directory.pki.getAuthority(DEVICE_CA_NAME))!;
      expect(stored.keyEncrypted).toMatch(/^v1\.test\./);
      expect(stored.keyEncrypted).not.toContain('PRIVATE KEY');
      expect(t.core.keyring.decrypt(stored.keyEncrypted, CA_KEY_PURPOSE)).toContain('BEGIN PRIVATE KEY');

      const ca = new x509.X509Certificate(stored.certificatePem);
      expect(ca.subject).toContain('CN=Gatehouse Device CA');
      expect(ca.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, critical: true });
      expect(ca.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
      const years = (ca.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
      expect(years).toBeGreaterThan(9.9);
      expect(years).toBeLessThan(10.1);
      expect(await ca.verify({ signatureOnly: true })).toBe(true);
    });

    it('refuses to start with a keyring that cannot decrypt the CA key', async () => {
      const other = new DeviceService({ store: t.store, keyring: new Keyring([{ id: 'test', key: randomBytes(32).toString('base64') }]), auditor: t.core.audit, config: t.config });
      await expect(other.init()).rejects.toThrow(/the device CA's private key cannot be decrypted .*configure the secrets\.keys/);
    });
  });

  describe('issuing from a CSR', () => {
    it('issues a client certificate naming the device, whatever the CSR asked for, recorded and audited', async () => {
      const { csrPem, key } = await makeCsr('ec-p256', 'CN=laptop, O=Somebody Else, OU=ignored');
      const issued = await devices.authority.issueFromCsr(ADMIN, laptop.id, csrPem);
      const cert = new x509.X509Certificate(issued.certificatePem);

      expect(cert.subjectName.getField('CN')).toEqual([laptop.id]);
      expect(cert.subjectName.getField('O')).toEqual(['Gatehouse devices']);
      expect(cert.subjectName.getField('OU')).toEqual([]);
      expect(cert.issuer).toBe(new x509.X509Certificate(issued.caPem).subject);
      expect(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()).toEqual([{ type: 'url', value: `urn:gatehouse:device:${laptop.id}` }]);
      expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
      expect(cert.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);
      expect(cert.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/);
      const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(t.config.devices.certificateValidityDays - 1);
      expect(days).toBeLessThanOrEqual(t.config.devices.certificateValidityDays);
      // The certificate carries the CSR's key.
      expect(Buffer.from(cert.publicKey.rawData).equals(key.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);

      const der = Buffer.from(cert.rawData);
      expect(issued.record).toMatchObject({ serial: cert.serialNumber, deviceId: laptop.id, fingerprint: createHash('sha256').update(der).digest('hex') });
      expect(await t.store.directory.pki.getCertificate(cert.serialNumber)).toMatchObject({ fingerprint: issued.record.fingerprint });
      const [event] = await events('device.certificate.issued');
      expect(event).toMatchObject({
        outcome: 'success', actor: { type: 'apikey', name: 'ops' }, target: { type: 'device', id: laptop.id },
        details: { serial: cert.serialNumber, keyType: 'ec-p256', format: 'csr' },
      });
    });

    it.each([
      ['ec-p384', 'CN=phone'],
      ['rsa-2048', ''],
    ] as const)('accepts %s keys (subject %j)', async (type, subject) => {
      const { csrPem } = await makeCsr(type, subject);
      const issued = await devices.authority.issueFromCsr(ADMIN, phone.id, csrPem);
      expect((await devices.authority.identify(issued.certificatePem)).ok).toBe(true);
    });

    it('accepts the device id or serial as the CN', async () => {
      for (const cn of [laptop.id, 'c02xyz']) {
        const { csrPem } = await makeCsr('ec-p256', `CN=${cn}`);
        await expect(devices.authority.issueFromCsr(ADMIN, laptop.id, csrPem)).resolves.toBeDefined();
      }
    });

    it.each([
      ['an RSA-1024 key', async () => (await makeCsr('rsa-1024')).csrPem, 'unsupported_key', /RSA keys of 1024 bits are too weak/],
      ['an Ed25519 key', async () => (await makeCsr('ed25519')).csrPem, 'unsupported_key', /ed25519 keys are not accepted/],
      ['a P-521 key', async () => (await makeCsr('ec-p521')).csrPem, 'unsupported_key', /curve secp521r1 are not accepted; use P-256 or P-384/],
      ['a tampered signature', async () => tamperCsr((await makeCsr('ec-p256')).csrPem), 'bad_signature', /signature does not verify/],
      ['a CN naming another device', async () => (await makeCsr('ec-p256', 'CN=phone')).csrPem, 'bad_subject', /CN="phone", which is not this device/],
      ['two CNs', async () => (await makeCsr('ec-p256', 'CN=laptop, CN=laptop')).csrPem, 'bad_subject', /more than one CN/],
      ['a certificate instead of a CSR', async () => devices.authority.certificatePem, 'malformed_csr', /expected a CERTIFICATE REQUEST but got a CERTIFICATE/],
      ['text that is not PEM', async () => 'hello', 'malformed_csr', /not PEM/],
      ['an empty string', async () => '  ', 'malformed_csr', /empty/],
      ['PEM that is not base64', async () => '-----BEGIN CERTIFICATE REQUEST-----\n%%%%\n-----END CERTIFICATE REQUEST-----', 'malformed_csr', /not valid base64/],
      ['PEM that is not a CSR', async () => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from('not asn.1 at all').toString('base64')}\n-----END CERTIFICATE REQUEST-----`, 'malformed_csr', /not a valid PKCS#10 request/],
      ['a truncated CSR', async () => { const pem = (await makeCsr()).csrPem; const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'); return `-----BEGIN CERTIFICATE REQUEST-----\n${der.subarray(0, der.length - 20).toString('base64')}\n-----END CERTIFICATE REQUEST-----`; }, 'malformed_csr', /not a valid PKCS#10/],
    ])('refuses %s with a clear error, audited, storing nothing', async (_what, csr, code, message) => {
      const before = (await devices.authority.list(laptop.id)).length;
      const refusedBefore = (await events('device.certificate.refused')).length;
      const error = await devices.authority.issueFromCsr(ADMIN, laptop.id, await csr()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).problems[0]).toMatchObject({ path: 'csr', code });
      expect((error as ValidationError).message).toMatch(message);
      expect(await devices.authority.list(laptop.id)).toHaveLength(before);
      const refused = await events('device.certificate.refused');
      expect(refused).toHaveLength(refusedBefore + 1);
      expect(refused[0]).toMatchObject({ outcome: 'failure', target: { id: laptop.id }, reasons: [{ code }] });
    });

    it('refuses an unknown device with not-found', async () => {
      const { csrPem } = await makeCsr();
      await expect(devices.authority.issueFromCsr(ADMIN, '00000000-0000-4000-8000-000000000000', csrPem)).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('identifying a presented certificate', () => {
    it('identifies the device of a certificate we issued (DER or PEM), and not after revocation', async () => {
      const { csrPem } = await makeCsr();
      const issued = await devices.authority.issueFromCsr(ADMIN, laptop.id, csrPem);
      const der = Buffer.from(new X509Certificate(issued.certificatePem).raw);
      for (const presented of [der, issued.certificatePem]) {
        const result = await devices.authority.identify(presented);
        expect(result.ok).toBe(true);
        expect(result.ok && result.device.id).toBe(laptop.id);
        expect(result.ok && result.certificate.serial).toBe(issued.record.serial);
      }

      const revoked = await devices.authority.revoke(ADMIN, issued.record.serial.toUpperCase().match(/../g)!.join(':'));
      expect(revoked.revokedAt).toBeDefined();
      expect(await devices.authority.identify(der)).toMatchObject({ ok: false, reason: 'revoked', certificate: { serial: issued.record.serial } });
      // Another process (another service on the same store) sees it at once.
      expect(await service().authority.init().then(() => devices.authority.identify(der))).toMatchObject({ reason: 'revoked' });
      expect((await events('device.certificate.revoked'))[0]).toMatchObject({ outcome: 'success', target: { id: laptop.id }, details: { serial: issued.record.serial } });

      await expect(devices.authority.revoke(ADMIN, issued.record.serial)).rejects.toBeInstanceOf(ConflictError);
      await expect(devices.authority.revoke(ADMIN, 'abcdef')).rejects.toBeInstanceOf(NotFoundError);
      await expect(devices.authority.revoke(ADMIN, 'not hex!')).rejects.toBeInstanceOf(NotFoundError);

      // The CRL lists it, signed by the CA (openssl reads it too: test/interop/device-pki.test.ts).
      const crl = new x509.X509Crl(await devices.authority.crlPem());
      expect(crl.findRevoked(issued.record.serial)).not.toBeNull();
      expect(await crl.verify({ publicKey: new x509.X509Certificate(devices.authority.certificatePem) })).toBe(true);
    });

    it('verifies a DER certificate presented again only once, and still checks its record, revocation and validity each time', async () => {
      const issued = await devices.authority.issueFromCsr(ADMIN, laptop.id, (await makeCsr()).csrPem);
      const der = Buffer.from(new X509Certificate(issued.certificatePem).raw);
      const verify = vi.spyOn(X509Certificate.prototype, 'verify');
      try {
        for (let i = 0; i < 3; i++) expect(await devices.authority.identify(der)).toMatchObject({ ok: true, device: { id: laptop.id } });
        expect(verify).toHaveBeenCalledTimes(1);
        // Other octets are verified on their own: the same certificate with its signature altered is refused.
        const altered = Buffer.from(der);
        altered[altered.length - 2]! ^= 0x01;
        expect(await devices.authority.identify(altered)).toMatchObject({ ok: false });
        expect(await devices.authority.identify(der)).toMatchObject({ ok: true });
        // What the store says and the clock are asked every time.
        const in2Years = new Date(Date.now() + 2 * 365 * 86_400_000);
        expect(await devices.authority.identify(der, in2Years)).toMatchObject({ ok: false, reason: 'expired' });
        await devices.authority.revoke(ADMIN, issued.record.serial);
        expect(await devices.authority.identify(der)).toMatchObject({ ok: false, reason: 'revoked' });
      } finally {
        verify.mockRestore();
      }
    });

    it("refuses a foreign CA's certificate with the same names, even if its fingerprint were recorded", async () => {
      const foreign = await makeCa([{ O: ['Gatehouse'] }, { CN: ['Gatehouse Device CA'] }]);
      const key = makeKey('ec-p256');
      const pem = await foreign.issue({
        subject: [{ O: ['Gatehouse devices'] }, { CN: [laptop.id] }],
        publicKey: key.publicKey,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `urn:gatehouse:device:${laptop.id}` }])],
      });
      expect(await devices.authority.identify(pem)).toMatchObject({ ok: false, reason: 'not_issued_by_us' });

      // Someone writes its fingerprint into the store: the signature check still refuses it.
      const cert = new X509Certificate(pem);
      await t.store.directory.pki.addCertificate({
        serial: cert.serialNumber.toLowerCase(), deviceId: laptop.id, fingerprint: createHash('sha256').update(cert.raw).digest('hex'),
        subject: cert.subject, notBefore: cert.validFromDate.toISOString(), notAfter: cert.validToDate.toISOString(), certificatePem: pem,
      });
      expect(await devices.authority.identify(pem)).toMatchObject({ ok: false, reason: 'not_issued_by_us' });
    });

    it('refuses a certificate signed with our key that we never recorded', async () => {
      const stored = (await t.store.directory.pki.getAuthority(DEVICE_CA_NAME))!;
      const caKey = createPrivateKey(t.core.keyring.decrypt(stored.keyEncrypted, CA_KEY_PURPOSE));
      const ca = new x509.X509Certificate(stored.certificatePem);
      const key = makeKey('ec-p256');
      const rogue = await x509.X509CertificateGenerator.create({
        serialNumber: '4badc0ffee', subject: `CN=${laptop.id}`, issuer: ca.subjectName,
        notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
        publicKey: new x509.PublicKey(key.publicKey.export({ type: 'spki', format: 'der' })),
        signingKey: caKey.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
      });
      expect(await devices.authority.identify(rogue.toString('pem'))).toMatchObject({ ok: false, reason: 'unknown' });
    });

    it('refuses expired and not-yet-valid certificates, and garbage', async () => {
      const past = service({ clock: () => new Date(Date.now() - 3 * 86_400_000), validityDays: 1 });
      await past.init();
      const expired = await past.authority.issueFromCsr(ADMIN, laptop.id, (await makeCsr()).csrPem);
      expect(await devices.authority.identify(expired.certificatePem)).toMatchObject({ ok: false, reason: 'expired' });

      const future = service({ clock: () => new Date(Date.now() + 3 * 86_400_000) });
      await future.init();
      const early = await future.authority.issueFromCsr(ADMIN, laptop.id, (await makeCsr()).csrPem);
      expect(await devices.authority.identify(early.certificatePem)).toMatchObject({ ok: false, reason: 'not_yet_valid' });

      expect(await devices.authority.identify(Buffer.from('garbage'))).toMatchObject({ ok: false, reason: 'malformed' });
      expect(await devices.authority.identify('')).toMatchObject({ ok: false, reason: 'malformed' });
    });

    it("stops identifying a deleted device's certificates", async () => {
      const gone = await createDevice('short-lived');
      const issued = await devices.authority.issueFromCsr(ADMIN, gone.id, (await makeCsr('ec-p256', '')).csrPem);
      await t.core.directory.resources.delete(CLI_CTX, 'devices', gone.id);
      const result = await devices.authority.identify(issued.certificatePem);
      expect(result.ok).toBe(false);
      expect(!result.ok && ['unknown', 'device_missing']).toContain(!result.ok && result.reason);
    });
  });

  describe('PKCS#12', () => {
    // Importing the files with openssl (key, certificate, CA, password-keyed MAC): test/interop/device-pki.test.ts.

    it.each([
      ['short', /at least 8 characters/],
      ['pässwörd-with-umlauts', /printable ASCII/],
    ])('refuses the password %j, storing nothing', async (password, message) => {
      const before = (await devices.authority.list(phone.id)).length;
      const error = await devices.authority.issuePkcs12(ADMIN, phone.id, password).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toMatch(message);
      expect(await devices.authority.list(phone.id)).toHaveLength(before);
      expect((await events('device.certificate.refused'))[0]).toMatchObject({ reasons: [{ code: 'weak_password' }], details: { format: 'pkcs12' } });
    });
  });

  describe('device tokens and posture', () => {
    it('issues tokens shown once (stored hashed) that identify the device until revoked', async () => {
      const token = await devices.issueDeviceToken(ADMIN, laptop.id);
      expect(token).toMatch(/^ghd_[A-Za-z0-9_-]{43}$/);
      expect((await devices.deviceForToken(token))?.id).toBe(laptop.id);
      expect(await devices.deviceForToken(`${token}x`)).toBeUndefined();
      expect(await devices.deviceForToken('ghd_unknown')).toBeUndefined();
      expect(await t.store.directory.pki.findDeviceByToken(token)).toBeUndefined(); // only the hash is stored
      expect(await devices.revokeDeviceTokens(ADMIN, laptop.id)).toBe(1);
      expect(await devices.deviceForToken(token)).toBeUndefined();
      expect((await events('device.token.issued'))[0]).toMatchObject({ target: { id: laptop.id } });
      expect((await events('device.token.revoked'))[0]).toMatchObject({ details: { count: 1 } });
    });

    it('records a check-in (posture replaced, reportedAt and lastSeenAt set) and judges compliance', async () => {
      const first = await devices.checkIn(ADMIN, laptop.id, { osVersion: '14.4', diskEncrypted: true, firewall: false, screenLock: true }, 'token');
      expect(first).toMatchObject({ compliant: true, reasons: [], device: { posture: { osVersion: '14.4', diskEncrypted: true, screenLock: true } } });
      const stored = await t.core.directory.resources.find('devices', laptop.id);
      expect(stored.posture.reportedAt).toBeDefined();
      expect(stored.lastSeenAt).toBe(stored.posture.reportedAt);

      const second = await devices.checkIn(ADMIN, laptop.id, { osVersion: '14.4' }, 'mtls');
      expect(second.compliant).toBe(false);
      expect(second.reasons.map((r) => r.code)).toEqual(['disk_not_encrypted', 'no_screen_lock']);
      expect((await t.core.directory.resources.find('devices', laptop.id)).posture.diskEncrypted).toBeUndefined();
      const [event] = await events('device.posture.reported');
      expect(event).toMatchObject({ outcome: 'success', target: { id: laptop.id }, details: { via: 'mtls', osVersion: '14.4', compliant: false }, reasons: [{ code: 'disk_not_encrypted' }, { code: 'no_screen_lock' }] });

      // The posture ages out.
      const later = devices.compliance(second.device, new Date(Date.now() + 25 * 3_600_000));
      expect(later.reasons.map((r) => r.code)).toContain('stale_posture');
    });
  });

  describe('admin handlers', () => {
    const env = (): DeviceAdminEnv => ({ core: { devices, directory: t.core.directory }, audit: ADMIN });

    it('issue, list, get and revoke certificates by device name or id, answers matching their schemas', async () => {
      const tablet = await createDevice('tablet');
      const issued = await issueDeviceCertificate({ params: { id: 'tablet' }, body: { csr: (await makeCsr('ec-p256', 'CN=tablet')).csrPem } }, env());
      expect(IssuedCertificate.parse(issued)).toMatchObject({ deviceId: tablet.id, status: 'valid', caPem: devices.authority.certificatePem });
      const p12 = await issueDevicePkcs12({ params: { id: tablet.id }, body: { password: 'long enough', keyType: 'ec-p256' } }, env());
      expect(IssuedPkcs12.parse(p12).pkcs12).toMatch(/^[A-Za-z0-9+/]+=*$/);

      const list = DeviceCertificateList.parse(await listDeviceCertificates({ params: { id: 'tablet' } }, env()));
      expect(list.items.map((c) => c.serial).sort()).toEqual([issued.serial, p12.serial].sort());
      expect(list.items.every((c) => !('pkcs12' in c))).toBe(true);

      const colons = issued.serial.toUpperCase().match(/../g)!.join(':');
      expect(await getDeviceCertificate({ params: { serial: colons } }, env())).toMatchObject({ serial: issued.serial, status: 'valid' });
      expect(await revokeDeviceCertificate({ params: { serial: issued.serial } }, env())).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
      expect(await getDeviceCertificate({ params: { serial: issued.serial } }, env())).toMatchObject({ status: 'revoked' });
      await expect(getDeviceCertificate({ params: { serial: 'ffff' } }, env())).rejects.toBeInstanceOf(NotFoundError);
      await expect(getDeviceCertificate({ params: { serial: 'zz' } }, env())).rejects.toBeInstanceOf(NotFoundError);
      await expect(revokeDeviceCertificate({ params: { serial: issued.serial } }, env())).rejects.toBeInstanceOf(ConflictError);
      await expect(listDeviceCertificates({ params: { id: 'no-such-device' } }, env())).rejects.toBeInstanceOf(NotFoundError);
    });

    it('tokens, compliance and the CA', async () => {
      const token = DeviceToken.parse(await issueDeviceToken({ params: { id: 'phone' } }, env()));
      expect(token.deviceId).toBe(phone.id);
      expect((await devices.deviceForToken(token.token))?.id).toBe(phone.id);
      expect(await revokeDeviceTokens({ params: { id: 'phone' } }, env())).toEqual({ revoked: 1 });

      const verdict = DeviceCompliance.parse(await getDeviceCompliance({ params: { id: 'phone' } }, env()));
      expect(verdict).toMatchObject({ deviceId: phone.id, managed: true, compliant: false });
      expect(verdict.reasons.map((r) => r.code)).toContain('no_posture');

      const ca = DeviceCa.parse(await getDeviceCa(undefined, env()));
      expect(ca.certificatePem).toBe(devices.authority.certificatePem);
      expect(ca.crlPem).toContain('BEGIN X509 CRL');
    });
  });
});
