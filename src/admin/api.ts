/**
 * The admin API (/api/v1): a Koa router built from the route table. Each request goes through the
 * same fixed steps: authenticate (per the route's scope) → parse params, query (with `force`), If-Match and body
 * with the route's schemas → run the handler → serialize the result through the response schema.
 * Errors are thrown, and src/server/http.ts turns them into problem+json.
 */
import Router, { type RouterContext } from '@koa/router';
import { z } from 'zod';
import type { AuditContext } from '../audit/audit.ts';
import type { Core } from '../core.ts';
import type { ApiKey } from '../directory/model.ts';
import { ValidationError } from '../directory/service.ts';
import { readJson } from '../server/body.ts';
import type { HttpMount, RequestState } from '../http/types.ts';
import { HttpProblem, zodProblems } from '../http/problem.ts';
import { authenticate } from './auth.ts';
import { API_PREFIX, type Input, type Route } from './route.ts';
import { ROUTES } from './routes.ts';

export { openApiDocument } from './routes.ts';

type Ctx = RouterContext<RequestState>;

export function createAdminApi(core: Core): HttpMount {
  const router = new Router<RequestState>({ prefix: API_PREFIX });
  for (const route of ROUTES) {
    router.register(route.path, [route.method.toUpperCase()], (ctx: Ctx) => serve(core, route, ctx));
  }
  const routes = router.routes();
  return async (ctx, next) => {
    if (ctx.path !== API_PREFIX && !ctx.path.startsWith(`${API_PREFIX}/`)) return next();
    // Admin answers may carry secrets (a new API key): never cached anywhere.
    ctx.set('Cache-Control', 'no-store');
    await routes(ctx as Ctx, async () => {
      refuseOtherMethods(router, ctx as Ctx);
      await next();
    });
  };
}

async function serve(core: Core, route: Route, ctx: Ctx): Promise<void> {
  ctx.state.route = `${API_PREFIX}${route.path}`;
  const apiKey = route.access === 'public'
    ? undefined
    : await authenticate(core, { authorization: ctx.get('authorization'), clientIp: ctx.state.clientIp, requestId: ctx.state.requestId }, route.access);
  const input = await parseInput(core, route, ctx);
  const result = await route.handle(input, { core, audit: auditContext(ctx, apiKey) });
  reply(ctx, route, result);
}

function auditContext(ctx: Ctx, apiKey: ApiKey | undefined): AuditContext {
  return {
    actor: apiKey ? { type: 'apikey', id: apiKey.id, name: apiKey.name } : { type: 'anonymous' },
    sourceIp: ctx.state.clientIp,
    requestId: ctx.state.requestId,
    protocol: 'admin',
  };
}

/** Parses everything the handler will see, once; a ZodError here becomes a 400 naming each field. */
async function parseInput(core: Core, route: Route, ctx: Ctx): Promise<Input<Record<string, unknown>, Record<string, unknown>, unknown>> {
  const params = parseIn('path', route.params, { ...ctx.params });
  const { force, ...query } = parseIn('query', route.query, { ...ctx.query });
  const expectVersion = route.ifMatch ? parseIfMatch(ctx.get('if-match')) : undefined;
  const body = route.body ? parseBody(core, route, await readJson(ctx, core.config.server.http.maxBodyBytes)) : undefined;
  // Only a route declaring `force` has the parameter (route.ts); elsewhere the strict query refused it.
  return { params, query, body, expectVersion, force: force === true };
}

/** The body through the route's schema; refused, with the problems of its bodyChecks as well (see route.ts). */
function parseBody(core: Core, route: Route, raw: unknown): unknown {
  const parsed = route.body!.safeParse(raw);
  if (parsed.success) return parsed.data;
  const more = route.bodyChecks?.(raw, core) ?? [];
  if (more.length) throw new ValidationError([...zodProblems(parsed.error), ...more]);
  throw parsed.error;
}

/** Parses path parameters or the query string, prefixing each problem's path with where it was. */
function parseIn(where: 'path' | 'query', schema: z.ZodObject, value: unknown): Record<string, unknown> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new z.ZodError(parsed.error.issues.map((issue) => ({ ...issue, path: [where, ...issue.path] })));
}

/**
 * `If-Match: "<version>"` → the version the change must apply to; `*` → any (the object must just
 * exist). A weak tag never matches (RFC 9110 §13.1.1 uses strong comparison): 412.
 */
export function parseIfMatch(header: string): number | undefined {
  const value = header.trim();
  if (value === '' || value === '*') return undefined;
  const strong = /^"(\d{1,15})"$/.exec(value);
  if (strong) return Number(strong[1]);
  if (/^W\/"[^"]*"$/.test(value)) throw new HttpProblem(412, 'Precondition failed', 'If-Match needs a strong ETag; weak ones never match');
  throw new HttpProblem(400, 'Invalid input', `If-Match must be "<version>" (the ETag of the object) or *, got ${JSON.stringify(value.slice(0, 64))}`, {
    errors: [{ path: 'If-Match', message: 'must be "<version>" or *' }],
  });
}

function reply(ctx: Ctx, route: Route, result: unknown): void {
  ctx.status = route.status;
  if (!route.response) return;
  const parsed = route.response.safeParse(result);
  // The stored object does not match its own schema: a server bug, never the client's fault (500).
  if (!parsed.success) throw new Error(`the response of ${route.operationId} does not match its schema: ${parsed.error.message}`);
  const body = parsed.data as { id?: string; version?: number };
  if (route.etag && typeof body.version === 'number') ctx.set('ETag', `"${body.version}"`);
  if (route.location) ctx.set('Location', `${API_PREFIX}${route.location(body)}`);
  ctx.body = body;
}

/** The path exists with other methods: 405 with Allow (RFC 9110 §15.5.6) rather than 404. */
function refuseOtherMethods(router: Router<RequestState>, ctx: Ctx): void {
  const matched = router.match(ctx.path, ctx.method);
  const allowed = [...new Set(matched.path.flatMap((layer) => layer.methods))];
  if (allowed.length && !matched.pathAndMethod.some((layer) => layer.methods.length > 0)) {
    // Counted under the route's template, never the raw path (an unbounded metrics label).
    const template = matched.path[0]?.path;
    if (typeof template === 'string') ctx.state.route = template;
    throw new HttpProblem(405, 'Method not allowed', `${ctx.method} is not allowed on ${ctx.path}; use ${allowed.join(', ')}`, { headers: { Allow: allowed.join(', ') } });
  }
}
