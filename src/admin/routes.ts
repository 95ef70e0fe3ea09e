/**
 * The admin API route table: every endpoint below /api/v1, once. api.ts builds the router from it
 * and openapi.ts the OpenAPI document. Handlers get parsed, typed input and call the directory
 * service for every change (it writes the change and its audit event in one transaction).
 */
import type { z } from 'zod';
import type { Core } from '../core.ts';
import type { MemberKind } from '../directory/model.ts';
import type { ResourceKind, ResourceKinds } from '../directory/service.ts';
import { explainAccess } from './explain.ts';
import { newNetworkPassword, newRecoveryCodes, removeCredential, removeNetworkPassword, renameCredential, resetTotp, userFactors } from './factors.ts';
import { deviceRoutes } from './device-routes.ts';
import { networkSessionRoutes } from './network-session-routes.ts';
import { buildOpenApiDocument } from './openapi.ts';
import { route, type Route, type Tag } from './route.ts';
import { AuditQuery, CredentialParams, IdParams, ListQuery, MemberParams, REQUEST, RESPONSE, UserGroupsQuery, UserListQuery } from './schemas.ts';

// ---------------------------------------------------------------------------------------------
// Users

const users: Route[] = [
  route({
    operationId: 'listUsers', method: 'get', path: '/users', tag: 'users', summary: 'List users',
    query: UserListQuery, status: 200, response: RESPONSE.UserList, errors: [404],
    async handle({ query }, { core }) {
      const { status, group, ...rest } = query;
      // Filtering by a group that does not exist is a mistake worth a 404, not an empty page.
      const memberOf = group === undefined ? undefined : (await core.directory.groups.find(group)).id;
      return core.directory.users.list({ ...rest, where: status ? { status } : undefined, memberOf });
    },
  }),
  route({
    operationId: 'createUser', method: 'post', path: '/users', tag: 'users', summary: 'Create a user',
    description: 'With `password`, the password policy applies; with `groups`, the user is added to those groups in the same transaction.',
    body: REQUEST.UserInput, status: 201, response: RESPONSE.User, etag: true, location: (u) => `/users/${u.id}`, errors: [404, 409],
    bodyChecks: passwordProblems,
    handle: ({ body }, { core, audit }) => core.directory.users.create(audit, body),
  }),
  route({
    operationId: 'getUser', method: 'get', path: '/users/:id', tag: 'users', summary: 'Get a user by id or username',
    params: IdParams, status: 200, response: RESPONSE.User, etag: true,
    handle: ({ params }, { core }) => core.directory.users.find(params.id),
  }),
  route({
    operationId: 'updateUser', method: 'patch', path: '/users/:id', tag: 'users', summary: 'Change a user',
    params: IdParams, body: REQUEST.UserPatch, ifMatch: true, force: true, status: 200, response: RESPONSE.User, etag: true, errors: [409],
    handle: ({ params, body, expectVersion, force }, { core, audit }) => core.directory.users.update(audit, params.id, body, { expectVersion, force }),
  }),
  route({
    operationId: 'deleteUser', method: 'delete', path: '/users/:id', tag: 'users', summary: 'Delete a user (their sessions and tokens are revoked)',
    params: IdParams, ifMatch: true, force: true, status: 204,
    async handle({ params, expectVersion, force }, { core, audit }) {
      await core.directory.users.delete(audit, params.id, { expectVersion, force });
    },
  }),
  route({
    operationId: 'listUserGroups', method: 'get', path: '/users/:id/groups', tag: 'users', summary: "The user's groups, including those reached through nested groups",
    params: IdParams, query: UserGroupsQuery, status: 200, response: RESPONSE.UserGroups,
    async handle({ params, query }, { core }) {
      const user = await core.directory.users.find(params.id);
      return { items: query.direct ? await core.directory.users.directGroupsOf(user.id) : await core.directory.users.groupsOf(user.id) };
    },
  }),
  route({
    operationId: 'setUserPassword', method: 'post', path: '/users/:id/password', tag: 'users', summary: "Set a user's password",
    description: 'The password policy (length, common passwords, context words, history) applies. A declared user whose declaration sets no password keeps the one set here.',
    params: IdParams, body: REQUEST.SetPasswordInput, force: true, status: 204,
    async handle({ params, body, force }, { core, audit }) {
      await core.directory.users.setPassword(audit, params.id, body.password, { force });
    },
  }),
  route({
    operationId: 'suspendUser', method: 'post', path: '/users/:id/suspend', tag: 'users', summary: 'Suspend a user',
    description: 'Every front-end refuses the user from then on; their sessions and tokens are revoked.',
    params: IdParams, force: true, status: 200, response: RESPONSE.User, etag: true,
    handle: ({ params, force }, { core, audit }) => core.directory.users.suspend(audit, params.id, { force }),
  }),
  route({
    operationId: 'activateUser', method: 'post', path: '/users/:id/activate', tag: 'users', summary: 'Reactivate a suspended user',
    params: IdParams, force: true, status: 200, response: RESPONSE.User, etag: true,
    handle: ({ params, force }, { core, audit }) => core.directory.users.activate(audit, params.id, { force }),
  }),
];

