/**
 * Distinguished names, compared the way this directory needs: each RDN as `attribute=value`,
 * lower-cased (every naming attribute here — dc, ou, uid, cn — matches case-insensitively), values
 * unescaped by @ldapjs/dn (RFC 4514).
 */
import { DN } from '@ldapjs/dn';

/** The RDNs of `dn`, most specific first; `[]` for the empty DN; undefined when it is not a DN or has a multi-valued RDN. */
export function parseDn(dn: string): string[] | undefined {
  if (dn.trim() === '') return [];
  const simple = parseSimpleDn(dn);
  if (simple) return simple;
  try {
    return rdnsOf(DN.fromString(dn));
  } catch {
    return undefined;
  }
}

/** A DN with nothing to unescape (no \ " + # < > ;), the common case: `attr=value` pairs split by commas. */
const PLAIN = /^[^\\"+#<>;]*$/;
const DESCRIPTOR = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)$/;

/**
 * Binds and searches name DNs by the thousand: the plain ones are split here, as @ldapjs/dn would
 * (type lower-cased, spaces around types and values dropped); anything else goes to @ldapjs/dn.
 */
function parseSimpleDn(dn: string): string[] | undefined {
  if (!PLAIN.test(dn)) return undefined;
  const out: string[] = [];
  for (const part of dn.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const type = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!DESCRIPTOR.test(type) || value === '' || value.includes('=')) return undefined;
    out.push(`${type.toLowerCase()}=${value.toLowerCase()}`);
  }
  return out;
}

export function rdnsOf(dn: DN): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < dn.length; i++) {
    const rdn = dn.rdnAt(i);
    const keys = [...rdn.keys()];
    if (keys.length !== 1) return undefined;
    const key = keys[0]!;
    out.push(`${key.toLowerCase()}=${String(rdn.getValue(key) ?? '').toLowerCase()}`);
  }
  return out;
}

export function sameDn(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((rdn, i) => rdn === b[i]);
}

/** Whether `dn` is `ancestor` or below it. */
export function isUnder(dn: string[], ancestor: string[]): boolean {
  if (dn.length < ancestor.length) return false;
  const offset = dn.length - ancestor.length;
  return ancestor.every((rdn, i) => rdn === dn[offset + i]);
}

/** RFC 4514 §2.4 escaping of an attribute value placed in a DN string. */
export function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}
