/**
 * An entry as the LDAP front-end holds it: built once per directory snapshot (tree.ts), then only
 * read, so what searches derive from it (normalized values, encoded responses) is cached on it.
 */
import { canonicalAttribute } from './matching.ts';

export type EntryKind = 'base' | 'container' | 'user' | 'group' | 'service' | 'subschema';

export interface Entry {
  dn: string;
  /** Normalized RDNs (see dn.ts), most specific first. */
  rdns: string[];
  /** The normalized DN, parents first, NUL-separated: parents sort before children, siblings by RDN. */
  order: string;
  /** User attributes, by their canonical name. */
  attributes: Record<string, string[]>;
  /** Operational attributes (RFC 4512 §3.4): returned only when asked for by name or with '+'. */
  operational: Record<string, string[]>;
  /** What the entry is, for access control. */
  kind: EntryKind;
  /** The user's, group's or application's id. */
  id?: string;
  /** User and operational attributes by canonical (lower-case) name, for filters. */
  values: Map<string, string[]>;
  /** Normalized values by attribute, filled in by filters as they need them. */
  normalized: Map<string, Array<string | undefined>>;
}

export function makeEntry(dn: string, rdns: string[], kind: EntryKind, attributes: Record<string, string[]>, operational: Record<string, string[]>, id?: string): Entry {
  const values = new Map<string, string[]>();
  for (const attrs of [attributes, operational]) for (const [name, list] of Object.entries(attrs)) values.set(canonicalAttribute(name), list);
  return { dn, rdns, order: orderKey(rdns), kind, attributes, operational, values, normalized: new Map(), ...(id ? { id } : {}) };
}

export function orderKey(rdns: readonly string[]): string {
  return [...rdns].reverse().join('\u0000');
}