/**
 * The password policy's verdict on the `password` of a user body the schema refused for other
 * reasons, judged with the body's own name and e-mail address as context words: so the 400 names
 * the password's problems with the others rather than after they are fixed.
 */
function passwordProblems(body: unknown, core: Core): Array<{ path: string; code: string; message: string }> {
  if (typeof body !== 'object' || body === null) return [];
  const { password, username, email, displayName } = body as Record<string, unknown>;
  // Not a string: the schema has said so already.
  if (typeof password !== 'string') return [];
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return core.directory.users.checkPassword(password, { username: text(username), email: text(email), displayName: text(displayName) }).map((p) => ({ path: 'password', ...p }));
}

// ---------------------------------------------------------------------------------------------
// A user's second factors (the MFA services audit each change)

const factors: Route[] = [
  route({
    operationId: 'getUserFactors', method: 'get', path: '/users/:id/factors', tag: 'users', summary: "The user's second factors",
    description: 'TOTP state, how many recovery codes are left, and the WebAuthn authenticators. Never a TOTP seed or a public key.',
    params: IdParams, status: 200, response: RESPONSE.UserFactors,
    handle: async ({ params }, { core }) => (await userFactors(core, params.id)).factors,
  }),
  route({
    operationId: 'resetUserTotp', method: 'delete', path: '/users/:id/factors/totp', tag: 'users', summary: "Reset the user's TOTP factor and recovery codes",
    description: 'For a lost or replaced phone: the pending or active TOTP factor and every recovery code are removed; the user enrols again. 404 when the user has neither.',
    params: IdParams, status: 204,
    async handle({ params }, { core, audit }) {
      await resetTotp(core, audit, params.id);
    },
  }),
  route({
    operationId: 'regenerateUserRecoveryCodes', method: 'post', path: '/users/:id/factors/recovery-codes', tag: 'users', summary: 'Issue new recovery codes',
    description: 'The earlier codes stop working. The new ones are in this answer only. 409 when the user has no active TOTP factor (recovery codes back it up).',
    params: IdParams, status: 200, response: RESPONSE.RecoveryCodes, errors: [409],
    handle: async ({ params }, { core, audit }) => ({ recoveryCodes: (await newRecoveryCodes(core, audit, params.id)).recoveryCodes }),
  }),
  route({
    operationId: 'generateUserNetworkPassword', method: 'post', path: '/users/:id/network-password', tag: 'users', summary: 'Generate the user\'s network password (WiFi, PEAP/MS-CHAPv2)',
    description: 'A new random network password, in this answer only (stored encrypted with the keyring); it replaces any earlier one. Used only for MS-CHAPv2 inside PEAP, never the main password.',
    params: IdParams, status: 201, response: RESPONSE.NetworkPasswordCreated,
    handle: async ({ params }, { core, audit }) => {
      const { password, createdAt } = await newNetworkPassword(core, audit, params.id);
      return { password, createdAt };
    },
  }),
  route({
    operationId: 'removeUserNetworkPassword', method: 'delete', path: '/users/:id/network-password', tag: 'users', summary: 'Remove the user\'s network password',
    description: 'PEAP/MS-CHAPv2 sign-ins are refused until a new one is generated. 404 when the user has none.',
    params: IdParams, status: 204,
    async handle({ params }, { core, audit }) {
      await removeNetworkPassword(core, audit, params.id);
    },
  }),
  route({
    operationId: 'renameUserWebAuthnCredential', method: 'patch', path: '/users/:id/factors/webauthn/:credentialId', tag: 'users', summary: 'Rename a WebAuthn authenticator',
    params: CredentialParams, body: REQUEST.WebAuthnCredentialPatch, status: 200, response: RESPONSE.WebAuthnCredential,
    handle: ({ params, body }, { core, audit }) => renameCredential(core, audit, params.id, params.credentialId, body.name),
  }),
  route({
    operationId: 'removeUserWebAuthnCredential', method: 'delete', path: '/users/:id/factors/webauthn/:credentialId', tag: 'users', summary: 'Remove a WebAuthn authenticator',
    description: 'It can no longer sign in or serve as a second factor.',
    params: CredentialParams, status: 204,
    async handle({ params }, { core, audit }) {
      await removeCredential(core, audit, params.id, params.credentialId);
    },
  }),
];

