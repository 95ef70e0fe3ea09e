/**
 * The certificate sign-in (`{ kind: 'certificate' }`, what EAP-TLS hands the core) on every
 * backend: a device certificate from the Gatehouse device CA signs the device's owner in, the
 * decision seeing the device (managed, compliant) and the factor `certificate`; a revoked, expired
 * or foreign certificate, one whose device is gone, a device without an (active) owner are refused
 * with one `authn.device` event; a non-compliant device is denied by a policy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_SUBJECT } from '../../src/devices/ca.ts';
import { DeviceService } from '../../src/devices/service.ts';
import { GroupInput, UserInput, type Device, type DeviceInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { makeCa, makeCsr, makeKey } from '../helpers/pki.ts';

const PASSWORD = 'correct horse battery staple';
const COMPLIANT = { osVersion: '14.4', diskEncrypted: true, screenLock: true };

describe.each(backends)('certificate sign-in ($name)', (backend) => {
  let t: TestCore;
  let laptop: Device;
  const createDevice = (name: string, extra: Partial<DeviceInput> = {}) =>
    t.core.directory.resources.create(CLI_CTX, 'devices', { name, owners: ['alice'], platform: 'macos', managed: true, posture: {}, attributes: {}, ...extra } as never) as Promise<Device>;
  const issue = async (device: Device, devices: DeviceService = t.core.devices) => (await devices.authority.issueFromCsr(CLI_CTX, device.id, (await makeCsr('ec-p256', '')).csrPem)).certificatePem;
  const attempt = (certificate: string, login?: string) =>
    t.core.signIn.attempt({ presented: { kind: 'certificate', certificate, ...(login ? { login } : {}) }, resource: 'radius:ap', protocol: 'radius', clientIp: '192.0.2.7', requestId: `cert-${Math.random()}` });
  const events = async (type: string) => (await t.store.directory.audit.query({ type, limit: 1000 })).items;

  beforeAll(async () => {
    t = await coreFor(backend);
    await t.core.devices.init();
    const d = t.core.directory;
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'wifi' }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'alice', password: PASSWORD, groups: ['wifi'] }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'bob', password: PASSWORD, groups: ['wifi'], status: 'suspended' }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'carol', password: PASSWORD, groups: ['wifi'] }));
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'ap', address: '127.0.0.1/32', secret: 'certificate-test-secret', groups: ['wifi'], settings: {} });
    await d.resources.create(CLI_CTX, 'policies', { name: 'wifi-compliant', enabled: true, users: { exclude: [] }, resources: { include: ['radius:ap'] }, conditions: { device: { compliant: false } }, action: 'deny' });
    laptop = await createDevice('laptop');
    await t.core.devices.checkIn(CLI_CTX, laptop.id, COMPLIANT, 'token');
  });
  afterAll(async () => t?.cleanup());

  it("signs the owner of a compliant device in with the certificate as the factor, one decision naming the device", async () => {
    const before = (await events('access.decision')).length;
    const result = await attempt(await issue(laptop));
    expect(result).toMatchObject({ ok: true, decision: { action: 'allow' }, user: { username: 'alice' }, protocol: 'radius', device: { device: { id: laptop.id }, certificate: true } });
    if (!result.ok) throw new Error('refused');
    expect(result.authn.map((a) => a.method)).toEqual(['certificate']);
    const decisions = await events('access.decision');
    expect(decisions.length).toBe(before + 1);
    expect(decisions[0]).toMatchObject({ outcome: 'success', actor: { name: 'alice' }, details: { device: { id: laptop.id, managed: true, compliant: true, certificate: true } } });
  });

  it("runs only prepared statements, none built by knex's query builder (every EAP-TLS authentication makes this sign-in)", async () => {
    const certificate = await issue(laptop);
    await attempt(certificate);
    const built: string[] = [];
    const prepared: string[] = [];
    const watch = (q: { sql: string; method?: string }) => (q.method === 'raw' ? prepared : built).push(q.sql);
    t.store.knex.on('query', watch);
    try {
      expect(await attempt(certificate)).toMatchObject({ ok: true, decision: { action: 'allow' } });
    } finally {
      t.store.knex.off('query', watch);
    }
    expect(built).toEqual([]);
    // The certificate, the device and its owners, the owner, the owner's groups, the client and its groups, ... the audit event.
    expect(prepared.join('\n')).toMatch(/from device_certificates where fingerprint = \?[\s\S]*from devices where id = \?[\s\S]*from device_owners join users[\s\S]*insert into audit_events/);
  });

  it('denies a device out of compliance (the policy sees its posture)', async () => {
    const phone = await createDevice('phone', { platform: 'ios' });
    const certificate = await issue(phone);
    await t.core.devices.checkIn(CLI_CTX, phone.id, { ...COMPLIANT, diskEncrypted: false }, 'token');
    expect(await attempt(certificate)).toMatchObject({ ok: true, decision: { action: 'deny' }, device: { device: { id: phone.id } } });
  });

  it('refuses a revoked certificate, with one authn.device event naming the device', async () => {
    const tablet = await createDevice('tablet');
    await t.core.devices.checkIn(CLI_CTX, tablet.id, COMPLIANT, 'token');
    const issued = await t.core.devices.authority.issueFromCsr(CLI_CTX, tablet.id, (await makeCsr('ec-p256', '')).csrPem);
    expect(await attempt(issued.certificatePem)).toMatchObject({ ok: true, decision: { action: 'allow' } });
    await t.core.devices.authority.revoke(CLI_CTX, issued.record.serial);
    const before = (await events('authn.device')).length;
    expect(await attempt(issued.certificatePem)).toMatchObject({ ok: false, reason: { code: 'revoked' } });
    const refusals = await events('authn.device');
    expect(refusals.length).toBe(before + 1);
    expect(refusals[0]).toMatchObject({ outcome: 'failure', reasons: [{ code: 'revoked' }], details: { via: 'radius', serial: issued.record.serial } });
  });

  it('refuses an expired certificate and one from another CA, even one imitating ours', async () => {
    const past = new DeviceService({
      store: t.store, keyring: t.core.keyring, auditor: t.core.audit,
      config: { devices: { ...t.config.devices, certificateValidityDays: 1 } }, clock: () => new Date(Date.now() - 3 * 86_400_000),
    });
    await past.init();
    expect(await attempt(await issue(laptop, past))).toMatchObject({ ok: false, reason: { code: 'expired' } });

    const impostor = await makeCa(CA_SUBJECT);
    const key = makeKey('ec-p256');
    const forged = await impostor.issue({ subject: [{ CN: [laptop.id] }, { O: ['Gatehouse devices'] }], publicKey: key.publicKey });
    expect(await attempt(forged)).toMatchObject({ ok: false, reason: { code: 'not_issued_by_us' } });
    expect(await attempt('not a certificate')).toMatchObject({ ok: false, reason: { code: 'malformed' } });
  });

  it("refuses when the device is gone, has no owner, or its owner is suspended; `login` picks one of several owners and no one else", async () => {
    const gone = await createDevice('gone');
    const goneCertificate = await issue(gone);
    await t.core.directory.resources.delete(CLI_CTX, 'devices', gone.id);
    // Deleting a device deletes the record of its certificates: Gatehouse no longer knows it.
    expect(await attempt(goneCertificate)).toMatchObject({ ok: false, reason: { code: 'unknown' } });

    const kiosk = await createDevice('kiosk', { owners: [] });
    expect(await attempt(await issue(kiosk))).toMatchObject({ ok: false, reason: { code: 'no_device_owner' } });

    const bobs = await createDevice('bobs', { owners: ['bob'] });
    await t.core.devices.checkIn(CLI_CTX, bobs.id, COMPLIANT, 'token');
    const before = (await events('authn.device')).length;
    expect(await attempt(await issue(bobs))).toMatchObject({ ok: false, reason: { code: 'suspended' }, user: { username: 'bob' } });
    const refusals = await events('authn.device');
    expect(refusals.length).toBe(before + 1);
    expect(refusals[0]).toMatchObject({ reasons: [{ code: 'suspended' }], target: { id: bobs.id } });

    const shared = await createDevice('shared', { owners: ['alice', 'carol'] });
    await t.core.devices.checkIn(CLI_CTX, shared.id, COMPLIANT, 'token');
    const sharedCertificate = await issue(shared);
    expect(await attempt(sharedCertificate)).toMatchObject({ ok: false, reason: { code: 'no_device_owner' } });
    expect(await attempt(sharedCertificate, 'mallory')).toMatchObject({ ok: false, reason: { code: 'no_device_owner' } });
    expect(await attempt(sharedCertificate, 'carol')).toMatchObject({ ok: true, decision: { action: 'allow' }, user: { username: 'carol' } });
  });
});
