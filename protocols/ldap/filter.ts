/**
 * Search filter evaluation (RFC 4511 §4.5.1.7) over our entries, on the tree @ldapjs/filter parsed.
 * Attribute names match case-insensitively; values match case-insensitively (every attribute here
 * has a caseIgnore or numeric matching rule, RFC 4519/RFC 2307), uidNumber/gidNumber numerically,
 * DN-valued attributes after DN normalization. approxMatch is treated as equality; extensible
 * match is not supported (evaluates to Undefined, which is never true).
 */
import type { FilterNode } from '@ldapjs/filter';
import { parseDn } from './dn.ts';
import type { Entry } from './tree.ts';

const NUMERIC = new Set(['uidnumber', 'gidnumber']);
const DN_VALUED = new Set(['member', 'memberof']);

/** The values of `name` in the entry (user and operational), case-insensitively. */
export function valuesOf(entry: Entry, name: string): string[] | undefined {
  const wanted = name.toLowerCase();
  for (const attrs of [entry.attributes, entry.operational]) {
    for (const [key, values] of Object.entries(attrs)) if (key.toLowerCase() === wanted) return values;
  }
  return undefined;
}

function normalize(attribute: string, value: string): string {
  if (DN_VALUED.has(attribute)) return parseDn(value)?.join(',') ?? value.toLowerCase();
  return value.trim().replace(/\s+/g, ' ').toLowerCase();
}

function compare(attribute: string, a: string, b: string): number | undefined {
  if (NUMERIC.has(attribute)) {
    const x = Number(a);
    const y = Number(b);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return undefined;
    return x - y;
  }
  const x = normalize(attribute, a);
  const y = normalize(attribute, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function matches(filter: FilterNode, entry: Entry): boolean {
  const attribute = (filter.attribute ?? '').toLowerCase().split(';')[0]!;
  switch (filter.type) {
    case 'AndFilter':
      return (filter.filters ?? []).every((f) => matches(f, entry));
    case 'OrFilter':
      return (filter.filters ?? []).some((f) => matches(f, entry));
    case 'NotFilter':
      return filter.filter ? !matches(filter.filter, entry) : false;
    case 'PresenceFilter':
      return valuesOf(entry, attribute) !== undefined;
    case 'EqualityFilter':
    case 'ApproximateFilter':
      return (valuesOf(entry, attribute) ?? []).some((v) => compare(attribute, v, filter.value ?? '') === 0);
    case 'GreaterThanEqualsFilter':
      return (valuesOf(entry, attribute) ?? []).some((v) => (compare(attribute, v, filter.value ?? '') ?? -1) >= 0);
    case 'LessThanEqualsFilter':
      return (valuesOf(entry, attribute) ?? []).some((v) => (compare(attribute, v, filter.value ?? '') ?? 1) <= 0);
    case 'SubstringFilter':
      return (valuesOf(entry, attribute) ?? []).some((v) => substringMatch(normalize(attribute, v), filter));
    default:
      return false;
  }
}

function substringMatch(value: string, filter: FilterNode): boolean {
  const lower = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();
  let position = 0;
  if (filter.subInitial) {
    const initial = lower(filter.subInitial);
    if (!value.startsWith(initial)) return false;
    position = initial.length;
  }
  for (const any of filter.subAny ?? []) {
    const part = lower(any);
    const found = value.indexOf(part, position);
    if (found < 0) return false;
    position = found + part.length;
  }
  if (filter.subFinal) {
    const final = lower(filter.subFinal);
    return value.length - final.length >= position && value.endsWith(final);
  }
  return true;
}

/**
 * The filter's nesting depth (a lone comparison is 1) and element count, walked iteratively so a
 * hostile filter nested thousands deep cannot exhaust the stack. Stops counting once over either
 * limit; returns why it is refused, or undefined when it is within both.
 */
export function filterTooLarge(filter: FilterNode, maxDepth: number, maxElements: number): string | undefined {
  const stack: Array<{ node: FilterNode; depth: number }> = [{ node: filter, depth: 1 }];
  let elements = 0;
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    elements += 1;
    if (depth > maxDepth) return `the filter is nested more than ${maxDepth} deep (ldap.maxFilterDepth)`;
    if (elements > maxElements) return `the filter has more than ${maxElements} elements (ldap.maxFilterElements)`;
    // Only and/or/not have children (a leaf's deprecated `filter` getter returns the leaf itself).
    if (node.type === 'AndFilter' || node.type === 'OrFilter') for (const child of node.filters ?? []) stack.push({ node: child, depth: depth + 1 });
    else if (node.type === 'NotFilter' && node.filter) stack.push({ node: node.filter, depth: depth + 1 });
  }
  return undefined;
}
