/** Types of node-version.cjs (plain JavaScript, so that every Node.js can parse it). */
declare const nodeVersion: {
  /** The oldest supported version, [major, minor]. */
  readonly MINIMUM: readonly [number, number];
  /** What is wrong with running on Node.js `version`, and how to get a good one; null when fine. */
  problem(version: string): string | null;
};
export = nodeVersion;
