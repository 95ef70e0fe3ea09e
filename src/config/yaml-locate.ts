/**
 * Mapping between JS-value paths (as reported by zod) and nodes of the YAML
 * AST, so that validation errors on the plain JS value can still point at a
 * line and column in the file.
 */
import { isAlias, isMap, isNode, isScalar, isSeq } from 'yaml';
import type { Document, Node } from 'yaml';

export type PathSegment = string | number;

/** The JS property name a mapping key becomes (mirrors toJS for scalar keys). */
export function keySegment(key: unknown): string {
  if (isScalar(key)) return String(key.value ?? '');
  // Non-scalar keys are rejected at parse time (`stringKeys`); this is only a
  // readable placeholder should one ever get this far.
  return isNode(key) ? String(key) : String(key ?? '');
}

const IDENTIFIER_LIKE = /^[A-Za-z0-9_$-]+$/;

/**
 * `directory.users[2].email`. Keys that would make the dotted form ambiguous
 * (containing dots, brackets, spaces, or empty) are written as `["a.b"]`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = typeof segment === 'symbol' ? segment.toString() : segment;
      if (IDENTIFIER_LIKE.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

export interface Location {
  /** Deepest node reached along the path (the value node), or null for an empty document. */
  node: Node | null;
  /** Key node of the last mapping entry traversed, when the last resolved step was a key. */
  keyNode: Node | null;
  /** How many leading path segments were found in the document. */
  resolved: number;
}

/**
 * Follows `path` through the document as far as it exists. Aliases are
 * dereferenced only to descend into them, so a problem on the alias itself is
 * reported where the alias is used, while a problem inside it points into the
 * anchored definition (the only place that text exists).
 */
export function locate(doc: Document, path: readonly PropertyKey[]): Location {
  let node = (doc.contents as Node | null) ?? null;
  let keyNode: Node | null = null;
  let resolved = 0;

  for (const segment of path) {
    const container = isAlias(node) ? (node.resolve(doc) ?? null) : node;
    let next: Node | null | undefined;
    let nextKey: Node | null = null;

    if (isMap(container)) {
      const wanted = typeof segment === 'symbol' ? segment.toString() : String(segment);
      const pair = container.items.find((item) => keySegment(item.key) === wanted);
      if (pair !== undefined) {
        nextKey = isNode(pair.key) ? pair.key : null;
        // `? key` with no value has a null value node; the key is the best anchor.
        next = isNode(pair.value) ? pair.value : nextKey;
      }
    } else if (isSeq(container) && typeof segment === 'number') {
      const item = container.items[segment];
      next = isNode(item) ? item : undefined;
    }

    if (next === undefined || next === null) break;
    node = next;
    keyNode = nextKey;
    resolved++;
  }
  return { node, keyNode, resolved };
}

/**
 * Path of the deepest mapping entry or sequence item whose source text
 * contains `offset`; used to give YAML syntax errors such as duplicate keys a
 * readable path.
 * Aliases are not followed: the offset is in the text, which is where the
 * alias itself stands.
 */
export function pathAtOffset(doc: Document, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  const contains = (node: unknown): boolean =>
    isNode(node) && node.range != null && node.range[0] <= offset && offset < node.range[2];

  let node: unknown = doc.contents;
  for (;;) {
    let next: unknown;
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isNode(pair.key) || pair.key.range == null) continue;
        const start = pair.key.range[0];
        const end = isNode(pair.value) && pair.value.range != null ? pair.value.range[2] : pair.key.range[2];
        if (offset < start || offset >= end) continue;
        path.push(keySegment(pair.key));
        // Offsets between key and value (the `:`, a tag, an anchor) belong to
        // the entry, so they still get the entry's path.
        if (contains(pair.value)) next = pair.value;
        break;
      }
    } else if (isSeq(node)) {
      const index = node.items.findIndex(contains);
      if (index >= 0) {
        path.push(index);
        next = node.items[index];
      }
    }
    if (next === undefined) return path;
    node = next;
  }
}
