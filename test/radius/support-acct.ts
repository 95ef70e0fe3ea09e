/**
 * What the accounting and Disconnect tests share: Accounting-Request packets built with the codec
 * as a NAS would send them, and a small NAS that listens for Disconnect- and CoA-Requests, checks
 * each one's Request Authenticator and Message-Authenticator, and answers as told (ACK, NAK with an
 * Error-Cause, or nothing).
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  ATTR, type Attribute, attributeValue, checkMessageAuthenticator, CODE, decodePacket, encodeRequest, encodeResponse, type Packet, verifyRequestAuthenticator,
} from '../../protocols/radius/codec.ts';

const u32 = (type: number, n: number): Attribute => {
  const value = Buffer.alloc(4);
  value.writeUInt32BE(n >>> 0);
  return { type, value };
};
const str = (type: number, s: string): Attribute => ({ type, value: Buffer.from(s, 'utf8') });
const ip = (type: number, address: string): Attribute => ({ type, value: Buffer.from(address.split('.').map(Number)) });

export interface AcctFields {
  status: 'Start' | 'Stop' | 'Interim-Update' | 'Accounting-On' | 'Accounting-Off' | number;
  sessionId?: string;
  user?: string;
  nasIdentifier?: string;
  nasIp?: string;
  nasPort?: number;
  framedIp?: string;
  calling?: string;
  called?: string;
  sessionTime?: number;
  inputOctets?: number;
  inputGigawords?: number;
  outputOctets?: number;
  inputPackets?: number;
  outputPackets?: number;
  terminateCause?: number;
  delay?: number;
  eventTimestamp?: number;
  proxyState?: string;
  /** Class values (RFC 2865 §5.25), as the NAS got them in the Access-Accept. */
  classes?: string[];
}

const STATUS = { Start: 1, Stop: 2, 'Interim-Update': 3, 'Accounting-On': 7, 'Accounting-Off': 8 } as const;

/** An Accounting-Request datagram (RFC 2866 §4.1), its Request Authenticator computed with `secret`. */
export function accountingRequest(secret: string, identifier: number, f: AcctFields, options: { messageAuthenticator?: boolean } = {}): Buffer {
  const attributes: Attribute[] = [u32(ATTR.AcctStatusType, typeof f.status === 'number' ? f.status : STATUS[f.status])];
  if (f.sessionId !== undefined) attributes.push(str(ATTR.AcctSessionId, f.sessionId));
  if (f.user !== undefined) attributes.push(str(ATTR.UserName, f.user));
  if (f.nasIdentifier !== undefined) attributes.push(str(ATTR.NasIdentifier, f.nasIdentifier));
  if (f.nasIp !== undefined) attributes.push(ip(ATTR.NasIpAddress, f.nasIp));
  if (f.nasPort !== undefined) attributes.push(u32(ATTR.NasPort, f.nasPort));
  if (f.framedIp !== undefined) attributes.push(ip(ATTR.FramedIpAddress, f.framedIp));
  if (f.calling !== undefined) attributes.push(str(ATTR.CallingStationId, f.calling));
  if (f.called !== undefined) attributes.push(str(ATTR.CalledStationId, f.called));
  if (f.sessionTime !== undefined) attributes.push(u32(46, f.sessionTime));
  if (f.inputOctets !== undefined) attributes.push(u32(42, f.inputOctets));
  if (f.inputGigawords !== undefined) attributes.push(u32(52, f.inputGigawords));
  if (f.outputOctets !== undefined) attributes.push(u32(43, f.outputOctets));
  if (f.inputPackets !== undefined) attributes.push(u32(47, f.inputPackets));
  if (f.outputPackets !== undefined) attributes.push(u32(48, f.outputPackets));
  if (f.terminateCause !== undefined) attributes.push(u32(49, f.terminateCause));
  if (f.delay !== undefined) attributes.push(u32(41, f.delay));
  if (f.eventTimestamp !== undefined) attributes.push(u32(55, f.eventTimestamp));
  if (f.proxyState !== undefined) attributes.push(str(ATTR.ProxyState, f.proxyState));
  for (const value of f.classes ?? []) attributes.push(str(ATTR.Class, value));
  return encodeRequest({ code: CODE.AccountingRequest, identifier, attributes, secret, messageAuthenticator: options.messageAuthenticator ?? false });
}

export type NasAnswer = { code: 'ack' } | { code: 'nak'; errorCause?: number } | { code: 'none' } | { code: 'ack-bad-authenticator' };

export interface ReceivedRequest {
  packet: Packet;
  /** The Request Authenticator verified with the shared secret (RFC 5176 §3.1). */
  authenticatorValid: boolean;
  messageAuthenticator: 'absent' | 'valid' | 'invalid';
  attributes: Map<number, Buffer>;
  raw: Buffer;
}

/** A NAS's Dynamic Authorization Server port (RFC 5176) on loopback: what Gatehouse sends Disconnect- and CoA-Requests to. */
export class CoaListener {
  readonly received: ReceivedRequest[] = [];
  answer: NasAnswer = { code: 'ack' };
  private socket!: Socket;
  port = 0;
  private readonly secret: string;

  constructor(secret: string) {
    this.secret = secret;
  }

  async start(): Promise<this> {
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.port = this.socket.address().port;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private receive(msg: Buffer, address: string, port: number): void {
    const packet = decodePacket(msg);
    const attributes = new Map<number, Buffer>();
    for (const a of packet.attributes) if (!attributes.has(a.type)) attributes.set(a.type, a.value);
    this.received.push({
      packet, raw: Buffer.from(msg), attributes,
      authenticatorValid: verifyRequestAuthenticator(packet, this.secret),
      messageAuthenticator: checkMessageAuthenticator(packet, this.secret),
    });
    const answer = this.answer;
    if (answer.code === 'none') return;
    const ack = packet.code === CODE.CoARequest ? CODE.CoAACK : CODE.DisconnectACK;
    const nak = packet.code === CODE.CoARequest ? CODE.CoANAK : CODE.DisconnectNAK;
    const cause: Attribute[] = [];
    if (answer.code === 'nak' && answer.errorCause !== undefined) {
      const value = Buffer.alloc(4);
      value.writeUInt32BE(answer.errorCause);
      cause.push({ type: ATTR.ErrorCause, value });
    }
    const reply = encodeResponse({
      code: answer.code === 'nak' ? nak : ack, identifier: packet.identifier, requestAuthenticator: packet.authenticator,
      attributes: cause, secret: answer.code === 'ack-bad-authenticator' ? `${this.secret}-wrong` : this.secret, messageAuthenticator: true,
    });
    this.socket.send(reply, port, address);
  }
}

/** The text of an attribute the NAS received. */
export function textOf(request: ReceivedRequest, type: number): string | undefined {
  return request.attributes.get(type)?.toString('utf8');
}

export { attributeValue };

/** Reads until `done` holds or `ms` pass; the last value read either way. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 5_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
}
