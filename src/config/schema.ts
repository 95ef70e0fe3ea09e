/**
 * The configuration schema: the single definition of every option, its default and its
 * description. The core's sections are here; each front-end defines its own section next to its
 * code (protocols/<name>/config.ts), and composeConfigSchema puts them together (src/front-ends.ts).
 * The loader validates against the whole, `gatehouse config reference` prints the reference from
 * it, and insecure settings are found from it at start (see `insecureSettings`).
 */
import { z } from 'zod';
import {
  ApplicationInput, Cidr, GroupInput, GroupName, NetworkInput, PolicyInput, RadiusClientInput, UserInput,
} from '../directory/model.ts';

const port = z.int().min(0).max(65535);
const seconds = (d: string) => z.number().min(0).describe(d);

const Http = z.strictObject({
  host: z.string().default('127.0.0.1').describe("Address the HTTP listener (admin API, health, metrics) binds to; '0.0.0.0' or '::' for all interfaces"),
  port: port.default(9090).describe('HTTP port (0 picks a free port)'),
  publicUrl: z.url().optional().describe('URL people and apps reach Gatehouse at, when it differs from host:port (behind a proxy)'),
  maxBodyBytes: z.int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024).describe('Largest request body accepted; bigger ones get 413'),
});

const Https = z.strictObject({
  host: z.string().default('127.0.0.1').describe('Address the HTTPS listener binds to'),
  port: port.default(9443).describe('HTTPS port (0 picks a free port)'),
  certFile: z.string().describe('Server certificate chain (PEM)'),
  keyFile: z.string().describe('Server private key (PEM)'),
}).describe('An HTTPS listener serving the same endpoints; it asks for (but does not require) a client certificate, so devices holding a Gatehouse device certificate are identified by mTLS');

const Management = z.strictObject({
  host: z.string().default('127.0.0.1').describe("Address the management listener binds to; '0.0.0.0' in a container, for probes and Prometheus from outside it"),
  port: port.default(9091).describe('Management port (0 picks a free port)'),
}).describe('A separate plain-HTTP listener for /healthz, /readyz and /metrics only (Kubernetes probes, Prometheus), on a port kept off the public network; when set, the HTTP and HTTPS listeners no longer serve these three paths');

/** RFC 6750 §2.1 b64token: what an Authorization: Bearer header can carry. */
const BearerToken = z
  .string()
  .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'letters, digits and - . _ ~ + / only, = at the end (e.g. openssl rand -base64 32)')
  .min(32, 'at least 32 characters (make one with: openssl rand -base64 32)')
  .max(1024);

const Server = z.strictObject({
  http: Http.prefault({}),
  https: Https.optional(),
  management: Management.optional(),
  metricsToken: BearerToken.optional().describe('Bearer token /metrics requires, on whichever listener serves it (Prometheus: authorization: { credentials_file: … }); at least 32 characters (openssl rand -base64 32). Without it /metrics is open to anyone who reaches the listener. A secret: give it as ${ENV}. /healthz and /readyz never ask for it (probes send none)'),
  trustedProxies: z.array(Cidr).default([]).describe('Proxies whose X-Forwarded-For is believed; everyone else is identified by the socket address'),
  shutdownTimeoutSeconds: seconds('On SIGTERM, how long in-flight requests may take before connections are closed').default(10),
  workerThreadsNice: z.int().min(0).max(19).default(5).describe("Linux: how much nicer than the event loop's thread the worker threads run (the pool that hashes and verifies passwords, reads files); 0: the same. When every core is busy hashing, the event loop, which reads every socket, still gets its turn: without it a flood of invalid RADIUS packets during sign-ins overflowed the socket's receive buffer and the kernel dropped legitimate requests with the flood (docs/performance.md, RADIUS). Only matters when the cores are contended"),
});

