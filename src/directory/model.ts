/**
 * The directory model: one zod schema per object, the single definition used to validate admin API
 * bodies, config-file declarations and CLI input, and to generate the OpenAPI document.
 *
 * Inputs are what a caller may send; entities are what the store returns. Entities carry the
 * bookkeeping fields every object has (id, version for optimistic concurrency, who manages it).
 */
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import { APPLICATION_TYPES, DEVICE_PLATFORMS, PROTOCOLS } from './names.ts';

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** Who owns an object: the config file's reconciler never touches objects made through the API. */
export const ManagedBy = z.enum(['api', 'config']).describe("'config' when declared in the YAML file (reconciled at start and on reload), otherwise 'api'");
export type ManagedBy = z.infer<typeof ManagedBy>;

const Bookkeeping = {
  id: z.string().describe('Stable identifier (UUID)'),
  managedBy: ManagedBy,
  version: z.int().describe('Incremented on every change; sent as the ETag'),
  createdAt: z.string().describe('ISO 8601 time of creation'),
  updatedAt: z.string().describe('ISO 8601 time of the last change'),
};

/** A short identifier usable in URLs, LDAP DNs and config files. */
const slug = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(64, `${what} must be at most 64 characters`)
    .regex(/^[a-z0-9][a-z0-9._-]*$/, `${what} may contain only lower-case letters, digits, '.', '_' and '-', starting with a letter or digit`);

/**
 * Usernames are case-insensitive: they are lower-cased on the way in (so "Alice" signs in as
 * "alice") and may contain '@' so that e-mail-shaped usernames work.
 */
export const Username = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'username must not be empty')
  .max(128, 'username must be at most 128 characters')
  .regex(/^[a-z0-9][a-z0-9._@-]*$/, "username may contain only letters, digits, '.', '_', '@' and '-', starting with a letter or digit")
  .describe('Login name, case-insensitive (stored lower-cased)');

export const GroupName = slug('group name').describe('Group name (lower-case slug)');
export const ObjectName = slug('name');

/** Free-form attributes: scalar or list values only, so every protocol can map them (LDAP, SAML, RADIUS). */
export const AttributeValue = z.union([z.string().max(4096), z.number(), z.boolean(), z.array(z.string().max(4096)).max(100)]);
export const Attributes = z
  .record(z.string().min(1).max(64).regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'attribute names start with a letter and contain letters, digits, _ . -'), AttributeValue)
  .refine((a) => Object.keys(a).length <= 100, 'at most 100 attributes')
  .describe('Custom attributes (string, number, boolean or list of strings)');
export type Attributes = z.infer<typeof Attributes>;

const PosixId = z.int().min(0).max(2 ** 31 - 1);

/** `ssh-ed25519 AAAA… comment`: the algorithm inside the base64 blob must match the declared one. */
export const SshPublicKey = z
  .string()
  .trim()
  .max(16384)
  .refine(isSshPublicKey, 'not an OpenSSH public key ("<type> <base64> [comment]")');

function isSshPublicKey(line: string): boolean {
  const [type, blob] = line.split(/\s+/, 3);
  if (!type || !blob || !/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/.test(type)) return false;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return false;
  const raw = Buffer.from(blob, 'base64');
  if (raw.length < 4) return false;
  const len = raw.readUInt32BE(0);
  return len === type.length && raw.subarray(4, 4 + len).toString('latin1') === type;
}

/** Parses an address or CIDR (IPv4 or IPv6) and returns its canonical form, e.g. `10.0.0.0/8`. */
export function normalizeCidr(text: string): string {
  const value = text.trim();
  const [addr, bits] = value.includes('/') ? ipaddr.parseCIDR(value) : ((a) => [a, a.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number])(ipaddr.parse(value));
  // An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) means the IPv4 network.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return normalizeCidr(`${(addr as ipaddr.IPv6).toIPv4Address().toString()}/${bits - 96}`);
  }
  const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  if (network.toString() !== addr.toString()) {
    throw new Error(`'${value}' has host bits set (the network is ${network.toString()}/${bits})`);
  }
  return `${network.toString()}/${bits}`;
}

export const Cidr = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    try {
      return normalizeCidr(value);
    } catch (err) {
      const detail = err instanceof Error && err.message.includes('host bits') ? err.message : `'${value}' is not an IPv4/IPv6 address or CIDR`;
      ctx.addIssue({ code: 'custom', message: detail });
      return z.NEVER;
    }
  })
  .describe('IPv4 or IPv6 address or CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32');

