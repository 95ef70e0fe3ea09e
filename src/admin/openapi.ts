/**
 * The OpenAPI 3.1 document, generated from the route table and the registered zod schemas. OpenAPI
 * 3.1 schemas are JSON Schema 2020-12, which is what `z.toJSONSchema` produces: request bodies are
 * converted as inputs (defaults make a field optional), responses as outputs.
 */
import { z } from 'zod';
import { API_PREFIX, type Route } from './route.ts';
import { requestSchemas, responseSchemas } from './schemas.ts';

type JsonSchema = Record<string, unknown>;

const SCHEMA_REF = '#/components/schemas/';
const ref = (id: string) => ({ $ref: `${SCHEMA_REF}${id}` });

/** The error responses, described once and referred to by each operation. */
const ERROR_RESPONSES: Record<number, { name: string; description: string; headers?: Record<string, unknown> }> = {
  400: { name: 'BadRequest', description: 'Invalid input: malformed JSON, a field that fails validation (each listed in `errors`), an unknown field or query parameter, a malformed If-Match' },
  401: {
    name: 'Unauthorized',
    description: 'No API key, or an unknown, revoked or expired one',
    headers: { 'WWW-Authenticate': { description: 'Bearer realm="gatehouse" (RFC 6750 §3)', schema: { type: 'string' } } },
  },
  403: { name: 'Forbidden', description: 'The API key lacks the scope this operation needs' },
  404: { name: 'NotFound', description: 'The object (or one the input names) does not exist' },
  405: { name: 'MethodNotAllowed', description: 'The path exists but not with this method' },
  409: {
    name: 'Conflict',
    description:
      'The name is taken, the change would break an invariant (a policy refers to the object, a group cycle), ' +
      'or the object is declared in the configuration file (problem type …/managed-by-config, naming the file): change it there, or repeat with ?force=true where the operation takes it',
  },
  412: { name: 'PreconditionFailed', description: 'If-Match names a version that is no longer current: fetch the object again' },
  413: { name: 'ContentTooLarge', description: 'The body is larger than server.http.maxBodyBytes' },
  415: { name: 'UnsupportedMediaType', description: 'The body is not application/json' },
  429: {
    name: 'TooManyRequests',
    description: 'Too many failed authentication attempts from this address',
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  },
  503: { name: 'ServiceUnavailable', description: 'The directory store is unavailable' },
};

export function buildOpenApiDocument(routes: readonly Route[]): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `${API_PREFIX}${openApiPath(route.path)}`;
    paths[path] = { ...paths[path], [route.method]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version: '1',
      description: "Manage the directory (users, groups, applications, networks, devices, conditional-access policies, RADIUS clients), users' second factors and API keys, explain access decisions, and read the audit log. Errors are RFC 9457 problem details.",
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...convertRegistry(requestSchemas, 'input'), ...convertRegistry(responseSchemas, 'output') },
      responses: Object.fromEntries(
        Object.values(ERROR_RESPONSES).map(({ name, description, headers }) => [
          name,
          { description, ...(headers ? { headers } : {}), content: { 'application/problem+json': { schema: ref('Problem') } } },
        ]),
      ),
      parameters: {
        IfMatch: {
          name: 'If-Match',
          in: 'header',
          required: false,
          description: 'The ETag of the version the change is based on ("<version>"), or *; a stale one gets 412 (RFC 9110 §13.1.1)',
          schema: { type: 'string', pattern: '^(\\*|"[0-9]+")$' },
        },
      },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: "An admin API key. 'read' keys may call GET operations; 'write' keys may also change." },
      },
    },
    security: [{ bearerAuth: [] }],
  };
}

/** On every operation that takes `force`: what the configuration file declares is its own. */
const FORCE_NOTE =
  'What the configuration file declares (`managedBy: config`) is put back by every reload and start, so changing it here is refused (409, problem type managed-by-config, naming the file to edit) ' +
  'unless `force=true`: the change then lasts until the next reload or start.';

/** '/users/:id' → '/users/{id}' */
export function openApiPath(template: string): string {
  return template.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

function operation(route: Route): Record<string, unknown> {
  const scopeNote = route.access === 'public' ? 'No API key needed.' : `Needs an API key with the '${route.access}' scope.`;
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: [route.description, route.force ? FORCE_NOTE : undefined, scopeNote].filter(Boolean).join('\n\n'),
    tags: [route.tag],
    ...(route.access === 'public' ? { security: [] } : {}),
    parameters: [
      ...parameters(route.params, 'path'),
      ...parameters(route.query, 'query'),
      ...(route.ifMatch ? [{ $ref: '#/components/parameters/IfMatch' }] : []),
    ],
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(schemaId(requestSchemas, route.body, route)) } } } } : {}),
    responses: { [String(route.status)]: successResponse(route), ...errorResponses(route) },
  };
}

function parameters(schema: z.ZodObject, where: 'path' | 'query'): unknown[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const { description, ...json } = jsonSchema(field as z.ZodType, 'input');
    return {
      name,
      in: where,
      // Path parameters are always required; a query parameter is when undefined does not parse.
      required: where === 'path' || !(field as z.ZodType).safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema: json,
    };
  });
}

function successResponse(route: Route): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  if (route.etag) headers.ETag = { description: 'The version of the object ("<version>"); send it back in If-Match', schema: { type: 'string' } };
  if (route.location) headers.Location = { description: 'URL of the created object', schema: { type: 'string' } };
  const description = route.status === 201 ? 'Created' : route.status === 204 ? 'Done; no content' : 'OK';
  return {
    description,
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(route.response ? { content: { 'application/json': { schema: ref(schemaId(responseSchemas, route.response, route)) } } } : {}),
  };
}

/** The statuses an operation can answer with besides success: its own, and those of each pipeline step it uses. */
export function errorStatuses(route: Route): number[] {
  const statuses = new Set(route.errors ?? []);
  statuses.add(400); // query strings are strict on every route
  if (route.access !== 'public') for (const s of [401, 403, 429, 503]) statuses.add(s);
  if (Object.keys(route.params.shape).length) statuses.add(404);
  if (route.body) for (const s of [413, 415]) statuses.add(s);
  if (route.ifMatch) statuses.add(412);
  if (route.force) statuses.add(409);
  return [...statuses].sort((a, b) => a - b);
}

function errorResponses(route: Route): Record<string, unknown> {
  return Object.fromEntries(
    errorStatuses(route).map((status) => {
      const known = ERROR_RESPONSES[status];
      if (!known) throw new Error(`route ${route.operationId}: no description for status ${status}`);
      return [String(status), { $ref: `#/components/responses/${known.name}` }];
    }),
  );
}

function schemaId(registry: z.core.$ZodRegistry<{ id: string }>, schema: z.ZodType, route: Route): string {
  const id = registry.get(schema)?.id;
  // Caught by the OpenAPI test: every body must be a named component.
  if (!id) throw new Error(`route ${route.operationId}: its ${registry === requestSchemas ? 'request' : 'response'} schema is not registered in src/admin/schemas.ts`);
  return id;
}

function convertRegistry(registry: z.core.$ZodRegistry<{ id: string }>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(registry, { io, uri: (id) => `${SCHEMA_REF}${id}` });
  return Object.fromEntries(Object.entries(schemas).map(([id, schema]) => [id, withoutHeader(schema as JsonSchema)]));
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return withoutHeader(z.toJSONSchema(schema, { io }) as JsonSchema);
}

/** `$schema` and `$id` are implied inside an OpenAPI document (jsonSchemaDialect, the component name). */
function withoutHeader(schema: JsonSchema): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}
