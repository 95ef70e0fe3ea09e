/**
 * The access view: what every decision reads that no sign-in changes — the policies, the networks
 * and the resources (applications and RADIUS clients by name, with the groups assigned to them).
 * They are a handful of rows an administrator writes, read by every decision of every protocol;
 * reading and parsing them per decision was four statements of a RADIUS PAP request's fifteen.
 * What is a person's own (the account and its status, groups, factors, devices, the throttle and
 * risk counters) is never taken from here: it is read fresh by each sign-in.
 *
 * Freshness, the rule the RADIUS server's client table follows (protocols/radius/server.ts):
 * - A change committed in this process drops the view at once (its audit event, which the change
 *   emits after committing): the next decision reads the store.
 * - A change made by another Gatehouse process on the same store shows within a second: a view
 *   older than half a second still serves while a fresh one is read in the background (so under
 *   steady traffic no decision waits); one older than a second is read before deciding.
 * - A read that fails is not kept: the decision that asked fails closed (AccessService.evaluate).
 * A read that began before a local change is not installed when it ends after it.
 */
import type { Auditor } from '../audit/audit.ts';
import type { Application, Network, Policy, RadiusClient } from '../directory/model.ts';
import { CidrSet } from '../net/client-ip.ts';
import type { DirectoryStore } from '../store/types.ts';

/** Audit events of changes the view depends on (group renames and deletions change assigned groups' names). */
const CHANGES = ['policy.', 'network.', 'application.', 'radius_client.', 'group.updated', 'group.deleted', 'config.reconciled'];

export interface AccessView {
  policies: Policy[];
  networks: Array<{ network: Network; cidrs: CidrSet }>;
  applications: ReadonlyMap<string, Pick<Application, 'groups'>>;
  radiusClients: ReadonlyMap<string, Pick<RadiusClient, 'groups'>>;
}

export class AccessViewCache {
  readonly #dir: DirectoryStore;
  readonly #refreshMs: number;
  readonly #maxAgeMs: number;
  #view: AccessView | undefined;
  /** performance.now() when the view's read began: its age counts from there. */
  #at = 0;
  /** Moves at every local change: a read begun under an older epoch is not installed. */
  #epoch = 0;
  #reading: Promise<AccessView> | undefined;

  constructor(dir: DirectoryStore, auditor: Pick<Auditor, 'onEvent'>, options: { refreshMs?: number; maxAgeMs?: number } = {}) {
    this.#dir = dir;
    this.#refreshMs = options.refreshMs ?? 500;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
    // As long as the core that holds it: the auditor and the view go together.
    auditor.onEvent((event) => {
      if (CHANGES.some((prefix) => event.type.startsWith(prefix))) this.invalidate();
    });
  }

  /** The view, read first if there is none or it is over a second old. */
  async get(): Promise<AccessView> {
    const age = performance.now() - this.#at;
    if (this.#view && age < this.#maxAgeMs) {
      if (age >= this.#refreshMs && !this.#reading) this.read().catch(() => undefined); // a failure shows at the next get()
      return this.#view;
    }
    return this.read();
  }

  /** Drops the view (a change in this process). */
  invalidate(): void {
    this.#epoch++;
    this.#view = undefined;
    this.#reading = undefined;
  }

  private read(): Promise<AccessView> {
    if (this.#reading) return this.#reading;
    const epoch = this.#epoch;
    const startedAt = performance.now();
    const reading = this.load().then(
      (view) => {
        if (this.#epoch === epoch) {
          this.#view = view;
          this.#at = startedAt;
        }
        return view;
      },
    ).finally(() => {
      if (this.#reading === reading) this.#reading = undefined;
    });
    this.#reading = reading;
    return reading;
  }

  private async load(): Promise<AccessView> {
    const dir = this.#dir;
    const [policies, networks, applications, radiusClients] = await Promise.all([dir.policies.all(), dir.networks.all(), dir.applications.all(), dir.radiusClients.all()]);
    return {
      policies,
      networks: networks.map((network) => ({ network, cidrs: new CidrSet(network.cidrs) })),
      applications: new Map(applications.map((a) => [a.name, { groups: a.groups }])),
      radiusClients: new Map(radiusClients.map((c) => [c.name, { groups: c.groups }])),
    };
  }
}
