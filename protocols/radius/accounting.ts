/**
 * RADIUS accounting (RFC 2866): the handler the server's accounting listener calls with each
 * Accounting-Request from a known client. It checks the request (Request Authenticator, and a
 * Message-Authenticator when there is one), parses it once into the core's terms, has the core
 * record it (`core.networkSessions`), and only then answers with an Accounting-Response — or not at
 * all when the record could not be stored (RFC 2866 §2: "If the RADIUS accounting server is unable
 * to successfully record the accounting packet it MUST NOT send an Accounting-Response"), so the
 * NAS retransmits it or fails over.
 *
 *   Start / Interim-Update / Stop  → a network session keyed by (client, NAS, Acct-Session-Id)
 *   Accounting-On / Accounting-Off → every live session of that NAS ended (terminate cause NAS-Reboot)
 *   any other Acct-Status-Type     → acknowledged, nothing recorded (tunnel and Failed records)
 *
 * Retransmissions are harmless: the store applies a record once (see NetworkSessions.record).
 */
import { isIPv4 } from 'node:net';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import type { RadiusClient } from '../../src/directory/model.ts';
import type { AccountingInput } from '../../src/network-sessions/service.ts';
import { ATTR, attributeValue, attributeValues, checkMessageAuthenticator, CODE, encodeResponse, type Packet, verifyRequestAuthenticator } from './codec.ts';
import { ipv6Text, standardDictionary } from './dictionary.ts';
import { deviceFromClass } from './device-class.ts';

/** Attributes of RFC 2866 §5 and RFC 2869 §5 not in the codec's short list. */
const ACCT = {
  DelayTime: 41,
  InputOctets: 42,
  OutputOctets: 43,
  SessionTime: 46,
  InputPackets: 47,
  OutputPackets: 48,
  TerminateCause: 49,
  MultiSessionId: 50,
  InputGigawords: 52,
  OutputGigawords: 53,
  EventTimestamp: 55,
  NasPortId: 87,
} as const;

/** Acct-Status-Type values (RFC 2866 §5.1). */
const STATUS = { Start: 1, Stop: 2, InterimUpdate: 3, AccountingOn: 7, AccountingOff: 8 } as const;

/** What the server knows of the packet's source: the RADIUS client it matched, with its secret. */
export interface AccountingSource {
  client: RadiusClient;
  secret: string;
}

export interface RemoteInfo {
  address: string;
  port: number;
}

/** What became of one Accounting-Request (for the server's metrics and logs). */
export type AccountingResult =
  | { answered: true; reply: Buffer; recorded: 'created' | 'updated' | 'ignored' | 'cleared' | 'not-recorded' }
  | { answered: false; reason: 'bad-authenticator' | 'bad-message-authenticator' | 'malformed' | 'refused' | 'store-failed' };

export type AccountingHandler = (packet: Packet, source: AccountingSource, rinfo: RemoteInfo) => Promise<Buffer | undefined>;

/** The handler for the server's accounting listener: an Accounting-Response to send, or undefined to send nothing. */
export function accountingHandler(core: Core, observe?: (result: AccountingResult) => void): AccountingHandler {
  return async (packet, source, rinfo) => {
    const result = await handleAccounting(core, packet, source, rinfo);
    observe?.(result);
    return result.answered ? result.reply : undefined;
  };
}

export async function handleAccounting(core: Core, packet: Packet, source: AccountingSource, rinfo: RemoteInfo): Promise<AccountingResult> {
  if (packet.code !== CODE.AccountingRequest) return { answered: false, reason: 'malformed' };
  // RFC 2866 §3: a request whose authenticator does not verify is silently discarded.
  if (!verifyRequestAuthenticator(packet, source.secret)) return { answered: false, reason: 'bad-authenticator' };
  if (checkMessageAuthenticator(packet, source.secret) === 'invalid') return { answered: false, reason: 'bad-message-authenticator' };
  const parsed = parseAccounting(packet, source.client.name);
  if (!parsed) return { answered: false, reason: 'malformed' };
  const ctx: AuditContext = { actor: { type: 'system', name: `radius:${source.client.name}` }, sourceIp: rinfo.address, protocol: 'radius' };
  let recorded: Extract<AccountingResult, { answered: true }>['recorded'];
  try {
    if (parsed.kind === 'record') {
      const outcome = await core.networkSessions.account(ctx, parsed.input);
      if (outcome.outcome === 'refused') return { answered: false, reason: 'refused' };
      recorded = outcome.outcome;
    } else if (parsed.kind === 'other') {
      recorded = 'not-recorded';
    } else {
      await core.networkSessions.clearNas(ctx, parsed.nas, parsed.status, parsed.at);
      recorded = 'cleared';
    }
  } catch (err) {
    core.logger.warn({ err, client: source.client.name }, 'an Accounting-Request could not be recorded: not answered (RFC 2866 §2), the NAS retransmits');
    return { answered: false, reason: 'store-failed' };
  }
  const reply = encodeResponse({
    code: CODE.AccountingResponse,
    identifier: packet.identifier,
    requestAuthenticator: packet.authenticator,
    // RFC 2865 §5.33: Proxy-State is copied unmodified, in order, into the reply.
    attributes: attributeValues(packet, ATTR.ProxyState).map((value) => ({ type: ATTR.ProxyState, value })),
    secret: source.secret,
  });
  return { answered: true, reply, recorded };
}

