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
  ApiKey, ApiKeyInput, Application, ApplicationInput, ApplicationPatch, AuditEvent, Device, DeviceInput, DevicePatch, Group, GroupInput, GroupName,
  GroupPatch, ManagedBy, Member, MemberInput, MemberKind, Network, NetworkInput, NetworkPatch, Outcome, Policy, PolicyInput, PolicyPatch,
  RadiusClient, RadiusClientInput, RadiusClientPatch, User, UserInput, UserPatch, UserStatus,
} from '../directory/model.ts';

/** Request bodies, converted with `io: 'input'` (fields with defaults are optional). */
export const requestSchemas = z.registry<{ id: string }>();
/** Response bodies, converted with `io: 'output'` (what the server actually sends). */
export const responseSchemas = z.registry<{ id: string }>();

function requestBody<S extends z.ZodType>(id: string, schema: S): S {
  requestSchemas.add(schema, { id });
  return schema;
}

function responseBody<S extends z.ZodType>(id: string, schema: S): S {
  responseSchemas.add(schema, { id });
  return schema;
}

/** A page of a list: `{ items, next? }`, the cursor shape every list endpoint shares. */
function pageOf<S extends z.ZodType>(id: string, item: S) {
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
  AuditEvent: responseBody('AuditEvent', AuditEvent),
  AuditEventList: pageOf('AuditEventList', AuditEvent),
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

export const UserGroupsQuery = z.strictObject({
  direct: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: only the groups the user is a direct member of; otherwise also the groups reached through nested groups'),
});

const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z' });

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
    since: instant.optional().describe('Events at or after this time (ISO 8601)'),
    until: instant.optional().describe('Events before this time (ISO 8601)'),
    ...page,
  })
  .refine((q) => q.since === undefined || q.until === undefined || Date.parse(q.since) <= Date.parse(q.until), { path: ['until'], message: 'until must not be before since' });