const Storage = z.strictObject({
  url: z.string().min(1).default('sqlite:./data/gatehouse.db').describe("'sqlite:<file>' (embedded, the default) or 'postgres://user:password@host:5432/db' (production, several processes)"),
  poolMax: z.int().min(1).max(200).default(10).describe('PostgreSQL connection pool size per process'),
  acquireTimeoutMs: z.int().min(100).max(120_000).default(10_000).describe('How long to wait for a store connection before failing closed'),
  sqliteSynchronous: z.enum(['normal', 'full']).default('normal').describe("SQLite only (WAL journal): 'normal' syncs at checkpoints, never corrupts, and survives a crash of Gatehouse, but a power loss or OS crash may lose the last moments of commits; 'full' syncs every commit (durable, several times slower writes)"),
});

const SecretKey = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'key ids are 1-32 letters, digits, _ or -').describe('Name of the key, stored with each ciphertext'),
  key: z
    .string()
    .refine((k) => /^[A-Za-z0-9+/]+={0,2}$/.test(k.trim()) && Buffer.from(k.trim(), 'base64').length === 32, 'must be 32 random bytes, base64-encoded (make one with: openssl rand -base64 32)')
    .describe('32 random bytes, base64-encoded (e.g. `openssl rand -base64 32`); use ${ENV} to keep it out of the file'),
});

const Secrets = z.strictObject({
  keys: z.array(SecretKey).default([]).describe('Keys encrypting secrets at rest (TOTP seeds, network passwords, RADIUS secrets, signing, cookie and CA keys); the first encrypts, all decrypt. Rotation: add the new key second and restart, move it first and restart, run `gatehouse keyring reencrypt`, then remove the old key once `gatehouse keyring status` shows none under it; takes effect at a restart'),
  keyFile: z.string().default('./data/secret.key').describe('When no keys are configured, a key is generated here on first start (mode 0600)'),
});

const Log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level; one JSON line per event on standard output'),
});

const Argon2 = z.strictObject({
  memoryKiB: z.int().min(8192).max(4 * 1024 * 1024).default(19456).describe('argon2id memory cost in KiB (OWASP: 19 MiB)'),
  iterations: z.int().min(1).max(100).default(2).describe('argon2id time cost (OWASP: 2)'),
  parallelism: z.int().min(1).max(16).default(1).describe('argon2id lanes (OWASP: 1)'),
});

const PasswordPolicy = z.strictObject({
  minLength: z.int().min(8).max(64).default(15).describe('Minimum length in characters (NIST SP 800-63B-4: 15 for passwords used alone, 8 only with MFA)'),
  maxLength: z.int().min(64).max(1024).default(64).describe('Maximum length in characters (NIST: at least 64)'),
  rejectCommon: z.boolean().default(true).describe('Refuse passwords from the shipped list of common and breached passwords'),
  rejectContextWords: z.boolean().default(true).describe('Refuse passwords containing the username, e-mail name, display name or "gatehouse"'),
  composition: z
    .strictObject({
      lowercase: z.int().min(0).max(64).default(0).describe('Minimum number of lower-case letters'),
      uppercase: z.int().min(0).max(64).default(0).describe('Minimum number of upper-case letters'),
      digits: z.int().min(0).max(64).default(0).describe('Minimum number of digits'),
      symbols: z.int().min(0).max(64).default(0).describe('Minimum number of other characters'),
    })
    .prefault({})
    .describe('Minimum count of each character class (NIST advises against; for organisations that must)'),
  history: z.int().min(0).max(24).default(0).describe('Refuse the last N passwords (0: off)'),
});

const Passwords = z.strictObject({
  argon2: Argon2.prefault({}),
  policy: PasswordPolicy.prefault({}),
});

const ThrottleNetwork = z.strictObject({
  network: NetworkInput.shape.name.describe('A named network (directory.networks, or made through the API)'),
  freeAttemptsPerIp: z.int().min(1).max(1_000_000).describe('Failed attempts per client address in this network before back-off starts (instead of throttle.freeAttemptsPerIp)'),
});

