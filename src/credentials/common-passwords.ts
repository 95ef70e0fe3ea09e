// The shipped blocklist of common/breached passwords (common-passwords.txt;
// provenance and licence are in that file's header and build-common-passwords.ts).

import { readFileSync } from 'node:fs';

const LIST_FILE = new URL('./common-passwords.txt', import.meta.url);

let cached: ReadonlySet<string> | undefined;

/**
 * The blocklist as a set of lower-cased entries. Loaded on first use and kept
 * for the life of the process. The read is synchronous because the policy
 * check is synchronous, and it happens once (~400 KB, a few milliseconds).
 */
export function commonPasswords(): ReadonlySet<string> {
  cached ??= parseCommonPasswordList(readFileSync(LIST_FILE, 'utf8'));
  return cached;
}

/** True if `candidate` (already NFKC-normalised and lower-cased) is on the list. */
export function isCommonPassword(candidate: string): boolean {
  return commonPasswords().has(candidate);
}

/** Parses the list format: one entry a line; lines starting with "# " are comments. */
export function parseCommonPasswordList(text: string): Set<string> {
  const entries = new Set<string>();
  for (const line of text.split('\n')) {
    const entry = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (entry !== '' && !entry.startsWith('# ')) entries.add(entry);
  }
  return entries;
}
