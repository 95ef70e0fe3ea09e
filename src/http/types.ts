/**
 * The HTTP pieces every front-end on the HTTP listener shares (src/http/): the request state the
 * listener sets, the mount type, the Gatehouse session cookie (session-cookie.ts), the one page
 * layout (html.ts) and problem+json errors (problem.ts). Front-ends import these, never each other.
 */
import type Koa from 'koa';

export interface RequestState {
  requestId: string;
  clientIp: string | undefined;
  /**
   * The route template, for metrics (set by routers): a constant of the code, never a value taken
   * from the request, since every distinct value is a new time series kept for the process's life.
   */
  route?: string;
}

/** A front-end's part of the HTTP listener: a Koa middleware that answers its paths and passes the rest on. */
export type HttpMount = Koa.Middleware<RequestState>;
