/**
 * The directory snapshot searches read (tree.ts), and when it is rebuilt. Reading every user,
 * group and membership for each search costs far more than the search; instead the snapshot is
 * rebuilt when the directory changes:
 *
 * - in this process: every committed change emits an audit event (core.auditor.onEvent); one of a
 *   user, group or application marks the snapshot stale, so the next search sees the change;
 * - in another Gatehouse process on the same store: the audit log is the record of every change,
 *   committed with it, so the store is asked for user, group and application events of the last
 *   minute at most every `ldap.refreshSeconds` (0: before every search). An event not seen
 *   before marks the snapshot stale. The window (not just "newer than the last id") catches a
 *   transaction that committed after a later-numbered one.
 *
 * A search that starts after a change was committed never gets a snapshot read before it: a
 * rebuild already under way when the change arrives serves only the searches that were waiting
 * for it, the next ones wait for a fresh one.
 */
import type { Core } from '../../src/core.ts';
import type { AuditEvent } from '../../src/directory/model.ts';
import type { Logger } from '../../src/log.ts';
import { readTree, type Tree } from './tree.ts';

/** Event types that change what the tree shows: these prefixes, but for the password events. */
const CHANGES = ['user.', 'group.', 'application.'] as const;
const UNSEEN = new Set(['user.password.set', 'user.password.rehashed']);
/**
 * How far back the cross-process check looks: longer than a directory transaction takes to
 * commit, and than the clocks of the processes writing events drift apart.
 */
const WINDOW_MS = 60_000;
/** More events than this in the window: assume a change (a bulk load is under way). */
const WINDOW_LIMIT = 200;

export interface TreeCacheOptions {
  baseDn: string;
  refreshSeconds: number;
}

export class TreeCache {
  private readonly core: Core;
  private readonly options: TreeCacheOptions;
  private readonly log: Logger;
  /** Bumped by every change seen; a snapshot is current while its generation is. */
  private generation = 0;
  private snapshot: { tree: Tree; generation: number } | undefined;
  private building: { promise: Promise<Tree>; generation: number } | undefined;
  private checking: Promise<void> | undefined;
  private checkedAt = 0;
  /** Ids of the change events in the window at the last check. */
  private seen = new Set<string>();
  private closed = false;

  constructor(core: Core, options: TreeCacheOptions, log: Logger) {
    this.core = core;
    this.options = options;
    this.log = log;
    core.auditor.onEvent((event) => {
      if (this.closed || !isChange(event)) return;
      this.generation++;
      // Seen here already: the cross-process check need not rebuild for it again.
      this.seen.add(event.id);
    });
  }

  /** A snapshot that reflects every change committed before this call (and other processes' up to `refreshSeconds` ago). */
  async current(): Promise<Tree> {
    if (performance.now() - this.checkedAt >= this.options.refreshSeconds * 1000) await this.checkOtherProcesses();
    const generation = this.generation;
    if (this.snapshot?.generation === generation) return this.snapshot.tree;
    if (this.building?.generation !== generation) {
      const promise = readTree(this.core, this.options.baseDn, this.log).then(
        (tree) => {
          if (!this.snapshot || this.snapshot.generation <= generation) this.snapshot = { tree, generation };
          return tree;
        },
      );
      const building = { promise, generation };
      this.building = building;
      void promise.then(
        () => this.building === building && (this.building = undefined),
        () => this.building === building && (this.building = undefined),
      );
    }
    return this.building.promise;
  }

  /** Marks the snapshot stale (tests, and changes known otherwise). */
  invalidate(): void {
    this.generation++;
  }

  close(): void {
    this.closed = true;
  }

  private checkOtherProcesses(): Promise<void> {
    this.checking ??= this.check().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async check(): Promise<void> {
    const startedAt = performance.now();
    const since = new Date(Date.now() - WINDOW_MS).toISOString();
    const pages = await Promise.all(CHANGES.map((type) => this.core.directory.dir.audit.query({ type, since, limit: WINDOW_LIMIT })));
    const ids = new Set(pages.flatMap((p) => p.items.filter(isChange).map((e) => e.id)));
    const overflow = pages.some((p) => p.next !== undefined);
    if (overflow || [...ids].some((id) => !this.seen.has(id))) this.generation++;
    this.seen = ids;
    this.checkedAt = startedAt;
  }
}

function isChange(event: AuditEvent): boolean {
  return CHANGES.some((prefix) => event.type.startsWith(prefix)) && !UNSEEN.has(event.type);
}
