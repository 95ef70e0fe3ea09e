/**
 * A real Gatehouse with the RADIUS front-end on free UDP ports, on a given store, and a
 * packet-level RADIUS client written for the tests over node:dgram (the codec builds and checks
 * the packets; the interop tests use radclient and radtest instead).
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { generateSync } from 'otplib';
import { CODE, type Attribute, type Packet, checkMessageAuthenticator, decodePacket, encodeRequest, verifyResponseAuthenticator } from '../../protocols/radius/codec.ts';
import { standardDictionary } from '../../protocols/radius/dictionary.ts';
import { GroupInput, UserInput } from '../../src/directory/model.ts';
import type { Backend } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

export const PASSWORD = 'correct horse battery staple';
export const SECRET = 'loopback-secret-0123456789';
export const dict = standardDictionary();

export interface RadiusFixture {
  server: TestServer;
  authPort: number;
  acctPort: number;
  stop(): Promise<void>;
}

/** Gatehouse with RADIUS on 127.0.0.1 (free ports), a short reject delay, and `overrides` merged into the radius section. */
export async function startRadius(backend: Backend, radius: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}): Promise<RadiusFixture> {
  const server = await startTestServer(backend, { radius: { enabled: true, authPort: 0, acctPort: 0, rejectDelaySeconds: 0.05, ...radius }, ...overrides });
  const running = server.gh.frontEnd('radius')!;
  const ports = running.listeners.map((l) => Number(new URL(l.url.replace('radius://', 'http://')).port));
  return { server, authPort: ports[0]!, acctPort: ports[1]!, stop: () => server.stop() };
}

/**
 * alice (engineering ⊂ staff, VLAN 20 via engineering), bob (staff only), carol suspended,
 * dave (no groups); the RADIUS client `vpn` for 127.0.0.1 assigned to staff.
 */
export async function seed(t: RadiusFixture, settings: Record<string, unknown> = {}): Promise<void> {
  const d = t.server.gh.core.directory;
  await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'staff', attributes: { radiusClass: 'staff', radiusSessionTimeout: 3600 } }));
  await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'engineering', attributes: { radiusVlan: 20, radiusPriority: 10, radiusReply: ['Cisco-AVPair = shell:priv-lvl=15', 'Cisco-AVPair = ip:addr-pool=eng', 'Fortinet-Group-Name = eng-vpn'] } }));
  await d.groups.addMember(CLI_CTX, 'staff', 'group', 'engineering');
  await d.users.create(CLI_CTX, UserInput.parse({ username: 'alice', password: PASSWORD, groups: ['engineering'] }));
  await d.users.create(CLI_CTX, UserInput.parse({ username: 'bob', password: PASSWORD, groups: ['staff'] }));
  await d.users.create(CLI_CTX, UserInput.parse({ username: 'carol', password: PASSWORD, groups: ['staff'], status: 'suspended' }));
  await d.users.create(CLI_CTX, UserInput.parse({ username: 'dave', password: PASSWORD }));
  await d.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '127.0.0.1/32', secret: SECRET, groups: ['staff'], settings: { radius: settings } });
}

export function totpNow(secret: string, offset = 0): string {
  return generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });
}

export interface Exchange {
  request: Buffer;
  requestPacket: Packet;
  reply?: Packet;
  replyBytes?: Buffer;
}

/** A RADIUS client on its own UDP socket (one source port), like a NAS. */
export class TestNas {
  readonly socket: Socket;
  #next = 0;
  readonly #waiting = new Map<number, (b: Buffer) => void>();
  /** Every datagram received, in order (for byte-for-byte comparisons). */
  readonly received: Buffer[] = [];
  constructor() {
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg) => {
      this.received.push(msg);
      const wait = this.#waiting.get(msg[1]!);
      if (wait) {
        this.#waiting.delete(msg[1]!);
        wait(msg);
      }
    });
  }

  async open(): Promise<this> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return this;
  }

  nextId(): number {
    this.#next = (this.#next + 1) % 256;
    return this.#next;
  }

  /** Sends `request` to the port; the reply with its identifier within `timeoutMs`, or undefined. */
  async send(port: number, request: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
    const id = request[1]!;
    const reply = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.#waiting.set(id, (b) => {
        clearTimeout(timer);
        resolve(b);
      });
    });
    this.socket.send(request, port, '127.0.0.1');
    return reply;
  }

  /** An Access-Request (Message-Authenticator by default) and its verified reply. */
  async access(port: number, opts: { user?: string; password?: string; attributes?: Attribute[]; secret?: string; messageAuthenticator?: boolean; timeoutMs?: number } = {}): Promise<Exchange> {
    const secret = opts.secret ?? SECRET;
    const attributes = [...(opts.user !== undefined ? [dict.encode('User-Name', opts.user)] : []), dict.encode('NAS-Identifier', 'test-nas'), ...(opts.attributes ?? [])];
    const request = encodeRequest({ code: CODE.AccessRequest, identifier: this.nextId(), secret, attributes, ...(opts.password !== undefined ? { userPassword: opts.password } : {}), messageAuthenticator: opts.messageAuthenticator ?? true });
    return this.exchange(port, request, secret, opts.timeoutMs);
  }

  /** Sends a prepared request and checks the reply's authenticators (throws when they are wrong). */
  async exchange(port: number, request: Buffer, secret = SECRET, timeoutMs = 2000): Promise<Exchange> {
    const requestPacket = decodePacket(request);
    const replyBytes = await this.send(port, request, timeoutMs);
    if (!replyBytes) return { request, requestPacket };
    const reply = decodePacket(replyBytes);
    if (!verifyResponseAuthenticator(reply, requestPacket.authenticator, secret)) throw new Error('bad Response Authenticator');
    if ([CODE.AccessAccept, CODE.AccessReject, CODE.AccessChallenge].includes(reply.code as 2)) {
      if (reply.attributes[0]?.type !== 80) throw new Error('Message-Authenticator is not the first attribute');
      if (checkMessageAuthenticator(reply, secret, requestPacket.authenticator) !== 'valid') throw new Error('bad Message-Authenticator in the reply');
    }
    return { request, requestPacket, reply, replyBytes };
  }

  close(): void {
    this.socket.close();
  }
}

/** A counter's value from the instance's /metrics registry (0 when absent). */
export async function metric(t: RadiusFixture, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await t.server.gh.metrics.registry.getSingleMetric(name)?.get();
  const value = m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return value?.value ?? 0;
}

/** FreeRADIUS's radclient (interop tests) with `input` on stdin; its stdout and exit code (1 for a reject or no answer). */
export function radclient(args: string[], input: string): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('radclient', ['-x', '-r', '1', '-t', '2', ...args]);
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, code }));
    child.stdin.end(input);
  });
}
