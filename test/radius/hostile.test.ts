/**
 * Hostile input over real UDP (issue 13): a flood of invalid packets — a bad Message-Authenticator
 * from the client's own address, unknown sources, malformed datagrams, wrong codes, 4096-octet
 * packets — while a NAS's legitimate requests are still answered; the process keeps no state per
 * invalid packet (the reply cache holds only answered requests) and does not crash.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, CODE, decodePacket, encodeRequest } from '../../protocols/radius/codec.ts';
import { backends } from '../helpers/backends.ts';
import { dict, metric, PASSWORD, SECRET, seed, startRadius, TestNas, type RadiusFixture } from './support.ts';

async function socketOn(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  return s;
}

/** Invalid datagrams of every kind, cycled through by the flood. */
function junk(): Buffer[] {
  const good = encodeRequest({ code: CODE.AccessRequest, identifier: 1, secret: SECRET, userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'alice')] });
  const badMac = Buffer.from(good);
  badMac[25] = badMac[25]! ^ 0x40;
  const wrongSecret = encodeRequest({ code: CODE.AccessRequest, identifier: 2, secret: 'wrong-secret-0123456789', userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'alice')] });
  const noMac = encodeRequest({ code: CODE.AccessRequest, identifier: 3, secret: SECRET, messageAuthenticator: false, userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'alice')] });
  const overrun = Buffer.from(good);
  overrun[good.length - 17] = 250;
  const wrongCode = Buffer.from(good);
  wrongCode[0] = 99;
  const big = encodeRequest({ code: CODE.AccessRequest, identifier: 4, secret: 'another-secret-0123456', attributes: Array.from({ length: 16 }, () => ({ type: ATTR.Class, value: randomBytes(250) })) });
  return [badMac, wrongSecret, noMac, overrun, wrongCode, big, randomBytes(7), randomBytes(600)];
}

describe.each(backends)('RADIUS under a flood of invalid packets ($name)', (backend) => {
  let t: RadiusFixture;
  beforeAll(async () => {
    t = await startRadius(backend);
    await seed(t);
  });
  afterAll(async () => t?.stop());

  it('answers legitimate requests during ~10,000 invalid packets a second, and drops and counts the rest', async () => {
    const [insider, stranger] = await Promise.all([socketOn('127.0.0.1'), socketOn('127.0.0.3')]);
    const packets = junk();
    let sent = 0;
    let flooding = true;
    const flood = (async () => {
      while (flooding) {
        for (let i = 0; i < 100; i++) {
          const p = packets[sent % packets.length]!;
          (sent % 3 === 0 ? stranger : insider).send(p, t.authPort, '127.0.0.1');
          sent++;
        }
        await new Promise((r) => setTimeout(r, 10)); // ~10,000 per second
      }
    })();
    const nas = await new TestNas().open();
    const answered: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 10; i++) {
        // A NAS retransmits: up to three tries of one second.
        const request = encodeRequest({ code: CODE.AccessRequest, identifier: nas.nextId(), secret: SECRET, userPassword: i % 2 ? PASSWORD : 'wrong', attributes: [dict.encode('User-Name', 'bob')] });
        let reply: Buffer | undefined;
        for (let attempt = 0; attempt < 3 && !reply; attempt++) reply = await nas.send(t.authPort, request, 1000);
        if (reply) answered.push(decodePacket(reply).code);
      }
    } finally {
      flooding = false;
      await flood;
      nas.close();
      insider.close();
      stranger.close();
    }
    expect(answered).toEqual([3, 2, 3, 2, 3, 2, 3, 2, 3, 2]);
    expect(sent).toBeGreaterThan(5000);
    await new Promise((r) => setTimeout(r, 200));
    const dropped = (await Promise.all(['bad_message_authenticator', 'missing_message_authenticator', 'malformed', 'unknown_client', 'overload'].map((reason) => metric(t, 'gatehouse_radius_dropped_total', { reason })))).reduce((a, b) => a + b, 0);
    // Every invalid packet that reached the socket was dropped and counted (the kernel may drop some first).
    expect(dropped).toBeGreaterThan(sent * 0.5);
    expect(dropped).toBeLessThanOrEqual(sent);
    expect(await metric(t, 'gatehouse_radius_requests_total', { code: 'access_request' })).toBe(10);
    // The unknown source is audited once, not per packet.
    const { items } = await t.server.gh.core.audit.query({ type: 'radius.unknown_client', limit: 10 });
    expect(items.filter((e) => e.sourceIp === '127.0.0.3')).toHaveLength(1);
  });
});