const Throttle = z.strictObject({
  freeAttempts: z.int().min(1).max(1000).default(5).describe('Failed attempts per user before back-off starts. Attempts from a familiar place (a network or address range the person signed in from before, or a device certificate of a device they signed in with) are counted apart from all others, so failures from elsewhere never hold the person back at their desk'),
  freeAttemptsPerIp: z.int().min(1).max(100_000).default(50).describe('Failed attempts per client address before back-off starts, counted apart for each kind of secret: sign-ins (passwords, LDAP binds), admin API keys, device codes, OpenID Connect client secrets'),
  baseDelaySeconds: z.number().min(0.1).max(3600).default(1).describe('First back-off delay; it doubles with each further failure'),
  maxDelaySeconds: z.number().min(1).max(86_400).default(900).describe('Cap on the back-off delay (never a hard lockout)'),
  windowSeconds: z.int().min(60).max(30 * 86_400).default(3600).describe('Failures are forgotten after this long without a new one'),
  networks: z
    .array(ThrottleNetwork)
    .max(100)
    .default([])
    .refine((list) => new Set(list.map((n) => n.network)).size === list.length, 'each network is listed once')
    .describe('Allowances per client address for named networks whose addresses speak for many people (an office NAT, an LDAP client host such as SSSD or a NAS): an address in several of them gets the largest'),
});

const Mfa = z.strictObject({
  totp: z
    .strictObject({
      issuer: z.string().min(1).max(64).default('Gatehouse').describe('Issuer shown in authenticator apps'),
      window: z.int().min(0).max(2).default(1).describe('Accepted clock skew in 30-second steps either side (RFC 6238 §5.2)'),
      recoveryCodes: z.int().min(0).max(20).default(10).describe('Recovery codes issued when TOTP is confirmed (each usable once)'),
    })
    .prefault({}),
  webauthn: z
    .strictObject({
      rpId: z.string().min(1).default('localhost').describe('Relying-party ID: the domain passkeys are bound to (e.g. example.com)'),
      rpName: z.string().min(1).default('Gatehouse').describe('Name shown by the authenticator'),
      origins: z.array(z.url()).default(['http://localhost:9090']).describe('Origins the sign-in pages are served from (https:// in production)'),
      userVerification: z.enum(['required', 'preferred', 'discouraged']).default('preferred').describe("Whether the authenticator must verify the user (PIN, biometrics); 'required' for phishing-resistant MFA"),
      challengeTimeoutSeconds: z.int().min(30).max(600).default(300).describe('How long a registration or sign-in challenge stays valid'),
    })
    .prefault({}),
});

const Compliance = z.strictObject({
  requireDiskEncryption: z.boolean().default(true).describe('The disk must be encrypted'),
  requireFirewall: z.boolean().default(false).describe('The host firewall must be on'),
  requireScreenLock: z.boolean().default(true).describe('A screen lock must be set'),
  minOsVersion: z.record(z.string(), z.string().regex(/^\d+(\.\d+)*$/, 'a dotted version like 14.2')).default({}).describe('Minimum OS version per platform, e.g. { macos: "14.0", windows: "10.0.22631" }'),
  maxPostureAgeHours: z.number().min(0.1).max(24 * 90).default(24).describe('A posture report older than this makes the device non-compliant'),
}).describe('The rule a device posture must meet to count as compliant (only managed devices can be compliant)');

const Devices = z.strictObject({
  certificateValidityDays: z.int().min(1).max(3650).default(365).describe('Validity of device certificates issued by the device CA'),
  compliance: Compliance.prefault({}),
  clientCertHeader: z.string().regex(/^[a-z0-9-]+$/, 'a lower-case header name').default('x-client-cert').describe('Header carrying the client certificate (URL-encoded PEM) from a TLS-terminating proxy; believed only from server.trustedProxies'),
});

