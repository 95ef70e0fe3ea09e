/**
 * EAP-TLS (protocols/radius/eap/eap-tls.ts through handler.ts) over a real core on both stores: a
 * real TLS client (node:tls over an in-memory duplex) with a device certificate the core's device CA
 * issued, asked for EAP-TLS by Nak after the TTLS Start. On TLS 1.2 and 1.3: Access-Accept with
 * EAP-Success, User-Name = the device's owner (whatever the outer identity), MPPE keys from the
 * client's own MSK (RFC 5216 §2.3 / RFC 9190 §2.3), the owner's group's VLAN; on 1.3 the server's
 * commitment message (0x00 application data) reaches the client. Refused with EAP-Failure: a revoked
 * certificate, an expired one, a foreign CA's (imitating ours), no certificate, a non-compliant
 * device, a suspended owner; those the TLS handshake refuses (expired, foreign, none) never reach
 * the sign-in and are one audit event each (authn.device with details.tls), as TLS garbage is
 * (authn.tls).
 */
import { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ATTR, CODE, type Attribute, type Packet, decodePacket, decodeVendorSpecific, encodeRequest, unhideSalted } from '../../protocols/radius/codec.ts';
import { clientOptions, RADIUS_DEFAULTS } from '../../protocols/radius/config.ts';
import { standardDictionary } from '../../protocols/radius/dictionary.ts';
import { EapConfig } from '../../protocols/radius/eap/config.ts';
import { createEap, type Eap } from '../../protocols/radius/eap/handler.ts';
import { EAP_CODE, EAP_TYPE, eapFromAttributes, eapToAttributes, encodeEap, type EapMessage } from '../../protocols/radius/eap/packet.ts';
import { FLAG_MORE, FLAG_START, fragment, parseTlsFrame } from '../../protocols/radius/eap/tls-fragments.ts';
import { exportWithoutContext } from '../../protocols/radius/eap/tls-session.ts';
import type { RadiusPeer } from '../../protocols/radius/server.ts';
import { CA_SUBJECT } from '../../src/devices/ca.ts';
import { DeviceService } from '../../src/devices/service.ts';
import { GroupInput, UserInput, type Device, type DeviceInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { makeCa, makeCsr, makeKey, serverCertificate, type TestCa } from '../helpers/pki.ts';

const SECRET = 'eap-tls-test-secret-01';
const COMPLIANT = { osVersion: '14.4', diskEncrypted: true, screenLock: true };
const turns = async (n = 5) => { for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r)); };

let serverCa: TestCa;
let files: Record<string, string>;
beforeAll(async () => {
  serverCa = await makeCa('CN=EAP-TLS Server CA');
  const { cert, key } = await serverCertificate(serverCa);
  files = { '/cert.pem': cert, '/key.pem': key };
});

interface ClientCredential { cert: string; key: string }

