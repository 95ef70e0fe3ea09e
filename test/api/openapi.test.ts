/**
 * The OpenAPI 3.1 document: its shape, that it covers the route table exactly, that every
 * reference resolves, and that real answers of the running server conform to the schemas it
 * publishes (checked by a small structural walk and by zod).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openApiDocument } from '../../src/admin/api.ts';
import { errorStatuses, openApiPath } from '../../src/admin/openapi.ts';
import { API_PREFIX } from '../../src/admin/route.ts';
import { ROUTES } from '../../src/admin/routes.ts';
import { Group, User } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { expectJson, expectProblem } from './support.ts';

type Json = Record<string, any>;
const doc = openApiDocument() as Json;

/** Resolves a local `#/...` reference in the document. */
function resolve(ref: string): Json {
  expect(ref.startsWith('#/')).toBe(true);
  const target = ref.slice(2).split('/').reduce<any>((node, key) => node?.[key], doc);
  expect(target, ref).toBeDefined();
  return target as Json;
}

function* refsIn(node: unknown): Generator<string> {
  if (Array.isArray(node)) for (const item of node) yield* refsIn(item);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') yield value;
      else yield* refsIn(value);
    }
  }
}

/**
 * Checks a value against the subset of JSON Schema the generated document uses (type, properties,
 * required, additionalProperties, items, enum, anyOf, $ref). Returns the problems found.
 */
function conforms(value: unknown, schema: Json, path = '$'): string[] {
  if (schema.$ref) return conforms(value, resolve(schema.$ref), path);
  if (schema.anyOf) return (schema.anyOf as Json[]).some((s) => conforms(value, s, path).length === 0) ? [] : [`${path}: matches no anyOf branch`];
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) return [`${path}: ${JSON.stringify(value)} not in enum`];
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  const types = schema.type === undefined ? [] : ([] as string[]).concat(schema.type);
  const typeOk = types.length === 0 || types.some((t) => t === type || (t === 'integer' && Number.isInteger(value)) || (t === 'number' && type === 'number'));
  if (!typeOk) return [`${path}: expected ${types.join('|')}, got ${type}`];
  const problems: string[] = [];
  if (type === 'object') {
    const object = value as Json;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in object)) problems.push(`${path}.${key}: required`);
    for (const [key, item] of Object.entries(object)) {
      const property = schema.properties?.[key];
      if (property) problems.push(...conforms(item, property, `${path}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${path}.${key}: not in the schema`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') problems.push(...conforms(item, schema.additionalProperties, `${path}.${key}`));
    }
  }
  if (type === 'array' && schema.items) (value as unknown[]).forEach((item, i) => problems.push(...conforms(item, schema.items, `${path}[${i}]`)));
  return problems;
}

