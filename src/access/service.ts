/**
 * The access core as front-ends use it: build the AccessRequest from what a protocol knows (who,
 * what, from where, with which device and factors), evaluate it against the stored policies, and
 * audit the decision with its reasons. `explain` does the same without any side effect.
 */
import type { Auditor, AuditContext } from '../audit/audit.ts';
import type { Throttle, ThrottleCounters } from '../authn/throttle.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Application, Device, Group, Network, Protocol, User } from '../directory/model.ts';
import { NotFoundError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { evaluate } from './evaluate.ts';
import { RiskAssessor, type Place, type Seen } from './risk.ts';
import type { AccessDevice, AccessRequest, AccessResource, AuthMethod, Decision } from './types.ts';
import { AccessViewCache } from './view.ts';

/** Who signs in: a person, or an application with its own secret (an LDAP service account). */
export type AccessPrincipal =
  | {
      user: User;
      /** The user's groups when the caller has them already (the password check resolves them); else read here. */
      groups?: Group[];
      application?: never;
    }
  | { application: Application; user?: never; groups?: never };

export type AccessInput = AccessPrincipal & {
  /** `app:<name>`, `radius:<name>`, `ldap`, `portal` or `admin`. */
  resource: string;
  protocol: Protocol;
  clientIp?: string;
  /** The device behind the request, if identified, and whether a device certificate identified it. */
  device?: { device: Device; certificate: boolean };
  authn?: Array<{ method: AuthMethod; at: string }>;
  /** The throttle's failure counters when the caller has just read them (PasswordResult.failures). */
  failures?: ThrottleCounters;
  /** The client address's place when the caller has read it for this user (AccessService.familiar). */
  place?: Place;
  now?: number;
};

/** The request's principal: an application is named `app:<name>` (no username can contain ':'). */
function subjectOf(input: AccessPrincipal): AccessRequest['user'] {
  if (input.application) return { id: input.application.id, username: `app:${input.application.name}`, status: 'active' };
  return { id: input.user.id, username: input.user.username, status: input.user.status };
}

export interface AccessServiceDeps {
  store: Store;
  throttle: Throttle;
  auditor: Auditor;
  config: CoreConfig;
  /** Whether a device meets the compliance rule (src/devices/posture.ts). */
  isCompliant: (device: Device, now: number) => boolean;
}

export class AccessService {
  private readonly deps: AccessServiceDeps;
  private readonly risk: RiskAssessor;
  /** Policies, networks and resources, read once for many decisions (view.ts: a change shows at once here, within a second from another process). */
  private readonly view: AccessViewCache;
  constructor(deps: AccessServiceDeps) {
    this.deps = deps;
    this.risk = new RiskAssessor(deps.store.ttl, deps.throttle, deps.config.access.risk);
    this.view = new AccessViewCache(deps.store.directory, deps.auditor);
  }

  /** Gathers everything the decision needs. Reads only. */
  async buildRequest(input: AccessInput): Promise<AccessRequest> {
    return (await this.build(input)).request;
  }

  private async build(input: AccessInput): Promise<{ request: AccessRequest; groups: Group[]; networks: Network[]; seen: Seen }> {
    const now = input.now ?? Date.now();
    const dir = this.deps.store.directory;
    const subject = subjectOf(input);
    const [groups, resource, networks] = await Promise.all([
      input.application ? [] : (input.groups ?? dir.memberships.resolveUserGroups(input.user.id)),
      this.resolveResource(input.resource),
      input.place?.networks ?? this.networksOf(input.clientIp),
    ]);
    const device = input.device ? this.accessDevice(input.device.device, input.device.certificate, now) : undefined;
    const { risk, seen } = await this.risk.assess({
      userId: subject.id, username: subject.username, networks, now,
      ...(input.clientIp ? { clientIp: input.clientIp } : {}),
      ...(device ? { deviceId: device.id } : {}),
      ...(input.failures ? { failures: input.failures } : {}),
      ...(input.place ? { place: input.place } : {}),
    });
    const request: AccessRequest = {
      user: subject,
      ...(input.application ? { principal: 'application' as const } : {}),
      groups: groups.map((g) => g.name),
      resource,
      protocol: input.protocol,
      ...(input.clientIp ? { clientIp: input.clientIp } : {}),
      networks: networks.map((n) => n.name),
      ...(device ? { device } : {}),
      authn: input.authn ?? [],
      risk,
      now,
    };
    return { request, groups, networks, seen };
  }

  /** Evaluates a built request against the enabled policies. No side effects. */
  async evaluate(request: AccessRequest): Promise<Decision> {
    try {
      const { policies } = await this.view.get();
      return evaluate(request, policies, { defaultAction: this.deps.config.access.defaultAction });
    } catch (err) {
      // Fail closed: no policies, no access.
      return { action: 'deny', reasons: [{ code: 'store_unavailable', description: `policies could not be read, so access is denied: ${err instanceof Error ? err.message : String(err)}` }] };
    }
  }

  /**
   * A real decision: evaluated, audited with its reasons, and on allow the network and device
   * become known to the risk signals. `request` is absent when it could not even be built (denied);
   * `groups`, the person's groups it was built with (a RADIUS reply's attributes come from them).
   */
  async decide(ctx: AuditContext, input: AccessInput): Promise<{ request?: AccessRequest; groups?: Group[]; decision: Decision }> {
    let built: { request: AccessRequest; groups: Group[]; networks: Network[]; seen: Seen } | undefined;
    let decision: Decision;
    try {
      built = await this.build(input);
      decision = await this.evaluate(built.request);
    } catch (err) {
      decision = { action: 'deny', reasons: [{ code: 'evaluation_error', description: `the access request could not be built, so access is denied: ${err instanceof Error ? err.message : String(err)}` }] };
    }
    const request = built?.request;
    const subject = subjectOf(input);
    // The factor checks this decision concludes (one event per authentication attempt).
    const checks = ctx.attempt?.take() ?? [];
    await this.deps.auditor.record({ ...ctx, protocol: input.protocol, ...(input.clientIp ? { sourceIp: input.clientIp } : {}) }, {
      type: 'access.decision',
      outcome: decision.action === 'allow' ? 'success' : 'denied',
      actor: input.application ? { type: 'application', id: input.application.id, name: input.application.name } : { type: 'user', id: subject.id, name: subject.username },
      target: { type: 'resource', name: input.resource },
      reasons: decision.reasons,
      details: {
        decision: decision.action,
        ...(decision.action === 'mfa' ? { methods: decision.methods } : {}),
        ...(request ? { risk: request.risk.level, networks: request.networks, groups: request.groups, authn: request.authn.map((a) => a.method) } : {}),
        ...(request?.device ? { device: { id: request.device.id, managed: request.device.managed, compliant: request.device.compliant, certificate: request.device.certificate } } : {}),
        ...(checks.length ? { checks } : {}),
      },
    });
    if (decision.action === 'allow' && built) {
      const r = built.request;
      await this.risk
        .remember({ userId: r.user.id, username: r.user.username, networks: built.networks, now: r.now, ...(r.clientIp ? { clientIp: r.clientIp } : {}), ...(r.device ? { deviceId: r.device.id } : {}) }, built.seen)
        .catch((err: unknown) => this.deps.auditor.warn('could not remember the sign-in context for risk signals', err));
    }
    if (!request) return { decision };
    return input.user ? { request, groups: built!.groups, decision } : { request, decision };
  }

  /** What would be decided, and why, without auditing or remembering anything. */
  async explain(input: AccessInput): Promise<{ request: AccessRequest; decision: Decision }> {
    const { request } = await this.build(input);
    return { request, decision: await this.evaluate(request) };
  }

  /**
   * Whether a person's attempt comes from a familiar place, as the risk memory knows them: a network
   * or address range they signed in from before, else a device they signed in with (`device`, asked
   * only then, gives its id when a certificate identified one of theirs). Reads only; the place read
   * is handed back for the decision (AccessInput.place).
   */
  async familiar(input: { userId: string; clientIp?: string | undefined; device?: () => Promise<string | undefined> }): Promise<{ familiar: boolean; place: Place }> {
    const networks = await this.networksOf(input.clientIp);
    const place = await this.risk.place({ userId: input.userId, networks, ...(input.clientIp ? { clientIp: input.clientIp } : {}) });
    if (RiskAssessor.familiar(place)) return { familiar: true, place };
    const deviceId = input.device ? await input.device() : undefined;
    return { familiar: deviceId !== undefined && (await this.risk.knownDevice(input.userId, deviceId)), place };
  }

  /** The named networks an address falls in. */
  async networksOf(clientIp: string | undefined): Promise<Network[]> {
    if (!clientIp) return [];
    const { networks } = await this.view.get();
    return networks.filter((n) => n.cidrs.has(clientIp)).map((n) => n.network);
  }

  private async resolveResource(ref: string): Promise<AccessResource> {
    if (ref === 'ldap' || ref === 'portal' || ref === 'admin') return { kind: ref };
    const match = /^(app|radius):(.+)$/.exec(ref);
    if (!match) throw new NotFoundError('resource', ref);
    const kind = match[1] as 'app' | 'radius';
    const name = match[2]!;
    const view = await this.view.get();
    const found = (kind === 'app' ? view.applications : view.radiusClients).get(name);
    return { kind, name, exists: found !== undefined, assignedGroups: found?.groups ?? [] };
  }

  private accessDevice(device: Device, certificate: boolean, now: number): AccessDevice {
    return { id: device.id, name: device.name, managed: device.managed, compliant: device.managed && this.deps.isCompliant(device, now), certificate };
  }
}
