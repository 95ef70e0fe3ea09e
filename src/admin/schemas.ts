/**
 * The admin API's wire schemas: the directory model's inputs and entities, plus the few shapes only
 * the API has (list envelopes, query strings, path parameters, problem details).
 *
 * Every request body and response body is registered here under a name. The OpenAPI document's
 * `components.schemas` is generated from these two registries, and each operation refers to its
 * schemas by that name, so a schema is converted once and nested entities become `$ref`s.
 */
import { z } from 'zod';
import {
  ApiKey, ApiKeyInput, Application, ApplicationInput, ApplicationPatch, AuditEvent, AuthMethod, Device, DeviceInput, DevicePatch, Group, GroupInput, GroupName,
  GroupPatch, ManagedBy, Member, MemberInput, MemberKind, Network, NetworkInput, NetworkPatch, Outcome, Policy, PolicyAction, PolicyInput, PolicyPatch,
  Protocol, RadiusClient, RadiusClientInput, RadiusClientPatch, Reason, ResourceRef, RiskLevel, User, UserInput, UserPatch, UserStatus,
} from '../directory/model.ts';
import { normalizeIp } from '../net/client-ip.ts';

/** Request bodies, converted with `io: 'input'` (fields with defaults are optional). */
export const requestSchemas = z.registry<{ id: string }>();
/** Response bodies, converted with `io: 'output'` (what the server actually sends). */
export const responseSchemas = z.registry<{ id: string }>();

export function requestBody<S extends z.ZodType>(id: string, schema: S): S {
  requestSchemas.add(schema, { id });
  return schema;
}

export function responseBody<S extends z.ZodType>(id: string, schema: S): S {
  responseSchemas.add(schema, { id });
  return schema;
}