const Access = z.strictObject({
  defaultAction: z.enum(['allow', 'deny']).default('allow').describe("Decision when no policy matches (assignment checks still apply first: a resource not assigned to the user's groups is always denied)"),
  risk: z
    .strictObject({
      windowMinutes: z.int().min(1).max(1440).default(15).describe('How far back failed attempts count towards risk'),
      userFailuresMedium: z.int().min(1).default(3).describe('Failed attempts on the account in the window that make the risk medium'),
      userFailuresHigh: z.int().min(1).default(10).describe('... that make it high'),
      ipFailuresMedium: z.int().min(1).default(10).describe('Failed attempts from the client IP in the window that make the risk medium'),
      ipFailuresHigh: z.int().min(1).default(50).describe('... that make it high'),
    })
    .prefault({}),
});

const Sessions = z.strictObject({
  idleMinutes: z.int().min(1).max(10_080).default(120).describe('A Gatehouse session (portal, OIDC, SAML) ends after this long without use'),
  maxHours: z.int().min(1).max(8_784).default(12).describe('…and after this long whatever the activity: the person signs in again'),
}).describe('Gatehouse sessions: one sign-in shared by the portal, OIDC and SAML, kept in the store so every process sees it');

const NetworkSessions = z.strictObject({
  maxLivePerClient: z.int().min(1).max(1_000_000).default(10_000).describe('Live network sessions one RADIUS client may have; an Accounting-Request Start beyond it is not recorded (and not answered, RFC 2866 §2), so a misbehaving NAS cannot fill the store'),
  interimIntervalSeconds: z.int().min(30).max(86_400).default(600).describe('How often NASes send Interim-Updates (set the same Acct-Interim-Interval on them or in the reply attributes)'),
  staleAfterIntervals: z.int().min(2).max(100).default(3).describe('A live session with no accounting for this many intervals is closed as stale (terminate cause Stale) by a sweep'),
  retentionDays: z.int().min(1).max(3_650).default(90).describe('Stopped network sessions older than this are deleted by the sweep'),
  reviewSeconds: z.int().min(5).max(86_400).default(60).describe('Every live session is checked again this often (device compliance changes with time; user and group changes are seen within seconds): a user suspended or deleted, no longer in a group the RADIUS client is assigned to, or on a device out of compliance gets a Disconnect-Request'),
  deviceCompliance: z.boolean().default(true).describe("Disconnect on device compliance: the session's device when the sign-in identified one, else when the person owns managed devices and none is compliant"),
  disconnect: z
    .strictObject({
      timeoutMs: z.int().min(100).max(60_000).default(2_000).describe('Wait for the answer to the first Disconnect-Request or CoA-Request; doubled for each retransmission (RFC 5176 §2.3, RFC 5080 §2.2.1)'),
      attempts: z.int().min(1).max(10).default(3).describe('Transmissions before the request counts as timed out'),
    })
    .prefault({}),
}).describe('Network sessions from RADIUS accounting (RFC 2866), and ending them with Disconnect / CoA (RFC 5176)');

const Audit = z.strictObject({
  retentionDays: z.int().min(1).max(36_500).default(400).describe('Audit events older than this are pruned daily'),
});

/** A user declared in the file. `password` is hashed when it changes; `passwordHash` imports an existing hash. */
export const DeclaredUser = UserInput.extend({
  passwordHash: z.string().max(1024).optional().describe('An existing hash to import (argon2, bcrypt, PBKDF2, {SSHA}, {SSHA512}); rehashed to argon2id at the next sign-in'),
}).refine((u) => !(u.password !== undefined && u.passwordHash !== undefined), 'give password or passwordHash, not both');

export const DeclaredGroup = GroupInput.extend({
  memberOf: z.array(GroupName).max(1000).default([]).describe('Groups this group is nested in'),
});

const Directory = z.strictObject({
  users: z.array(DeclaredUser).default([]).describe('People; `groups` lists the groups each belongs to'),
  groups: z.array(DeclaredGroup).default([]).describe('Groups; `memberOf` nests a group inside others'),
  applications: z.array(ApplicationInput).default([]).describe('Applications people sign in to, with the groups allowed to use each'),
  networks: z.array(NetworkInput).default([]).describe('Named networks (CIDR sets) for conditional-access policies'),
  radiusClients: z.array(RadiusClientInput).default([]).describe('RADIUS clients (VPN gateways, WiFi controllers) with their shared secrets'),
  policies: z.array(PolicyInput).default([]).describe('Conditional-access policies: scope, conditions and action'),
}).describe('Objects declared here are reconciled into the store at start and on SIGHUP; objects made through the API are never touched. A change of a declared object through the admin API or the CLI is refused (naming this file) unless forced, and a forced one lasts until the next reload or start');

