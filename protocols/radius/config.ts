/**
 * The RADIUS front-end's settings: the `radius` section of the configuration file (listeners,
 * timing, bounds), and a RADIUS client's own options (`settings.radius` of a RADIUS client in the
 * directory), both defined here with every option's default and description (docs/configuration.md
 * is generated from the section). `clientDefaults` in the section is what a client's
 * `settings.radius` starts from.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { standardDictionary } from './dictionary.ts';
import { EapConfig } from './eap/config.ts';

const port = z.int().min(0).max(65535);

/** A RADIUS client's options (`settings.radius`); every key optional, the section's `clientDefaults` fill the rest. */
export const RadiusClientOptions = z.strictObject({
  requireMessageAuthenticator: z.boolean().describe('Drop an Access-Request without a valid Message-Authenticator (BlastRADIUS, CVE-2024-3596). Turn off only for a NAS that cannot send one; packets with EAP-Message or Proxy-State need a valid one regardless'),
  mfa: z.enum(['challenge', 'appended-otp', 'none']).describe("When a policy requires a second factor: 'challenge' answers Access-Challenge and takes the TOTP code in the next Access-Request (RFC 2865 §4.4); 'appended-otp' takes the code appended to the password (for NASes that cannot show a challenge); 'none' rejects"),
  otpSeparator: z.string().max(8).describe("With mfa 'appended-otp': between the password and the 6-digit code ('' = none: the last 6 digits)"),
  replyMessages: z.boolean().describe('Send a Reply-Message saying why in an Access-Reject (off: a reject says nothing, so an attacker learns nothing); the challenge prompt is always sent'),
  clientAddress: z.enum(['nas', 'calling-station-id', 'framed-ip-address']).describe("Which address network conditions, the throttle and the audit log see: the NAS's own ('nas'), or, for a NAS that reports the person's address (a VPN concentrator), Calling-Station-Id or Framed-IP-Address when it holds an IP address (else the NAS's). The NAS itself is always pinned by the client's `address`"),
  coa: z.strictObject({
    host: z.string().refine((h) => isIP(h) !== 0, 'an IPv4 or IPv6 address').optional().describe("Where the NAS listens for Dynamic Authorization; default: the session's NAS-IP-Address when the client's address range holds it, else the client's address when it is a single host"),
    port: port.min(1).default(3799).describe('The NAS\'s Dynamic Authorization port (RFC 5176 §3)'),
    mode: z.enum(['disconnect', 'coa']).default('disconnect').describe("'disconnect': end sessions with Disconnect-Request; 'coa': send a CoA-Request with `attributes` instead (e.g. a quarantine Filter-Id), leaving the session up"),
    attributes: z.record(z.string(), z.union([z.string(), z.number()])).default({}).describe("With mode 'coa': the attributes that change the session, by dictionary name (e.g. { Filter-Id: quarantine })"),
  })
    .refine((c) => c.mode !== 'coa' || Object.keys(c.attributes).length > 0, { path: ['attributes'], message: "mode 'coa' needs the attributes that change the session (e.g. Filter-Id)" })
    .describe('Dynamic Authorization (RFC 5176): where and how Gatehouse tells this NAS to end a session (protocols/radius/coa.ts)'),
}).partial();
export type RadiusClientOptions = z.output<typeof RadiusClientOptions>;
export type ResolvedClientOptions = Required<Omit<RadiusClientOptions, 'coa'>> & Pick<RadiusClientOptions, 'coa'>;

const ClientDefaults = z.strictObject({
  requireMessageAuthenticator: z.boolean().default(true).describe(RadiusClientOptions.shape.requireMessageAuthenticator.unwrap().description!),
  mfa: z.enum(['challenge', 'appended-otp', 'none']).default('challenge').describe(RadiusClientOptions.shape.mfa.unwrap().description!),
  otpSeparator: z.string().max(8).default('').describe(RadiusClientOptions.shape.otpSeparator.unwrap().description!),
  replyMessages: z.boolean().default(false).describe(RadiusClientOptions.shape.replyMessages.unwrap().description!),
  clientAddress: z.enum(['nas', 'calling-station-id', 'framed-ip-address']).default('nas').describe(RadiusClientOptions.shape.clientAddress.unwrap().description!),
});

