/**
 * The Dynamic Authorization client alone (protocols/radius/coa.ts): at most 256 requests in flight
 * per NAS, each with its own identifier, the rest waiting for one to free; a NAK's Error-Cause named;
 * answers from elsewhere or with the wrong code ignored.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { CoaClient, coaTarget, errorCauseText } from '../../protocols/radius/coa.ts';
import { ATTR, CODE, decodePacket, encodeResponse, type Packet } from '../../protocols/radius/codec.ts';

const SECRET = 'coa-client-secret-0123456789';

/** A NAS that holds every request until told to answer. */
async function holdingNas(): Promise<{ socket: Socket; port: number; held: Array<{ packet: Packet; port: number }>; answer(code?: number): void }> {
  const socket = createSocket('udp4');
  const held: Array<{ packet: Packet; port: number }> = [];
  socket.on('message', (msg, rinfo) => held.push({ packet: decodePacket(msg), port: rinfo.port }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    socket, held, port: socket.address().port,
    answer(code = CODE.DisconnectACK) {
      for (const { packet, port } of held.splice(0)) {
        socket.send(encodeResponse({ code, identifier: packet.identifier, requestAuthenticator: packet.authenticator, attributes: [], secret: SECRET }), port, '127.0.0.1');
      }
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CoaClient', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('keeps at most 256 requests in flight per NAS, with distinct identifiers, and sends the rest as identifiers free', async () => {
    const nas = await holdingNas();
    const client = new CoaClient({ timeoutMs: 10_000, attempts: 1 });
    cleanups.push(() => client.close(), () => new Promise<void>((r) => nas.socket.close(() => r())));
    const user = (i: number) => [{ type: ATTR.UserName, value: Buffer.from(`u${i}`) }];
    const outcomes = Array.from({ length: 300 }, (_, i) => client.send({ address: '127.0.0.1', port: nas.port, secret: SECRET, mode: 'disconnect', attributes: user(i) }));
    while (nas.held.length < 256) await sleep(10);
    await sleep(200);
    expect(nas.held).toHaveLength(256);
    expect(new Set(nas.held.map((h) => h.packet.identifier)).size).toBe(256);
    nas.answer();
    while (nas.held.length < 44) await sleep(10);
    await sleep(100);
    expect(nas.held).toHaveLength(44);
    nas.answer();
    const results = await Promise.all(outcomes);
    expect(results.every((r) => r.state === 'acked' && r.attempts === 1)).toBe(true);
  });

  it('matches answers by code: a CoA-ACK does not answer a Disconnect-Request', async () => {
    const nas = await holdingNas();
    const client = new CoaClient({ timeoutMs: 200, attempts: 1 });
    cleanups.push(() => client.close(), () => new Promise<void>((r) => nas.socket.close(() => r())));
    const outcome = client.send({ address: '127.0.0.1', port: nas.port, secret: SECRET, mode: 'disconnect', attributes: [] });
    while (nas.held.length < 1) await sleep(5);
    nas.answer(CODE.CoAACK);
    expect(await outcome).toEqual({ state: 'timeout', attempts: 1 });
  });

  it('names Error-Causes as RFC 5176 §3.5 does', () => {
    expect(errorCauseText(503)).toBe('Session-Context-Not-Found (503)');
    expect(errorCauseText(404)).toBe('Invalid-Request (404)');
    expect(errorCauseText(999)).toBe('Error-Cause 999');
    expect(errorCauseText(undefined)).toBe('NAK without Error-Cause');
  });

  it("finds the NAS: coa.host, else the session's NAS-IP-Address inside the client's range, else the client's single address", () => {
    const client = (address: string, coa: Record<string, unknown> = {}) => ({ address, settings: { radius: { coa } } });
    expect(coaTarget(client('192.0.2.10'), {})).toEqual({ address: '192.0.2.10', port: 3799 });
    expect(coaTarget(client('192.0.2.10/32', { port: 1700 }), {})).toEqual({ address: '192.0.2.10', port: 1700 });
    expect(coaTarget(client('2001:db8::7/128'), {})).toEqual({ address: '2001:db8::7', port: 3799 });
    expect(coaTarget(client('10.0.0.0/24'), { nasIpAddress: '10.0.0.9' })).toEqual({ address: '10.0.0.9', port: 3799 });
    // A NAS-IP-Address outside the client's range is not believed.
    expect(coaTarget(client('10.0.0.0/24'), { nasIpAddress: '203.0.113.1' })).toMatchObject({ error: expect.stringMatching(/settings\.radius\.coa\.host/) });
    expect(coaTarget(client('10.0.0.0/24', { host: '10.0.0.2' }), { nasIpAddress: '10.0.0.9' })).toEqual({ address: '10.0.0.2', port: 3799 });
  });
});