/** The schema of an operation's success answer. */
function successSchema(path: string, method: string, status: string): Json {
  const response = doc.paths[path][method].responses[status];
  return response.content['application/json'].schema as Json;
}

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 with info, paths, components and bearer security', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
  });

  it('has exactly one operation per route of the table, with unique operationIds', () => {
    const operations = Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op: op as Json })));
    expect(operations).toHaveLength(ROUTES.length);
    for (const route of ROUTES) {
      const op = doc.paths[`${API_PREFIX}${openApiPath(route.path)}`]?.[route.method] as Json | undefined;
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(op!.operationId).toBe(route.operationId);
      expect(op!.tags).toEqual([route.tag]);
      expect(Object.keys(op!.responses).sort()).toEqual([String(route.status), ...errorStatuses(route).map(String)].sort());
      expect(Boolean(op!.requestBody)).toBe(Boolean(route.body));
    }
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('covers the endpoints the API promises', () => {
    const expected = [
      'get /users', 'post /users', 'get /users/{id}', 'patch /users/{id}', 'delete /users/{id}', 'get /users/{id}/groups', 'post /users/{id}/password', 'post /users/{id}/suspend', 'post /users/{id}/activate',
      'get /groups', 'post /groups', 'get /groups/{id}', 'patch /groups/{id}', 'delete /groups/{id}', 'get /groups/{id}/members', 'post /groups/{id}/members', 'delete /groups/{id}/members/{kind}/{member}',
      ...['applications', 'networks', 'devices', 'policies', 'radius-clients'].flatMap((k) => [`get /${k}`, `post /${k}`, `get /${k}/{id}`, `patch /${k}/{id}`, `delete /${k}/{id}`]),
      'get /api-keys', 'post /api-keys', 'delete /api-keys/{id}', 'get /audit', 'get /openapi.json',
      'get /users/{id}/factors', 'delete /users/{id}/factors/totp', 'post /users/{id}/factors/recovery-codes',
      'patch /users/{id}/factors/webauthn/{credentialId}', 'delete /users/{id}/factors/webauthn/{credentialId}', 'post /access/evaluate',
    ];
    for (const entry of expected) {
      const [method, path] = entry.split(' ') as [string, string];
      expect(doc.paths[`${API_PREFIX}${path}`]?.[method], entry).toBeDefined();
    }
  });

  it('resolves every $ref', () => {
    const refs = [...new Set(refsIn(doc))];
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) resolve(ref);
  });

  it('has component schemas for the entities, inputs and problems, as JSON Schema without per-schema headers', () => {
    const schemas = doc.components.schemas as Record<string, Json>;
    for (const name of ['User', 'Group', 'Member', 'Application', 'Network', 'Device', 'Policy', 'RadiusClient', 'ApiKey', 'AuditEvent', 'Problem', 'UserInput', 'UserPatch', 'PolicyPatch', 'MemberInput', 'ApiKeyInput']) {
      expect(schemas[name], name).toBeDefined();
      expect(schemas[name]!.type).toBe('object');
      expect(schemas[name]).not.toHaveProperty('$schema');
    }
    // Inputs are described as a client sends them: defaulted fields are optional, unknown fields refused.
    expect(schemas.UserInput!.required).toEqual(['username']);
    expect(schemas.UserInput!.additionalProperties).toBe(false);
    // No secret ever appears in a response schema.
    expect(Object.keys(schemas.RadiusClient!.properties)).not.toContain('secret');
    expect(Object.keys(schemas.RadiusClient!.properties)).not.toContain('secretEncrypted');
    expect(Object.keys(schemas.ApiKey!.properties)).not.toContain('secretHash');
    expect(schemas.RadiusClientInput!.required).toContain('secret');
  });

  it('describes parameters from the query and path schemas', () => {
    const list = doc.paths[`${API_PREFIX}/users`].get as Json;
    const byName = Object.fromEntries((list.parameters as Json[]).map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['after', 'group', 'limit', 'managedBy', 'q', 'status']);
    expect(byName.limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000 } });
    expect(byName.status!.schema.enum).toEqual(['active', 'suspended']);
    const member = doc.paths[`${API_PREFIX}/groups/{id}/members/{kind}/{member}`].delete as Json;
    expect((member.parameters as Json[]).map((p) => `${p.in}:${p.name}:${p.required}`)).toEqual(['path:id:true', 'path:kind:true', 'path:member:true', 'query:force:false']);
    const patch = doc.paths[`${API_PREFIX}/users/{id}`].patch as Json;
    expect(patch.parameters).toContainEqual({ $ref: '#/components/parameters/IfMatch' });
  });

  it('offers ?force=true, with a 409 and a note, on exactly the operations that change what the configuration file may declare', () => {
    const forced = Object.entries(doc.paths as Record<string, Json>)
      .flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ at: `${method} ${path.slice(API_PREFIX.length)}`, op: op as Json })))
      .filter(({ op }) => (op.parameters as Json[]).some((p) => p.name === 'force'))
      .map(({ at, op }) => {
        const force = (op.parameters as Json[]).find((p) => p.name === 'force')!;
        expect(force, at).toMatchObject({ in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'] } });
        expect(force.description, at).toMatch(/configuration file declares the object.*next reload or start.*409, problem type managed-by-config/);
        expect(op.description, at).toMatch(/refused \(409, problem type managed-by-config, naming the file to edit\) unless `force=true`/);
        expect(op.responses['409'], at).toEqual({ $ref: '#/components/responses/Conflict' });
        return at;
      });
    expect(forced.sort()).toEqual([
      ...['applications', 'networks', 'policies', 'radius-clients'].flatMap((k) => [`delete /${k}/{id}`, `patch /${k}/{id}`]),
      'delete /api-keys/{id}', 'delete /groups/{id}', 'delete /groups/{id}/members/{kind}/{member}', 'delete /users/{id}', 'patch /groups/{id}', 'patch /users/{id}',
      'post /applications/{id}/secret', 'post /users/{id}/activate', 'post /users/{id}/password', 'post /users/{id}/suspend',
    ].sort());
    expect(doc.components.responses.Conflict.description).toMatch(/declared in the configuration file \(problem type …\/managed-by-config, naming the file\)/);
  });

  it('marks only the document itself as public', () => {
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const op of Object.values(item) as Json[]) {
        if (path === `${API_PREFIX}/openapi.json`) {
          expect(op.security).toEqual([]);
          expect(op.responses).not.toHaveProperty('401');
        } else {
          expect(op.security).toBeUndefined(); // the document-wide bearerAuth applies
          expect(op.responses['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
          expect(op.responses['403']).toBeDefined();
        }
      }
    }
  });

  it('describes errors as problem+json', () => {
    const unauthorized = resolve('#/components/responses/Unauthorized');
    expect(unauthorized.content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(unauthorized.headers).toHaveProperty('WWW-Authenticate');
    expect(resolve('#/components/responses/TooManyRequests').headers).toHaveProperty('Retry-After');
    expect(doc.paths[`${API_PREFIX}/users`].post.responses['409']).toBeDefined();
    expect(doc.paths[`${API_PREFIX}/users/{id}`].patch.responses['412']).toBeDefined();
    expect(doc.paths[`${API_PREFIX}/users`].post.responses['413']).toBeDefined();
  });
});