type Parsed =
  | { kind: 'clear'; status: 'on' | 'off'; nas: Pick<AccountingInput, 'client' | 'nasIdentifier' | 'nasIpAddress'>; at: number }
  | { kind: 'other' }
  | { kind: 'record'; input: AccountingInput };

/**
 * The request in the core's terms, or undefined when it cannot be recorded: no Acct-Status-Type,
 * or a session record without Acct-Session-Id. Values of the wrong size are treated as absent.
 */
export function parseAccounting(packet: Packet, client: string, now = Date.now()): Parsed | undefined {
  const status = uint(packet, ATTR.AcctStatusType);
  if (status === undefined) return undefined;
  const nasIdentifier = text(packet, ATTR.NasIdentifier);
  const nasIpAddress = ipv4(attributeValue(packet, ATTR.NasIpAddress)) ?? ipv6(attributeValue(packet, ATTR.NasIpv6Address));
  const nas = { client, ...(nasIdentifier ? { nasIdentifier } : {}), ...(nasIpAddress ? { nasIpAddress } : {}) };
  // RFC 2869 §5.3 Event-Timestamp; else RFC 2866 §5.2: the event happened Acct-Delay-Time seconds ago.
  const timestamp = uint(packet, ACCT.EventTimestamp);
  const delay = uint(packet, ACCT.DelayTime) ?? 0;
  const at = Math.min(now, timestamp !== undefined ? timestamp * 1000 : now - delay * 1000);
  if (status === STATUS.AccountingOn || status === STATUS.AccountingOff) return { kind: 'clear', status: status === STATUS.AccountingOn ? 'on' : 'off', nas, at };
  const kind = status === STATUS.Start ? 'start' : status === STATUS.Stop ? 'stop' : status === STATUS.InterimUpdate ? 'interim' : undefined;
  if (!kind) return { kind: 'other' };
  const acctSessionId = text(packet, ATTR.AcctSessionId);
  if (!acctSessionId) return undefined;
  const cause = uint(packet, ACCT.TerminateCause);
  // The device and certificate an EAP-TLS Access-Accept named in Class (device-class.ts).
  const signedInWith = deviceFromClass(attributeValues(packet, ATTR.Class));
  const input: AccountingInput = {
    ...nas,
    kind,
    acctSessionId,
    at,
    username: text(packet, ATTR.UserName) ?? '',
    acctMultiSessionId: text(packet, ACCT.MultiSessionId),
    nasPort: uint(packet, ATTR.NasPort),
    nasPortId: text(packet, ACCT.NasPortId),
    framedIpAddress: ipv4(attributeValue(packet, ATTR.FramedIpAddress)),
    callingStationId: text(packet, ATTR.CallingStationId),
    calledStationId: text(packet, ATTR.CalledStationId),
    // RFC 2869 §5.1-5.2: Gigawords count the times the 32-bit octet counter wrapped.
    inputOctets: octets(uint(packet, ACCT.InputOctets), uint(packet, ACCT.InputGigawords)),
    outputOctets: octets(uint(packet, ACCT.OutputOctets), uint(packet, ACCT.OutputGigawords)),
    inputPackets: uint(packet, ACCT.InputPackets),
    outputPackets: uint(packet, ACCT.OutputPackets),
    sessionTime: uint(packet, ACCT.SessionTime),
    terminateCause: cause === undefined ? undefined : terminateCauseName(cause),
    deviceId: signedInWith?.deviceId,
    certificateSerial: signedInWith?.certificateSerial,
  };
  return { kind: 'record', input };
}

/** The RFC 2866 §5.10 / RFC 3580 name of an Acct-Terminate-Cause (the dictionary's VALUE), else `Cause-<n>`. */
export function terminateCauseName(cause: number): string {
  return standardDictionary().attribute('Acct-Terminate-Cause')?.valueNames.get(cause) ?? `Cause-${cause}`;
}

function uint(packet: Packet, type: number): number | undefined {
  const value = attributeValue(packet, type);
  return value?.length === 4 ? value.readUInt32BE(0) : undefined;
}

function text(packet: Packet, type: number): string | undefined {
  const value = attributeValue(packet, type);
  if (!value) return undefined;
  // Control characters have no place in what people read (logs, the portal): replaced.
  const s = value.toString('utf8').replace(/[\u0000-\u001f\u007f]/g, '\ufffd');
  return s.length ? s : undefined;
}

function ipv4(value: Buffer | undefined): string | undefined {
  if (value?.length !== 4) return undefined;
  const ip = [...value].join('.');
  return isIPv4(ip) ? ip : undefined;
}

function ipv6(value: Buffer | undefined): string | undefined {
  return value?.length === 16 ? ipv6Text(value) : undefined;
}

function octets(low: number | undefined, gigawords: number | undefined): number | undefined {
  if (low === undefined && gigawords === undefined) return undefined;
  return (gigawords ?? 0) * 2 ** 32 + (low ?? 0);
}
