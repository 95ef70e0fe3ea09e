/**
 * What one admin API route declares. The table of these (routes.ts) is the single source of both
 * the Koa router (api.ts) and the OpenAPI document (openapi.ts): a route cannot exist without being
 * documented, nor be documented differently from how it behaves.
 */
import type { z } from 'zod';
import type { AuditContext } from '../audit/audit.ts';
import type { Core } from '../core.ts';
import type { ApiScope } from '../directory/model.ts';
import { ForceQuery, NoParams, NoQuery } from './schemas.ts';

export const API_PREFIX = '/api/v1';

export type Method = 'get' | 'post' | 'patch' | 'delete';
/** The API key scope a route needs, or 'public' for no key at all. */
export type Access = ApiScope | 'public';
export type Tag = 'users' | 'access' | 'groups' | 'applications' | 'networks' | 'devices' | 'policies' | 'radius-clients' | 'network-sessions' | 'api-keys' | 'audit' | 'meta';

/** What a handler is given besides its input: the core, and who is acting (for the audit events). */
export interface Env {
  core: Core;
  audit: AuditContext;
}

/** The request, parsed and validated before the handler runs. */
export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** From `If-Match: "<version>"`, for routes that declare `ifMatch`; undefined for `*` or no header. */
  expectVersion: number | undefined;
  /** From `?force=true`, for routes that declare `force`: change what the configuration file declares anyway. */
  force: boolean;
}

type ObjectSchema = z.ZodObject;

export interface RouteSpec<P extends ObjectSchema, Q extends ObjectSchema, B extends z.ZodType, R extends z.ZodType> {
  /** Unique, used as the OpenAPI operationId. */
  operationId: string;
  method: Method;
  /** Koa-style template below /api/v1, e.g. '/users/:id'. */
  path: string;
  summary: string;
  description?: string;
  tag: Tag;
  /** Defaults to 'read' for GET and 'write' for everything else. */
  access?: Access;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * Checks of the body its schema cannot make (they need the core, like the password policy). When
   * the schema refuses the body, they run on it as sent and their problems join the schema's in the
   * one 400, so a client learns every problem at once; a body the schema accepts reaches the
   * handler, whose service makes the same checks.
   */
  bodyChecks?: (body: unknown, core: Core) => Array<{ path: string; code: string; message: string }>;
  /** The route honours If-Match (optimistic concurrency on PATCH and DELETE). */
  ifMatch?: boolean;
  /**
   * The route changes something the configuration file may declare: such a change is refused (409)
   * unless the query says `force=true` (ForceQuery, added to the route's query).
   */
  force?: boolean;
  status: 200 | 201 | 204;
  /** The response body schema; every response is serialized through it (omitted for 204). */
  response?: R;
  /** Send the entity's version as a strong ETag. */
  etag?: boolean;
  /** For 201: where the created object lives, below /api/v1. */
  location?: (created: z.output<R>) => string;
  /** Statuses the handler itself may cause (404, 409, ...); those of authentication, parsing and If-Match are added. */
  errors?: number[];
  // Method syntax on purpose: it lets the typed specs be stored in one table of erased routes.
  handle(input: Input<z.output<P>, z.output<Q>, z.output<B>>, env: Env): Promise<R extends z.ZodUndefined ? void : z.input<R>>;
}

/** A route with its types erased and its defaults filled in, as stored in the table. */
export type Route = RouteSpec<ObjectSchema, ObjectSchema, z.ZodType, z.ZodType> & { access: Access; params: ObjectSchema; query: ObjectSchema };

/** Declares a route; the handler's input is typed from the schemas given. */
export function route<P extends ObjectSchema = typeof NoParams, Q extends ObjectSchema = typeof NoQuery, B extends z.ZodType = z.ZodUndefined, R extends z.ZodType = z.ZodUndefined>(
  spec: RouteSpec<P, Q, B, R>,
): Route {
  const query = spec.query ?? NoQuery;
  return {
    ...spec,
    access: spec.access ?? (spec.method === 'get' ? 'read' : 'write'),
    params: spec.params ?? NoParams,
    // Parsed, checked and documented with the route's own parameters; api.ts hands it over as Input.force.
    query: spec.force ? query.extend(ForceQuery.shape) : query,
  } as unknown as Route;
}