export const RadiusConfig = z.strictObject({
  enabled: z.boolean().default(false).describe('Serve RADIUS (RFC 2865 authentication, RFC 2866 accounting) for VPN gateways, WiFi controllers and network gear declared as RADIUS clients'),
  hosts: z.array(z.string().min(1)).min(1).max(16).default(['127.0.0.1']).describe("Addresses the RADIUS listeners bind to, IPv4 or IPv6 (list both '0.0.0.0' and '::' for every interface of both families); one authentication and one accounting socket each, on the same ports"),
  authPort: port.default(1812).describe('Authentication port (RFC 2865; 0 picks a free port)'),
  acctPort: port.default(1813).describe('Accounting port (RFC 2866; 0 picks a free port)'),
  rejectDelaySeconds: z.number().min(0).max(10).default(1).describe('Wait this long before sending an Access-Reject, as FreeRADIUS does (slows password guessing; the throttle does the rest). The request\'s slot stays taken meanwhile'),
  duplicateWindowSeconds: z.number().min(1).max(300).default(30).describe('A retransmission (same client address and port, Identifier and Request Authenticator) within this window gets the first reply again, byte for byte, and is not processed again (RFC 5080 §2.2.2)'),
  duplicateCacheSize: z.int().min(100).max(1_000_000).default(20_000).describe('Most replies kept for retransmissions; the oldest go first'),
  maxInFlight: z.int().min(1).max(100_000).default(1000).describe('Requests processed at once (the reject delay included); more are dropped and counted, the NAS retransmits'),
  challenge: z.strictObject({
    ttlSeconds: z.int().min(10).max(600).default(120).describe('How long an Access-Challenge\'s State waits for the code'),
    maxRounds: z.int().min(1).max(10).default(3).describe('Codes a person may try in one sign-in (a wrong one gets a new challenge until then)'),
    maxOpenPerClient: z.int().min(1).max(1000).default(200).describe('Challenges waiting for a code, per RADIUS client; more are rejected'),
    maxOpen: z.int().min(1).max(1000).default(1000).describe('Challenges waiting for a code, in all'),
  }).prefault({}).describe('Access-Challenge for a second factor (RFC 2865 §4.4); the State lives in the shared store, so any Gatehouse process can take the answer'),
  receiveBufferBytes: z.int().min(0).max(1024 * 1024 * 1024).default(4 * 1024 * 1024).describe("Receive buffer of each RADIUS socket, in bytes (0: the system's default, about 200 KiB on Linux). Datagrams that arrive while Gatehouse is busy wait here; when it is full the kernel drops them, legitimate requests with the rest, and the NAS only retransmits seconds later. 4 MiB holds about 10,000 small datagrams (Linux counts ~830 bytes each and doubles the size asked for), a second of a 10,000 packets/s flood; the default of most Linux systems holds 256. The kernel caps it (Linux: sysctl net.core.rmem_max, which must be at least this; Gatehouse warns at start when it is smaller)"),
  dropLogSeconds: z.int().min(1).max(86_400).default(60).describe('Dropped datagrams are counted in /metrics (gatehouse_radius_dropped_total, by reason) and summed up in one log line per this many seconds, never logged one by one'),
  unknownClientAuditSeconds: z.int().min(1).max(86_400).default(60).describe('Packets from an address no RADIUS client covers are dropped and counted in /metrics; one audit event per source per this many seconds (at most 100 sources per period), so a flood cannot fill the audit log'),
  clientDefaults: ClientDefaults.prefault({}).describe("What a RADIUS client's own `settings.radius` starts from"),
  eap: EapConfig.prefault({}),
}).describe('The RADIUS front-end (RFC 2865/2866/3579): PAP through the access policies (resource `radius:<client>`), second factor by Access-Challenge or appended code, reply attributes from groups');

export type RadiusConfig = z.output<typeof RadiusConfig>;
export type RadiusOptions = Omit<RadiusConfig, 'enabled'>;

/** The defaults, from the schema (tests start from these). */
export const RADIUS_DEFAULTS: RadiusOptions = RadiusConfig.parse({});

/** The directory's check of a RADIUS client's `settings.radius` (registered by the server and the CLI). */
export function radiusClientSettingsProblems(client: { settings: Record<string, unknown> }): Array<{ path: string; message: string }> {
  if (client.settings.radius === undefined) return [];
  const parsed = RadiusClientOptions.safeParse(client.settings.radius);
  if (!parsed.success) return parsed.error.issues.map((i) => ({ path: ['settings', 'radius', ...i.path].map(String).join('.'), message: i.message }));
  // The CoA attributes must be ones the dictionary can encode (names, value types, lengths).
  return Object.entries(parsed.data.coa?.attributes ?? {}).flatMap(([name, value]) => {
    try {
      standardDictionary().encode(name, value);
      return [];
    } catch (err) {
      return [{ path: `settings.radius.coa.attributes.${name}`, message: err instanceof Error ? err.message : String(err) }];
    }
  });
}

/**
 * A client's options: the section's defaults under its own `settings.radius` (already checked on
 * write; a bad one falls back to the defaults). Resolved once per settings object and section (the
 * server asks at every packet, an EAP conversation about ten times; the client cache re-reads the
 * client, a new settings object, every second), frozen since it is shared.
 */
export function clientOptions(options: RadiusOptions, settings: Record<string, unknown>): ResolvedClientOptions {
  const cached = resolved.get(settings);
  if (cached?.options === options) return cached.resolved;
  const parsed = RadiusClientOptions.safeParse(settings.radius ?? {});
  const out: ResolvedClientOptions = Object.freeze({ ...options.clientDefaults, ...(parsed.success ? parsed.data : {}) });
  resolved.set(settings, { options, resolved: out });
  return out;
}
const resolved = new WeakMap<object, { options: RadiusOptions; resolved: ResolvedClientOptions }>();
