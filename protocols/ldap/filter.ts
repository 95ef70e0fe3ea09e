/**
 * Search filters (RFC 4511 §4.5.1.7, RFC 4515): the tree decode.ts read from BER is compiled once
 * per search — attribute names canonicalized, assertion values normalized — and evaluated per
 * entry in three-valued logic: TRUE, FALSE or Undefined, which is never returned and which NOT
 * leaves Undefined (§4.5.1.7).
 *
 * Plain filters compare values as README.md says: integers numerically, DNs as DNs, everything
 * else case-insensitively; approxMatch is equality. Extensible match (§4.5.1.7.7) takes the rules of
 * matching.ts by OID or name, the entry's DN attributes with `:dn:`, and every attribute the rule
 * applies to when no attribute is named; an unknown rule, a rule that does not apply to the named
 * attribute or an assertion value invalid for the rule make it Undefined.
 */
import { DN } from '@ldapjs/dn';
import type { FilterNode } from '@ldapjs/filter';
import type { RawFilter } from './decode.ts';
import type { Entry } from './entry.ts';
import { canonicalAttribute, compareIntegers, matchingRule, normalizeValue, syntaxOf, type MatchingRule } from './matching.ts';

/** TRUE, FALSE or Undefined (RFC 4511 §4.5.1.7). */
export type Truth = boolean | undefined;

export type Filter =
  | { op: 'and' | 'or'; children: Filter[] }
  | { op: 'not'; child: Filter }
  | { op: 'present'; attribute: string }
  /** `value` is the normalized assertion; undefined when it is not valid for the attribute. */
  | { op: 'equal' | 'greater' | 'less'; attribute: string; value: string | undefined }
  | { op: 'substrings'; attribute: string; initial?: string; any: string[]; final?: string }
  | { op: 'extensible'; attribute?: string; rule?: MatchingRule; unknownRule: boolean; dnAttributes: boolean; value: string };

const lower = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();

/** Parse once: the decoded filter as this module evaluates it. Recursion is bounded by the depth limit decode.ts (or filterTooLarge) enforced. */
export function compileFilter(node: RawFilter): Filter {
  switch (node.type) {
    case 'and':
    case 'or':
      return { op: node.type, children: node.children.map(compileFilter) };
    case 'not':
      return { op: 'not', child: compileFilter(node.child) };
    case 'present':
      return { op: 'present', attribute: canonicalAttribute(node.attribute) };
    case 'equal':
    case 'approx':
    case 'greater':
    case 'less': {
      const attribute = canonicalAttribute(node.attribute);
      return { op: node.type === 'approx' ? 'equal' : node.type, attribute, value: normalizeValue(attribute, node.value) };
    }
    case 'substrings':
      return {
        op: 'substrings', attribute: canonicalAttribute(node.attribute), any: node.any.map(lower),
        ...(node.initial ? { initial: lower(node.initial) } : {}), ...(node.final ? { final: lower(node.final) } : {}),
      };
    case 'extensible': {
      const rule = node.rule ? matchingRule(node.rule) : undefined;
      return {
        op: 'extensible', ...(node.attribute ? { attribute: canonicalAttribute(node.attribute) } : {}), ...(rule ? { rule } : {}),
        unknownRule: node.rule !== undefined && node.rule !== '' && !rule, dnAttributes: node.dnAttributes, value: node.value,
      };
    }
  }
}

/**
 * A filter @ldapjs/filter parsed (tests write filters as strings), as decode.ts would have read it.
 * Extensible match values are taken as they are.
 */
