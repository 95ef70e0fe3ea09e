/**
 * The decision function: one pure function every front-end's request goes through.
 *
 *   evaluate(request, policies, options) → allow | deny | mfa(methods), with named reasons
 *
 * Semantics, in order (docs/access.md has them as a table):
 *  1. An exception while evaluating means deny (fail closed).
 *  2. A suspended user is denied.
 *  3. Least privilege: an application or RADIUS client is denied unless one of its assigned groups
 *     is among the user's groups — before any policy runs.
 *  4. Each enabled policy applies when the user is in scope (all users, or members of
 *     `users.groups`, minus members of `users.exclude`), the resource and protocol are in scope,
 *     every given condition holds, and not every condition of `except` holds.
 *  5. Of the applying policies: deny beats mfa beats allow. An mfa policy is satisfied when the
 *     request already carries one of its acceptable second factors (fresh enough if the policy
 *     says `mfaWithin`); a satisfied mfa policy counts as allow. Several unsatisfied mfa policies
 *     ask for the methods they all accept (or, if none is common, the first policy's).
 *  6. No applying policy: the configured default (allow or deny).
 */
import { reason } from '../reasons.ts';
import type { PolicyConditions, Policy, Reason } from '../directory/model.ts';
import { RISK_ORDER, SECOND_FACTORS, type AccessRequest, type Decision, type SecondFactor } from './types.ts';

export interface EvaluateOptions {
  defaultAction: 'allow' | 'deny';
}

export function evaluate(request: AccessRequest, policies: readonly Policy[], options: EvaluateOptions): Decision {
  try {
    return decide(request, policies, options);
  } catch (err) {
    return { action: 'deny', reasons: [{ code: 'evaluation_error', description: `the policy evaluation failed, so access is denied: ${err instanceof Error ? err.message : String(err)}` }] };
  }
}

function decide(request: AccessRequest, policies: readonly Policy[], options: EvaluateOptions): Decision {
  const context = request.risk.signals;
  if (request.user.status !== 'active') {
    return { action: 'deny', reasons: [reason('suspended')] };
  }
  const assignment = checkAssignment(request);
  if (assignment) return { action: 'deny', reasons: [assignment, ...context] };

  const denies: Reason[] = [];
  const allows: Reason[] = [];
  const unsatisfied: Array<{ policy: Policy; methods: SecondFactor[] }> = [];
  for (const policy of policies) {
    if (!applies(policy, request)) continue;
    const ref = { policy: policy.name };
    if (policy.action === 'deny') {
      denies.push({ code: 'policy_deny', description: policy.description ?? `policy '${policy.name}' denies access`, ...ref });
    } else if (policy.action === 'allow') {
      allows.push({ code: 'policy_allow', description: policy.description ?? `policy '${policy.name}' allows access`, ...ref });
    } else {
      const methods = acceptableMethods(policy);
      const satisfiedBy = satisfyingMethod(request, methods, policy.conditions.mfaWithin);
      if (satisfiedBy) allows.push({ code: 'mfa_satisfied', description: `policy '${policy.name}' requires a second factor: ${satisfiedBy} was used`, ...ref });
      else unsatisfied.push({ policy, methods });
    }
  }

  if (denies.length) return { action: 'deny', reasons: [...denies, ...context] };
  if (unsatisfied.length) {
    const methods = commonMethods(unsatisfied.map((u) => u.methods)) ?? unsatisfied[0]!.methods;
    const reasons = unsatisfied.map(({ policy, methods: m }) => ({
      code: 'policy_mfa',
      description: policy.description ?? `policy '${policy.name}' requires a second factor (${m.join(' or ')})`,
      policy: policy.name,
    }));
    return { action: 'mfa', methods, reasons: [...reasons, ...allows, ...context] };
  }
  if (allows.length) return { action: 'allow', reasons: [...allows, ...context] };
  return {
    action: options.defaultAction,
    reasons: [{ code: 'default', description: `no policy applies; the default is to ${options.defaultAction}` }, ...context],
  };
}

/** Least privilege for assignable resources: denied unless a group of the user is assigned. */
function checkAssignment(request: AccessRequest): Reason | undefined {
  const { resource } = request;
  if (resource.kind !== 'app' && resource.kind !== 'radius') return undefined;
  // An application signing in as itself is not assigned to itself through groups.
  if (request.principal === 'application' && resource.kind === 'app' && request.user.username === `app:${resource.name}`) return resource.exists ? undefined : { code: 'unknown_resource', description: `application '${resource.name}' does not exist` };
  const label = resource.kind === 'app' ? 'application' : 'RADIUS client';
  if (!resource.exists) return { code: 'unknown_resource', description: `${label} '${resource.name}' does not exist` };
  const assigned = new Set(resource.assignedGroups);
  if (request.groups.some((g) => assigned.has(g))) return undefined;
  return { code: 'not_assigned', description: `${label} '${resource.name}' is not assigned to any of the user's groups` };
}

export function resourceRef(request: AccessRequest): string {
  const { resource } = request;
  return resource.kind === 'app' || resource.kind === 'radius' ? `${resource.kind}:${resource.name}` : resource.kind;
}

function applies(policy: Policy, request: AccessRequest): boolean {
  if (!policy.enabled) return false;
  const groups = new Set(request.groups);
  if (policy.users.groups && !policy.users.groups.some((g) => groups.has(g))) return false;
  if (policy.users.exclude.some((g) => groups.has(g))) return false;
  if (policy.resources.include && !policy.resources.include.includes(resourceRef(request))) return false;
  if (policy.resources.protocols && !policy.resources.protocols.includes(request.protocol)) return false;
  if (!holds(policy.conditions, request)) return false;
  if (policy.except && holds(policy.except, request)) return false;
  return true;
}

/** Every condition given holds (an empty set of conditions holds). */
function holds(conditions: PolicyConditions, request: AccessRequest): boolean {
  const device = request.device ?? { managed: false, compliant: false, certificate: false };
  const d = conditions.device;
  if (d?.managed !== undefined && d.managed !== device.managed) return false;
  if (d?.compliant !== undefined && d.compliant !== device.compliant) return false;
  if (d?.certificate !== undefined && d.certificate !== device.certificate) return false;
  const n = conditions.network;
  if (n?.in && !n.in.some((name) => request.networks.includes(name))) return false;
  if (n?.notIn && n.notIn.some((name) => request.networks.includes(name))) return false;
  if (conditions.risk && RISK_ORDER[request.risk.level] < RISK_ORDER[conditions.risk.atLeast]) return false;
  if (conditions.mfaWithin !== undefined && satisfyingMethod(request, SECOND_FACTORS, conditions.mfaWithin)) return false;
  return true;
}

function acceptableMethods(policy: Policy): SecondFactor[] {
  return policy.methods && policy.methods.length ? [...policy.methods] : [...SECOND_FACTORS];
}

/** The first acceptable second factor the request carries, fresh enough when `withinMinutes` is set. */
function satisfyingMethod(request: AccessRequest, methods: readonly SecondFactor[], withinMinutes?: number): SecondFactor | undefined {
  const oldest = withinMinutes === undefined ? -Infinity : request.now - withinMinutes * 60_000;
  for (const done of request.authn) {
    if ((methods as readonly string[]).includes(done.method) && Date.parse(done.at) >= oldest) return done.method as SecondFactor;
  }
  return undefined;
}

function commonMethods(sets: SecondFactor[][]): SecondFactor[] | undefined {
  const common = sets.reduce((acc, set) => acc.filter((m) => set.includes(m)));
  return common.length ? common : undefined;
}
