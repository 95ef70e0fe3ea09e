/**
 * The floor of a RADIUS PAP Access-Request in Node.js on this machine: a server that does only what
 * no PAP server can skip — decode the datagram (Gatehouse's codec), check its Message-Authenticator,
 * recover the User-Password, verify the user's argon2id hash through the same hashing slots
 * (src/credentials/slots.ts), and answer an Access-Accept with Message-Authenticator. No store, no
 * throttle, no duplicate cache, no access decision, no reply attributes, no audit: the hashes are
 * held in memory, looked up by the number in the User-Name. It is a reference for the RADIUS
 * benchmark, never a server to use (bench/ldap-floor.ts is the same for LDAP binds): it shows how
 * much of the gap between Gatehouse's PAP rate and the raw verify rate any server in this process
 * model pays (the event loop, UDP, the hashing threads sharing two cores with both).
 *
 *   node bench/radius-floor.ts <port> <secret> <hashes.json>     (hashes.json: one argon2id hash per user index)
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

// As bin/gatehouse.js sizes the pool (before the first hash is queued).
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.max(2, availableParallelism()));
const { verify } = await import('@node-rs/argon2');
const { withArgon2Slot } = await import('../src/credentials/slots.ts');
const { ATTR, CODE, attributeValue, checkMessageAuthenticator, encodeResponse, tryDecodePacket, unhideUserPassword } = await import('../protocols/radius/codec.ts');

const [port, secret, file] = process.argv.slice(2);
if (!port || !secret || !file) throw new Error('usage: node bench/radius-floor.ts <port> <secret> <hashes.json>');
const hashes = JSON.parse(readFileSync(file, 'utf8')) as string[];
const key = Buffer.from(secret);

const socket = createSocket('udp4');
socket.on('message', (datagram, rinfo) => {
  const packet = tryDecodePacket(datagram);
  if (!packet || packet.code !== CODE.AccessRequest || checkMessageAuthenticator(packet, key) !== 'valid') return;
  const name = attributeValue(packet, ATTR.UserName)?.toString('utf8') ?? '';
  const hidden = attributeValue(packet, ATTR.UserPassword);
  const hash = hashes[Number(/^user(\d+)$/.exec(name)?.[1] ?? -1)];
  const answer = (code: number) => {
    socket.send(encodeResponse({ code, identifier: packet.identifier, requestAuthenticator: packet.authenticator, attributes: [], secret: key }), rinfo.port, rinfo.address);
  };
  if (!hash || !hidden) return answer(CODE.AccessReject);
  const password = unhideUserPassword(hidden, key, packet.authenticator).toString('utf8');
  void withArgon2Slot(() => verify(hash, password)).then(
    (ok) => answer(ok ? CODE.AccessAccept : CODE.AccessReject),
    () => answer(CODE.AccessReject),
  );
});
socket.bind(Number(port), '127.0.0.1');
