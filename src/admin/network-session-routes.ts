/**
 * Admin API routes for network sessions (RADIUS accounting): list and read them, and end one — a
 * Disconnect-Request (or CoA-Request) queued for the process running the RADIUS front-end, whose
 * outcome the session then shows (`disconnect.state`). The service is src/network-sessions/.
 */
import { z } from 'zod';
import { NetworkSession } from '../network-sessions/model.ts';
import { route, type Route } from './route.ts';
import { pageOf, responseBody } from './schemas.ts';

const RES = {
  session: responseBody('NetworkSession', NetworkSession),
  list: pageOf('NetworkSessionList', NetworkSession),
};

const SessionParams = z.strictObject({
  id: z.string().regex(/^[0-9a-f-]{36}$/, 'a network session id is a UUID').describe('The network session id (UUID)'),
});

const NetworkSessionQuery = z.strictObject({
  user: z.string().trim().toLowerCase().min(1).max(256).optional().describe('Only the sessions of this user (username or id); an unknown user is a 404'),
  client: z.string().trim().toLowerCase().min(1).max(128).optional().describe('Only the sessions of this RADIUS client (name)'),
  live: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: only live sessions; false: only ended ones'),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe('Page size, 1 to 1000 (default 100)'),
  after: z.string().min(1).max(1024).optional().describe('Cursor from the previous page'),
});

export const networkSessionRoutes: Route[] = [
  route({
    operationId: 'listNetworkSessions', method: 'get', path: '/network-sessions', tag: 'network-sessions', summary: 'List network sessions (RADIUS accounting), newest first',
    description: 'What NASes reported through RADIUS accounting (RFC 2866): who, on which RADIUS client and NAS, from where, the address they got, bytes and duration.',
    query: NetworkSessionQuery, status: 200, response: RES.list, errors: [404],
    handle: ({ query }, { core }) => core.networkSessions.list(query),
  }),
  route({
    operationId: 'getNetworkSession', method: 'get', path: '/network-sessions/:id', tag: 'network-sessions', summary: 'Get a network session',
    params: SessionParams, status: 200, response: RES.session, errors: [404],
    handle: ({ params }, { core }) => core.networkSessions.get(params.id),
  }),
  route({
    operationId: 'disconnectNetworkSession', method: 'post', path: '/network-sessions/:id/disconnect', tag: 'network-sessions', summary: 'End a network session (Disconnect-Request to its NAS)',
    description:
      "Queues a Disconnect-Request (or a CoA-Request, where the RADIUS client's settings.radius.coa.mode says so; RFC 5176) that a Gatehouse process running the RADIUS front-end sends, " +
      'with retransmissions. The answer is the session as it stands just after: `disconnect.state` pending, or already sending (or even settled) when a process took it up at once; GET it for the outcome (acked, nak, timeout, failed), which is audited as well. ' +
      '409 when the session has ended or a Disconnect for it is under way; one that failed may be asked again.',
    params: SessionParams, status: 200, response: RES.session, errors: [404, 409],
    handle: ({ params }, { core, audit }) => core.networkSessions.disconnect(audit, params.id),
  }),
];
