/**
 * The directory feed for front-ends that serve from a snapshot of the whole directory (the LDAP
 * tree; later SCIM): the snapshot itself, and a generation number that moves whenever the
 * directory changes, so a snapshot is rebuilt only then.
 *
 * - In this process: every committed change emits an audit event; one of a user, group or
 *   application bumps the generation at once.
 * - In another Gatehouse process on the same store: the audit log is the record of every change,
 *   committed with it, so the store is asked for user, group and application events of the last
 *   minute, at most once every `maxAgeMs` the caller allows. An event not seen before bumps the
 *   generation. The window (not just "newer than the last id") catches a transaction that
 *   committed after a later-numbered one.
 */
import type { AuditEvent, Application, Group, MemberKind, User } from './model.ts';
import type { DirectoryStore } from '../store/types.ts';
import { DirectoryPart, type DirectoryDeps } from './common.ts';
import { withoutSecretHash } from './resources.ts';

/** Event types that change what a snapshot shows: these prefixes, but for the password events. */
const CHANGES = ['user.', 'group.', 'application.'] as const;
const UNSEEN = new Set(['user.password.set', 'user.password.rehashed']);
/**
 * How far back the cross-process check looks: longer than a directory transaction takes to
 * commit, and than the clocks of the processes writing events drift apart.
 */
const WINDOW_MS = 60_000;
/** More events than this in the window: assume a change (a bulk load is under way). */
const WINDOW_LIMIT = 200;

export interface DirectorySnapshot {
  users: User[];
  groups: Group[];
  memberships: Array<{ groupId: string; kind: MemberKind; memberId: string }>;
  /** Without secret hashes (`hasSecret` says whether one is set). */
  applications: Application[];
}

export function isDirectoryChange(event: Pick<AuditEvent, 'type'>): boolean {
  return CHANGES.some((prefix) => event.type.startsWith(prefix)) && !UNSEEN.has(event.type);
}

/** The snapshot feed: the whole directory, and watches that tell when it changed. */
export class DirectoryChanges extends DirectoryPart {
  /** A watch of its own for one consumer (one LDAP front-end): its generation moves as described above. Close it when done. */
  watch(): DirectoryWatch {
    return new DirectoryWatch(this.deps, this.dir);
  }

  /** Every user, group, membership and application, read now. */
  async snapshot(): Promise<DirectorySnapshot> {
    const dir = this.dir;
    const [users, groups, memberships, applications] = await Promise.all([dir.users.all(), dir.groups.all(), dir.memberships.all(), dir.applications.all()]);
    return { users, groups, memberships, applications: applications.map(withoutSecretHash) };
  }
}

export class DirectoryWatch {
  private readonly dir: DirectoryStore;
  private readonly unsubscribe: () => void;
  private local = 0;
  private checking: Promise<void> | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** Ids of the change events in the window at the last check. */
  private seen = new Set<string>();

  constructor(deps: DirectoryDeps, dir: DirectoryStore) {
    this.dir = dir;
    this.unsubscribe = deps.auditor.onEvent((event) => {
      if (!isDirectoryChange(event)) return;
      this.local++;
      // Seen here already: the cross-process check need not count it again.
      this.seen.add(event.id);
    });
  }

  /**
   * The current generation: it reflects every change committed in this process before the call,
   * and other processes' changes committed more than `maxAgeMs` ago (0: asks the store now).
   */
  async generation(maxAgeMs: number): Promise<number> {
    if (performance.now() - this.checkedAt >= maxAgeMs) {
      this.checking ??= this.checkOtherProcesses().finally(() => {
        this.checking = undefined;
      });
      await this.checking;
    }
    return this.local;
  }

  /** Marks what was built from this watch stale (changes known otherwise, tests). */
  invalidate(): void {
    this.local++;
  }

  close(): void {
    this.unsubscribe();
  }

  private async checkOtherProcesses(): Promise<void> {
    const startedAt = performance.now();
    const since = new Date(Date.now() - WINDOW_MS).toISOString();
    const pages = await Promise.all(CHANGES.map((type) => this.dir.audit.query({ type, since, limit: WINDOW_LIMIT })));
    const ids = new Set(pages.flatMap((p) => p.items.filter(isDirectoryChange).map((e) => e.id)));
    const overflow = pages.some((p) => p.next !== undefined);
    if (overflow || [...ids].some((id) => !this.seen.has(id))) this.local++;
    this.seen = ids;
    this.checkedAt = startedAt;
  }
}
