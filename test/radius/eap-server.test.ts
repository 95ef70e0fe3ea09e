/**
 * EAP through the RADIUS server over real UDP (protocols/radius/server.ts's EAP seam, wired in
 * front-end.ts) on both stores: a NAS's retransmission of an EAP Access-Request gets the first
 * Access-Challenge again byte for byte and does not spend the single-use State (the conversation goes
 * on), a State naming another process is refused with EAP-Failure and counted as misrouted, and
 * without `radius.eap.tls` every EAP request is refused with EAP-Failure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, CODE, type Attribute, attributeValue, encodeRequest } from '../../protocols/radius/codec.ts';
import { EAP_CODE, EAP_TYPE, eapFromAttributes, eapToAttributes, encodeEap, type EapMessage } from '../../protocols/radius/eap/packet.ts';
import { FLAG_LENGTH, FLAG_MORE, FLAG_START, encodeTlsFrame, parseTlsFrame } from '../../protocols/radius/eap/tls-fragments.ts';
import { backends } from '../helpers/backends.ts';
import { makeCa, serverCertificate } from '../helpers/pki.ts';
import { SECRET, metric, seed, startRadius, TestNas, type RadiusFixture } from './support.ts';

const respond = (id: number, type: number, data: Buffer) => eapToAttributes(encodeEap({ code: EAP_CODE.Response, identifier: id, type, data }));

describe.each(backends)('EAP through the RADIUS server ($name)', (backend) => {
  let t: RadiusFixture;
  let bare: RadiusFixture;
  let nas: TestNas;
  let dir: string;
  let caPem: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-eap-server-'));
    const ca = await makeCa('CN=EAP Server Test CA');
    caPem = ca.pem;
    const { cert, key } = await serverCertificate(ca);
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    t = await startRadius(backend, { eap: { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } } });
    await seed(t);
    bare = await startRadius(backend);
    await seed(bare);
    nas = await new TestNas().open();
  });
  afterAll(async () => {
    nas?.close();
    await t?.stop();
    await bare?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const request = (attributes: Attribute[]) => encodeRequest({ code: CODE.AccessRequest, identifier: nas.nextId(), secret: SECRET, messageAuthenticator: true, attributes: [{ type: ATTR.UserName, value: Buffer.from('anonymous') }, ...attributes] });

  it('a retransmission gets the same Access-Challenge and leaves the conversation going', async () => {
    const started = await metric(t, 'gatehouse_radius_eap_total', { event: 'started' });
    const identity = request(respond(0, EAP_TYPE.Identity, Buffer.from('anonymous')));
    const first = await nas.exchange(t.authPort, identity);
    const again = await nas.exchange(t.authPort, identity);
    expect(first.reply!.code).toBe(CODE.AccessChallenge);
    expect(again.replyBytes).toEqual(first.replyBytes);
    expect(await metric(t, 'gatehouse_radius_eap_total', { event: 'started' })).toBe(started + 1);
    const start = eapFromAttributes(first.reply!) as EapMessage;
    expect(start.type).toBe(EAP_TYPE.Ttls);
    expect(start.data[0]! & FLAG_START).toBe(FLAG_START);

    // A real ClientHello, sent twice: the same first fragment of the server's flight both times.
    const out: Buffer[] = [];
    const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
    const client = connect({ socket: wire, ca: caPem, servername: 'localhost', maxVersion: 'TLSv1.2' });
    client.on('error', () => {});
    await new Promise((r) => setTimeout(r, 50));
    const hello = request([...respond(start.identifier, EAP_TYPE.Ttls, encodeTlsFrame(0, Buffer.concat(out.splice(0)))), { type: ATTR.State, value: attributeValue(first.reply!, ATTR.State)! }]);
    const flight = await nas.exchange(t.authPort, hello);
    const flightAgain = await nas.exchange(t.authPort, hello);
    expect(flight.reply!.code).toBe(CODE.AccessChallenge);
    expect(flightAgain.replyBytes).toEqual(flight.replyBytes);
    const fragment = eapFromAttributes(flight.reply!) as EapMessage;
    const frame = parseTlsFrame(fragment.data);
    expect(frame.flags & FLAG_LENGTH).toBe(FLAG_LENGTH);
    // The conversation goes on with the new State: an ACK brings the next fragment or the end of the flight.
    const ack = await nas.exchange(t.authPort, request([...respond(fragment.identifier, EAP_TYPE.Ttls, Buffer.from([0])), { type: ATTR.State, value: attributeValue(flight.reply!, ATTR.State)! }]));
    if (frame.flags & FLAG_MORE) {
      expect(ack.reply!.code).toBe(CODE.AccessChallenge);
      expect((eapFromAttributes(ack.reply!) as EapMessage).type).toBe(EAP_TYPE.Ttls);
    } else {
      expect(ack.reply!.code).toBe(CODE.AccessReject); // an ACK with nothing pending
    }
    client.destroy();
  });

  it('a State from another process: Access-Reject with EAP-Failure, counted as misrouted', async () => {
    const before = await metric(t, 'gatehouse_radius_eap_total', { event: 'misrouted' });
    const first = await nas.exchange(t.authPort, request(respond(0, EAP_TYPE.Identity, Buffer.from('anonymous'))));
    const state = Buffer.from(attributeValue(first.reply!, ATTR.State)!);
    state[0] = state[0]! ^ 0xff;
    const { reply } = await nas.exchange(t.authPort, request([...respond((eapFromAttributes(first.reply!)!).identifier, EAP_TYPE.Ttls, Buffer.from([0])), { type: ATTR.State, value: state }]));
    expect(reply!.code).toBe(CODE.AccessReject);
    expect(reply!.attributes[0]!.type).toBe(ATTR.MessageAuthenticator);
    expect(eapFromAttributes(reply!)!.code).toBe(EAP_CODE.Failure);
    expect(await metric(t, 'gatehouse_radius_eap_total', { event: 'misrouted' })).toBe(before + 1);
  });

  it('without radius.eap.tls: EAP-Failure', async () => {
    const { reply } = await nas.exchange(bare.authPort, request(respond(0, EAP_TYPE.Identity, Buffer.from('anonymous'))));
    expect(reply!.code).toBe(CODE.AccessReject);
    expect(eapFromAttributes(reply!)!.code).toBe(EAP_CODE.Failure);
  });
});
