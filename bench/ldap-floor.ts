/**
 * The floor of an LDAP simple bind in Node.js on this machine: a server that does only what no bind
 * can skip — frame and decode the request (our framing, @ldapjs/messages, as Gatehouse), verify the
 * user's argon2id hash through the same two hashing slots (src/credentials/slots.ts), and answer.
 * No store, no throttle, no access decision, no audit: the hashes are held in memory, looked up by
 * the uid in the DN. It is a reference for the LDAP benchmark, never a server to use: it shows how
 * much of the gap between Gatehouse's binds and the raw argon2 verify rate any server in this
 * process model pays (the event loop, the network, the hashing threads sharing two cores with both).
 *
 *   node bench/ldap-floor.ts <port> <hashes.json>     (hashes.json: one argon2id hash per user index)
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { BerReader } from '@ldapjs/asn1';
import ldapMessages from '@ldapjs/messages';
import type { BindRequest } from '@ldapjs/messages';

// As bin/gatehouse.js sizes the pool (before the first hash is queued).
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(2, availableParallelism()));
const { verify } = await import('@node-rs/argon2');
const { withArgon2Slot } = await import('../src/credentials/slots.ts');
const { nextFrame } = await import('../protocols/ldap/framing.ts');

const { LdapMessage, BindResponse } = ldapMessages;
const [port, file] = process.argv.slice(2);
if (!port || !file) throw new Error('usage: node bench/ldap-floor.ts <port> <hashes.json>');
const hashes = JSON.parse(readFileSync(file, 'utf8')) as string[];
const INVALID_CREDENTIALS = 49;
const MAX_MESSAGE = 64 * 1024;

async function answer(request: BindRequest): Promise<number> {
  const index = /^uid=user(\d+),/.exec(request.name)?.[1];
  const hash = index === undefined ? undefined : hashes[Number(index)];
  if (!hash) return INVALID_CREDENTIALS;
  return (await withArgon2Slot(() => verify(hash, request.credentials))) ? 0 : INVALID_CREDENTIALS;
}

createServer((socket) => {
  let buffer: Buffer = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      const frame = nextFrame(buffer, MAX_MESSAGE);
      if (frame.kind === 'incomplete') return;
      if (frame.kind === 'invalid') return void socket.destroy();
      const bytes = buffer.subarray(0, frame.size);
      buffer = buffer.subarray(frame.size);
      const message = LdapMessage.parse(new BerReader(Buffer.from(bytes)));
      if (message.type === 'UnbindRequest') return void socket.end();
      if (message.type !== 'BindRequest') return void socket.destroy();
      const { messageId } = message;
      void answer(message as BindRequest).then((status) => {
        if (socket.writable) socket.write(new BindResponse({ messageId, status }).toBer().buffer);
      });
    }
  });
}).listen(Number(port), '127.0.0.1');