/** The sections the core owns; each front-end adds its own (src/frontend.ts, composed by composeConfigSchema). */
export const CORE_SECTIONS = {
  server: Server.prefault({}),
  storage: Storage.prefault({}),
  secrets: Secrets.prefault({}),
  log: Log.prefault({}),
  passwords: Passwords.prefault({}),
  throttle: Throttle.prefault({}),
  mfa: Mfa.prefault({}),
  devices: Devices.prefault({}),
  access: Access.prefault({}),
  sessions: Sessions.prefault({}),
  networkSessions: NetworkSessions.prefault({}),
  audit: Audit.prefault({}),
  directory: Directory.prefault({}),
};

export const CoreConfigSchema = z.strictObject(CORE_SECTIONS);

/** The configuration as the core reads it: its own sections (a front-end reads its section from what it is started with). */
export type CoreConfig = z.output<typeof CoreConfigSchema>;

/**
 * The whole configuration schema: the core's sections and one per front-end, keyed by its name,
 * each defaulted as a whole so a file may leave any section out.
 */
export function composeConfigSchema<const F extends ReadonlyArray<{ name: string; configSchema: z.ZodType }>>(frontEnds: F) {
  const sections: Record<string, z.ZodType> = {};
  for (const frontEnd of frontEnds) {
    if (frontEnd.name in CORE_SECTIONS || frontEnd.name in sections) throw new Error(`front-end '${frontEnd.name}': its configuration section clashes with another`);
    sections[frontEnd.name] = (frontEnd.configSchema as z.ZodObject).prefault({});
  }
  return z.strictObject({ ...CORE_SECTIONS, ...sections }) as unknown as z.ZodObject<typeof CORE_SECTIONS & { [K in F[number]['name']]: Extract<F[number], { name: K }>['configSchema'] }>;
}
export type DeclaredUser = z.output<typeof DeclaredUser>;
export type DeclaredGroup = z.output<typeof DeclaredGroup>;

const isLoopback = (host: string) => ['127.0.0.1', 'localhost', '::1'].includes(host);

/** Settings that work but deserve a loud warning at start. */
export function insecureSettings(config: CoreConfig): string[] {
  const warnings: string[] = [];
  if (config.secrets.keys.length === 0) {
    warnings.push(`no secrets.keys configured: secrets at rest are encrypted with a generated key in ${config.secrets.keyFile}; back it up, or set secrets.keys from the environment`);
  }
  if (!isLoopback(config.server.http.host) && !config.server.http.publicUrl?.startsWith('https://')) {
    warnings.push(`the HTTP listener binds to ${config.server.http.host} without TLS: put it behind an HTTPS reverse proxy and set server.http.publicUrl`);
  }
  if (!config.server.management && !config.server.metricsToken) {
    const exposed = [config.server.http, ...(config.server.https ? [config.server.https] : [])].find((l) => !isLoopback(l.host));
    if (exposed) {
      warnings.push(`/metrics is open to anyone who reaches ${exposed.host}:${exposed.port}: set server.metricsToken, or serve it on a separate listener (server.management)`);
    }
  }
  if (config.passwords.policy.minLength < 15) {
    warnings.push(`passwords.policy.minLength is ${config.passwords.policy.minLength}: NIST SP 800-63B-4 asks for 15 when a password is the only factor`);
  }
  if (config.server.trustedProxies.some((c) => c === '0.0.0.0/0' || c === '::/0')) {
    warnings.push('server.trustedProxies trusts every address: any client can forge its source IP with X-Forwarded-For');
  }
  return warnings;
}
