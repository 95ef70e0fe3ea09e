/**
 * Accounting and continuous verification end to end, over real UDP to a running Gatehouse: a NAS
 * reports sessions to the accounting port, and the front-end's own Disconnect worker tells the NAS
 * (an in-test Dynamic Authorization listener) to end them. Then across processes: two Gatehouse
 * servers on one PostgreSQL, one without RADIUS where an administrator suspends a user, revokes a
 * device certificate, deletes a device or ends a session, the other with RADIUS, which sends the
 * Disconnect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, CODE } from '../../protocols/radius/codec.ts';
import { createLogger } from '../../src/log.ts';
import type { NetworkSession } from '../../src/network-sessions/model.ts';
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { backends, postgres } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';
import { metric, PASSWORD, SECRET, seed, startRadius, TestNas, type RadiusFixture } from './support.ts';
import { accountingRequest, CoaListener, eventually, textOf, type AcctFields } from './support-acct.ts';

describe.each(backends)('accounting and Disconnect through the running front-end ($name)', (backend) => {
  let t: RadiusFixture;
  let nas: TestNas;
  let coa: CoaListener;
  beforeAll(async () => {
    coa = await new CoaListener(SECRET).start();
    t = await startRadius(backend);
    await seed(t, { coa: { port: coa.port } });
    nas = await new TestNas().open();
  });
  afterAll(async () => {
    nas?.close();
    await t?.stop();
    await coa?.close();
  });

  const account = async (fields: AcctFields) => (await nas.exchange(t.acctPort, accountingRequest(SECRET, nas.nextId(), { nasIdentifier: 'gw-udp', nasIp: '127.0.0.1', ...fields }))).reply;
  const sessions = async (query: string) => ((await (await t.server.api(`/api/v1/network-sessions?${query}`)).json()) as { items: NetworkSession[] }).items;

  it('records what the NAS reports over UDP, and clears it on Accounting-On', async () => {
    expect((await account({ status: 'Start', sessionId: 'u-1', user: 'alice', framedIp: '10.9.0.2', calling: '192.0.2.44' }))?.code).toBe(CODE.AccountingResponse);
    expect((await account({ status: 'Interim-Update', sessionId: 'u-1', user: 'alice', sessionTime: 60, inputOctets: 1000, outputOctets: 5000 }))?.code).toBe(CODE.AccountingResponse);
    expect(await sessions('user=alice&live=true')).toEqual([expect.objectContaining({ acctSessionId: 'u-1', client: 'vpn', nasIdentifier: 'gw-udp', framedIpAddress: '10.9.0.2', inputOctets: 1000, outputOctets: 5000, sessionTime: 60 })]);
    expect(await metric(t, 'gatehouse_radius_accounting_total', { result: 'created' })).toBe(1);
    expect(await metric(t, 'gatehouse_radius_accounting_total', { result: 'updated' })).toBe(1);
    expect((await account({ status: 'Accounting-On' }))?.code).toBe(CODE.AccountingResponse);
    expect(await sessions('user=alice&live=true')).toEqual([]);
    expect((await sessions('user=alice'))[0]).toMatchObject({ live: false, terminateCause: 'NAS-Reboot' });
  });

  it('sends a Disconnect-Request to the NAS when a user with a live session is suspended', async () => {
    const signIn = await nas.access(t.authPort, { user: 'bob', password: PASSWORD });
    expect(signIn.reply?.code).toBe(CODE.AccessAccept);
    await account({ status: 'Start', sessionId: 'u-bob', user: 'bob' });
    const [session] = await sessions('user=bob&live=true');
    expect((await t.server.api('/api/v1/users/bob/suspend', { method: 'POST' })).status).toBe(200);
    const done = await eventually(() => t.server.gh.core.networkSessions.get(session!.id), (s) => s.disconnect?.state === 'acked', 8_000);
    expect(done).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'user_suspended' } });
    const request = coa.received.find((r) => textOf(r, ATTR.AcctSessionId) === 'u-bob')!;
    expect(request.packet.code).toBe(CODE.DisconnectRequest);
    expect(request.authenticatorValid).toBe(true);
    expect(request.messageAuthenticator).toBe('valid');
    expect(await eventually(() => metric(t, 'gatehouse_radius_disconnects_total', { mode: 'disconnect', state: 'acked' }), (n) => n === 1)).toBe(1);
    // The NAS then reports the Stop, which brings the final counters.
    expect((await account({ status: 'Stop', sessionId: 'u-bob', user: 'bob', sessionTime: 30, terminateCause: 6 }))?.code).toBe(CODE.AccountingResponse);
    expect(await t.server.gh.core.networkSessions.get(session!.id)).toMatchObject({ live: false, sessionTime: 30, terminateCause: 'Admin-Reset' });
  });

  it('refuses settings.radius.coa that do not hold', async () => {
    const update = (coaSettings: unknown) => t.server.gh.core.directory.resources.update(CLI_CTX, 'radiusClients', 'vpn', { settings: { radius: { coa: coaSettings } } });
    await expect(update({ port: 0 })).rejects.toThrow(/settings\.radius\.coa\.port/);
    await expect(update({ mode: 'coa' })).rejects.toThrow(/settings\.radius\.coa\.attributes/);
    await expect(update({ mode: 'coa', attributes: { 'No-Such-Attribute': 'x' } })).rejects.toThrow(/No-Such-Attribute/);
    await expect(update({ host: 'nas.example' })).rejects.toThrow(/settings\.radius\.coa\.host/);
    await update({ port: coa.port, mode: 'coa', attributes: { 'Filter-Id': 'quarantine' } });
    await update({ port: coa.port });
  });
});

describe('continuous verification across two processes on one PostgreSQL', () => {
  let admin: Gatehouse;
  let radius: Gatehouse;
  let drop: () => Promise<void>;
  let coa: CoaListener;
  let nas: TestNas;
  let acctPort: number;

  beforeAll(async () => {
    coa = await new CoaListener(SECRET).start();
    const db = await postgres.create();
    drop = db.drop;
    const start = (radiusEnabled: boolean) =>
      startGatehouse({
        config: testConfig(db.url, { radius: { enabled: radiusEnabled, authPort: 0, acctPort: 0 }, networkSessions: { disconnect: { timeoutMs: 200, attempts: 3 } } }),
        env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY },
        logger: createLogger('silent'),
      });
    admin = await start(false);
    radius = await start(true);
    const d = admin.core.directory;
    await d.groups.create(CLI_CTX, { name: 'staff', attributes: {} });
    for (const username of ['ivan', 'judy']) await d.users.create(CLI_CTX, { username, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '127.0.0.1/32', secret: SECRET, groups: ['staff'], settings: { radius: { coa: { port: coa.port } } } });
    acctPort = Number(new URL(radius.frontEnd('radius')!.listeners[1]!.url.replace('radius://', 'http://')).port);
    nas = await new TestNas().open();
  });
  afterAll(async () => {
    nas?.close();
    await admin?.stop();
    await radius?.stop();
    await drop?.();
    await coa?.close();
  });

  const api = (path: string, init: RequestInit = {}) => fetch(`${admin.httpUrl}${path}`, { ...init, headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  const start = async (user: string, id: string, classes?: string[]) => {
    const reply = await nas.exchange(acctPort, accountingRequest(SECRET, nas.nextId(), { status: 'Start', sessionId: id, user, nasIdentifier: 'gw-pg', ...(classes ? { classes } : {}) }));
    expect(reply.reply?.code).toBe(CODE.AccountingResponse);
    return (await admin.core.networkSessions.list({ user })).items.find((s) => s.acctSessionId === id)!;
  };

  it('a suspension in the process without RADIUS is carried out by the one with it', async () => {
    const session = await start('ivan', 'pg-ivan');
    expect((await api('/api/v1/users/ivan/suspend', { method: 'POST' })).status).toBe(200);
    const done = await eventually(() => admin.core.networkSessions.get(session.id), (s) => s.disconnect?.state === 'acked', 10_000);
    expect(done).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'user_suspended' } });
    expect(coa.received.filter((r) => textOf(r, ATTR.AcctSessionId) === 'pg-ivan')).toHaveLength(1);
  });

  it('a device certificate revoked through the process without RADIUS ends the EAP-TLS session it signed in, at once; the device\'s other one stays', async () => {
    const d = admin.core.directory;
    await d.users.create(CLI_CTX, { username: 'kim', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    const laptop = await d.resources.create(CLI_CTX, 'devices', { name: 'kim-laptop', owners: ['kim'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    await admin.core.devices.checkIn(CLI_CTX, laptop.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token');
    const issue = async () => (await admin.core.devices.authority.issuePkcs12(CLI_CTX, laptop.id, 'a long pkcs12 password')).record.serial;
    const [revoked, kept] = [await issue(), await issue()];
    const onRevoked = await start('kim', 'pg-kim-1', [`gatehouse-device:${laptop.id};serial=${revoked}`]);
    const onKept = await start('kim', 'pg-kim-2', [`gatehouse-device:${laptop.id};serial=${kept}`]);
    expect(onRevoked.certificateSerial).toBe(revoked);
    // Let the RADIUS process see kim's creation (its directory watch checks every 2 s) and review
    // on it, so that only the revocation can end the session before the review timer's 60 s.
    await new Promise((r) => setTimeout(r, 3_000));
    const asked = Date.now();
    expect((await api(`/api/v1/certificates/${revoked}`, { method: 'DELETE' })).status).toBe(200);
    const done = await eventually(() => admin.core.networkSessions.get(onRevoked.id), (s) => s.disconnect?.state === 'acked', 8_000);
    expect(done).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'certificate_revoked' } });
    // Not the review's timer (networkSessions.reviewSeconds, 60 s): the revocation queued it.
    expect(Date.now() - asked).toBeLessThan(8_000);
    const sent = coa.received.filter((r) => textOf(r, ATTR.AcctSessionId) === 'pg-kim-1');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.packet.code).toBe(CODE.DisconnectRequest);
    expect(sent[0]!.authenticatorValid).toBe(true);
    expect(await admin.core.networkSessions.get(onKept.id)).toMatchObject({ live: true });
    expect(coa.received.filter((r) => textOf(r, ATTR.AcctSessionId) === 'pg-kim-2')).toHaveLength(0);
  });

  it('a device deleted through the process without RADIUS ends the EAP-TLS sessions it signed in, at once; the person\'s other device stays', async () => {
    const d = admin.core.directory;
    await d.users.create(CLI_CTX, { username: 'lou', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    const device = (name: string) => d.resources.create(CLI_CTX, 'devices', { name, owners: ['lou'], platform: 'linux', managed: true, posture: {}, attributes: {} });
    const [laptop, phone] = [await device('lou-laptop'), await device('lou-phone')];
    for (const x of [laptop, phone]) await admin.core.devices.checkIn(CLI_CTX, x.id, { diskEncrypted: true, firewall: true, screenLock: true }, 'token');
    const serial = (await admin.core.devices.authority.issuePkcs12(CLI_CTX, laptop.id, 'a long pkcs12 password')).record.serial;
    const onLaptop = await start('lou', 'pg-lou-1', [`gatehouse-device:${laptop.id};serial=${serial}`]);
    const onPhone = await start('lou', 'pg-lou-2', [`gatehouse-device:${phone.id}`]);
    expect(onLaptop.deviceId).toBe(laptop.id);
    // As above: let the RADIUS process's review on lou's creation pass, so only the deletion can end it now.
    await new Promise((r) => setTimeout(r, 3_000));
    const asked = Date.now();
    expect((await api(`/api/v1/devices/${laptop.id}`, { method: 'DELETE' })).status).toBe(204);
    const done = await eventually(() => admin.core.networkSessions.get(onLaptop.id), (s) => s.disconnect?.state === 'acked', 8_000);
    expect(done).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'device_deleted' } });
    // Not the review's timer (networkSessions.reviewSeconds, 60 s; device changes in another process wait for it): the deletion queued it.
    expect(Date.now() - asked).toBeLessThan(8_000);
    const sent = coa.received.filter((r) => textOf(r, ATTR.AcctSessionId) === 'pg-lou-1');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.packet.code).toBe(CODE.DisconnectRequest);
    expect(sent[0]!.authenticatorValid).toBe(true);
    expect(await admin.core.networkSessions.get(onPhone.id)).toMatchObject({ live: true });
    expect(coa.received.filter((r) => textOf(r, ATTR.AcctSessionId) === 'pg-lou-2')).toHaveLength(0);
  });

  it('an administrator ends a session through the other process’s API', async () => {
    const session = await start('judy', 'pg-judy');
    const res = await api(`/api/v1/network-sessions/${session.id}/disconnect`, { method: 'POST' });
    expect(res.status).toBe(200);
    const done = await eventually(() => admin.core.networkSessions.get(session.id), (s) => s.disconnect?.state === 'acked', 10_000);
    expect(done).toMatchObject({ live: false, disconnect: { state: 'acked', reason: 'admin' } });
    // Exactly one Disconnect, though both processes could claim it (only one runs the front-end here; the claim is the store's).
    expect(coa.received.filter((r) => textOf(r, ATTR.AcctSessionId) === 'pg-judy')).toHaveLength(1);
  });
});