describe.each(backends)('EAP-TLS handler ($name)', (backend) => {
  let tc: TestCore;
  let ap: RadiusPeer;
  let eap: Eap;
  let identifier = 0;
  let laptop: Device;
  let alicesLaptop: ClientCredential & { serial: string };

  const createDevice = (name: string, extra: Partial<DeviceInput> = {}) =>
    tc.core.directory.resources.create(CLI_CTX, 'devices', { name, owners: ['alice'], platform: 'macos', managed: true, posture: {}, attributes: {}, ...extra } as never) as Promise<Device>;
  /** A device certificate from the core's CA, with its key, as `gatehouse device cert issue` leaves them. */
  const credential = async (device: Device, devices: DeviceService = tc.core.devices): Promise<ClientCredential & { serial: string }> => {
    const { csrPem, key } = await makeCsr('ec-p256', '');
    const issued = await devices.authority.issueFromCsr(CLI_CTX, device.id, csrPem);
    return { cert: issued.certificatePem, key: key.privateKeyPem, serial: issued.record.serial };
  };

  beforeAll(async () => {
    tc = await coreFor(backend);
    await tc.core.devices.init();
    const d = tc.core.directory;
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'wifi', attributes: { radiusVlan: 40 } }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'alice', password: 'correct horse battery staple', groups: ['wifi'] }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'bob', password: 'correct horse battery staple', groups: ['wifi'], status: 'suspended' }));
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'ap', address: '127.0.0.1/32', secret: SECRET, groups: ['wifi'], settings: {} });
    await d.resources.create(CLI_CTX, 'policies', { name: 'wifi-compliant', enabled: true, users: { exclude: [] }, resources: { include: ['radius:ap'] }, conditions: { device: { compliant: false } }, action: 'deny' });
    const found = (await d.radiusClients.bySource('127.0.0.1'))!;
    ap = { client: found.client, secret: found.secret, options: clientOptions(RADIUS_DEFAULTS, found.client.settings) };
    eap = createEap({ core: tc.core, config: EapConfig.parse({ tls: { cert: '/cert.pem', key: '/key.pem' } }), dictionary: standardDictionary(), readFile: (p) => files[p]! });
    laptop = await createDevice('laptop');
    await tc.core.devices.checkIn(CLI_CTX, laptop.id, COMPLIANT, 'token');
    alicesLaptop = await credential(laptop);
  });
  afterAll(async () => {
    eap?.close();
    await tc?.cleanup();
  });

  function request(attributes: Attribute[], state?: Buffer): Packet {
    return decodePacket(encodeRequest({
      code: CODE.AccessRequest, identifier: identifier++ & 0xff, secret: SECRET, messageAuthenticator: true,
      attributes: [{ type: ATTR.UserName, value: Buffer.from('someone-else') }, ...attributes, ...(state ? [{ type: ATTR.State, value: state }] : [])],
    }));
  }
  const respond = (id: number, type: number, data: Buffer) => eapToAttributes(encodeEap({ code: EAP_CODE.Response, identifier: id, type, data }));
  const stateOf = (reply: { attributes: Attribute[] }) => reply.attributes.find((a) => a.type === ATTR.State)!.value;
  const eapOf = (reply: { attributes: Attribute[] }) => eapFromAttributes(reply)!;

  /** A whole EAP-TLS conversation: Identity, Nak for TLS after the TTLS Start, then the handshake with a real client. */
  async function eapTls(presented: ClientCredential | undefined, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3') {
    const send = (attributes: Attribute[], state?: Buffer) => {
      const packet = request(attributes, state);
      return eap.handle(packet, ap, { address: '127.0.0.1' }).then((reply) => ({ reply, packet }));
    };
    let { reply } = await send(respond(0, EAP_TYPE.Identity, Buffer.from('someone-else')));
    let start = eapOf(reply) as EapMessage;
    expect(start.type).toBe(EAP_TYPE.Ttls);
    ({ reply } = await send(respond(start.identifier, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Tls])), stateOf(reply)));
    start = eapOf(reply) as EapMessage;
    expect(start.type).toBe(EAP_TYPE.Tls);
    expect(start.data[0]! & FLAG_START).toBe(FLAG_START);
    let state = stateOf(reply);
    let id = start.identifier;

    const out: Buffer[] = [];
    const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
    const client = connect({ socket: wire, ca: serverCa.pem, servername: 'localhost', maxVersion, ...(presented ?? {}) });
    client.on('error', () => {});
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    for (let round = 0; round < 40; round++) {
      await turns();
      const data = Buffer.concat(out.splice(0));
      const frames = data.length ? fragment(data, 1024) : [Buffer.from([0])];
      const incoming: Buffer[] = [];
      let last;
      for (const frame of frames) {
        last = await send(respond(id, EAP_TYPE.Tls, frame), state);
        if (last.reply.code !== CODE.AccessChallenge) return { ...last, client, received };
        state = stateOf(last.reply);
        const req = eapOf(last.reply) as EapMessage;
        expect(req.type).toBe(EAP_TYPE.Tls);
        id = req.identifier;
        incoming.push(parseTlsFrame(req.data).data);
      }
      while (parseTlsFrame((eapOf(last!.reply) as EapMessage).data).flags & FLAG_MORE) {
        last = await send(respond(id, EAP_TYPE.Tls, Buffer.from([0])), state);
        if (last.reply.code !== CODE.AccessChallenge) return { ...last, client, received };
        state = stateOf(last.reply);
        const req = eapOf(last.reply) as EapMessage;
        id = req.identifier;
        incoming.push(parseTlsFrame(req.data).data);
      }
      wire.push(Buffer.concat(incoming));
    }
    throw new Error('no end to the conversation');
  }

  /** The events of the newest RADIUS sign-in attempt (by its request id). */
  const lastAttempt = async () => {
    const newest = (await tc.core.audit.query({ limit: 50 })).items.find((e) => e.requestId?.startsWith('radius-'));
    return (await tc.core.audit.query({ requestId: newest!.requestId! })).items;
  };

  const expectFailure = (reply: { code: number; attributes: Attribute[] }) => {
    expect(reply.code).toBe(CODE.AccessReject);
    expect(eapOf(reply).code).toBe(EAP_CODE.Failure);
  };

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('over %s: Access-Accept, EAP-Success, the owner as User-Name, MPPE keys from the client\'s MSK, the VLAN', async (version) => {
    // The reply attributes come from the groups the decision was made with: the person's groups are read once.
    let groupReads = 0;
    const count = (q: { sql: string }) => {
      if (/with recursive up\b/.test(q.sql)) groupReads++;
    };
    tc.store.knex.on('query', count);
    const { reply, packet, client, received } = await eapTls(alicesLaptop, version).finally(() => tc.store.knex.off('query', count));
    expect(groupReads).toBe(1);
    expect(reply.code).toBe(CODE.AccessAccept);
    expect(eapOf(reply).code).toBe(EAP_CODE.Success);
    expect(client.getProtocol()).toBe(version);
    expect(reply.attributes.find((a) => a.type === ATTR.UserName)!.value.toString()).toBe('alice');
    const msk = (version === 'TLSv1.3'
      ? client.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', Buffer.from([EAP_TYPE.Tls]))
      : exportWithoutContext(client, 128, 'client EAP encryption')).subarray(0, 64);
    const vsas = reply.attributes.filter((a) => a.type === ATTR.VendorSpecific).flatMap((a) => decodeVendorSpecific(a.value)).filter((v) => v.vendorId === 311);
    const key = (type: number) => unhideSalted(vsas.find((v) => v.type === type)!.value, SECRET, packet.authenticator);
    expect(key(17)).toEqual(msk.subarray(0, 32));
    expect(key(16)).toEqual(msk.subarray(32, 64));
    expect(reply.attributes.find((a) => a.type === 81)!.value.subarray(1).toString()).toBe('40');
    // The device and the certificate, for the network session (the NAS echoes Class in accounting: device-class.ts).
    expect(reply.attributes.find((a) => a.type === ATTR.Class)!.value.toString()).toBe(`gatehouse-device:${laptop.id};serial=${alicesLaptop.serial}`);
    // RFC 9190 §2.1.1: the commitment message on TLS 1.3, nothing on 1.2.
    expect(Buffer.concat(received)).toEqual(version === 'TLSv1.3' ? Buffer.from([0]) : Buffer.alloc(0));
    expect(eap.conversations.size).toBe(0);
    // One event for the attempt: the decision, naming the method, the outer identity, the owner and the device.
    const events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'access.decision', outcome: 'success', protocol: 'radius', actor: { type: 'user', name: 'alice' },
      details: { device: { id: laptop.id, certificate: true }, authn: ['certificate'], eap: { method: 'tls', outerIdentity: 'someone-else' } },
    });
    client.destroy();
  });

  it('refuses a revoked certificate (the sign-in) and a non-compliant device (the decision)', async () => {
    const tablet = await createDevice('tablet');
    await tc.core.devices.checkIn(CLI_CTX, tablet.id, COMPLIANT, 'token');
    const revoked = await credential(tablet);
    expect((await eapTls(revoked)).reply.code).toBe(CODE.AccessAccept);
    await tc.core.devices.authority.revoke(CLI_CTX, revoked.serial);
    expectFailure((await eapTls(revoked)).reply);
    // One event for the attempt: the refusal, naming the method, the outer identity, the certificate and its device.
    const events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.device', outcome: 'failure', reasons: [{ code: 'revoked' }],
      details: { via: 'radius', serial: revoked.serial, device: { id: tablet.id }, eap: { method: 'tls', outerIdentity: 'someone-else' } },
    });

    const phone = await createDevice('phone', { platform: 'ios' });
    await tc.core.devices.checkIn(CLI_CTX, phone.id, { ...COMPLIANT, diskEncrypted: false }, 'token');
    expectFailure((await eapTls(await credential(phone), 'TLSv1.2')).reply);
    const denied = await lastAttempt();
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({
      type: 'access.decision', outcome: 'denied', actor: { name: 'alice' },
      details: { device: { id: phone.id, compliant: false }, eap: { method: 'tls', outerIdentity: 'someone-else' } },
    });
    expect(eap.conversations.size).toBe(0);
  });

  it('a TTLS message after switching to EAP-TLS, a second Nak, TLS garbage: EAP-Failure, nothing kept', async () => {
    const send = (attributes: Attribute[], state?: Buffer) => eap.handle(request(attributes, state), ap, { address: '127.0.0.1' });
    const switched = async () => {
      const reply = await send(respond(0, EAP_TYPE.Identity, Buffer.from('x')));
      const next = await send(respond((eapOf(reply) as EapMessage).identifier, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Tls])), stateOf(reply));
      return { state: stateOf(next), id: (eapOf(next) as EapMessage).identifier };
    };
    let { state, id } = await switched();
    expectFailure(await send(respond(id, EAP_TYPE.Ttls, Buffer.from([0])), state));
    ({ state, id } = await switched());
    expectFailure(await send(respond(id, EAP_TYPE.Nak, Buffer.from([EAP_TYPE.Tls])), state));
    ({ state, id } = await switched());
    expectFailure(await send(respond(id, EAP_TYPE.Tls, Buffer.from([0, 0x16, 3, 3, 0, 4, 1, 2, 3, 4])), state));
    expect(eap.conversations.size).toBe(0);
    // The garbage ended the conversation in its TLS: one audit event.
    const events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'authn.tls', outcome: 'failure', reasons: [{ code: 'tls_malformed' }], details: { client: 'ap', tls: { error: expect.stringMatching(/^ERR_SSL_/) }, eap: { method: 'tls', outerIdentity: 'x' } } });
  });

  it("refuses an expired certificate, a foreign CA's imitating ours, none at all (in the TLS handshake: the sign-in never runs; one audit event each), a suspended owner's", async () => {
    const past = new DeviceService({
      store: tc.store, keyring: tc.core.keyring, auditor: tc.core.audit,
      config: { devices: { ...tc.config.devices, certificateValidityDays: 1 } }, clock: () => new Date(Date.now() - 3 * 86_400_000),
    });
    await past.init();
    // Refused by the TLS verification against the device CA already: the sign-in never runs, and
    // the refusal is the attempt's one audit event (authn.device, details.tls).
    const signIn = vi.spyOn(tc.core.signIn, 'attempt');
    const expired = await credential(laptop, past);
    expectFailure((await eapTls(expired)).reply);
    let events = await lastAttempt();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.device', outcome: 'failure', protocol: 'radius', actor: { type: 'anonymous' }, sourceIp: '127.0.0.1',
      target: { type: 'radius_client', name: 'ap' }, reasons: [{ code: 'expired' }],
      // A certificate of ours names the device it was issued to.
      details: { via: 'radius', client: 'ap', serial: expired.serial, device: { id: laptop.id }, tls: { version: 'TLSv1.3', verify: 'CERT_HAS_EXPIRED' }, eap: { method: 'tls', outerIdentity: 'someone-else' } },
    });
    expect(events[0]!.details.fingerprint).toMatch(/^[0-9a-f]{64}$/);

    const impostor = await makeCa(CA_SUBJECT);
    const key = makeKey('ec-p256');
    const forged = await impostor.issue({ subject: [{ CN: [laptop.id] }, { O: ['Gatehouse devices'] }], publicKey: key.publicKey });
    const forgedSerial = new X509Certificate(forged).serialNumber.toLowerCase();
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      expectFailure((await eapTls({ cert: forged, key: key.privateKeyPem }, version)).reply);
      events = await lastAttempt();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'authn.device', outcome: 'failure', reasons: [{ code: 'not_issued_by_us' }],
        details: {
          via: 'radius', client: 'ap', serial: forgedSerial, fingerprint: createHash('sha256').update(new X509Certificate(forged).raw).digest('hex'),
          subject: `CN=${laptop.id}, O=Gatehouse devices`, issuer: 'O=Gatehouse, CN=Gatehouse Device CA', tls: { version, verify: expect.stringMatching(/^[A-Z_]+$/) },
          eap: { method: 'tls', outerIdentity: 'someone-else' },
        },
      });
      // Another CA's certificate names no device of ours, whatever its subject says.
      expect(events[0]!.details).not.toHaveProperty('device');
    }
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      expectFailure((await eapTls(undefined, version)).reply);
      events = await lastAttempt();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'authn.device', outcome: 'failure', reasons: [{ code: 'missing_credentials' }],
        details: { via: 'radius', client: 'ap', tls: { error: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' }, eap: { method: 'tls', outerIdentity: 'someone-else' } },
      });
      expect(events[0]!.details).not.toHaveProperty('serial');
    }
    expect(signIn).not.toHaveBeenCalled();
    signIn.mockRestore();

    const bobs = await createDevice('bobs', { owners: ['bob'] });
    await tc.core.devices.checkIn(CLI_CTX, bobs.id, COMPLIANT, 'token');
    expectFailure((await eapTls(await credential(bobs))).reply);
    expect(eap.conversations.size).toBe(0);
  });
});
