/**
 * The HTTP listener's Koa application: request id, client address, nosniff and HSTS on every
 * response, access log, problem+json errors, operations endpoints (/healthz, /readyz, /metrics)
 * and the mounted front-ends (admin API, device API, OIDC, the sign-in pages and portal). Each
 * front-end is a middleware factory taking the core. The management listener's application
 * (server.management) has the same first middleware and the operations endpoints only.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Koa from 'koa';
import { securityHeaders, transportHeaders } from '../http/headers.ts';
import { errorPage } from '../http/html.ts';
import type { Core } from '../core.ts';
import { metricMethod, UNMATCHED_ROUTE, type Metrics } from './metrics.ts';
import { HttpProblem, toProblem } from '../http/problem.ts';
import type { HttpMount, RequestState } from '../http/types.ts';

export type { HttpMount, RequestState } from '../http/types.ts';

/**
 * `mounts` is read for every request (a function), so a front-end restarted by a reload serves
 * from its new mount at once; a plain list is fixed. With a management listener configured
 * (server.management), /healthz, /readyz and /metrics are served there and not here.
 */
export function createHttpApp(core: Core, metrics: Metrics, mounts: HttpMount[] | (() => readonly HttpMount[])): Koa<RequestState> {
  const app = newApp(core, metrics);
  if (!core.config.server.management) app.use(operations(core, metrics));

  if (Array.isArray(mounts)) for (const mount of mounts) app.use(mount);
  else {
    app.use((ctx, next) => {
      const current = mounts();
      const run = (i: number): Promise<void> => (i === current.length ? next() : Promise.resolve(current[i]!(ctx, () => run(i + 1))));
      return run(0);
    });
  }

  app.use(async (ctx) => {
    ctx.status = 404;
    ctx.vary('Accept');
    // A browser that followed a stale link gets a page in the Gatehouse layout; API clients (which
    // send */*, application/json or problem+json, never text/html first) keep RFC 9457 problem+json.
    if (ctx.accepts('application/problem+json', 'text/html') === 'text/html') {
      securityHeaders(ctx);
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = errorPage({ title: 'Page not found', message: 'There is no page at this address.', reference: ctx.state.requestId });
      return;
    }
    notFound(ctx);
  });
  return app;
}

/**
 * The management listener's application (server.management): /healthz, /readyz and /metrics, and
 * a 404 for everything else. It sees no front-end, so nothing else is reachable on its port.
 */
export function createManagementApp(core: Core, metrics: Metrics): Koa<RequestState> {
  const app = newApp(core, metrics);
  app.use(operations(core, metrics));
  app.use(async (ctx) => notFound(ctx));
  return app;
}

/** A Koa application with the first middleware every listener runs. */
function newApp(core: Core, metrics: Metrics): Koa<RequestState> {
  const app = new Koa<RequestState>();
  app.proxy = false; // forwarded headers are interpreted by core.clientIp, against trusted proxies only
  app.silent = true;
  app.use(edge(core, metrics));
  return app;
}

/** Request id, client address, the headers of every response, problem+json errors, metrics and the access log. */
function edge(core: Core, metrics: Metrics): HttpMount {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    ctx.state.requestId = randomUUID();
    ctx.state.clientIp = core.clientIp(ctx.req.socket.remoteAddress, ctx.req.headers['x-forwarded-for']);
    ctx.set('X-Request-Id', ctx.state.requestId);
    transportHeaders(ctx, core.config);
    try {
      await next();
    } catch (err) {
      const { problem, headers, unexpected } = toProblem(err);
      if (unexpected) core.logger.error({ err, requestId: ctx.state.requestId }, 'request failed');
      ctx.status = problem.status;
      ctx.set(headers);
      ctx.type = 'application/problem+json';
      ctx.body = problem;
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // Labels are bounded: the route is a template set by a router (or one constant when none
      // matched, whatever the status), the method one of a fixed list, the status a 3-digit code.
      const route = ctx.state.route ?? UNMATCHED_ROUTE;
      const method = metricMethod(ctx.method);
      metrics.httpRequests.inc({ method, route, status: String(ctx.status) });
      metrics.httpDuration.observe({ method, route }, seconds);
      core.logger.debug({ requestId: ctx.state.requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000), ip: ctx.state.clientIp }, 'http');
    }
  };
}

/**
 * /healthz (the process answers), /readyz (the store answers, migrations current) and /metrics
 * (Prometheus text). Probes send no credentials, so health and readiness never ask for any;
 * /metrics asks for server.metricsToken when one is set.
 */
function operations(core: Core, metrics: Metrics): HttpMount {
  const token = core.config.server.metricsToken;
  const expected = token === undefined ? undefined : digest(token);
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/healthz') {
      ctx.state.route = '/healthz';
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      ctx.state.route = '/readyz';
      const health = await core.health();
      ctx.status = health.ok ? 200 : 503;
      ctx.body = { status: health.ok ? 'ready' : 'not ready', store: health.detail };
      return;
    }
    if (ctx.path === '/metrics') {
      ctx.state.route = '/metrics';
      if (expected) checkBearer(ctx.get('authorization'), expected);
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
      return;
    }
    return next();
  };
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]{1,1024}=*) *$/i;

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * The metrics token, RFC 6750 §2.1. The comparison takes the same time whatever the token
 * presented (digests of equal length); a token of 32 or more random characters cannot be guessed,
 * so failures are not throttled, and not audited either (a misconfigured scraper would flood the log).
 */
function checkBearer(authorization: string, expected: Buffer): void {
  const presented = BEARER.exec(authorization)?.[1];
  if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return;
  // RFC 6750 §3: no error code when no credentials were sent.
  const challenge = `Bearer realm="gatehouse"${authorization === '' ? '' : presented === undefined ? ', error="invalid_request"' : ', error="invalid_token"'}`;
  const detail = authorization === '' ? '/metrics needs a bearer token (server.metricsToken)' : 'the bearer token for /metrics is not right';
  throw new HttpProblem(401, 'Unauthorized', detail, { headers: { 'WWW-Authenticate': challenge } });
}

function notFound(ctx: Koa.ParameterizedContext<RequestState>): void {
  ctx.status = 404;
  const { problem } = toProblem(new HttpProblem(404, 'Not found', `no resource at ${ctx.method} ${ctx.path}`));
  ctx.type = 'application/problem+json';
  ctx.body = problem;
}
