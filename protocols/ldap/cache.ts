/**
 * The directory tree searches read (tree.ts), and when it is rebuilt. Reading every user, group
 * and membership for each search costs far more than the search; instead the tree is rebuilt when
 * the directory changes, as the core's snapshot feed tells (core.directory.changes): a change made
 * through this process shows at the next search, one made by another Gatehouse process on the same
 * store within `refreshSeconds` (0: the store is asked before every search).
 *
 * A search that starts after a change was committed never gets a tree read before it: a rebuild
 * already under way when the change arrives serves only the searches that were waiting for it,
 * the next ones wait for a fresh one.
 */
import type { Core } from '../../src/core.ts';
import type { DirectoryWatch } from '../../src/directory/service.ts';
import type { Logger } from '../../src/log.ts';
import { readTree, type Tree } from './tree.ts';

export interface TreeCacheOptions {
  baseDn: string;
  refreshSeconds: number;
}

export class TreeCache {
  private readonly core: Core;
  private readonly options: TreeCacheOptions;
  private readonly log: Logger;
  private readonly watch: DirectoryWatch;
  private snapshot: { tree: Tree; generation: number } | undefined;
  private building: { promise: Promise<Tree>; generation: number } | undefined;

  constructor(core: Core, options: TreeCacheOptions, log: Logger) {
    this.core = core;
    this.options = options;
    this.log = log;
    this.watch = core.directory.changes.watch();
  }

  /** A tree that reflects every change committed before this call (and other processes' up to `refreshSeconds` ago). */
  async current(): Promise<Tree> {
    const generation = await this.watch.generation(this.options.refreshSeconds * 1000);
    if (this.snapshot?.generation === generation) return this.snapshot.tree;
    if (this.building?.generation !== generation) {
      const promise = readTree(this.core, this.options.baseDn, this.log).then((tree) => {
        if (!this.snapshot || this.snapshot.generation <= generation) this.snapshot = { tree, generation };
        return tree;
      });
      const building = { promise, generation };
      this.building = building;
      void promise.then(
        () => this.building === building && (this.building = undefined),
        () => this.building === building && (this.building = undefined),
      );
    }
    return this.building.promise;
  }

  /** Marks the tree stale (tests, and changes known otherwise). */
  invalidate(): void {
    this.watch.invalidate();
  }

  close(): void {
    this.watch.close();
    this.snapshot = undefined;
  }
}