// ---------------------------------------------------------------------------------------------
// Conditional access: explain / what-if

const access: Route[] = [
  route({
    operationId: 'evaluateAccess', method: 'post', path: '/access/evaluate', tag: 'access', summary: 'Explain what the access core would decide, and why',
    description:
      'Evaluates a hypothetical request (user, resource, protocol, client address, device, factors done) against the current policies and answers with the decision, ' +
      'every reason with its policy, and the request as the access core built it (groups, networks, device, risk signals). ' +
      'Nothing is changed: no audit event, and the address and device are not remembered for the risk signals. Unknown user or device: 404.',
    access: 'read', body: REQUEST.AccessEvaluationInput, status: 200, response: RESPONSE.AccessEvaluation, errors: [404],
    handle: ({ body }, { core }) => explainAccess(core, body),
  }),
];

// ---------------------------------------------------------------------------------------------
// Groups and memberships

const groups: Route[] = [
  route({
    operationId: 'listGroups', method: 'get', path: '/groups', tag: 'groups', summary: 'List groups',
    query: ListQuery, status: 200, response: RESPONSE.GroupList,
    handle: ({ query }, { core }) => core.directory.groups.list(query),
  }),
  route({
    operationId: 'createGroup', method: 'post', path: '/groups', tag: 'groups', summary: 'Create a group',
    body: REQUEST.GroupInput, status: 201, response: RESPONSE.Group, etag: true, location: (g) => `/groups/${g.id}`, errors: [409],
    handle: ({ body }, { core, audit }) => core.directory.groups.create(audit, body),
  }),
  route({
    operationId: 'getGroup', method: 'get', path: '/groups/:id', tag: 'groups', summary: 'Get a group by id or name',
    params: IdParams, status: 200, response: RESPONSE.Group, etag: true,
    handle: ({ params }, { core }) => core.directory.groups.find(params.id),
  }),
  route({
    operationId: 'updateGroup', method: 'patch', path: '/groups/:id', tag: 'groups', summary: 'Change a group',
    description: 'A group a policy refers to cannot be renamed (409).',
    params: IdParams, body: REQUEST.GroupPatch, ifMatch: true, force: true, status: 200, response: RESPONSE.Group, etag: true, errors: [409],
    handle: ({ params, body, expectVersion, force }, { core, audit }) => core.directory.groups.update(audit, params.id, body, { expectVersion, force }),
  }),
  route({
    operationId: 'deleteGroup', method: 'delete', path: '/groups/:id', tag: 'groups', summary: 'Delete a group',
    description: 'A group a policy refers to cannot be deleted (409).',
    params: IdParams, ifMatch: true, force: true, status: 204, errors: [409],
    async handle({ params, expectVersion, force }, { core, audit }) {
      await core.directory.groups.delete(audit, params.id, { expectVersion, force });
    },
  }),
  route({
    operationId: 'listGroupMembers', method: 'get', path: '/groups/:id/members', tag: 'groups', summary: 'Direct members of a group (users and nested groups)',
    params: IdParams, status: 200, response: RESPONSE.MemberList,
    async handle({ params }, { core }) {
      const group = await core.directory.groups.find(params.id);
      return { items: await core.directory.groups.members(group.id) };
    },
  }),
  route({
    operationId: 'addGroupMember', method: 'post', path: '/groups/:id/members', tag: 'groups', summary: 'Add a user or a nested group to a group',
    description: 'A membership that would make a group contain itself is refused (409). The membership is managed by the API, in a group the configuration file declares too: reloads leave it.',
    params: IdParams, body: REQUEST.MemberInput, status: 204, errors: [409],
    async handle({ params, body }, { core, audit }) {
      const [kind, member]: [MemberKind, string] = body.user !== undefined ? ['user', body.user] : ['group', body.group!];
      await core.directory.groups.addMember(audit, params.id, kind, member);
    },
  }),
  route({
    operationId: 'removeGroupMember', method: 'delete', path: '/groups/:id/members/:kind/:member', tag: 'groups', summary: 'Remove a direct member from a group',
    params: MemberParams, force: true, status: 204,
    async handle({ params, force }, { core, audit }) {
      await core.directory.groups.removeMember(audit, params.id, params.kind, params.member, { force });
    },
  }),
];

