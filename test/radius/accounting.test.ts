/**
 * RADIUS accounting (RFC 2866) through the accounting handler, on both stores: Start, Interim-Update
 * and Stop become one network session; retransmissions and late Interim-Updates change nothing;
 * Accounting-On clears a NAS; the Accounting-Response is right (Response Authenticator, Proxy-State)
 * and comes only once the record is stored; bad authenticators, missing attributes and the live
 * limit get no answer at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountingHandler, parseAccounting, terminateCauseName, type AccountingResult, type AccountingSource } from '../../protocols/radius/accounting.ts';
import { ATTR, attributeValues, CODE, decodePacket, encodeRequest, verifyResponseAuthenticator } from '../../protocols/radius/codec.ts';
import type { RadiusClient } from '../../src/directory/model.ts';
import type { AccountingInput } from '../../src/network-sessions/service.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { accountingRequest, type AcctFields } from './support-acct.ts';

const SECRET = 'accounting-secret-0123456789';
const RINFO = { address: '127.0.0.1', port: 40000 };

describe.each(backends)('RADIUS accounting ($name)', (backend) => {
  let t: TestCore;
  let source: AccountingSource;
  let handle: ReturnType<typeof accountingHandler>;
  const results: AccountingResult[] = [];
  let id = 0;

  beforeAll(async () => {
    t = await coreFor(backend, { networkSessions: { maxLivePerClient: 8 } });
    await t.core.directory.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {} });
    const client = (await t.core.directory.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '127.0.0.1/32', secret: SECRET, groups: [], settings: {} })) as RadiusClient;
    source = { client, secret: SECRET };
    handle = accountingHandler(t.core, (r) => results.push(r));
  });
  afterAll(async () => t?.cleanup());

  async function send(fields: AcctFields, options: { secret?: string; messageAuthenticator?: boolean; identifier?: number } = {}) {
    const datagram = accountingRequest(options.secret ?? SECRET, options.identifier ?? (id = (id + 1) & 0xff), fields, options);
    const request = decodePacket(datagram);
    const reply = await handle(request, source, RINFO);
    return { request, reply, result: results.at(-1)! };
  }

  it('records Start, Interim-Update and Stop as one session, answering each with a verified Accounting-Response', async () => {
    const common = { sessionId: 'acct-1', user: 'Alice', nasIdentifier: 'gw-1', nasIp: '127.0.0.1' };
    const start = await send({ ...common, status: 'Start', nasPort: 12, framedIp: '10.8.0.6', calling: '203.0.113.9', called: 'vpn.example' });
    expect(start.reply).toBeDefined();
    const response = decodePacket(start.reply!);
    expect(response).toMatchObject({ code: CODE.AccountingResponse, identifier: start.request.identifier });
    expect(verifyResponseAuthenticator(response, start.request.authenticator, SECRET)).toBe(true);
    expect(start.result).toMatchObject({ answered: true, recorded: 'created' });

    const [session] = (await t.core.networkSessions.list({ user: 'alice' })).items;
    expect(session).toMatchObject({
      client: 'vpn', nasIdentifier: 'gw-1', nasIpAddress: '127.0.0.1', acctSessionId: 'acct-1', username: 'Alice', nasPort: 12,
      framedIpAddress: '10.8.0.6', callingStationId: '203.0.113.9', calledStationId: 'vpn.example', live: true,
    });
    expect((await t.core.audit.query({ type: 'network_session.started' })).items[0]).toMatchObject({ actor: { type: 'user', name: 'alice' }, protocol: 'radius', sourceIp: '127.0.0.1' });

    const interim = await send({ ...common, status: 'Interim-Update', sessionTime: 600, inputOctets: 10, inputGigawords: 2, outputOctets: 2000, inputPackets: 5, outputPackets: 6 });
    expect(interim.result).toMatchObject({ answered: true, recorded: 'updated' });
    expect(await t.core.networkSessions.get(session!.id)).toMatchObject({ sessionTime: 600, inputOctets: 2 * 2 ** 32 + 10, outputOctets: 2000, inputPackets: 5, live: true });

    // The same Interim-Update again (a retransmission with a new identifier): answered, nothing changes.
    expect((await send({ ...common, status: 'Interim-Update', sessionTime: 600, inputOctets: 10, inputGigawords: 2, outputOctets: 2000, inputPackets: 5, outputPackets: 6 })).result).toMatchObject({ answered: true, recorded: 'ignored' });
    // An older one arriving late.
    expect((await send({ ...common, status: 'Interim-Update', sessionTime: 300, inputOctets: 1 })).result).toMatchObject({ answered: true, recorded: 'ignored' });

    const stop = await send({ ...common, status: 'Stop', sessionTime: 900, inputOctets: 20, inputGigawords: 2, outputOctets: 3000, terminateCause: 1 });
    expect(stop.result).toMatchObject({ answered: true, recorded: 'updated' });
    expect(await t.core.networkSessions.get(session!.id)).toMatchObject({ live: false, sessionTime: 900, terminateCause: 'User-Request', outputOctets: 3000 });
    // An Interim-Update after the Stop: answered, ignored.
    expect((await send({ ...common, status: 'Interim-Update', sessionTime: 1000 })).result).toMatchObject({ answered: true, recorded: 'ignored' });
    expect((await t.core.networkSessions.get(session!.id)).live).toBe(false);
    expect((await t.core.audit.query({ type: 'network_session.stopped' })).items[0]).toMatchObject({ details: { terminateCause: 'User-Request', sessionTime: 900 } });
  });

  it('records on the session the device and certificate an EAP-TLS Access-Accept named in Class', async () => {
    const device = (await t.core.directory.resources.create(CLI_CTX, 'devices', { name: 'laptop', owners: ['alice'], platform: 'macos', managed: true, posture: {}, attributes: {} } as never)) as { id: string };
    await send({ status: 'Start', sessionId: 'acct-tls', user: 'alice', nasIdentifier: 'ap-1', classes: ['staff', `gatehouse-device:${device.id};serial=7f00aa`] });
    const session = (await t.core.networkSessions.list({ user: 'alice' })).items.find((s) => s.acctSessionId === 'acct-tls');
    expect(session).toMatchObject({ deviceId: device.id, certificateSerial: '7f00aa', live: true });
    await send({ status: 'Stop', sessionId: 'acct-tls', user: 'alice', nasIdentifier: 'ap-1', classes: ['staff', `gatehouse-device:${device.id}`] });
  });

  it('copies Proxy-State into the reply and accepts a valid Message-Authenticator', async () => {
    const { reply } = await send({ status: 'Start', sessionId: 'proxied', user: 'alice', nasIdentifier: 'gw-1', proxyState: 'hop-1' }, { messageAuthenticator: true });
    expect(attributeValues(decodePacket(reply!), ATTR.ProxyState).map((v) => v.toString())).toEqual(['hop-1']);
  });

  it('takes the event time from Event-Timestamp, else from Acct-Delay-Time', async () => {
    const at = Math.floor(Date.now() / 1000) - 3600;
    await send({ status: 'Start', sessionId: 'timed', user: 'alice', nasIdentifier: 'gw-1', eventTimestamp: at });
    await send({ status: 'Start', sessionId: 'delayed', user: 'alice', nasIdentifier: 'gw-1', delay: 120 });
    const items = (await t.core.networkSessions.list({ client: 'vpn', limit: 1000 })).items;
    expect(items.find((s) => s.acctSessionId === 'timed')!.startedAt).toBe(new Date(at * 1000).toISOString());
    const delayed = Date.parse(items.find((s) => s.acctSessionId === 'delayed')!.startedAt);
    expect(Date.now() - delayed).toBeGreaterThanOrEqual(119_000);
    expect(Date.now() - delayed).toBeLessThan(130_000);
  });

  it('drops, unanswered, a wrong Request Authenticator, a bad Message-Authenticator, and a session record without Acct-Session-Id', async () => {
    expect((await send({ status: 'Start', sessionId: 'forged', user: 'alice' }, { secret: 'not-the-secret-at-all' })).reply).toBeUndefined();
    expect(results.at(-1)).toEqual({ answered: false, reason: 'bad-authenticator' });
    // A valid Request Authenticator over a tampered Message-Authenticator: re-sign after flipping one bit.
    const datagram = accountingRequest(SECRET, 200, { status: 'Start', sessionId: 'bad-ma', user: 'alice' }, { messageAuthenticator: true });
    datagram[22] = datagram[22]! ^ 1;
    const { createHash } = await import('node:crypto');
    datagram.fill(0, 4, 20);
    createHash('md5').update(datagram).update(SECRET).digest().copy(datagram, 4);
    expect(await handle(decodePacket(datagram), source, RINFO)).toBeUndefined();
    expect(results.at(-1)).toEqual({ answered: false, reason: 'bad-message-authenticator' });
    expect((await send({ status: 'Start', user: 'alice' })).reply).toBeUndefined();
    expect(results.at(-1)).toEqual({ answered: false, reason: 'malformed' });
    expect((await t.core.networkSessions.list({ client: 'vpn', limit: 1000 })).items.map((s) => s.acctSessionId)).not.toContain('forged');
  });

  it('acknowledges other status types without recording them', async () => {
    const { reply, result } = await send({ status: 9, sessionId: 'tunnel', user: 'alice' });
    expect(reply).toBeDefined();
    expect(result).toMatchObject({ answered: true, recorded: 'not-recorded' });
  });

  it('clears every live session of a NAS on Accounting-On, and no other NAS', async () => {
    for (const s of ['on-1', 'on-2']) await send({ status: 'Start', sessionId: s, user: 'alice', nasIdentifier: 'gw-reboot' });
    await send({ status: 'Start', sessionId: 'elsewhere', user: 'alice', nasIdentifier: 'gw-other' });
    const { reply, result } = await send({ status: 'Accounting-On', nasIdentifier: 'gw-reboot' });
    expect(reply).toBeDefined();
    expect(result).toMatchObject({ answered: true, recorded: 'cleared' });
    const items = (await t.core.networkSessions.list({ client: 'vpn', limit: 1000 })).items;
    expect(items.filter((s) => s.nasIdentifier === 'gw-reboot').map((s) => [s.live, s.terminateCause])).toEqual([[false, 'NAS-Reboot'], [false, 'NAS-Reboot']]);
    expect(items.find((s) => s.acctSessionId === 'elsewhere')!.live).toBe(true);
    expect((await t.core.audit.query({ type: 'network_session.cleared' })).items[0]).toMatchObject({ details: { status: 'Accounting-On', nas: 'gw-reboot', sessions: 2 } });
    // Accounting-Off too.
    await send({ status: 'Accounting-Off', nasIdentifier: 'gw-other' });
    expect((await t.core.networkSessions.list({ client: 'vpn', live: true, limit: 1000 })).items.map((s) => s.acctSessionId)).not.toContain('elsewhere');
  });

  it('does not answer a Start beyond the live limit of its client, and audits it once a minute at most', async () => {
    const live = (await t.core.networkSessions.list({ client: 'vpn', live: true, limit: 1000 })).items.length;
    for (let i = live; i < 8; i++) expect((await send({ status: 'Start', sessionId: `fill-${i}`, user: 'alice', nasIdentifier: 'gw-fill' })).reply).toBeDefined();
    for (let i = 0; i < 5; i++) {
      expect((await send({ status: 'Start', sessionId: `over-${i}`, user: 'alice', nasIdentifier: 'gw-fill' })).reply).toBeUndefined();
      expect(results.at(-1)).toEqual({ answered: false, reason: 'refused' });
    }
    expect((await t.core.audit.query({ type: 'network_session.refused' })).items).toHaveLength(1);
    // Records of sessions it has still count, and end them.
    expect((await send({ status: 'Stop', sessionId: 'fill-7', user: 'alice', nasIdentifier: 'gw-fill', sessionTime: 5 })).reply).toBeDefined();
  });

  it('does not answer when the record cannot be stored (RFC 2866 §2)', async () => {
    const broken: TestCore = await coreFor(backend);
    try {
      const client = (await broken.core.directory.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '127.0.0.1/32', secret: SECRET, groups: [], settings: {} })) as RadiusClient;
      await broken.store.knex.schema.dropTable('network_sessions');
      const outcomes: AccountingResult[] = [];
      const handler = accountingHandler(broken.core, (r) => outcomes.push(r));
      const reply = await handler(decodePacket(accountingRequest(SECRET, 1, { status: 'Start', sessionId: 'lost', user: 'alice' })), { client, secret: SECRET }, RINFO);
      expect(reply).toBeUndefined();
      expect(outcomes).toEqual([{ answered: false, reason: 'store-failed' }]);
    } finally {
      await broken.cleanup();
    }
  });
});

describe('parsing an Accounting-Request', () => {
  const packetOf = (attributes: Array<{ type: number; value: Buffer }>) => decodePacket(encodeRequest({ code: CODE.AccountingRequest, identifier: 1, secret: SECRET, attributes }));
  const u32 = (type: number, n: number) => ({ type, value: Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]) });

  it('treats values of the wrong size as absent, and replaces control characters in text', () => {
    const parsed = parseAccounting(packetOf([
      u32(ATTR.AcctStatusType, 3),
      { type: ATTR.AcctSessionId, value: Buffer.from('odd\u0000one\n') },
      { type: ATTR.UserName, value: Buffer.from('eve\u001b[31m') },
      { type: ATTR.NasIpAddress, value: Buffer.from([10, 0, 0, 1, 9]) },
      { type: ATTR.FramedIpAddress, value: Buffer.from([10, 0]) },
      { type: 46, value: Buffer.from([0, 1]) },
      { type: 42, value: Buffer.alloc(8, 0xff) },
      u32(52, 3),
    ]), 'vpn', 1_000_000);
    expect(parsed).toMatchObject({ kind: 'record', input: { kind: 'interim', acctSessionId: 'odd\ufffdone\ufffd', username: 'eve\ufffd[31m', client: 'vpn', at: 1_000_000 } });
    const input = (parsed as { input: AccountingInput }).input;
    expect(input.nasIpAddress).toBeUndefined();
    expect(input.framedIpAddress).toBeUndefined();
    expect(input.sessionTime).toBeUndefined();
    // Gigawords alone still count.
    expect(input.inputOctets).toBe(3 * 2 ** 32);
  });

  it('needs Acct-Status-Type, and Acct-Session-Id for a session record; names terminate causes', () => {
    expect(parseAccounting(packetOf([{ type: ATTR.AcctSessionId, value: Buffer.from('x') }]), 'vpn')).toBeUndefined();
    expect(parseAccounting(packetOf([u32(ATTR.AcctStatusType, 1)]), 'vpn')).toBeUndefined();
    expect(parseAccounting(packetOf([u32(ATTR.AcctStatusType, 7)]), 'vpn')).toMatchObject({ kind: 'clear', status: 'on', nas: { client: 'vpn' } });
    expect(terminateCauseName(1)).toBe('User-Request');
    expect(terminateCauseName(11)).toBe('NAS-Reboot');
    expect(terminateCauseName(250)).toBe('Cause-250');
  });

  it('takes the device an EAP-TLS Access-Accept named from Class, and nothing from any other Class', () => {
    const id = '0b6c3f4e-1d2a-4c5b-8e9f-0a1b2c3d4e5f';
    const base = [u32(ATTR.AcctStatusType, 1), { type: ATTR.AcctSessionId, value: Buffer.from('s1') }];
    const parsed = (attributes: Array<{ type: number; value: Buffer }>) => (parseAccounting(packetOf([...base, ...attributes]), 'ap') as { input: AccountingInput }).input;
    expect(parsed([{ type: ATTR.Class, value: Buffer.from('staff') }, { type: ATTR.Class, value: Buffer.from(`gatehouse-device:${id}`) }]).deviceId).toBe(id);
    expect(parsed([{ type: ATTR.Class, value: Buffer.from(`gatehouse-device:${id}x`) }]).deviceId).toBeUndefined();
    expect(parsed([{ type: ATTR.Class, value: Buffer.from('gatehouse-device:../../etc') }]).deviceId).toBeUndefined();
    expect(parsed([]).deviceId).toBeUndefined();
    // With the certificate's serial (Gatehouse's Access-Accept since the serial was added); an old Class without it still names the device.
    const withSerial = parsed([{ type: ATTR.Class, value: Buffer.from(`gatehouse-device:${id};serial=0a1b2c`) }]);
    expect([withSerial.deviceId, withSerial.certificateSerial]).toEqual([id, '0a1b2c']);
    expect(parsed([{ type: ATTR.Class, value: Buffer.from(`gatehouse-device:${id}`) }]).certificateSerial).toBeUndefined();
    // A serial out of form (not hex, upper case, too long, something after it) spoils the whole value.
    for (const bad of [';serial=xyz', ';serial=0A1B', `;serial=${'a'.repeat(65)}`, ';serial=0a1b;x', ';serial=', ';serial=0a1b\n']) {
      const input = parsed([{ type: ATTR.Class, value: Buffer.from(`gatehouse-device:${id}${bad}`) }]);
      expect([input.deviceId, input.certificateSerial]).toEqual([undefined, undefined]);
    }
  });

  it('never takes a time in the future from Event-Timestamp', () => {
    const parsed = parseAccounting(packetOf([u32(ATTR.AcctStatusType, 1), { type: ATTR.AcctSessionId, value: Buffer.from('f') }, u32(55, 4_000_000_000)]), 'vpn', 5_000);
    expect((parsed as { input: { at: number } }).input.at).toBe(5_000);
  });
});
