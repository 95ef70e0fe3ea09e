/**
 * The EAP handler (protocols/radius/eap/handler.ts) over a real core on both stores, fed decoded
 * Access-Requests as the RADIUS server hands them over, with a real TLS client (node:tls over an
 * in-memory duplex) as the supplicant's TLS: EAP-TTLS/PAP ends in Access-Accept whose MS-MPPE keys
 * are the client's own MSK halves and whose User-Name is the inner identity; and every hostile turn
 * (malformed EAP, a reused, foreign, other client's or expired State, a wrong identifier, a Nak, TLS
 * garbage, TLS Message Length 0xFFFFFFFF, endless fragments) ends in Access-Reject with EAP-Failure,
 * the conversation freed. A conversation that ends in its TLS (a TLS 1.0/1.1-only client over TTLS
 * or PEAP, the peer's alert, garbage) is one audit event (authn.tls) and never reaches the sign-in. 10,000 half-open conversations stay within the caps and a person still
 * gets in.
 */
import { Duplex } from 'node:stream';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ATTR, CODE, type Attribute, type Packet, decodePacket, decodeVendorSpecific, encodeRequest, unhideSalted } from '../../protocols/radius/codec.ts';
import { clientOptions, RADIUS_DEFAULTS } from '../../protocols/radius/config.ts';
import { standardDictionary } from '../../protocols/radius/dictionary.ts';
import { EapConfig } from '../../protocols/radius/eap/config.ts';
import { createEap, type Eap } from '../../protocols/radius/eap/handler.ts';
import { EAP_CODE, EAP_TYPE, eapFromAttributes, eapToAttributes, encodeEap, type EapMessage } from '../../protocols/radius/eap/packet.ts';
import { FLAG_MORE, FLAG_START, encodeTlsFrame, fragment, parseTlsFrame } from '../../protocols/radius/eap/tls-fragments.ts';
import { exportWithoutContext } from '../../protocols/radius/eap/tls-session.ts';
import { encodeAvp } from '../../protocols/radius/eap/ttls-avp.ts';
import type { RadiusPeer } from '../../protocols/radius/server.ts';
import { GroupInput, UserInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { makeCa, serverCertificate, type TestCa } from '../helpers/pki.ts';

const PASSWORD = 'correct horse battery staple';
const SECRET = 'eap-handler-test-secret-01';
const SECRET2 = 'eap-handler-test-secret-02';
const turns = async (n = 5) => { for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r)); };

let ca: TestCa;
let files: Record<string, string>;
beforeAll(async () => {
  ca = await makeCa('CN=EAP Handler CA');
  const { cert, key } = await serverCertificate(ca);
  files = { '/cert.pem': cert, '/key.pem': key };
});

