/**
 * Explain / what-if: a hypothetical access request, parsed at the edge (AccessEvaluationInput),
 * resolved against the directory and handed to the access core's `explain`, which decides without
 * auditing anything or remembering the network and device for the risk signals. Shared by
 * `POST /access/evaluate` and `gatehouse policy explain`, so both answer with the same shape.
 */
import type { z } from 'zod';
import { radiusReplyFor } from '../access/radius-reply.ts';
import type { AccessRequest, Decision } from '../access/types.ts';
import type { Core } from '../core.ts';
import type { AccessEvaluation, AccessEvaluationInput } from './schemas.ts';

export type AccessExplanation = z.output<typeof AccessEvaluation>;

/**
 * The decision and every reason for `input`, with the request it was made on.
 * @throws NotFoundError for an unknown user or device
 */
export async function explainAccess(core: Core, input: AccessEvaluationInput): Promise<AccessExplanation> {
  const now = Date.now();
  const at = new Date(now).toISOString();
  const [user, device, protocol] = await Promise.all([
    core.directory.users.find(input.user),
    input.device === undefined ? undefined : core.directory.resources.find('devices', input.device),
    // Without a protocol, the one a real sign-in for this resource would be made through.
    input.protocol ?? core.signIn.protocolFor(input.resource),
  ]);
  const { request, decision } = await core.access.explain({
    user,
    resource: input.resource,
    protocol,
    ...(input.ip !== undefined ? { clientIp: input.ip } : {}),
    ...(device ? { device: { device, certificate: input.certificate } } : {}),
    authn: input.authn.map((a) => ({ method: a.method, at: a.at === undefined ? at : new Date(a.at).toISOString() })),
    now,
  });
  const explanation = presentExplanation(request, decision);
  // A RADIUS client's Access-Accept carries the groups' reply attributes: shown as the front-end computes them.
  if (request.resource.kind === 'radius' && decision.action === 'allow') {
    return { ...explanation, radiusReply: radiusReplyFor(await core.directory.users.groupsOf(user.id)) };
  }
  return explanation;
}

/** The wire shape: the decision first, then the request it was made on (its time as ISO 8601). */
export function presentExplanation(request: AccessRequest, decision: Decision): AccessExplanation {
  const { resource } = request;
  return {
    decision: decision.action,
    ...(decision.action === 'mfa' ? { methods: decision.methods } : {}),
    reasons: decision.reasons,
    request: {
      user: request.user,
      groups: request.groups,
      resource: resource.kind === 'app' || resource.kind === 'radius'
        ? { ref: `${resource.kind}:${resource.name}`, kind: resource.kind, name: resource.name, exists: resource.exists, assignedGroups: resource.assignedGroups }
        : { ref: resource.kind, kind: resource.kind },
      protocol: request.protocol,
      ...(request.clientIp !== undefined ? { clientIp: request.clientIp } : {}),
      networks: request.networks,
      ...(request.device ? { device: request.device } : {}),
      authn: request.authn,
      risk: request.risk,
      at: new Date(request.now).toISOString(),
    },
  };
}