// ---------------------------------------------------------------------------------------------
// Applications, networks, devices, policies, RADIUS clients: the same five operations each.

interface ResourceApi<K extends ResourceKind> {
  kind: K;
  tag: Tag;
  /** Singular and plural for operationIds ('Policy', 'Policies') and for summaries ('policy', 'policies'). */
  one: string;
  many: string;
  label: string;
  labels: string;
  input: z.ZodType<ResourceKinds[K]['input']>;
  patch: z.ZodType<ResourceKinds[K]['patch']>;
  entity: z.ZodType;
  list: z.ZodType;
  /** Policies may refer to objects of this kind by name: renaming or deleting one of those is a 409. */
  referenced?: boolean;
  /** The configuration file may declare objects of this kind (devices it does not). */
  declarable: boolean;
}

function resourceRoutes<K extends ResourceKind>(api: ResourceApi<K>): Route[] {
  const { kind, tag, one, many, label } = api;
  const base = `/${tag}`;
  const refNote = api.referenced ? `A ${label} a policy refers to cannot be renamed or deleted (409).` : undefined;
  return [
    route({
      operationId: `list${many}`, method: 'get', path: base, tag, summary: `List ${api.labels}`,
      query: ListQuery, status: 200, response: api.list,
      handle: ({ query }, { core }) => core.directory.resources.list(kind, query),
    }),
    route({
      operationId: `create${one}`, method: 'post', path: base, tag, summary: `Create a ${label}`,
      body: api.input, status: 201, response: api.entity, etag: true, location: (created) => `${base}/${(created as { id: string }).id}`, errors: [404, 409],
      handle: ({ body }, { core, audit }) => core.directory.resources.create(audit, kind, body),
    }),
    route({
      operationId: `get${one}`, method: 'get', path: `${base}/:id`, tag, summary: `Get a ${label} by id or name`,
      params: IdParams, status: 200, response: api.entity, etag: true,
      handle: ({ params }, { core }) => core.directory.resources.find(kind, params.id),
    }),
    route({
      operationId: `update${one}`, method: 'patch', path: `${base}/:id`, tag, summary: `Change a ${label}`, description: refNote,
      params: IdParams, body: api.patch, ifMatch: true, force: api.declarable, status: 200, response: api.entity, etag: true, errors: [409],
      handle: ({ params, body, expectVersion, force }, { core, audit }) => core.directory.resources.update(audit, kind, params.id, body, { expectVersion, force }),
    }),
    route({
      operationId: `delete${one}`, method: 'delete', path: `${base}/:id`, tag, summary: `Delete a ${label}`, description: refNote,
      params: IdParams, ifMatch: true, force: api.declarable, status: 204, errors: api.referenced ? [409] : [],
      async handle({ params, expectVersion, force }, { core, audit }) {
        await core.directory.resources.delete(audit, kind, params.id, { expectVersion, force });
      },
    }),
  ];
}