export function rawFilterOf(node: FilterNode): RawFilter {
  const attribute = node.attribute ?? '';
  switch (node.type) {
    case 'AndFilter':
      return { type: 'and', children: (node.filters ?? []).map(rawFilterOf) };
    case 'OrFilter':
      return { type: 'or', children: (node.filters ?? []).map(rawFilterOf) };
    case 'NotFilter':
      return { type: 'not', child: rawFilterOf(node.filter!) };
    case 'PresenceFilter':
      return { type: 'present', attribute };
    case 'EqualityFilter':
      return { type: 'equal', attribute, value: node.value ?? '' };
    case 'ApproximateFilter':
      return { type: 'approx', attribute, value: node.value ?? '' };
    case 'GreaterThanEqualsFilter':
      return { type: 'greater', attribute, value: node.value ?? '' };
    case 'LessThanEqualsFilter':
      return { type: 'less', attribute, value: node.value ?? '' };
    case 'SubstringFilter':
      return { type: 'substrings', attribute, any: [...(node.subAny ?? [])], ...(node.subInitial ? { initial: node.subInitial } : {}), ...(node.subFinal ? { final: node.subFinal } : {}) };
    case 'ExtensibleFilter':
      return { type: 'extensible', ...(node.attribute ? { attribute } : {}), ...(node.matchingRule ? { rule: node.matchingRule } : {}), value: node.value ?? '', dnAttributes: node.dnAttributes === true };
    default:
      throw new Error(`unknown filter type ${node.type}`);
  }
}

/** The normalized values of an attribute of the entry (cached on the entry: entries do not change). */
function normalizedValues(entry: Entry, attribute: string): Array<string | undefined> | undefined {
  const cached = entry.normalized.get(attribute);
  if (cached) return cached;
  const values = entry.values.get(attribute);
  if (!values) return undefined;
  const normalized = values.map((v) => normalizeValue(attribute, v));
  entry.normalized.set(attribute, normalized);
  return normalized;
}