describe.each(backends)('OpenAPI document against the running server ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is served at /api/v1/openapi.json without a key, identical to the generated one', async () => {
    expect(await expectJson(await fetch(`${server.url}/api/v1/openapi.json`), 200)).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('describes real answers: users, lists, groups, memberships, problems', async () => {
    const created = await expectJson(await server.api('/api/v1/users', { method: 'POST', json: { username: 'judy', email: 'judy@example.com', attributes: { team: 'blue', level: 3, tags: ['a'] } } }), 201);
    expect(conforms(created, successSchema(`${API_PREFIX}/users`, 'post', '201'))).toEqual([]);
    const fetched = await expectJson(await server.api('/api/v1/users/judy'), 200);
    expect(conforms(fetched, successSchema(`${API_PREFIX}/users/{id}`, 'get', '200'))).toEqual([]);
    const list = await expectJson(await server.api('/api/v1/users?limit=1'), 200);
    expect(conforms(list, successSchema(`${API_PREFIX}/users`, 'get', '200'))).toEqual([]);

    await expectJson(await server.api('/api/v1/groups', { method: 'POST', json: { name: 'judges', gidNumber: 7000 } }), 201);
    await server.api('/api/v1/groups/judges/members', { method: 'POST', json: { user: 'judy' } });
    const members = await expectJson(await server.api('/api/v1/groups/judges/members'), 200);
    expect(conforms(members, successSchema(`${API_PREFIX}/groups/{id}/members`, 'get', '200'))).toEqual([]);
    const groups = await expectJson(await server.api('/api/v1/users/judy/groups'), 200);
    expect(conforms(groups, successSchema(`${API_PREFIX}/users/{id}/groups`, 'get', '200'))).toEqual([]);

    const audit = await expectJson(await server.api('/api/v1/audit?limit=5'), 200);
    expect(conforms(audit, successSchema(`${API_PREFIX}/audit`, 'get', '200'))).toEqual([]);

    const problem = await expectProblem(await server.api('/api/v1/users', { method: 'POST', json: { username: 'judy', extra: 1 } }), 400);
    expect(conforms(problem, resolve('#/components/schemas/Problem'))).toEqual([]);

    // The same answers parse strictly with the model's own schemas: nothing extra leaks out.
    expect(() => User.strict().parse(fetched)).not.toThrow();
    expect(() => z.object({ items: z.array(Group.strict()) }).strict().parse(groups)).not.toThrow();
  });

  it('describes real answers of the resource kinds and API keys', async () => {
    const samples: Array<[string, unknown]> = [
      ['/radius-clients', { name: 'ap', address: '192.0.2.10', secret: 'a-long-shared-secret-0002', settings: { mode: 'append-otp' } }],
      ['/networks', { name: 'net', cidrs: ['192.0.2.0/24'] }],
      ['/devices', { name: 'mac', owners: ['judy'], posture: { firewall: true } }],
      ['/applications', { name: 'app', groups: ['judges'] }],
      ['/policies', { name: 'pol', action: 'mfa', users: { groups: ['judges'] }, conditions: { network: { notIn: ['net'] } } }],
      ['/api-keys', { name: 'svc', scopes: ['read'] }],
    ];
    for (const [path, body] of samples) {
      const created = await expectJson(await server.api(`/api/v1${path}`, { method: 'POST', json: body }), 201);
      expect(conforms(created, successSchema(`${API_PREFIX}${path}`, 'post', '201')), path).toEqual([]);
      const list = await expectJson(await server.api(`/api/v1${path}`), 200);
      expect(conforms(list, successSchema(`${API_PREFIX}${path}`, 'get', '200')), path).toEqual([]);
    }
  });

  it('describes real answers of explain and of second factors', async () => {
    await server.api('/api/v1/users', { method: 'POST', json: { username: 'kim' } });
    const device = await expectJson(await server.api('/api/v1/devices', { method: 'POST', json: { name: 'kim-laptop', managed: true } }), 201);
    const explained = await expectJson(await server.api('/api/v1/access/evaluate', { method: 'POST', json: { user: 'kim', resource: 'app:none', ip: '192.0.2.1', device: device.id } }), 200);
    expect(explained.request.device).toBeDefined();
    expect(conforms(explained, successSchema(`${API_PREFIX}/access/evaluate`, 'post', '200'))).toEqual([]);
    const factors = await expectJson(await server.api('/api/v1/users/kim/factors'), 200);
    expect(conforms(factors, successSchema(`${API_PREFIX}/users/{id}/factors`, 'get', '200'))).toEqual([]);
    const schemas = doc.components.schemas as Record<string, Json>;
    expect(Object.keys(schemas.WebAuthnCredential!.properties)).not.toContain('publicKey');
    expect(schemas.AccessEvaluationInput!.required).toEqual(['user', 'resource']);
    expect(doc.paths[`${API_PREFIX}/access/evaluate`].post.description).toMatch(/'read' scope/);
  });

  it('would catch an answer that does not conform', () => {
    const schema = successSchema(`${API_PREFIX}/users/{id}`, 'get', '200');
    expect(conforms({ username: 'x' }, schema)).toContain('$.id: required');
    expect(conforms({ id: 'x', managedBy: 'api', version: 1, createdAt: '', updatedAt: '', username: 'x', status: 'active', sshPublicKeys: [], attributes: {}, passwordHash: 'h' }, schema)).toEqual(['$.passwordHash: not in the schema']);
  });
});