// ---------------------------------------------------------------------------------------------
// Users

export const UserStatus = z.enum(['active', 'suspended']);
export type UserStatus = z.infer<typeof UserStatus>;

const userFields = {
  username: Username,
  email: z.email('not a valid e-mail address').max(254).toLowerCase().optional().describe('E-mail address'),
  displayName: z.string().trim().min(1).max(256).optional().describe('Full name shown to people'),
  status: UserStatus.default('active').describe("'suspended' users are refused by every front-end"),
  uidNumber: PosixId.optional().describe('POSIX uid (LDAP posixAccount)'),
  gidNumber: PosixId.optional().describe('POSIX primary gid'),
  homeDirectory: z.string().max(1024).regex(/^\//, 'must be an absolute path').optional().describe('POSIX home directory'),
  loginShell: z.string().max(1024).regex(/^\//, 'must be an absolute path').optional().describe('POSIX login shell'),
  sshPublicKeys: z.array(SshPublicKey).max(50).default([]).describe('OpenSSH public keys'),
  attributes: Attributes.default({}),
};

export const UserInput = z.strictObject({
  ...userFields,
  password: z.string().optional().describe('Initial password (checked against the password policy); never returned'),
  groups: z.array(GroupName).max(1000).optional().describe('Names of groups to add the user to'),
});
export type UserInput = z.input<typeof UserInput>;

export const UserPatch = z.strictObject({
  username: Username.optional(),
  email: z.email('not a valid e-mail address').max(254).toLowerCase().nullable().optional(),
  displayName: z.string().trim().min(1).max(256).nullable().optional(),
  uidNumber: PosixId.nullable().optional(),
  gidNumber: PosixId.nullable().optional(),
  homeDirectory: z.string().max(1024).regex(/^\//, 'must be an absolute path').nullable().optional(),
  loginShell: z.string().max(1024).regex(/^\//, 'must be an absolute path').nullable().optional(),
  sshPublicKeys: z.array(SshPublicKey).max(50).optional(),
  attributes: Attributes.optional(),
}).describe('Fields to change; null removes an optional field');
export type UserPatch = z.output<typeof UserPatch>;

export const User = z.object({
  ...Bookkeeping,
  username: z.string(),
  email: z.string().optional(),
  displayName: z.string().optional(),
  status: UserStatus,
  uidNumber: z.int().optional(),
  gidNumber: z.int().optional(),
  homeDirectory: z.string().optional(),
  loginShell: z.string().optional(),
  sshPublicKeys: z.array(z.string()),
  attributes: Attributes,
  passwordChangedAt: z.string().optional().describe('When the password was last set; absent when the user has none'),
});
export type User = z.infer<typeof User>;

// ---------------------------------------------------------------------------------------------
// Groups and memberships

export const GroupInput = z.strictObject({
  name: GroupName,
  description: z.string().max(1024).optional().describe('What the group is for'),
  gidNumber: PosixId.optional().describe('POSIX gid (LDAP posixGroup)'),
  attributes: Attributes.default({}).describe('Custom attributes, e.g. radiusVlan: 20'),
});
export type GroupInput = z.input<typeof GroupInput>;
export const GroupPatch = z.strictObject({
  name: GroupName.optional(),
  description: z.string().max(1024).nullable().optional(),
  gidNumber: PosixId.nullable().optional(),
  attributes: Attributes.optional(),
});
export type GroupPatch = z.output<typeof GroupPatch>;
export const Group = z.object({
  ...Bookkeeping,
  name: z.string(),
  description: z.string().optional(),
  gidNumber: z.int().optional(),
  attributes: Attributes,
});
export type Group = z.infer<typeof Group>;

export const MemberKind = z.enum(['user', 'group']);
export type MemberKind = z.infer<typeof MemberKind>;
export const MemberInput = z.strictObject({
  user: Username.optional().describe('Username of the member'),
  group: GroupName.optional().describe('Name of a nested member group'),
}).refine((m) => (m.user === undefined) !== (m.group === undefined), 'give exactly one of user or group');
export const Member = z.object({
  kind: MemberKind,
  id: z.string(),
  name: z.string(),
  managedBy: ManagedBy,
});
export type Member = z.infer<typeof Member>;

// ---------------------------------------------------------------------------------------------
// Resources: applications and RADIUS clients (groups are assigned to them: least privilege)

export const ApplicationType = z.enum(APPLICATION_TYPES);
/** Application secrets are compared by SHA-256, so they must carry their own entropy. */
const AppSecret = z.string().min(32, 'application secrets must be at least 32 characters (use: openssl rand -base64 32)').max(256);
export const ApplicationInput = z.strictObject({
  name: ObjectName.describe('Identifier used in policies as app:<name>'),
  displayName: z.string().trim().min(1).max(256).optional().describe('Name shown to people (portal, consent pages)'),
  type: ApplicationType.default('generic').describe('Protocol the application uses to sign in'),
  description: z.string().max(1024).optional().describe('What the application is'),
  groups: z.array(GroupName).max(1000).default([]).describe('Groups whose members may use the application'),
  settings: z.record(z.string(), z.unknown()).default({}).describe('Protocol settings (redirect URIs, ACS URL, ...), defined by each front-end'),
  secret: AppSecret.optional().describe("The application's own credential (OIDC client secret, LDAP service-account password); stored as a hash, never returned. Omit it and use `gatehouse app secret` (or POST /applications/{ref}/secret) to have one generated"),
});
export type ApplicationInput = z.input<typeof ApplicationInput>;
export const ApplicationPatch = z.strictObject({
  name: ObjectName.optional(),
  displayName: z.string().trim().min(1).max(256).nullable().optional(),
  type: ApplicationType.optional(),
  description: z.string().max(1024).nullable().optional(),
  groups: z.array(GroupName).max(1000).optional(),
  settings: z.record(z.string(), z.unknown()).optional(),
  secret: AppSecret.nullable().optional().describe('A new secret (stored as a hash), or null to remove it'),
});
export type ApplicationPatch = z.output<typeof ApplicationPatch>;
export const Application = z.object({
  ...Bookkeeping,
  name: z.string(),
  displayName: z.string().optional(),
  type: ApplicationType,
  description: z.string().optional(),
  groups: z.array(z.string()).describe('Names of the assigned groups'),
  settings: z.record(z.string(), z.unknown()),
  hasSecret: z.boolean().describe('Whether the application has a secret (the secret itself is never returned)'),
});
export type Application = z.infer<typeof Application>;

export const RadiusClientInput = z.strictObject({
  name: ObjectName.describe('Identifier used in policies as radius:<name>'),
  address: Cidr.describe('Source address or network of the NAS (the RADIUS client)'),
  secret: z.string().min(16, 'RADIUS shared secrets must be at least 16 characters (RFC 2865 §3 recommends long random secrets)').max(128).describe('Shared secret; stored encrypted, never returned'),
  description: z.string().max(1024).optional().describe('What the client is (VPN gateway, WiFi controller)'),
  groups: z.array(GroupName).max(1000).default([]).describe('Groups whose members may authenticate through this client'),
  settings: z.record(z.string(), z.unknown()).default({}).describe('RADIUS options (MFA mode, reply attributes), defined by the RADIUS front-end'),
});
export type RadiusClientInput = z.input<typeof RadiusClientInput>;
export const RadiusClientPatch = z.strictObject({
  name: ObjectName.optional(),
  address: Cidr.optional(),
  secret: RadiusClientInput.shape.secret.optional(),
  description: z.string().max(1024).nullable().optional(),
  groups: z.array(GroupName).max(1000).optional(),
  settings: z.record(z.string(), z.unknown()).optional(),
});
export type RadiusClientPatch = z.output<typeof RadiusClientPatch>;
export const RadiusClient = z.object({
  ...Bookkeeping,
  name: z.string(),
  address: z.string(),
  description: z.string().optional(),
  groups: z.array(z.string()),
  settings: z.record(z.string(), z.unknown()),
});
export type RadiusClient = z.infer<typeof RadiusClient>;

// ---------------------------------------------------------------------------------------------
// Networks and devices

export const NetworkInput = z.strictObject({
  name: ObjectName.describe('Identifier used in policies'),
  description: z.string().max(1024).optional().describe('What the network is'),
  cidrs: z.array(Cidr).min(1, 'a network needs at least one CIDR').max(1000),
  risky: z.boolean().default(false).describe('Sign-ins from here raise the risk level (e.g. anonymising proxies)'),
});
export type NetworkInput = z.input<typeof NetworkInput>;
export const NetworkPatch = z.strictObject({
  name: ObjectName.optional(),
  description: z.string().max(1024).nullable().optional(),
  cidrs: z.array(Cidr).min(1).max(1000).optional(),
  risky: z.boolean().optional(),
});
export type NetworkPatch = z.output<typeof NetworkPatch>;
export const Network = z.object({
  ...Bookkeeping,
  name: z.string(),
  description: z.string().optional(),
  cidrs: z.array(z.string()),
  risky: z.boolean(),
});
export type Network = z.infer<typeof Network>;

export const DevicePlatform = z.enum(DEVICE_PLATFORMS);
export const Posture = z.strictObject({
  osVersion: z.string().max(128).optional(),
  diskEncrypted: z.boolean().optional(),
  firewall: z.boolean().optional(),
  screenLock: z.boolean().optional(),
  reportedAt: z.string().optional().describe('When the device last reported its posture (ISO 8601)'),
});
export const DeviceInput = z.strictObject({
  name: z.string().trim().min(1).max(128),
  owners: z.array(Username).max(20).default([]).describe('Usernames of the people who use the device'),
  platform: DevicePlatform.default('other'),
  serial: z.string().trim().max(128).optional(),
  managed: z.boolean().default(false).describe('Enrolled in device management'),
  posture: Posture.default({}),
  attributes: Attributes.default({}),
});
export type DeviceInput = z.input<typeof DeviceInput>;
export const DevicePatch = z.strictObject({
  name: z.string().trim().min(1).max(128).optional(),
  owners: z.array(Username).max(20).optional(),
  platform: DevicePlatform.optional(),
  serial: z.string().trim().max(128).nullable().optional(),
  managed: z.boolean().optional(),
  posture: Posture.optional(),
  attributes: Attributes.optional(),
});
export type DevicePatch = z.output<typeof DevicePatch>;
export const Device = z.object({
  ...Bookkeeping,
  name: z.string(),
  owners: z.array(z.string()),
  platform: DevicePlatform,
  serial: z.string().optional(),
  managed: z.boolean(),
  posture: Posture,
  attributes: Attributes,
  lastSeenAt: z.string().optional(),
});
export type Device = z.infer<typeof Device>;

// ---------------------------------------------------------------------------------------------
// Conditional-access policies (stored and validated here; evaluated by src/access)

export const AuthMethod = z.enum(['password', 'totp', 'webauthn', 'certificate']);
export const PolicyAction = z.enum(['allow', 'deny', 'mfa']);
export const RiskLevel = z.enum(['low', 'medium', 'high']);
export const Protocol = z.enum(PROTOCOLS);
export type Protocol = z.infer<typeof Protocol>;

/** A resource reference: `app:<name>`, `radius:<name>`, `ldap`, `portal` or `admin`. */
export const ResourceRef = z
  .string()
  .regex(/^(app:[a-z0-9][a-z0-9._-]*|radius:[a-z0-9][a-z0-9._-]*|ldap|portal|admin)$/, "resource must be 'app:<name>', 'radius:<name>', 'ldap', 'portal' or 'admin'");

/** Conditions of a policy; every condition given must hold (AND). */
export const PolicyConditions = z
  .strictObject({
    device: z
      .strictObject({
        managed: z.boolean().optional().describe('The device is (true) or is not (false) enrolled in device management'),
        compliant: z.boolean().optional().describe('The device does (true) or does not (false) meet the posture rule'),
        certificate: z.boolean().optional().describe('The device presented a Gatehouse device certificate'),
      })
      .optional(),
    network: z
      .strictObject({
        in: z.array(ObjectName).optional().describe('Client IP is in one of these named networks'),
        notIn: z.array(ObjectName).optional().describe('Client IP is in none of these named networks'),
      })
      .optional(),
    risk: z.strictObject({ atLeast: RiskLevel.describe('Matches when the sign-in risk is at least this level') }).optional(),
    mfaWithin: z.int().min(1).max(8760 * 60).optional().describe('Matches when no second factor was satisfied within this many minutes'),
  });
export type PolicyConditions = z.output<typeof PolicyConditions>;

export const PolicyInput = z.strictObject({
  name: ObjectName.describe('Identifier of the policy, named in decisions and audit events'),
  description: z.string().max(1024).optional().describe('Why the policy exists'),
  enabled: z.boolean().default(true).describe('Disabled policies are kept but never evaluated'),
  users: z
    .strictObject({
      groups: z.array(GroupName).max(1000).optional().describe('Applies to members of these groups; omitted means every user'),
      exclude: z.array(GroupName).max(1000).default([]).describe('Members of these groups are exempt'),
    })
    .default({ exclude: [] }),
  resources: z
    .strictObject({
      include: z.array(ResourceRef).max(1000).optional().describe('Resources the policy covers; omitted means all'),
      protocols: z.array(Protocol).optional().describe('Protocols the policy covers; omitted means all'),
    })
    .default({}),
  conditions: PolicyConditions.default({}).describe('All given conditions must hold for the policy to match'),
  except: PolicyConditions.optional().describe('The policy does not apply when all of these hold (e.g. a managed device on the office network)'),
  action: PolicyAction.describe("What happens when the policy matches: 'deny' beats 'mfa' beats 'allow'"),
  methods: z.array(AuthMethod.exclude(['password'])).min(1).optional().describe("For action 'mfa': acceptable second factors (default: any)"),
});
export type PolicyInput = z.input<typeof PolicyInput>;
export const PolicyPatch = z
  .strictObject({
    name: ObjectName.optional(),
    description: z.string().max(1024).nullable().optional(),
    enabled: z.boolean().optional(),
    users: PolicyInput.shape.users.unwrap().optional(),
    resources: PolicyInput.shape.resources.unwrap().optional(),
    conditions: PolicyConditions.optional(),
    except: PolicyConditions.nullable().optional(),
    action: PolicyAction.optional(),
    methods: PolicyInput.shape.methods.unwrap().nullable().optional(),
  })
  .describe('Fields to change; null removes an optional field; users, resources and conditions are replaced whole');
export type PolicyPatch = z.output<typeof PolicyPatch>;
type PolicyBody = z.output<typeof PolicyInput>;
export const Policy = z.object({ ...Bookkeeping, ...PolicyInput.shape });
export type Policy = PolicyBody & { id: string; managedBy: ManagedBy; version: number; createdAt: string; updatedAt: string };

// ---------------------------------------------------------------------------------------------
// Admin API keys

export const ApiScope = z.enum(['read', 'write']);
export type ApiScope = z.infer<typeof ApiScope>;
export const ApiKeyInput = z.strictObject({
  name: ObjectName,
  scopes: z.array(ApiScope).min(1).default(['read']).describe("'read' may list and get; 'write' may also change"),
  expiresAt: z.iso.datetime({ offset: true }).optional().describe('When the key stops working (ISO 8601)'),
});
export type ApiKeyInput = z.input<typeof ApiKeyInput>;
export const ApiKey = z.object({
  ...Bookkeeping,
  name: z.string(),
  scopes: z.array(ApiScope),
  prefix: z.string().describe('First characters of the key, to recognise it'),
  expiresAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
});
export type ApiKey = z.infer<typeof ApiKey>;

// ---------------------------------------------------------------------------------------------
// Audit events

export const Outcome = z.enum(['success', 'failure', 'denied', 'error']);
export type Outcome = z.infer<typeof Outcome>;
export const Reason = z.object({
  code: z.string(),
  description: z.string(),
  policy: z.string().optional(),
});
export type Reason = z.infer<typeof Reason>;
export const Principal = z.object({
  type: z.enum(['user', 'application', 'apikey', 'device', 'cli', 'config', 'system', 'anonymous']),
  id: z.string().optional(),
  name: z.string().optional(),
});
export type Principal = z.infer<typeof Principal>;
export const Target = z.object({ type: z.string(), id: z.string().optional(), name: z.string().optional() });
export type Target = z.infer<typeof Target>;
export const AuditEvent = z.object({
  id: z.string(),
  time: z.string(),
  type: z.string(),
  actor: Principal,
  target: Target.optional(),
  sourceIp: z.string().optional(),
  protocol: z.string().optional(),
  outcome: Outcome,
  reasons: z.array(Reason),
  details: z.record(z.string(), z.unknown()),
  requestId: z.string().optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
export type NewAuditEvent = Omit<AuditEvent, 'id' | 'time' | 'reasons' | 'details'> & { reasons?: Reason[]; details?: Record<string, unknown>; time?: string };