function order(attribute: string, a: string, b: string): number {
  if (syntaxOf(attribute) === 'integer') return compareIntegers(a, b);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function evaluate(filter: Filter, entry: Entry): Truth {
  switch (filter.op) {
    case 'and': {
      let result: Truth = true;
      for (const child of filter.children) {
        const r = evaluate(child, entry);
        if (r === false) return false;
        if (r === undefined) result = undefined;
      }
      return result;
    }
    case 'or': {
      let result: Truth = false;
      for (const child of filter.children) {
        const r = evaluate(child, entry);
        if (r === true) return true;
        if (r === undefined) result = undefined;
      }
      return result;
    }
    case 'not': {
      const r = evaluate(filter.child, entry);
      return r === undefined ? undefined : !r;
    }
    case 'present':
      return entry.values.has(filter.attribute);
    case 'equal':
    case 'greater':
    case 'less': {
      // An assertion value invalid for the attribute makes the item Undefined, present or not.
      const wanted = filter.value;
      if (wanted === undefined) return undefined;
      const values = normalizedValues(entry, filter.attribute);
      if (!values) return false;
      if (filter.op === 'equal') return values.includes(wanted);
      const sign = filter.op === 'greater' ? 1 : -1;
      return values.some((v) => v !== undefined && order(filter.attribute, v, wanted) * sign >= 0);
    }
    case 'substrings': {
      const values = normalizedValues(entry, filter.attribute);
      if (!values) return false;
      return values.some((v) => v !== undefined && substringMatch(v, filter));
    }
    case 'extensible':
      return extensibleMatch(filter, entry);
  }
}

/** Whether the entry is returned: only a TRUE filter selects it. */
export function matches(filter: Filter, entry: Entry): boolean {
  return evaluate(filter, entry) === true;
}

function substringMatch(value: string, filter: { initial?: string; any: string[]; final?: string }): boolean {
  let position = 0;
  if (filter.initial) {
    if (!value.startsWith(filter.initial)) return false;
    position = filter.initial.length;
  }
  for (const part of filter.any) {
    const found = value.indexOf(part, position);
    if (found < 0) return false;
    position = found + part.length;
  }
  if (filter.final) return value.length - filter.final.length >= position && value.endsWith(filter.final);
  return true;
}

/** RFC 4511 §4.5.1.7.7. */
function extensibleMatch(filter: Extract<Filter, { op: 'extensible' }>, entry: Entry): Truth {
  if (filter.unknownRule) return undefined;
  const { attribute, rule } = filter;
  // "If the matchingRule field is absent, the type field MUST be present."
  if (!rule && !attribute) return undefined;
  if (rule && attribute && !rule.applies(syntaxOf(attribute))) return undefined;
  // Without a rule, the attribute's own equality, as in a plain equality filter.
  const prepare = rule ? rule.prepare : (v: string) => normalizeValue(attribute!, v);
  const assertion = rule ? rule.prepare(filter.value) : normalizeValue(attribute!, filter.value);
  if (assertion === undefined) return undefined;
  const test = (name: string, values: readonly string[]) => (attribute ? name === attribute : rule!.applies(syntaxOf(name))) && values.some((v) => prepare(v) === assertion);
  if (attribute) {
    if (test(attribute, entry.values.get(attribute) ?? [])) return true;
  } else {
    for (const [name, values] of entry.values) if (test(name, values)) return true;
  }
  // ":dn:": the attribute values of the entry's distinguished name count too.
  if (filter.dnAttributes) for (const ava of dnAttributes(entry)) if (test(ava.type, [ava.value])) return true;
  return false;
}

const avaCache = new WeakMap<Entry, Array<{ type: string; value: string }>>();

/** The AVAs of the entry's DN, with their values as written (case kept, for the caseExact rules). */
function dnAttributes(entry: Entry): Array<{ type: string; value: string }> {
  const cached = avaCache.get(entry);
  if (cached) return cached;
  const avas: Array<{ type: string; value: string }> = [];
  if (entry.dn !== '') {
    const dn = DN.fromString(entry.dn);
    for (let i = 0; i < dn.length; i++) {
      const rdn = dn.rdnAt(i);
      for (const key of rdn.keys()) avas.push({ type: canonicalAttribute(key), value: String(rdn.getValue(key) ?? '') });
    }
  }
  avaCache.set(entry, avas);
  return avas;
}

/**
 * The entries the filter can possibly match, from an equality index (`lookup`), or undefined when
 * every entry must be examined: an equality comparison is answered by the index, an and by its
 * most selective part, an or when all its parts are.
 */
export function candidates(filter: Filter, lookup: (attribute: string, value: string) => readonly Entry[]): readonly Entry[] | undefined {
  switch (filter.op) {
    case 'equal':
      return filter.value === undefined ? [] : lookup(filter.attribute, filter.value);
    case 'and': {
      let best: readonly Entry[] | undefined;
      for (const child of filter.children) {
        const found = candidates(child, lookup);
        if (found && (!best || found.length < best.length)) best = found;
      }
      return best;
    }
    case 'or': {
      const union = new Set<Entry>();
      for (const child of filter.children) {
        const found = candidates(child, lookup);
        if (!found) return undefined;
        for (const e of found) union.add(e);
      }
      return [...union];
    }
    default:
      return undefined;
  }
}

/**
 * The filter's nesting depth (a lone comparison is 1) and element count, walked iteratively so a
 * hostile filter nested thousands deep cannot exhaust the stack. Stops counting once over either
 * limit; returns why it is refused, or undefined when it is within both. (decode.ts checks the
 * same while decoding; this is for filters that come from elsewhere.)
 */
export function filterTooLarge(filter: RawFilter, maxDepth: number, maxElements: number): string | undefined {
  const stack: Array<{ node: RawFilter; depth: number }> = [{ node: filter, depth: 1 }];
  let elements = 0;
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    elements += 1;
    if (depth > maxDepth) return `the filter is nested more than ${maxDepth} deep (ldap.maxFilterDepth)`;
    if (elements > maxElements) return `the filter has more than ${maxElements} elements (ldap.maxFilterElements)`;
    if (node.type === 'and' || node.type === 'or') for (const child of node.children) stack.push({ node: child, depth: depth + 1 });
    else if (node.type === 'not') stack.push({ node: node.child, depth: depth + 1 });
  }
  return undefined;
}
