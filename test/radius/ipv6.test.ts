/** RADIUS over IPv6: a listener on ::1 next to 127.0.0.1, a client declared by its IPv6 address, on both stores. */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODE, decodePacket, encodeRequest, verifyResponseAuthenticator } from '../../protocols/radius/codec.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { dict, PASSWORD, seed, startRadius, type RadiusFixture } from './support.ts';

const V6_SECRET = 'ipv6-loopback-secret-0123';

describe.each(backends)('RADIUS over IPv6 ($name)', (backend) => {
  let t: RadiusFixture;
  let v6Port: number;
  beforeAll(async () => {
    t = await startRadius(backend, { hosts: ['127.0.0.1', '::1'] });
    await seed(t);
    await t.server.gh.core.directory.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn6', address: '::1/128', secret: V6_SECRET, groups: ['staff'], settings: {} });
    const urls = t.server.gh.frontEnd('radius')!.listeners.map((l) => l.url);
    v6Port = Number(/\[::1\]:(\d+)$/.exec(urls.find((u) => u.includes('[::1]'))!)![1]);
  });
  afterAll(async () => t?.stop());

  it('answers a client on ::1 with its own secret, on the same port number as IPv4', async () => {
    expect(v6Port).toBe(t.authPort);
    const socket = createSocket('udp6');
    await new Promise<void>((resolve) => socket.bind(0, '::1', resolve));
    const request = encodeRequest({ code: CODE.AccessRequest, identifier: 9, secret: V6_SECRET, userPassword: PASSWORD, attributes: [dict.encode('User-Name', 'bob')] });
    const reply = await new Promise<Buffer>((resolve) => {
      socket.once('message', resolve);
      socket.send(request, v6Port, '::1');
    });
    socket.close();
    const packet = decodePacket(reply);
    expect(packet.code).toBe(CODE.AccessAccept);
    expect(verifyResponseAuthenticator(packet, decodePacket(request).authenticator, V6_SECRET)).toBe(true);
    const { items } = await t.server.gh.core.audit.query({ user: 'bob', limit: 1 });
    expect(items[0]).toMatchObject({ sourceIp: '::1', protocol: 'radius' });
  });
});
