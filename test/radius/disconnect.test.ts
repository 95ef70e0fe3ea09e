/**
 * Continuous verification down to the network (RFC 5176) against a small NAS listening on loopback,
 * which checks every request's Request Authenticator and Message-Authenticator and answers ACK, NAK
 * or nothing: an administrator ending a session through the admin API; a suspension, a lost group,
 * a device out of compliance, a revoked device certificate (only the sessions it signed in), a
 * deleted device (only the sessions its EAP-TLS sign-in identified) and an expired certificate
 * ending sessions by themselves; NAK, timeout with retransmissions,
 * a forged answer; CoA-Request for a client configured for it. On both stores, with a real server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { accountingHandler } from '../../protocols/radius/accounting.ts';
import { DisconnectWorker } from '../../protocols/radius/coa.ts';
import { ATTR, CODE, decodePacket } from '../../protocols/radius/codec.ts';
import { DeviceService } from '../../src/devices/service.ts';
import type { RadiusClient } from '../../src/directory/model.ts';
import type { NetworkSession } from '../../src/network-sessions/model.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { accountingRequest, CoaListener, eventually, textOf } from './support-acct.ts';

const SECRET = 'disconnect-secret-0123456789';
const CLI = { actor: { type: 'cli' as const, name: 'tester' } };

describe.each(backends)('Disconnect and CoA ($name)', (backend) => {
  let server: TestServer;
  let nas: CoaListener;
  let worker: DisconnectWorker;
  let client: RadiusClient;
  let n = 0;

  beforeAll(async () => {
    nas = await new CoaListener(SECRET).start();
    server = await startTestServer(backend, { networkSessions: { disconnect: { timeoutMs: 150, attempts: 3 }, reviewSeconds: 3600 } });
    const core = server.gh.core;
    await core.directory.groups.create(CLI, { name: 'vpn-users', attributes: {} });
    await core.directory.groups.create(CLI, { name: 'contractors', attributes: {} });
    for (const username of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) {
      await core.directory.users.create(CLI, { username, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    }
    client = (await core.directory.resources.create(CLI, 'radiusClients', {
      name: 'vpn', address: '127.0.0.1/32', secret: SECRET, groups: ['vpn-users', 'contractors'], settings: { radius: { coa: { port: nas.port } } },
    })) as RadiusClient;
    worker = new DisconnectWorker(core, { pollMs: 50, changesMaxAgeMs: 100 }).start();
  });
  afterAll(async () => {
    await worker?.close();
    await server?.stop();
    await nas?.close();
  });
  afterEach(() => {
    nas.answer = { code: 'ack' };
  });

  /** A live session for `user`, reported by the NAS through accounting. */
  async function sessionOf(user: string, over: Record<string, unknown> = {}): Promise<NetworkSession> {
    const acctSessionId = `sess-${++n}`;
    const datagram = accountingRequest(SECRET, n & 0xff, { status: 'Start', sessionId: acctSessionId, user, nasIdentifier: 'gw-1', nasIp: '127.0.0.1', framedIp: '10.8.0.9', calling: '198.51.100.7', ...over });
    const reply = await accountingHandler(server.gh.core)(decodePacket(datagram), { client, secret: SECRET }, { address: '127.0.0.1', port: 1 });
    expect(reply).toBeDefined();
    return (await server.gh.core.networkSessions.list({ client: 'vpn', limit: 1000 })).items.find((s) => s.acctSessionId === acctSessionId)!;
  }

  const settled = (id: string) => eventually(() => server.gh.core.networkSessions.get(id), (s) => s.disconnect !== undefined && !['pending', 'sending'].includes(s.disconnect.state), 10_000);
  /** The audit event of a Disconnect's outcome (recorded just after the outcome is stored). */
  const outcomeEvent = (session: NetworkSession) =>
    eventually(async () => (await server.gh.core.audit.query({ type: 'network_session.disconnect' })).items.find((e) => e.target?.id === session.id), (e) => e !== undefined);
  const requestsFor = (session: NetworkSession) => nas.received.filter((r) => textOf(r, ATTR.AcctSessionId) === session.acctSessionId);

  it('ends a session an administrator disconnects through the API: a verified Disconnect-Request, ACK, audited', async () => {
    const session = await sessionOf('alice');
    const res = await server.api(`/api/v1/network-sessions/${session.id}/disconnect`, { method: 'POST' });
    expect(res.status).toBe(200);
    // Queued: pending, unless the worker (polling every 50 ms) took it up before the answer was read.
    const answered = (await res.json()) as NetworkSession;
    expect(answered).toMatchObject({ id: session.id, disconnect: { reason: 'admin' } });
    expect(['pending', 'sending', 'acked']).toContain(answered.disconnect!.state);
    const done = await settled(session.id);
    expect(done).toMatchObject({ live: false, terminateCause: 'Admin-Reset', disconnect: { state: 'acked', attempts: 1, reason: 'admin' } });

    const [request] = requestsFor(session);
    expect(request!.packet.code).toBe(CODE.DisconnectRequest);
    expect(request!.authenticatorValid).toBe(true);
    expect(request!.messageAuthenticator).toBe('valid');
    expect(request!.packet.attributes[0]!.type).toBe(ATTR.MessageAuthenticator);
    expect(textOf(request!, ATTR.UserName)).toBe('alice');
    expect(textOf(request!, ATTR.NasIdentifier)).toBe('gw-1');
    expect([...request!.attributes.get(ATTR.NasIpAddress)!]).toEqual([127, 0, 0, 1]);
    expect([...request!.attributes.get(ATTR.FramedIpAddress)!]).toEqual([10, 8, 0, 9]);
    expect(textOf(request!, ATTR.CallingStationId)).toBe('198.51.100.7');
    const eventTimestamp = request!.attributes.get(55)!.readUInt32BE(0);
    expect(Math.abs(eventTimestamp - Date.now() / 1000)).toBeLessThan(10);

    const events = [
      ...(await server.gh.core.audit.query({ type: 'network_session.disconnect_requested' })).items,
      ...(await server.gh.core.audit.query({ type: 'network_session.disconnect' })).items,
    ];
    expect(events.find((e) => e.type === 'network_session.disconnect_requested' && e.target?.id === session.id)).toMatchObject({ actor: { type: 'apikey' }, details: { reason: 'admin' } });
    expect(await outcomeEvent(session)).toMatchObject({ outcome: 'success', details: { mode: 'disconnect', state: 'acked', attempts: 1 } });

    // Ended: a second request is a conflict; the list shows it ended.
    expect((await server.api(`/api/v1/network-sessions/${session.id}/disconnect`, { method: 'POST' })).status).toBe(409);
    const listed = (await (await server.api('/api/v1/network-sessions?user=alice&live=false')).json()) as { items: NetworkSession[] };
    expect(listed.items.map((s: NetworkSession) => s.id)).toContain(session.id);
  });

  it('records a NAK with its Error-Cause, and lets an administrator ask again', async () => {
    const session = await sessionOf('bob');
    nas.answer = { code: 'nak', errorCause: 503 };
    await server.gh.core.networkSessions.disconnect(CLI, session.id);
    worker.kick();
    expect(await settled(session.id)).toMatchObject({ live: true, disconnect: { state: 'nak', detail: 'Session-Context-Not-Found (503)', attempts: 1 } });
    expect(await outcomeEvent(session)).toMatchObject({ outcome: 'failure', reasons: [{ code: 'disconnect_nak' }] });
    nas.answer = { code: 'ack' };
    await server.gh.core.networkSessions.disconnect(CLI, session.id);
    worker.kick();
    expect(await settled(session.id)).toMatchObject({ live: false, disconnect: { state: 'acked' } });
  });

  it('retransmits the same request with a doubling wait, then records a timeout', async () => {
    const session = await sessionOf('carol');
    nas.answer = { code: 'none' };
    const before = Date.now();
    await server.gh.core.networkSessions.disconnect(CLI, session.id);
    worker.kick();
    expect(await settled(session.id)).toMatchObject({ live: true, disconnect: { state: 'timeout', attempts: 3 } });
    const sent = requestsFor(session);
    expect(sent).toHaveLength(3);
    // RFC 5080 §2.2.1: a retransmission is the same packet (identifier, authenticator, attributes).
    expect(sent[1]!.raw.equals(sent[0]!.raw)).toBe(true);
    expect(sent[2]!.raw.equals(sent[0]!.raw)).toBe(true);
    // 150 + 300 + 600 ms of waiting.
    expect(Date.now() - before).toBeGreaterThanOrEqual(1000);
    expect(await outcomeEvent(session)).toMatchObject({ outcome: 'failure', reasons: [{ code: 'disconnect_timeout' }] });
  });

  it('ignores an answer whose Response Authenticator does not verify', async () => {
    const session = await sessionOf('carol');
    nas.answer = { code: 'ack-bad-authenticator' };
    await server.gh.core.networkSessions.disconnect(CLI, session.id);
    worker.kick();
    expect(await settled(session.id)).toMatchObject({ live: true, disconnect: { state: 'timeout', attempts: 3 } });
  });

  it('disconnects the live sessions of a user who is suspended, and not the others', async () => {
    const dave1 = await sessionOf('dave');
    const dave2 = await sessionOf('dave', { nasIdentifier: 'gw-2' });
    const erin = await sessionOf('erin');
    const res = await server.api('/api/v1/users/dave/suspend', { method: 'POST' });
    expect(res.status).toBe(200);
    for (const s of [dave1, dave2]) expect(await settled(s.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'user_suspended', requestedBy: 'system' } });
    await worker.runOnce();
    expect((await server.gh.core.networkSessions.get(erin.id)).disconnect).toBeUndefined();
    expect(requestsFor(dave2)[0]!.authenticatorValid).toBe(true);
  });

  it("still ends a session whose administrator's Disconnect timed out when its user is suspended, but asks once", async () => {
    await server.gh.core.directory.users.create(CLI, { username: 'grace', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const session = await sessionOf('grace');
    nas.answer = { code: 'none' };
    await server.gh.core.networkSessions.disconnect(CLI, session.id);
    worker.kick();
    expect(await settled(session.id)).toMatchObject({ live: true, disconnect: { state: 'timeout', reason: 'admin' } });
    await server.gh.core.directory.users.suspend(CLI, 'grace');
    const retried = await eventually(() => server.gh.core.networkSessions.get(session.id), (s) => s.disconnect?.reason === 'user_suspended' && !['pending', 'sending'].includes(s.disconnect.state));
    expect(retried).toMatchObject({ live: true, disconnect: { state: 'timeout', reason: 'user_suspended' } });
    const sent = requestsFor(session).length;
    // The review does not ask again for its own request that timed out.
    expect((await server.gh.core.networkSessions.review(CLI)).map((s) => s.id)).not.toContain(session.id);
    await worker.runOnce();
    expect(requestsFor(session)).toHaveLength(sent);
    expect((await server.gh.core.networkSessions.get(session.id)).disconnect).toMatchObject({ state: 'timeout', reason: 'user_suspended' });
  });

  it('disconnects a user who leaves every group the RADIUS client is assigned to', async () => {
    const session = await sessionOf('erin');
    await server.gh.core.directory.groups.addMember(CLI, 'contractors', 'user', (await server.gh.core.directory.users.find('erin')).id);
    await server.gh.core.directory.groups.removeMember(CLI, 'vpn-users', 'user', 'erin');
    await worker.runOnce();
    // Still in contractors, which the client is assigned to as well.
    expect((await server.gh.core.networkSessions.get(session.id)).disconnect).toBeUndefined();
    await server.gh.core.directory.groups.removeMember(CLI, 'contractors', 'user', 'erin');
    expect(await settled(session.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'not_assigned' } });
  });

  it('disconnects a user whose managed devices all fall out of compliance', async () => {
    const core = server.gh.core;
    const device = await core.directory.resources.create(CLI, 'devices', { name: 'frank-laptop', owners: ['frank'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    expect((await core.devices.checkIn(CLI, device.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token')).compliant).toBe(true);
    const session = await sessionOf('frank');
    await worker.runOnce();
    expect((await core.networkSessions.get(session.id)).disconnect).toBeUndefined();
    expect((await core.devices.checkIn(CLI, device.id, { diskEncrypted: false, firewall: true, screenLock: true }, 'token')).compliant).toBe(false);
    await worker.runOnce();
    expect(await settled(session.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'device_noncompliant' } });
  });

  it('judges the device an EAP-TLS sign-in named (Class in accounting), not any of the person\'s managed devices', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'ivan', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const device = (name: string) => core.directory.resources.create(CLI, 'devices', { name, owners: ['ivan'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    const laptop = await device('ivan-laptop');
    const phone = await device('ivan-phone');
    for (const d of [laptop, phone]) expect((await core.devices.checkIn(CLI, d.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token')).compliant).toBe(true);
    const onPhone = await sessionOf('ivan', { classes: [`gatehouse-device:${phone.id}`] });
    const onLaptop = await sessionOf('ivan', { classes: [`gatehouse-device:${laptop.id}`] });
    expect(onPhone.deviceId).toBe(phone.id);
    // The phone falls out of compliance; the laptop still complies (PAP's fallback would keep both).
    expect((await core.devices.checkIn(CLI, phone.id, { diskEncrypted: false, firewall: true, screenLock: true }, 'token')).compliant).toBe(false);
    await worker.runOnce();
    expect(await settled(onPhone.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'device_noncompliant' } });
    expect((await core.networkSessions.get(onLaptop.id))).toMatchObject({ live: true });
    expect((await core.networkSessions.get(onLaptop.id)).disconnect).toBeUndefined();
  });

  it('revoking a device certificate through the API ends the sessions it signed in (EAP-TLS Class), and not the device\'s sessions on another certificate', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'kate', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const laptop = await core.directory.resources.create(CLI, 'devices', { name: 'kate-laptop', owners: ['kate'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    expect((await core.devices.checkIn(CLI, laptop.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token')).compliant).toBe(true);
    const issue = async () => (await core.devices.authority.issuePkcs12(CLI, laptop.id, 'a long pkcs12 password')).record.serial;
    const [old, current] = [await issue(), await issue()];
    // The Class the Access-Accept carried (protocols/radius/device-class.ts), echoed by the NAS.
    const onOld = await sessionOf('kate', { classes: [`gatehouse-device:${laptop.id};serial=${old}`] });
    const onCurrent = await sessionOf('kate', { classes: [`gatehouse-device:${laptop.id};serial=${current}`] });
    const onPap = await sessionOf('kate');
    expect(onOld).toMatchObject({ deviceId: laptop.id, certificateSerial: old });
    expect(onCurrent).toMatchObject({ deviceId: laptop.id, certificateSerial: current });

    // reviewSeconds is an hour here: the revocation itself ends the session, at once.
    expect((await server.api(`/api/v1/certificates/${old}`, { method: 'DELETE' })).status).toBe(200);
    expect(await settled(onOld.id)).toMatchObject({ live: false, terminateCause: 'Admin-Reset', disconnect: { state: 'acked', reason: 'certificate_revoked', requestedBy: 'system' } });
    const [request] = requestsFor(onOld);
    expect(request!.packet.code).toBe(CODE.DisconnectRequest);
    expect(request!.authenticatorValid).toBe(true);
    expect(request!.messageAuthenticator).toBe('valid');
    expect(textOf(request!, ATTR.UserName)).toBe('kate');
    const requested = (await core.audit.query({ type: 'network_session.disconnect_requested' })).items.find((e) => e.target?.id === onOld.id);
    expect(requested).toMatchObject({ actor: { type: 'apikey' }, details: { reason: 'certificate_revoked', username: 'kate' } });

    // The same device on its other, valid certificate, and the person's PAP session, stay up.
    await worker.runOnce();
    for (const s of [onCurrent, onPap]) expect(await core.networkSessions.get(s.id)).toMatchObject({ live: true });
    expect((await core.networkSessions.get(onCurrent.id)).disconnect).toBeUndefined();
    expect(requestsFor(onCurrent)).toHaveLength(0);
  });

  it('the review ends a session on a certificate revoked before its accounting arrived (a lost Start)', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'liam', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const phone = await core.directory.resources.create(CLI, 'devices', { name: 'liam-phone', owners: ['liam'], platform: 'ios', managed: true, posture: {}, attributes: {} });
    expect((await core.devices.checkIn(CLI, phone.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token')).compliant).toBe(true);
    const serial = (await core.devices.authority.issuePkcs12(CLI, phone.id, 'a long pkcs12 password')).record.serial;
    await core.devices.authority.revoke(CLI, serial);
    const late = await sessionOf('liam', { status: 'Interim-Update', sessionTime: 120, classes: [`gatehouse-device:${phone.id};serial=${serial}`] });
    expect(late).toMatchObject({ live: true, certificateSerial: serial });
    // The revocation came before the session: only the review (every networkSessions.reviewSeconds) finds it.
    await core.networkSessions.review(CLI);
    expect(await settled(late.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'certificate_revoked' } });
  });

  it('deleting a device through the API ends the sessions its EAP-TLS sign-in identified, at once, and not the person\'s other sessions', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'mona', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const device = (name: string) => core.directory.resources.create(CLI, 'devices', { name, owners: ['mona'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    const [laptop, phone] = [await device('mona-laptop'), await device('mona-phone')];
    for (const d of [laptop, phone]) await core.devices.checkIn(CLI, d.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token');
    const serial = (await core.devices.authority.issuePkcs12(CLI, laptop.id, 'a long pkcs12 password')).record.serial;
    const onLaptop = await sessionOf('mona', { classes: [`gatehouse-device:${laptop.id};serial=${serial}`] });
    // A Class from before the serial was added still names the device.
    const onLaptopOld = await sessionOf('mona', { classes: [`gatehouse-device:${laptop.id}`] });
    const onPhone = await sessionOf('mona', { classes: [`gatehouse-device:${phone.id}`] });
    const onPap = await sessionOf('mona');

    // reviewSeconds is an hour here: the deletion itself queues the Disconnects, before it answers.
    expect((await server.api(`/api/v1/devices/${laptop.id}`, { method: 'DELETE' })).status).toBe(204);
    for (const s of [onLaptop, onLaptopOld]) expect((await core.networkSessions.get(s.id)).disconnect?.reason).toBe('device_deleted');
    for (const s of [onLaptop, onLaptopOld]) {
      expect(await settled(s.id)).toMatchObject({ live: false, terminateCause: 'Admin-Reset', disconnect: { state: 'acked', reason: 'device_deleted', requestedBy: 'system' } });
      const [request] = requestsFor(s);
      expect(request!.packet.code).toBe(CODE.DisconnectRequest);
      expect(request!.authenticatorValid).toBe(true);
      expect(textOf(request!, ATTR.UserName)).toBe('mona');
    }
    const requested = (await core.audit.query({ type: 'network_session.disconnect_requested' })).items.filter((e) => e.target?.id === onLaptop.id);
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatchObject({ details: { reason: 'device_deleted', username: 'mona' } });

    // The person's phone and PAP sessions stay up, after the review too.
    await worker.runOnce();
    await core.networkSessions.review(CLI);
    for (const s of [onPhone, onPap]) {
      expect(await core.networkSessions.get(s.id)).toMatchObject({ live: true });
      expect((await core.networkSessions.get(s.id)).disconnect).toBeUndefined();
      expect(requestsFor(s)).toHaveLength(0);
    }
  });

  it('the review ends a session whose device was deleted before its accounting arrived (a lost Start)', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'nina', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const tablet = await core.directory.resources.create(CLI, 'devices', { name: 'nina-tablet', owners: ['nina'], platform: 'ios', managed: true, posture: {}, attributes: {} });
    await core.directory.resources.delete(CLI, 'devices', tablet.id);
    const late = await sessionOf('nina', { status: 'Interim-Update', sessionTime: 60, classes: [`gatehouse-device:${tablet.id}`] });
    const other = await sessionOf('nina');
    expect(late).toMatchObject({ live: true, deviceId: tablet.id });
    // The deletion came before the session: only the review (every networkSessions.reviewSeconds,
    // or the worker's on a directory change) finds it.
    await core.networkSessions.review(CLI);
    expect(await settled(late.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'device_deleted' } });
    expect((await core.networkSessions.get(other.id)).disconnect).toBeUndefined();
  });

  it('the review ends a session whose device certificate has expired since, and not the device\'s session on a valid one', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'omar', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const laptop = await core.directory.resources.create(CLI, 'devices', { name: 'omar-laptop', owners: ['omar'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    await core.devices.checkIn(CLI, laptop.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token');
    // A certificate issued three days ago for one day: it expired two days ago (the session began while it was valid).
    const past = new DeviceService({
      store: server.gh.store, keyring: core.keyring, auditor: core.audit,
      config: { devices: { ...core.config.devices, certificateValidityDays: 1 } }, clock: () => new Date(Date.now() - 3 * 86_400_000),
    });
    await past.init();
    const expired = (await past.authority.issuePkcs12(CLI, laptop.id, 'a long pkcs12 password')).record;
    expect(Date.parse(expired.notAfter)).toBeLessThan(Date.now());
    const valid = (await core.devices.authority.issuePkcs12(CLI, laptop.id, 'a long pkcs12 password')).record.serial;
    const onExpired = await sessionOf('omar', { classes: [`gatehouse-device:${laptop.id};serial=${expired.serial}`] });
    const onValid = await sessionOf('omar', { classes: [`gatehouse-device:${laptop.id};serial=${valid}`] });
    const onPap = await sessionOf('omar');

    // (The worker may review first, on the directory's change feed: either way the review asks.)
    await core.networkSessions.review(CLI);
    expect(await settled(onExpired.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'certificate_expired', requestedBy: 'system' } });
    expect(requestsFor(onExpired)).toHaveLength(1);
    for (const s of [onValid, onPap]) {
      expect(await core.networkSessions.get(s.id)).toMatchObject({ live: true });
      expect((await core.networkSessions.get(s.id)).disconnect).toBeUndefined();
    }
    // Once: the next review does not ask again.
    expect(await core.networkSessions.review(CLI)).toEqual([]);
    expect((await core.audit.query({ type: 'network_session.disconnect_requested' })).items.filter((e) => e.target?.id === onExpired.id)).toMatchObject([{ details: { reason: 'certificate_expired', username: 'omar' } }]);
  });

  it('disconnects the sessions of a deleted user', async () => {
    const core = server.gh.core;
    await core.directory.users.create(CLI, { username: 'gone', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['vpn-users'] });
    const session = await sessionOf('gone');
    expect((await server.api('/api/v1/users/gone', { method: 'DELETE' })).status).toBe(204);
    expect(await settled(session.id)).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'user_deleted' } });
  });

  it('sends a CoA-Request with the configured attributes to a client in CoA mode; its ACK leaves the session live', async () => {
    const core = server.gh.core;
    await core.directory.resources.update(CLI, 'radiusClients', 'vpn', { settings: { radius: { coa: { port: nas.port, mode: 'coa', attributes: { 'Filter-Id': 'quarantine' } } } } });
    try {
      const session = await sessionOf('alice');
      await core.networkSessions.disconnect(CLI, session.id);
      worker.kick();
      expect(await settled(session.id)).toMatchObject({ live: true, disconnect: { state: 'acked' } });
      const [request] = requestsFor(session);
      expect(request!.packet.code).toBe(CODE.CoARequest);
      expect(request!.authenticatorValid).toBe(true);
      expect(request!.messageAuthenticator).toBe('valid');
      expect(textOf(request!, ATTR.FilterId)).toBe('quarantine');
      expect(await outcomeEvent(session)).toMatchObject({ details: { mode: 'coa', state: 'acked' } });
    } finally {
      await core.directory.resources.update(CLI, 'radiusClients', 'vpn', { settings: { radius: { coa: { port: nas.port } } } });
    }
  });

  it('lists, filters and reads network sessions through the admin API, with 404s and 400s', async () => {
    const session = await sessionOf('bob');
    const one = await server.api(`/api/v1/network-sessions/${session.id}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: session.id, username: 'bob', client: 'vpn', live: true });
    const page = (await (await server.api('/api/v1/network-sessions?client=vpn&live=true&limit=2')).json()) as { items: NetworkSession[]; next?: string };
    expect(page.items).toHaveLength(2);
    expect(page.next).toEqual(expect.any(String));
    const next = (await (await server.api(`/api/v1/network-sessions?client=vpn&live=true&limit=2&after=${page.next}`)).json()) as { items: NetworkSession[] };
    expect(next.items.map((s) => s.id)).not.toContain(page.items[0]!.id);
    expect((await server.api('/api/v1/network-sessions?user=nobody')).status).toBe(404);
    expect((await server.api('/api/v1/network-sessions/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await server.api('/api/v1/network-sessions/not-a-uuid')).status).toBe(400);
    expect((await server.api('/api/v1/network-sessions?live=maybe')).status).toBe(400);
    expect((await fetch(`${server.url}/api/v1/network-sessions`)).status).toBe(401);
  });
});