/** A page of a list: `{ items, next? }`, the cursor shape every list endpoint shares. */
export function pageOf<S extends z.ZodType>(id: string, item: S) {
  return responseBody(
    id,
    z.object({
      items: z.array(item),
      next: z.string().optional().describe('Cursor for the next page (pass it as `after`); absent on the last page'),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/**
 * Policies are patched field by field. `PolicyInput.partial()` would not do: zod applies the
 * defaults of the wrapped fields, so a patch of `{ name }` would reset `enabled`, `users`,
 * `resources` and `conditions`. Here the defaults are removed; nested objects replace the stored
 * ones whole; `null` removes an optional field (`methods` must go when the action stops being mfa).
 */
export const SetPasswordInput = z.strictObject({
  password: z.string().describe('The new password, checked against the password policy; never returned'),
});

const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z' });

/** An IPv4 or IPv6 address, normalised as the server sees clients (IPv4-mapped IPv6 becomes IPv4). */
export const IpAddress = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const ip = normalizeIp(value);
    if (ip === undefined) {
      ctx.addIssue({ code: 'custom', message: `'${value.slice(0, 64)}' is not an IPv4 or IPv6 address` });
      return z.NEVER;
    }
    return ip;
  })
  .describe('IPv4 or IPv6 address, e.g. 203.0.113.7');

/** A hypothetical request for the access core (POST /access/evaluate, `gatehouse policy explain`). */
export const AccessEvaluationInput = z
  .strictObject({
    user: z.string().trim().min(1).max(256).describe('The user (id or username)'),
    resource: ResourceRef.describe("What is accessed: 'app:<name>', 'radius:<name>', 'ldap', 'portal' or 'admin'"),
    protocol: Protocol.optional().describe("The front-end the request comes through. Default: the resource's own ('saml' for a SAML application, 'oidc' for other applications; 'radius', 'ldap', 'portal', 'admin' for the others)"),
    ip: IpAddress.optional().describe('Client address; decides the named networks and the address-based risk signals'),
    device: z.string().trim().min(1).max(256).optional().describe('The device behind the request, by id or name (as GET /devices/{id} finds it)'),
    certificate: z.boolean().default(false).describe('The device was identified by a Gatehouse device certificate (needs `device`)'),
    authn: z
      .array(
        z.strictObject({
          method: AuthMethod,
          at: instant.optional().describe('When the factor was done (default: now)'),
        }),
      )
      .max(8)
      .default([{ method: 'password' }])
      .describe('Authentication methods already done in this sign-in (default: the password, now)'),
  })
  .refine((input) => !input.certificate || input.device !== undefined, { path: ['certificate'], message: 'certificate needs a device' });
export type AccessEvaluationInput = z.output<typeof AccessEvaluationInput>;

export const WebAuthnCredentialPatch = z.strictObject({
  name: z.string().max(1024).describe('The new name of the authenticator (1-64 characters, no control characters)'),
});

export const REQUEST = {
  UserInput: requestBody('UserInput', UserInput),
  UserPatch: requestBody('UserPatch', UserPatch),
  SetPasswordInput: requestBody('SetPasswordInput', SetPasswordInput),
  GroupInput: requestBody('GroupInput', GroupInput),
  GroupPatch: requestBody('GroupPatch', GroupPatch),
  MemberInput: requestBody('MemberInput', MemberInput),
  ApplicationInput: requestBody('ApplicationInput', ApplicationInput),
  ApplicationPatch: requestBody('ApplicationPatch', ApplicationPatch),
  NetworkInput: requestBody('NetworkInput', NetworkInput),
  NetworkPatch: requestBody('NetworkPatch', NetworkPatch),
  DeviceInput: requestBody('DeviceInput', DeviceInput),
  DevicePatch: requestBody('DevicePatch', DevicePatch),
  PolicyInput: requestBody('PolicyInput', PolicyInput),
  PolicyPatch: requestBody('PolicyPatch', PolicyPatch),
  RadiusClientInput: requestBody('RadiusClientInput', RadiusClientInput),
  RadiusClientPatch: requestBody('RadiusClientPatch', RadiusClientPatch),
  ApiKeyInput: requestBody('ApiKeyInput', ApiKeyInput),
  AccessEvaluationInput: requestBody('AccessEvaluationInput', AccessEvaluationInput),
  WebAuthnCredentialPatch: requestBody('WebAuthnCredentialPatch', WebAuthnCredentialPatch),
};

// ---------------------------------------------------------------------------------------------
// Response bodies

/** RFC 9457 problem details, as src/server/problem.ts writes them. */
export const Problem = z
  .object({
    type: z.string().describe('URI identifying the kind of problem'),
    title: z.string(),
    status: z.int(),
    detail: z.string().describe('What went wrong with this request, for people'),
    errors: z
      .array(z.object({ path: z.string().describe("Where in the input, e.g. 'cidrs[1]'"), message: z.string(), code: z.string().optional() }))
      .optional()
      .describe('One entry per invalid field (400)'),
  })
  .describe('RFC 9457 problem details');

export const ApiKeyCreated = z.object({
  apiKey: ApiKey,
  secret: z.string().describe('The key to send as `Authorization: Bearer <secret>`; shown this once, only its hash is stored'),
});

export const ApplicationSecretCreated = z.object({
  application: Application,
  secret: z.string().describe("The application's new secret (OIDC client secret, LDAP service-account password); shown this once, only its hash is stored"),
});

const SecondFactor = AuthMethod.exclude(['password']);

/** What a decision was made about and why: the access request as the access core built it. */
export const AccessEvaluation = z.object({
  decision: PolicyAction.describe("'allow', 'deny', or 'mfa' (a second factor is needed first)"),
  methods: z.array(SecondFactor).optional().describe("For 'mfa': the second factors that would satisfy it"),
  reasons: z.array(Reason).describe('Every reason, with the policy behind it; the risk signals come last'),
  request: z.object({
    user: z.object({ id: z.string(), username: z.string(), status: UserStatus }),
    groups: z.array(z.string()).describe("Every group the user is in, nested groups resolved"),
    resource: z.object({
      ref: z.string().describe("'app:<name>', 'radius:<name>', 'ldap', 'portal' or 'admin'"),
      kind: z.enum(['app', 'radius', 'ldap', 'portal', 'admin']),
      name: z.string().optional(),
      exists: z.boolean().optional().describe('For applications and RADIUS clients: whether it exists'),
      assignedGroups: z.array(z.string()).optional().describe('For applications and RADIUS clients: the groups whose members may use it'),
    }),
    protocol: Protocol,
    clientIp: z.string().optional(),
    networks: z.array(z.string()).describe('The named networks the client address falls in'),
    device: z
      .object({ id: z.string(), name: z.string(), managed: z.boolean(), compliant: z.boolean(), certificate: z.boolean() })
      .optional(),
    authn: z.array(z.object({ method: AuthMethod, at: z.string() })),
    risk: z.object({ level: RiskLevel, signals: z.array(Reason) }),
    at: z.string().describe('When it was evaluated (ISO 8601)'),
  }),
  radiusReply: z
    .object({
      items: z.array(z.object({ attribute: z.string(), value: z.union([z.string(), z.number()]), tag: z.int().optional(), group: z.string().describe('The group it comes from') })),
      problems: z.array(z.string()).describe('Group attributes that cannot be sent (the RADIUS front-end skips them)'),
    })
    .optional()
    .describe("For a RADIUS client (radius:<name>) and an 'allow' decision: the reply attributes an Access-Accept would carry, from the user's groups, in precedence order (highest radiusPriority, then group name)"),
});

/** A WebAuthn authenticator as administrators see it: never its public key or counter. */
export const WebAuthnCredential = z.object({
  id: z.string().describe('Credential ID (base64url)'),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().optional(),
  deviceType: z.enum(['singleDevice', 'multiDevice']).describe("'multiDevice': a synced passkey"),
  backedUp: z.boolean(),
  discoverable: z.boolean().describe('A passkey: signs in without a username'),
  transports: z.array(z.string()),
});

export const UserFactors = z.object({
  totp: z.enum(['none', 'pending', 'active']).describe("'pending': enrolled but not confirmed with a first code yet"),
  recoveryCodesLeft: z.int().describe('Unused recovery codes'),
  webauthn: z.array(WebAuthnCredential),
});

export const RecoveryCodes = z.object({
  recoveryCodes: z.array(z.string()).describe('Shown this once; only their hashes are stored, and the earlier codes stop working'),
});

export const NetworkPasswordCreated = z.object({
  password: z.string().describe('The network password for WiFi (PEAP/MS-CHAPv2), shown this once: it is stored encrypted and never shown again; it replaces any earlier one'),
  createdAt: z.string(),
});

export const RESPONSE = {
  Problem: responseBody('Problem', Problem),
  User: responseBody('User', User),
  UserList: pageOf('UserList', User),
  Group: responseBody('Group', Group),
  GroupList: pageOf('GroupList', Group),
  Member: responseBody('Member', Member),
  MemberList: responseBody('MemberList', z.object({ items: z.array(Member).describe('Direct members') })),
  UserGroups: responseBody('UserGroups', z.object({ items: z.array(Group).describe('Groups the user belongs to') })),
  Application: responseBody('Application', Application),
  ApplicationList: pageOf('ApplicationList', Application),
  Network: responseBody('Network', Network),
  NetworkList: pageOf('NetworkList', Network),
  Device: responseBody('Device', Device),
  DeviceList: pageOf('DeviceList', Device),
  Policy: responseBody('Policy', Policy),
  PolicyList: pageOf('PolicyList', Policy),
  RadiusClient: responseBody('RadiusClient', RadiusClient),
  RadiusClientList: pageOf('RadiusClientList', RadiusClient),
  ApiKey: responseBody('ApiKey', ApiKey),
  ApiKeyList: pageOf('ApiKeyList', ApiKey),
  ApiKeyCreated: responseBody('ApiKeyCreated', ApiKeyCreated),
  ApplicationSecretCreated: responseBody('ApplicationSecretCreated', ApplicationSecretCreated),
  AuditEvent: responseBody('AuditEvent', AuditEvent),
  AuditEventList: pageOf('AuditEventList', AuditEvent),
  AccessEvaluation: responseBody('AccessEvaluation', AccessEvaluation),
  UserFactors: responseBody('UserFactors', UserFactors),
  WebAuthnCredential: responseBody('WebAuthnCredential', WebAuthnCredential),
  RecoveryCodes: responseBody('RecoveryCodes', RecoveryCodes),
  NetworkPasswordCreated: responseBody('NetworkPasswordCreated', NetworkPasswordCreated),
  OpenApiDocument: responseBody('OpenApiDocument', z.record(z.string(), z.unknown()).describe('This document')),
};

// ---------------------------------------------------------------------------------------------
// Path parameters and query strings. Query strings are strict: a misspelt filter must not
// silently return everything.

export const NoParams = z.strictObject({});
export const NoQuery = z.strictObject({});

export const IdParams = z.strictObject({
  id: z.string().min(1).max(256).describe('The object id (UUID) or its name (username for users)'),
});

export const CredentialParams = z.strictObject({
  id: IdParams.shape.id,
  credentialId: z.string().min(1).max(1364).regex(/^[A-Za-z0-9_-]+$/, 'a credential ID is base64url').describe('The WebAuthn credential ID (base64url)'),
});

export const MemberParams = z.strictObject({
  id: IdParams.shape.id,
  kind: MemberKind.describe("'user' or 'group'"),
  member: z.string().min(1).max(256).describe('Username or group name (or id) of the member'),
});

const page = {
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Page size, 1 to 1000 (default 100)'),
  after: z.string().min(1).max(1024).optional().describe('Cursor from the previous page'),
};

const search = z.string().min(1).max(256).optional().describe('Case-insensitive prefix of the name');

export const ListQuery = z.strictObject({
  q: search,
  managedBy: ManagedBy.optional().describe("'api' or 'config'"),
  ...page,
});

export const UserListQuery = z.strictObject({
  q: z.string().min(1).max(256).optional().describe('Case-insensitive prefix of the username or e-mail address'),
  status: UserStatus.optional(),
  group: GroupName.optional().describe('Only direct members of this group'),
  managedBy: ManagedBy.optional().describe("'api' or 'config'"),
  ...page,
});

/**
 * `?force=true`, on the routes that change what the configuration file may declare (route.ts adds
 * it to their query): change a declared object anyway, until the next reload or start puts the
 * declaration back.
 */
export const ForceQuery = z.strictObject({
  force: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe(
      'true: make the change even if the configuration file declares the object (or, for an API key, GATEHOUSE_ADMIN_KEY sets it). ' +
        'It lasts until the next reload or start, when the declaration is put back; without it such a change is refused (409, problem type managed-by-config, naming the file to edit)',
    ),
});

export const UserGroupsQuery = z.strictObject({
  direct: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: only the groups the user is a direct member of; otherwise also the groups reached through nested groups'),
});

export const AuditQuery = z
  .strictObject({
    user: z.string().trim().toLowerCase().min(1).max(256).optional().describe('Events whose actor or target is this user (id or username)'),
    type: z
      .string()
      .max(128)
      .regex(/^[a-z_]+(\.[a-z_]+)*\.?$/, "an event type such as 'user.created', or a prefix ending in '.' such as 'user.'")
      .optional()
      .describe("Exact event type, or a prefix ending in '.' (e.g. 'user.')"),
    outcome: Outcome.optional(),
    requestId: z.string().trim().min(1).max(64).optional().describe('Events of one request: the reference shown on denial and error pages (also the X-Request-Id response header)'),
    since: instant.optional().describe('Events at or after this time (ISO 8601)'),
    until: instant.optional().describe('Events before this time (ISO 8601)'),
    ...page,
  })
  .refine((q) => q.since === undefined || q.until === undefined || Date.parse(q.since) <= Date.parse(q.until), { path: ['until'], message: 'until must not be before since' });