describe.each(backends)('EAP-TTLS handler ($name)', (backend) => {
  let tc: TestCore;
  let ap: RadiusPeer;
  let ap2: RadiusPeer;
  let eap: Eap;
  let identifier = 0;
  const start = (conversation: Partial<EapConfig['conversation']> = {}) => {
    eap?.close();
    eap = createEap({ core: tc.core, config: EapConfig.parse({ tls: { cert: '/cert.pem', key: '/key.pem' }, conversation }), dictionary: standardDictionary(), readFile: (p) => files[p]! });
  };

  beforeAll(async () => {
    tc = await coreFor(backend);
    const d = tc.core.directory;
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'wifi', attributes: { radiusVlan: 30 } }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'alice', password: PASSWORD, groups: ['wifi'] }));
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'ap', address: '127.0.0.1/32', secret: SECRET, groups: ['wifi'], settings: {} });
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'ap2', address: '127.0.0.2/32', secret: SECRET2, groups: ['wifi'], settings: {} });
    const peer = async (address: string) => {
      const found = (await d.radiusClients.bySource(address))!;
      return { client: found.client, secret: found.secret, options: clientOptions(RADIUS_DEFAULTS, found.client.settings) };
    };
    ap = await peer('127.0.0.1');
    ap2 = await peer('127.0.0.2');
    start();
  });
  afterEach(() => { vi.restoreAllMocks(); });
  afterAll(async () => {
    eap?.close();
    await tc?.cleanup();
  });

  /** An Access-Request as the server hands it over (decoded, Message-Authenticator included). */
  function request(attributes: Attribute[], state?: Buffer, peer = ap): Packet {
    return decodePacket(encodeRequest({
      code: CODE.AccessRequest, identifier: identifier++ & 0xff, secret: peer.secret, messageAuthenticator: true,
      attributes: [{ type: ATTR.UserName, value: Buffer.from('anonymous') }, ...attributes, ...(state ? [{ type: ATTR.State, value: state }] : [])],
    }));
  }
  const eapAttrs = (message: EapMessage) => eapToAttributes(encodeEap(message));
  const respond = (id: number, type: number, data: Buffer) => eapAttrs({ code: EAP_CODE.Response, identifier: id, type, data });
  const send = (attributes: Attribute[], state?: Buffer, peer = ap) => eap.handle(request(attributes, state, peer), peer, { address: peer === ap ? '127.0.0.1' : '127.0.0.2' });
  const stateOf = (reply: { attributes: Attribute[] }) => reply.attributes.find((a) => a.type === ATTR.State)!.value;
  const eapOf = (reply: { attributes: Attribute[] }) => eapFromAttributes(reply)!;
  const expectFailure = (reply: { code: number; attributes: Attribute[] }) => {
    expect(reply.code).toBe(CODE.AccessReject);
    expect(eapOf(reply).code).toBe(EAP_CODE.Failure);
  };

  /** Identity → the TTLS Start: the conversation's State and the Start's identifier. */
  async function begin(peer = ap, outer: string | Buffer = 'anonymous'): Promise<{ state: Buffer; id: number }> {
    const reply = await send(respond(0, EAP_TYPE.Identity, Buffer.from(outer)), undefined, peer);
    expect(reply.code).toBe(CODE.AccessChallenge);
    const req = eapOf(reply) as EapMessage;
    expect(req.type).toBe(EAP_TYPE.Ttls);
    expect(req.data[0]! & FLAG_START).toBe(FLAG_START);
    return { state: stateOf(reply), id: req.identifier };
  }

  /** A whole EAP-TTLS/PAP run with a real TLS client. */
  async function ttls(login: string, password: string, peer = ap, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3', outer: string | Buffer = 'anonymous'): Promise<{ reply: Awaited<ReturnType<Eap['handle']>>; packet: Packet; client: TLSSocket }> {
    let { state, id } = await begin(peer, outer);
    const out: Buffer[] = [];
    const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
    const client = connect({ socket: wire, ca: ca.pem, servername: 'localhost', maxVersion });
    client.on('error', () => {});
    let secure = false;
    client.on('secureConnect', () => { secure = true; });
    let sentInner = false;
    const incoming: Buffer[] = [];
    for (let round = 0; round < 40; round++) {
      await turns();
      if (secure && !sentInner) {
        const user = Buffer.from(login);
        const pw = Buffer.alloc(Math.ceil(Buffer.byteLength(password) / 16) * 16 || 16);
        pw.write(password);
        client.write(Buffer.concat([encodeAvp({ code: 1, data: user }), encodeAvp({ code: 2, data: pw })]));
        sentInner = true;
        await turns();
      }
      const data = Buffer.concat(out.splice(0));
      const frames = data.length ? fragment(data, 1024) : [Buffer.from([0])];
      let reply;
      for (const frame of frames) {
        const packet = request(respond(id, EAP_TYPE.Ttls, frame), state, peer);
        reply = await eap.handle(packet, peer, { address: '127.0.0.1' });
        if (reply.code !== CODE.AccessChallenge) return { reply, packet, client };
        state = stateOf(reply);
        const req = eapOf(reply) as EapMessage;
        id = req.identifier;
        const f = parseTlsFrame(req.data);
        incoming.push(f.data);
        // The server's fragments: ACK until the last one.
        if (f.flags & FLAG_MORE) continue;
      }
      while (true) {
        const req = eapOf(reply!) as EapMessage;
        if (!(parseTlsFrame(req.data).flags & FLAG_MORE)) break;
        const packet = request(respond(id, EAP_TYPE.Ttls, Buffer.from([0])), state, peer);
        reply = await eap.handle(packet, peer, { address: '127.0.0.1' });
        if (reply.code !== CODE.AccessChallenge) return { reply, packet, client };
        state = stateOf(reply);
        const next = eapOf(reply) as EapMessage;
        id = next.identifier;
        incoming.push(parseTlsFrame(next.data).data);
      }
      wire.push(Buffer.concat(incoming.splice(0)));
    }
    throw new Error('no end to the conversation');
  }

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('EAP-TTLS/PAP over %s: Access-Accept, EAP-Success, the inner identity, MPPE keys from the client\'s MSK, the group\'s VLAN', async (version) => {
    // The reply attributes come from the groups the decision was made with: the person's groups are read once.
    let groupReads = 0;
    const count = (q: { sql: string }) => {
      if (/with recursive up\b/.test(q.sql)) groupReads++;
    };
    tc.store.knex.on('query', count);
    const { reply, packet, client } = await ttls('alice', PASSWORD, ap, version).finally(() => tc.store.knex.off('query', count));
    expect(groupReads).toBe(1);
    expect(reply.code).toBe(CODE.AccessAccept);
    expect(eapOf(reply).code).toBe(EAP_CODE.Success);
    expect(reply.attributes.find((a) => a.type === ATTR.UserName)!.value.toString()).toBe('alice');
    // RFC 5281 §8 on TLS 1.2, RFC 9427 §2.1 on TLS 1.3.
    expect(client.getProtocol()).toBe(version);
    const msk = (version === 'TLSv1.3'
      ? client.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', Buffer.from([EAP_TYPE.Ttls]))
      : exportWithoutContext(client, 128, 'ttls keying material')).subarray(0, 64);
    const vsas = reply.attributes.filter((a) => a.type === ATTR.VendorSpecific).flatMap((a) => decodeVendorSpecific(a.value)).filter((v) => v.vendorId === 311);
    const key = (type: number) => unhideSalted(vsas.find((v) => v.type === type)!.value, SECRET, packet.authenticator);
    expect(key(17)).toEqual(msk.subarray(0, 32)); // MS-MPPE-Recv-Key
    expect(key(16)).toEqual(msk.subarray(32, 64)); // MS-MPPE-Send-Key
    expect(reply.attributes.find((a) => a.type === 81)!.value.subarray(1).toString()).toBe('30');
    expect(eap.conversations.size).toBe(0);
    client.destroy();
  });

  it('a wrong inner password: Access-Reject with EAP-Failure', async () => {
    const { reply, client } = await ttls('alice', 'wrong password');
    expectFailure(reply);
    expect(eap.conversations.size).toBe(0);
    client.destroy();
  });

  /** The events of the newest RADIUS sign-in attempt (by its request id). */
  const lastAttempt = async () => {
    const newest = (await tc.core.audit.query({ limit: 50 })).items.find((e) => e.requestId?.startsWith('radius-'));
    return (await tc.core.audit.query({ requestId: newest!.requestId! })).items;
  };

  it('one audit event per attempt names the method (ttls), the outer identity and the inner one: the decision, or the refusal', async () => {
    let { reply, client } = await ttls('alice', PASSWORD, ap, 'TLSv1.3', 'anonymous@wifi.example');
    expect(reply.code).toBe(CODE.AccessAccept);
    client.destroy();
    let events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'access.decision', outcome: 'success', protocol: 'radius', actor: { type: 'user', name: 'alice' }, target: { name: 'radius:ap' },
      details: { eap: { method: 'ttls', outerIdentity: 'anonymous@wifi.example' }, checks: [{ type: 'authn.password' }] },
    });
    // The held check carries the attempt's context once, on the decision, not in each check.
    expect(events[0]!.details.checks).toEqual([expect.not.objectContaining({ details: expect.objectContaining({ eap: expect.anything() }) })]);

    ({ reply, client } = await ttls('alice', 'wrong password', ap, 'TLSv1.2', 'someone@wifi.example'));
    expectFailure(reply);
    client.destroy();
    events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.password', outcome: 'failure', reasons: [{ code: 'bad_credentials' }],
      details: { username: 'alice', eap: { method: 'ttls', outerIdentity: 'someone@wifi.example' } },
    });
  });

  it('a hostile outer identity is recorded bounded: 128 characters at most, control characters replaced', async () => {
    const outer = Buffer.concat([Buffer.from('evil\r\n\u001b[31m'), Buffer.from('é'.repeat(400)), Buffer.from([0xff, 0xfe])]);
    const { reply, client } = await ttls('alice', PASSWORD, ap, 'TLSv1.3', outer);
    expect(reply.code).toBe(CODE.AccessAccept);
    client.destroy();
    const [event] = await lastAttempt();
    const recorded = (event!.details.eap as { outerIdentity: string; truncated?: boolean });
    expect([...recorded.outerIdentity]).toHaveLength(128);
    expect(recorded.outerIdentity.startsWith('evil\ufffd\ufffd\ufffd[31mé')).toBe(true);
    expect(recorded.outerIdentity).not.toMatch(/[\u0000-\u001f]/);
    expect(recorded.truncated).toBe(true);
  });

  /**
   * A handshake with a real TLS client of the given options (TTLS, or PEAP by Nak) until the
   * conversation ends: the reply, or undefined when the client gave up without a word.
   */
  async function handshake(options: ConnectionOptions, method: 'ttls' | 'peap' = 'ttls', outer: string | Buffer = 'anonymous') {
    let { state, id } = await begin(ap, outer);
    const type = method === 'peap' ? EAP_TYPE.Peap : EAP_TYPE.Ttls;
    if (method === 'peap') {
      const switched = await send(respond(id, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Peap])), state);
      ({ state, id } = { state: stateOf(switched), id: eapOf(switched).identifier });
    }
    const out: Buffer[] = [];
    const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
    const client = connect({ socket: wire, servername: 'localhost', ...options });
    client.on('error', () => {});
    try {
      for (let round = 0; round < 20; round++) {
        await turns();
        const data = Buffer.concat(out.splice(0));
        if (!data.length) return undefined;
        const reply = await send(respond(id, type, encodeTlsFrame(0, data)), state);
        if (reply.code !== CODE.AccessChallenge) return reply;
        state = stateOf(reply);
        id = eapOf(reply).identifier;
        wire.push(parseTlsFrame((eapOf(reply) as EapMessage).data).data);
      }
      throw new Error('no end to the handshake');
    } finally {
      client.destroy();
    }
  }

  it.each(['ttls', 'peap'] as const)('%s: a TLS 1.0/1.1-only client fails the handshake; one audit event (authn.tls, tls_version), the sign-in never runs', async (method) => {
    const signIn = vi.spyOn(tc.core.signIn, 'attempt');
    const reply = await handshake({ ca: ca.pem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }, method, 'legacy@wifi.example');
    expectFailure(reply!);
    expect(signIn).not.toHaveBeenCalled();
    const events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.tls', outcome: 'failure', protocol: 'radius', actor: { type: 'anonymous' }, sourceIp: '127.0.0.1', target: { type: 'radius_client', name: 'ap' },
      reasons: [{ code: 'tls_version' }], details: { client: 'ap', tls: { error: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }, eap: { method, outerIdentity: 'legacy@wifi.example' } },
    });
    expect(eap.conversations.size).toBe(0);
  });

  it("the peer's alert (a supplicant that does not trust the server certificate) and TLS garbage: one audit event each, named from a fixed list, the outer identity bounded", async () => {
    // A TLS 1.2 ClientHello; then, on the server's flight, the alert a supplicant that does not
    // trust the server certificate sends: fatal (2), unknown_ca (48).
    const { state, id } = await begin(ap, Buffer.concat([Buffer.from('\u001b[2J'), Buffer.alloc(300, 'a')]));
    const out: Buffer[] = [];
    const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
    const client = connect({ socket: wire, servername: 'localhost', maxVersion: 'TLSv1.2' });
    client.on('error', () => {});
    await turns();
    let reply = await send(respond(id, EAP_TYPE.Ttls, encodeTlsFrame(0, Buffer.concat(out.splice(0)))), state);
    client.destroy();
    while (reply.code === CODE.AccessChallenge && parseTlsFrame((eapOf(reply) as EapMessage).data).flags & FLAG_MORE) {
      reply = await send(respond(eapOf(reply).identifier, EAP_TYPE.Ttls, Buffer.from([0])), stateOf(reply));
    }
    expect(reply.code).toBe(CODE.AccessChallenge);
    expectFailure(await send(respond(eapOf(reply).identifier, EAP_TYPE.Ttls, encodeTlsFrame(0, Buffer.from([0x15, 3, 3, 0, 2, 2, 48]))), stateOf(reply)));
    let [event, ...more] = await lastAttempt();
    expect(more).toHaveLength(0);
    expect(event).toMatchObject({ type: 'authn.tls', reasons: [{ code: 'tls_alert' }], details: { tls: { alert: 'unknown_ca', error: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' }, eap: { method: 'ttls', truncated: true } } });
    const outer = (event!.details.eap as { outerIdentity: string }).outerIdentity;
    expect([...outer]).toHaveLength(128);
    expect(outer).not.toMatch(/[\u0000-\u001f]/);

    const next = await begin();
    expectFailure(await send(respond(next.id, EAP_TYPE.Ttls, encodeTlsFrame(0, Buffer.from('GET / HTTP/1.1\r\n\r\n'))), next.state));
    [event, ...more] = await lastAttempt();
    expect(more).toHaveLength(0);
    expect(event).toMatchObject({ type: 'authn.tls', reasons: [{ code: 'tls_malformed' }], details: { tls: { error: 'ERR_SSL_HTTP_REQUEST' }, eap: { method: 'ttls', outerIdentity: 'anonymous' } } });
    // Nothing of the peer's text: only the fixed fields.
    expect(Object.keys(event!.details).sort()).toEqual(['client', 'eap', 'tls']);
    expect(eap.conversations.size).toBe(0);
  });

  it('a flood of failed handshakes: one event each, nothing kept', async () => {
    const count = async () => (await tc.core.audit.query({ type: 'authn.tls', limit: 1000 })).items.length;
    const before = await count();
    for (let i = 0; i < 200; i++) {
      const { state, id } = await begin(ap, `flood-${i}`);
      expectFailure(await send(respond(id, EAP_TYPE.Ttls, encodeTlsFrame(0, Buffer.from([0x16, 3, 3, 0, 4, 1, 2, 3, 4]))), state));
    }
    expect(await count()).toBe(before + 200);
    expect(eap.conversations.size).toBe(0);
  });

  it('malformed EAP, a non-Identity start, a Nak, a wrong identifier: EAP-Failure, nothing kept', async () => {
    expectFailure(await send([{ type: ATTR.EapMessage, value: Buffer.from([2, 0, 0, 9, 1]) }]));
    expectFailure(await send(respond(0, EAP_TYPE.Ttls, Buffer.from([0]))));
    let { state, id } = await begin();
    expectFailure(await send(respond(id, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Md5Challenge])), state));
    // A Nak asking for PEAP switches the conversation to PEAP (Start), once, before any TLS.
    ({ state, id } = await begin());
    const switched = await send(respond(id, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Peap])), state);
    expect(switched.code).toBe(CODE.AccessChallenge);
    expect(eapOf(switched)).toMatchObject({ code: EAP_CODE.Request, type: EAP_TYPE.Peap, data: Buffer.from([FLAG_START]) });
    const peapState = switched.attributes.find((a) => a.type === ATTR.State)!.value;
    expectFailure(await send(respond(eapOf(switched).identifier, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Ttls])), peapState));
    ({ state, id } = await begin());
    expectFailure(await send(respond((id + 1) & 0xff, EAP_TYPE.Ttls, Buffer.from([0])), state));
    expect(eap.conversations.size).toBe(0);
  });

  it('a State is single-use, bound to its client and to this process', async () => {
    const { state, id } = await begin();
    // Another client presenting it: refused, and the conversation is not even ended.
    expectFailure(await send(respond(id, EAP_TYPE.Ttls, Buffer.from([0])), state, ap2));
    expect(eap.conversations.size).toBe(1);
    // Another process's State (another tag): refused.
    const foreign = Buffer.from(state);
    foreign[0] = foreign[0]! ^ 0xff;
    expectFailure(await send(respond(id, EAP_TYPE.Ttls, Buffer.from([0])), foreign));
    // Its own client: taken (an ACK with nothing pending fails the conversation), and then gone.
    expectFailure(await send(respond(id, EAP_TYPE.Ttls, Buffer.from([0])), state));
    expectFailure(await send(respond(id, EAP_TYPE.Ttls, Buffer.from([0])), state));
    expect(eap.conversations.size).toBe(0);
  });

  it('an expired conversation is refused', async () => {
    const { state, id } = await begin();
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expectFailure(await send(respond(id, EAP_TYPE.Ttls, encodeTlsFrame(0, Buffer.from('x'))), state));
    expect(eap.conversations.size).toBe(0);
  });

  it('TLS garbage, TLS Message Length 0xFFFFFFFF, fragments past their declared length: EAP-Failure', async () => {
    for (const frames of [
      [encodeTlsFrame(0, Buffer.from('GET / HTTP/1.1\r\n\r\n'))],
      [encodeTlsFrame(FLAG_MORE, Buffer.alloc(100), 0xffffffff)],
      [encodeTlsFrame(FLAG_MORE, Buffer.alloc(100), 150), encodeTlsFrame(0, Buffer.alloc(100))],
    ]) {
      let { state, id } = await begin();
      let reply;
      for (const frame of frames) {
        reply = await send(respond(id, EAP_TYPE.Ttls, frame), state);
        if (reply.code !== CODE.AccessChallenge) break;
        state = stateOf(reply);
        id = eapOf(reply).identifier;
      }
      expectFailure(reply!);
    }
    expect(eap.conversations.size).toBe(0);
  });

  it('endless fragments stop at the round cap', async () => {
    start({ maxRounds: 10 });
    let { state, id } = await begin();
    let reply = await send(respond(id, EAP_TYPE.Ttls, encodeTlsFrame(FLAG_MORE, Buffer.alloc(10), 60_000)), state);
    let rounds = 1;
    while (reply.code === CODE.AccessChallenge) {
      state = stateOf(reply);
      id = eapOf(reply).identifier;
      reply = await send(respond(id, EAP_TYPE.Ttls, encodeTlsFrame(FLAG_MORE, Buffer.alloc(10))), state);
      rounds++;
    }
    expectFailure(reply);
    expect(rounds).toBe(11);
    start();
  });

  it('10,000 half-open conversations stay within the caps, and a person still gets in', async () => {
    start({ maxOpen: 1000, maxOpenPerClient: 500 });
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 10_000; i++) {
      const reply = await send(respond(0, EAP_TYPE.Identity, Buffer.from(`flood-${i}`)), undefined, i % 2 ? ap : ap2);
      expect(reply.code).toBe(CODE.AccessChallenge);
      expect(eap.conversations.size).toBeLessThanOrEqual(1000);
    }
    expect(eap.conversations.size).toBe(1000);
    expect(eap.conversations.clients).toBe(2);
    expect(eap.conversations.evicted).toBe(9000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    const { reply, client } = await ttls('alice', PASSWORD);
    expect(reply.code).toBe(CODE.AccessAccept);
    client.destroy();
    // A client's own cap: 800 more from one client leave it at most 500.
    for (let i = 0; i < 800; i++) await send(respond(0, EAP_TYPE.Identity, Buffer.from('x')), undefined, ap2);
    expect(eap.conversations.countFor('ap2')).toBe(500);
    expect(eap.conversations.size).toBeLessThanOrEqual(1000);
    start();
  });
});