const resources: Route[] = [
  ...resourceRoutes({
    kind: 'applications', tag: 'applications', one: 'Application', many: 'Applications', label: 'application', labels: 'applications', referenced: true, declarable: true,
    input: REQUEST.ApplicationInput, patch: REQUEST.ApplicationPatch, entity: RESPONSE.Application, list: RESPONSE.ApplicationList,
  }),
  route({
    operationId: 'rotateApplicationSecret', method: 'post', path: '/applications/:id/secret', tag: 'applications', summary: "Generate a new secret for an application",
    description:
      'The OIDC client secret or LDAP service-account password. The response carries it; it is shown this once, only its SHA-256 is stored, and the previous secret stops working at once. ' +
      'A declared application whose declaration sets no secret keeps the one made here.',
    params: IdParams, force: true, status: 201, response: RESPONSE.ApplicationSecretCreated,
    handle: ({ params, force }, { core, audit }) => core.directory.applications.rotateSecret(audit, params.id, { force }),
  }),
  ...resourceRoutes({
    kind: 'networks', tag: 'networks', one: 'Network', many: 'Networks', label: 'network', labels: 'networks', referenced: true, declarable: true,
    input: REQUEST.NetworkInput, patch: REQUEST.NetworkPatch, entity: RESPONSE.Network, list: RESPONSE.NetworkList,
  }),
  ...resourceRoutes({
    kind: 'devices', tag: 'devices', one: 'Device', many: 'Devices', label: 'device', labels: 'devices', declarable: false,
    input: REQUEST.DeviceInput, patch: REQUEST.DevicePatch, entity: RESPONSE.Device, list: RESPONSE.DeviceList,
  }),
  ...resourceRoutes({
    kind: 'policies', tag: 'policies', one: 'Policy', many: 'Policies', label: 'policy', labels: 'policies', declarable: true,
    // The service types a policy patch as Partial<PolicyInput>, without the nulls that remove a
    // field; applyPatch handles null for every kind, so the wider type is safe here.
    input: REQUEST.PolicyInput, patch: REQUEST.PolicyPatch, entity: RESPONSE.Policy, list: RESPONSE.PolicyList,
  }),
  ...resourceRoutes({
    kind: 'radiusClients', tag: 'radius-clients', one: 'RadiusClient', many: 'RadiusClients', label: 'RADIUS client', labels: 'RADIUS clients', referenced: true, declarable: true,
    input: REQUEST.RadiusClientInput, patch: REQUEST.RadiusClientPatch, entity: RESPONSE.RadiusClient, list: RESPONSE.RadiusClientList,
  }),
];

// ---------------------------------------------------------------------------------------------
// API keys, audit, the document itself

const apiKeys: Route[] = [
  route({
    operationId: 'listApiKeys', method: 'get', path: '/api-keys', tag: 'api-keys', summary: 'List API keys (never their secrets)',
    query: ListQuery, status: 200, response: RESPONSE.ApiKeyList,
    handle: ({ query }, { core }) => core.directory.apiKeys.list(query),
  }),
  route({
    operationId: 'createApiKey', method: 'post', path: '/api-keys', tag: 'api-keys', summary: 'Create an API key',
    description: 'The response carries the secret; it is shown this once and only its SHA-256 is stored.',
    body: REQUEST.ApiKeyInput, status: 201, response: RESPONSE.ApiKeyCreated, errors: [409],
    handle: ({ body }, { core, audit }) => core.directory.apiKeys.create(audit, body),
  }),
  route({
    operationId: 'revokeApiKey', method: 'delete', path: '/api-keys/:id', tag: 'api-keys', summary: 'Revoke an API key (it stops working at once)',
    description: 'The key GATEHOUSE_ADMIN_KEY sets (managedBy config) comes back at the next start.',
    params: IdParams, force: true, status: 204,
    async handle({ params, force }, { core, audit }) {
      await core.directory.apiKeys.revoke(audit, params.id, { force });
    },
  }),
];

const audit: Route[] = [
  route({
    operationId: 'queryAudit', method: 'get', path: '/audit', tag: 'audit', summary: 'Query audit events, newest first',
    description: 'Every authentication attempt and every admin change is one event; see the event catalogue.',
    query: AuditQuery, status: 200, response: RESPONSE.AuditEventList,
    handle: ({ query }, { core }) => core.audit.query(query),
  }),
];

const meta: Route[] = [
  route({
    operationId: 'getOpenApiDocument', method: 'get', path: '/openapi.json', tag: 'meta', summary: 'This API described in OpenAPI 3.1',
    access: 'public', status: 200, response: RESPONSE.OpenApiDocument,
    handle: async () => openApiDocument() as Record<string, unknown>,
  }),
];

export const ROUTES: readonly Route[] = [...users, ...factors, ...access, ...groups, ...resources, ...deviceRoutes, ...networkSessionRoutes, ...apiKeys, ...audit, ...meta];

let document: object | undefined;

/** The OpenAPI 3.1 document of the admin API, generated from the route table (once). */
export function openApiDocument(): object {
  document ??= buildOpenApiDocument(ROUTES);
  return document;
}
