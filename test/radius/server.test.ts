/**
 * The RADIUS front-end over real UDP sockets to a started Gatehouse, on both stores: PAP, the
 * Message-Authenticator rules (BlastRADIUS), unknown clients, retransmissions, Access-Challenge with
 * TOTP and the appended code, reply attributes by group, denials by group and network, accounting.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, CODE, decodePacket, encodeRequest } from '../../protocols/radius/codec.ts';
import type { AccessExplanation } from '../../src/admin/explain.ts';
import { renderExplanation } from '../../src/cli/policy.ts';
import type { KnexStore } from '../../src/store/open.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { dict, metric, PASSWORD, SECRET, seed, startRadius, TestNas, totpNow, type RadiusFixture } from './support.ts';

const CACHE_MS = 1100; // the front-end reads clients fresh after a second

describe.each(backends)('RADIUS front-end ($name)', (backend) => {
  let t: RadiusFixture;
  let nas: TestNas;
  beforeAll(async () => {
    t = await startRadius(backend);
    await seed(t);
    nas = await new TestNas().open();
  });
  afterAll(async () => {
    nas?.close();
    await t?.stop();
  });
  const d = () => t.server.gh.core.directory;
  const setClient = async (settings: Record<string, unknown>) => {
    await d().resources.update(CLI_CTX, 'radiusClients', 'vpn', { settings: { radius: settings } });
    await new Promise((r) => setTimeout(r, CACHE_MS));
  };

  it('PAP: Access-Accept for an assigned user with the groups\' reply attributes, Message-Authenticator first', async () => {
    const { reply } = await nas.access(t.authPort, { user: 'alice', password: PASSWORD });
    expect(reply?.code).toBe(CODE.AccessAccept);
    const attrs = dict.decode(reply!, { secret: SECRET });
    expect(attrs[0]!.name).toBe('Message-Authenticator');
    const named = attrs.slice(1).map((a) => [a.name, a.tag, typeof a.value === 'object' ? a.value.toString() : a.value]);
    expect(named).toEqual(expect.arrayContaining([
      ['Tunnel-Type', 1, 13], ['Tunnel-Medium-Type', 1, 6], ['Tunnel-Private-Group-Id', 1, '20'],
      ['Class', undefined, 'staff'], ['Session-Timeout', undefined, 3600],
      ['Cisco-AVPair', undefined, 'shell:priv-lvl=15'], ['Cisco-AVPair', undefined, 'ip:addr-pool=eng'], ['Fortinet-Group-Name', undefined, 'eng-vpn'],
    ]));
    expect(named).toHaveLength(8);
    // bob is in staff only: its attributes, no VLAN.
    const bob = await nas.access(t.authPort, { user: 'bob', password: PASSWORD });
    expect(bob.reply?.code).toBe(CODE.AccessAccept);
    expect(dict.decode(bob.reply!).map((a) => a.name)).toEqual(['Message-Authenticator', 'Class', 'Session-Timeout']);
  });

  it('PAP: the reply attributes come from the groups the decision was made with, read once per request; every statement prepared', async () => {
    const knex = (t.server.gh.store as KnexStore).knex;
    let groupReads = 0;
    const built: string[] = [];
    const count = (q: { sql: string; method?: string }) => {
      if (/with recursive up\b/.test(q.sql)) groupReads++;
      // None built by knex's query builder (the client, its assigned groups, ...: statements.ts).
      if (q.method !== 'raw') built.push(q.sql);
    };
    knex.on('query', count);
    try {
      const { reply } = await nas.access(t.authPort, { user: 'alice', password: PASSWORD });
      expect(reply?.code).toBe(CODE.AccessAccept);
      expect(dict.decode(reply!, { secret: SECRET }).map((a) => a.name)).toContain('Tunnel-Private-Group-Id');
    } finally {
      knex.off('query', count);
    }
    expect(groupReads).toBe(1);
    expect(built).toEqual([]);
  });

  it('PAP: Access-Reject, without Reply-Message, for a wrong password, an unassigned user, a suspended one, an unknown one', async () => {
    for (const [user, password] of [['alice', 'wrong'], ['dave', PASSWORD], ['carol', PASSWORD], ['nobody', PASSWORD]] as const) {
      const started = Date.now();
      const { reply } = await nas.access(t.authPort, { user, password });
      expect(reply?.code, user).toBe(CODE.AccessReject);
      expect(reply!.attributes.map((a) => a.type)).toEqual([ATTR.MessageAuthenticator]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(45); // the reject delay (0.05 s here)
    }
    // Each attempt is one audit event, with the RADIUS client as the resource.
    const { items } = await t.server.gh.core.audit.query({ user: 'dave', limit: 5 });
    expect(items.filter((e) => e.protocol === 'radius').map((e) => `${e.type} ${e.outcome}`)).toEqual(['access.decision denied']);
  });

  it('a wrong secret, a missing or a one-bit-flipped Message-Authenticator: dropped, counted', async () => {
    const before = await metric(t, 'gatehouse_radius_dropped_total', { reason: 'bad_message_authenticator' });
    expect((await nas.access(t.authPort, { user: 'alice', password: PASSWORD, secret: 'not-the-secret-at-all', timeoutMs: 400 })).reply).toBeUndefined();
    const good = encodeRequest({ code: CODE.AccessRequest, identifier: nas.nextId(), secret: SECRET, userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'alice')] });
    for (let bit = 0; bit < 128; bit += 13) {
      const flipped = Buffer.from(good);
      flipped[22 + (bit >> 3)] = flipped[22 + (bit >> 3)]! ^ (1 << (bit & 7));
      expect((await nas.send(t.authPort, flipped, 300))).toBeUndefined();
    }
    expect(await metric(t, 'gatehouse_radius_dropped_total', { reason: 'bad_message_authenticator' })).toBe(before + 11);
    const missing = await metric(t, 'gatehouse_radius_dropped_total', { reason: 'missing_message_authenticator' });
    expect((await nas.access(t.authPort, { user: 'alice', password: PASSWORD, messageAuthenticator: false, timeoutMs: 400 })).reply).toBeUndefined();
    expect(await metric(t, 'gatehouse_radius_dropped_total', { reason: 'missing_message_authenticator' })).toBe(missing + 1);
    // The unflipped packet itself is answered.
    expect(decodePacket((await nas.send(t.authPort, good))!).code).toBe(CODE.AccessAccept);
  });

  it('a client may go without Message-Authenticator, except for EAP-Message and Proxy-State', async () => {
    await setClient({ requireMessageAuthenticator: false });
    try {
      expect((await nas.access(t.authPort, { user: 'alice', password: PASSWORD, messageAuthenticator: false })).reply?.code).toBe(CODE.AccessAccept);
      const proxied = await nas.access(t.authPort, { user: 'alice', password: PASSWORD, messageAuthenticator: false, attributes: [dict.encode('Proxy-State', 'abc')], timeoutMs: 400 });
      expect(proxied.reply).toBeUndefined();
      const eap = await nas.access(t.authPort, { user: 'alice', messageAuthenticator: false, attributes: [{ type: ATTR.EapMessage, value: Buffer.from([2, 1, 0, 10, 1, 0x61, 0x6c, 0x69, 0x63, 0x65]) }], timeoutMs: 400 });
      expect(eap.reply).toBeUndefined();
      // With one, Proxy-State comes back unchanged (RFC 2865 §5.33) and EAP is refused until EAP exists.
      const withMac = await nas.access(t.authPort, { user: 'alice', password: PASSWORD, attributes: [dict.encode('Proxy-State', 'abc')] });
      expect(dict.first(withMac.reply!, 'Proxy-State')).toEqual(Buffer.from('abc'));
      const eapWithMac = await nas.access(t.authPort, { user: 'alice', attributes: [{ type: ATTR.EapMessage, value: Buffer.from([2, 1, 0, 10, 1, 0x61, 0x6c, 0x69, 0x63, 0x65]) }] });
      expect(eapWithMac.reply?.code).toBe(CODE.AccessReject);
    } finally {
      await setClient({});
    }
  });

  it('an unknown source is dropped, counted every time and audited once per period', async () => {
    const before = await metric(t, 'gatehouse_radius_dropped_total', { reason: 'unknown_client' });
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.2', resolve));
    const answers: Buffer[] = [];
    stranger.on('message', (m) => answers.push(m));
    const packet = encodeRequest({ code: CODE.AccessRequest, identifier: 1, secret: SECRET, userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'alice')] });
    for (let i = 0; i < 20; i++) stranger.send(packet, t.authPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 500));
    stranger.close();
    expect(answers).toEqual([]);
    expect(await metric(t, 'gatehouse_radius_dropped_total', { reason: 'unknown_client' })).toBe(before + 20);
    const { items } = await t.server.gh.core.audit.query({ type: 'radius.unknown_client', limit: 50 });
    expect(items.filter((e) => e.sourceIp === '127.0.0.2')).toHaveLength(1);
  });

  it('a retransmission gets the same reply byte for byte and is not processed again; one in progress is not processed twice', async () => {
    const count = async () => (await t.server.gh.core.audit.query({ user: 'bob', limit: 100 })).items.length;
    const before = await count();
    const first = await nas.access(t.authPort, { user: 'bob', password: PASSWORD });
    const again = await nas.send(t.authPort, first.request);
    expect(again!.equals(first.replyBytes!)).toBe(true);
    expect(await count()).toBe(before + 1);
    const retransmitted = await metric(t, 'gatehouse_radius_retransmissions_total');
    expect(retransmitted).toBeGreaterThanOrEqual(1);
    // A wrong password sent three times at once (the reject delay keeps it in progress): one attempt, one reply.
    const request = encodeRequest({ code: CODE.AccessRequest, identifier: nas.nextId(), secret: SECRET, userPassword: 'wrong', attributes: [dict.encode('User-Name', 'bob')] });
    const received = nas.received.length;
    nas.socket.send(request, t.authPort, '127.0.0.1');
    nas.socket.send(request, t.authPort, '127.0.0.1');
    nas.socket.send(request, t.authPort, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 600));
    expect(nas.received.length - received).toBe(1);
    expect(await count()).toBe(before + 2);
  });

  describe('second factor', () => {
    let secret: string;
    let policyId: string;
    beforeAll(async () => {
      const alice = await d().users.find('alice');
      ({ secret } = await t.server.gh.core.totp.enrol(CLI_CTX, alice.id, 'alice'));
      await t.server.gh.core.totp.confirm(CLI_CTX, alice.id, totpNow(secret, -1));
      policyId = (await d().resources.create(CLI_CTX, 'policies', { name: 'vpn-mfa', enabled: true, users: { exclude: [] }, resources: { include: ['radius:vpn'] }, conditions: {}, action: 'mfa' })).id;
    });
    afterAll(async () => {
      await d().resources.delete(CLI_CTX, 'policies', policyId);
    });

    it('Access-Challenge with a single-use State; the code in the next request; a wrong code gets another round', async () => {
      const first = await nas.access(t.authPort, { user: 'alice', password: PASSWORD });
      expect(first.reply?.code).toBe(CODE.AccessChallenge);
      const state = dict.first(first.reply!, 'State') as Buffer;
      expect(state.length).toBe(16);
      expect(dict.first(first.reply!, 'Reply-Message')).toMatch(/6-digit code/);
      // A wrong code: another challenge, another State.
      const wrong = await nas.access(t.authPort, { user: 'alice', password: '000000', attributes: [dict.encode('State', state)] });
      expect(wrong.reply?.code).toBe(CODE.AccessChallenge);
      const state2 = dict.first(wrong.reply!, 'State') as Buffer;
      expect(state2.equals(state)).toBe(false);
      // The first State is used up.
      expect((await nas.access(t.authPort, { user: 'alice', password: totpNow(secret), attributes: [dict.encode('State', state)] })).reply?.code).toBe(CODE.AccessReject);
      // Another user cannot answer alice's challenge.
      expect((await nas.access(t.authPort, { user: 'bob', password: totpNow(secret), attributes: [dict.encode('State', state2)] })).reply?.code).toBe(CODE.AccessReject);
      const second = await nas.access(t.authPort, { user: 'alice', password: PASSWORD });
      const state3 = dict.first(second.reply!, 'State') as Buffer;
      const done = await nas.access(t.authPort, { user: 'alice', password: totpNow(secret), attributes: [dict.encode('State', state3)] });
      expect(done.reply?.code).toBe(CODE.AccessAccept);
      expect(dict.first(done.reply!, 'Tunnel-Private-Group-Id')).toBe('20');
      const { items } = await t.server.gh.core.audit.query({ user: 'alice', limit: 1 });
      expect(items[0]!.details).toMatchObject({ decision: 'allow', authn: ['password', 'totp'] });
    });

    // A code is accepted once (RFC 6238 §5.2): this test uses the next step's (within the verifier's window).
    it('appended code for a client so configured; mfa none rejects', async () => {
      await setClient({ mfa: 'appended-otp' });
      try {
        expect((await nas.access(t.authPort, { user: 'alice', password: PASSWORD })).reply?.code).toBe(CODE.AccessReject);
        expect((await nas.access(t.authPort, { user: 'alice', password: `${PASSWORD}${totpNow(secret, 1)}` })).reply?.code).toBe(CODE.AccessAccept);
        await setClient({ mfa: 'none', replyMessages: true });
        const none = await nas.access(t.authPort, { user: 'alice', password: PASSWORD });
        expect(none.reply?.code).toBe(CODE.AccessReject);
        expect(dict.first(none.reply!, 'Reply-Message')).toMatch(/second factor/);
      } finally {
        await setClient({});
      }
    });
  });

  it('denial by network: on the NAS address, or on Calling-Station-Id when the client says so', async () => {
    await d().resources.create(CLI_CTX, 'networks', { name: 'blocked', cidrs: ['203.0.113.0/24'], risky: false });
    const policy = await d().resources.create(CLI_CTX, 'policies', { name: 'no-vpn-from-blocked', enabled: true, users: { exclude: [] }, resources: { include: ['radius:vpn'] }, conditions: { network: { in: ['blocked'] } }, action: 'deny' });
    try {
      const station = [dict.encode('Calling-Station-Id', '203.0.113.7')];
      expect((await nas.access(t.authPort, { user: 'bob', password: PASSWORD, attributes: station })).reply?.code).toBe(CODE.AccessAccept);
      await setClient({ clientAddress: 'calling-station-id', replyMessages: true });
      const denied = await nas.access(t.authPort, { user: 'bob', password: PASSWORD, attributes: station });
      expect(denied.reply?.code).toBe(CODE.AccessReject);
      expect(dict.first(denied.reply!, 'Reply-Message')).toBe('Access denied');
      expect((await nas.access(t.authPort, { user: 'bob', password: PASSWORD, attributes: [dict.encode('Calling-Station-Id', '198.51.100.7')] })).reply?.code).toBe(CODE.AccessAccept);
      const { items } = await t.server.gh.core.audit.query({ user: 'bob', limit: 2 });
      expect(items.map((e) => e.sourceIp)).toEqual(['198.51.100.7', '203.0.113.7']);
    } finally {
      await d().resources.delete(CLI_CTX, 'policies', policy.id);
      await d().resources.delete(CLI_CTX, 'networks', 'blocked');
      await setClient({});
    }
  });

  it('accounting: an Accounting-Response to a verified request; a bad Request Authenticator is dropped', async () => {
    const request = encodeRequest({ code: CODE.AccountingRequest, identifier: nas.nextId(), secret: SECRET, attributes: [dict.encode('Acct-Status-Type', 'Start'), dict.encode('Acct-Session-Id', 's-1'), dict.encode('User-Name', 'alice')] });
    const { reply } = await nas.exchange(t.acctPort, request);
    expect(reply?.code).toBe(CODE.AccountingResponse);
    const forged = Buffer.from(request);
    forged[forged.length - 1] = forged[forged.length - 1]! ^ 1;
    expect(await nas.send(t.acctPort, forged, 400)).toBeUndefined();
    // Access-Requests are not served on the accounting port, nor Accounting-Requests on the authentication port.
    expect(await nas.send(t.authPort, encodeRequest({ code: CODE.AccountingRequest, identifier: nas.nextId(), secret: SECRET, attributes: [dict.encode('Acct-Status-Type', 'Stop')] }), 400)).toBeUndefined();
  });

  it('Status-Server (RFC 5997) with Message-Authenticator is answered', async () => {
    const request = encodeRequest({ code: CODE.StatusServer, identifier: nas.nextId(), secret: SECRET, attributes: [dict.encode('NAS-Identifier', 'probe')] });
    expect((await nas.exchange(t.authPort, request)).reply?.code).toBe(CODE.AccessAccept);
    expect((await nas.exchange(t.acctPort, request)).reply?.code).toBe(CODE.AccountingResponse);
  });

  it('policy explain shows the reply attributes for a RADIUS client, as the front-end sends them', async () => {
    const res = await t.server.api('/api/v1/access/evaluate', { method: 'POST', json: { user: 'alice', resource: 'radius:vpn' } });
    expect(res.status).toBe(200);
    const body = await res.json() as AccessExplanation;
    expect(body.decision).toBe('allow');
    expect(body.radiusReply!.items.map((i) => `${i.attribute}=${i.value}@${i.group}`)).toEqual([
      'Tunnel-Type=VLAN@engineering', 'Tunnel-Medium-Type=IEEE-802@engineering', 'Tunnel-Private-Group-Id=20@engineering',
      'Cisco-AVPair=shell:priv-lvl=15@engineering', 'Cisco-AVPair=ip:addr-pool=eng@engineering', 'Fortinet-Group-Name=eng-vpn@engineering',
      'Class=staff@staff', 'Session-Timeout=3600@staff',
    ]);
    expect(renderExplanation(body)).toMatch(/radius reply .*\n  Tunnel-Type:1 = "VLAN"  \(group engineering\)/);
    const denied = await (await t.server.api('/api/v1/access/evaluate', { method: 'POST', json: { user: 'dave', resource: 'radius:vpn' } })).json() as AccessExplanation;
    expect(denied.radiusReply).toBeUndefined();
  });

  it('the same secret on two clients is refused; settings.radius is checked', async () => {
    await expect(d().resources.create(CLI_CTX, 'radiusClients', { name: 'wifi', address: '10.0.0.0/8', secret: SECRET, groups: [], settings: {} })).rejects.toThrow(/same secret/);
    const wifi = await d().resources.create(CLI_CTX, 'radiusClients', { name: 'wifi', address: '10.0.0.0/8', secret: 'another-secret-0123456789', groups: [], settings: {} });
    await expect(d().resources.update(CLI_CTX, 'radiusClients', 'wifi', { secret: SECRET })).rejects.toThrow(/same secret/);
    await expect(d().resources.update(CLI_CTX, 'radiusClients', 'wifi', { settings: { radius: { mfa: 'sms' } } })).rejects.toThrow(/settings\.radius\.mfa/);
    await d().resources.update(CLI_CTX, 'radiusClients', 'wifi', { settings: { radius: { mfa: 'appended-otp', otpSeparator: ',' } } });
    await d().resources.delete(CLI_CTX, 'radiusClients', wifi.id);
  });
});
