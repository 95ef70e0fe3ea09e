/**
 * The in-memory TLS session (protocols/radius/eap/tls-session.ts) against Node's TLS client over
 * another in-memory duplex, records shuttled by hand as EAP would: the handshake completes on TLS
 * 1.2 and 1.3, application data flows both ways, and the MSK each side exports is the same for every
 * method and version (the labels and contexts of RFC 5216, RFC 5281, RFC 9190 and RFC 9427).
 */
import { Duplex } from 'node:stream';
import { connect, createSecureContext, type TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { TlsSession, exportWithoutContext, mppeKeys, type TlsMethod } from '../../protocols/radius/eap/tls-session.ts';
import { makeCa, serverCertificate, type TestCa } from '../helpers/pki.ts';

let ca: TestCa;
let server: { key: string; cert: string };
beforeAll(async () => {
  ca = await makeCa('CN=EAP Test CA');
  server = await serverCertificate(ca);
});

function client(version: 'TLSv1.2' | 'TLSv1.3'): { socket: TLSSocket; out: Buffer[]; wire: Duplex; data: Buffer[] } {
  const out: Buffer[] = [];
  const data: Buffer[] = [];
  const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
  const socket = connect({ socket: wire, ca: ca.pem, servername: 'localhost', minVersion: version, maxVersion: version });
  socket.on('data', (d: Buffer) => data.push(d));
  return { socket, out, wire, data };
}

const turns = () => new Promise<void>((r) => setImmediate(r));

async function handshake(method: TlsMethod, version: 'TLSv1.2' | 'TLSv1.3') {
  const session = new TlsSession({ secureContext: createSecureContext({ key: server.key, cert: server.cert, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' }), method });
  const c = client(version);
  let established = false;
  c.socket.on('secureConnect', () => { established = true; });
  for (let round = 0; round < 10 && !(established && session.established); round++) {
    for (let i = 0; i < 5; i++) await turns();
    const fed = await session.feed(Buffer.concat(c.out.splice(0)));
    expect(fed.error).toBeUndefined();
    if (fed.out.length) c.wire.push(fed.out);
  }
  for (let i = 0; i < 5; i++) await turns();
  expect(established).toBe(true);
  expect(session.established).toBe(true);
  return { session, c };
}

describe('TLS over an in-memory duplex', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const method of ['tls', 'ttls', 'peap'] as const) {
      it(`${method} on ${version}: both sides derive the same MSK`, async () => {
        const { session, c } = await handshake(method, version);
        expect(session.version).toBe(version);
        const type = { tls: 13, ttls: 21, peap: 25 }[method];
        const expected = version === 'TLSv1.3'
          ? c.socket.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', Buffer.from([type]))
          : exportWithoutContext(c.socket, 128, method === 'ttls' ? 'ttls keying material' : 'client EAP encryption');
        const { msk, emsk } = session.keys();
        expect(msk).toEqual(expected.subarray(0, 64));
        expect(emsk).toEqual(expected.subarray(64));
        expect(mppeKeys(msk).recv).toEqual(expected.subarray(0, 32));
        session.destroy();
        c.socket.destroy();
      });
    }
  }

  it('carries application data both ways', async () => {
    const { session, c } = await handshake('ttls', 'TLSv1.2');
    c.socket.write('inner avps');
    for (let i = 0; i < 5; i++) await turns();
    const fed = await session.feed(Buffer.concat(c.out.splice(0)));
    expect(fed.data.toString()).toBe('inner avps');
    c.wire.push(await session.send(Buffer.from('reply')));
    for (let i = 0; i < 5; i++) await turns();
    expect(Buffer.concat(c.data).toString()).toBe('reply');
    session.destroy();
    c.socket.destroy();
  });

  it('reports garbage as an error, not a throw', async () => {
    const session = new TlsSession({ secureContext: createSecureContext({ key: server.key, cert: server.cert }), method: 'ttls' });
    const fed = await session.feed(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(fed.error).toBeInstanceOf(Error);
    expect(fed.established).toBe(false);
    session.destroy();
  });

  it('refuses a TLS 1.1 client', async () => {
    const session = new TlsSession({ secureContext: createSecureContext({ key: server.key, cert: server.cert, minVersion: 'TLSv1.2' }), method: 'ttls' });
    const out: Buffer[] = [];
    const wire = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { out.push(chunk); cb(); } });
    const socket = connect({ socket: wire, ca: ca.pem, servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    socket.on('error', () => {});
    for (let i = 0; i < 5; i++) await turns();
    const fed = await session.feed(Buffer.concat(out));
    expect(fed.error).toBeInstanceOf(Error);
    session.destroy();
    socket.destroy();
  });
});
