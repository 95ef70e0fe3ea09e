/**
 * Environment-variable substitution for configuration files.
 *
 * Substitution runs on the parsed YAML AST (before conversion to plain JS) so
 * every problem can be reported with the line of the scalar that caused it,
 * and so mapping keys are never touched: only the *values* of string scalars
 * are rewritten.
 *
 * Syntax, deliberately a small subset of the POSIX shell's:
 *   ${NAME}            value of NAME; an error if NAME is unset
 *   ${NAME:-default}   value of NAME, or `default` if NAME is unset or empty
 *   $${                a literal `${` (escape)
 * Any other `$` is literal text, so `cost: 5$` or `re: ^a$` need no escaping.
 *
 * Error messages name the variable but never include its value: values are
 * frequently secrets and error text ends up in logs.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import type { Document, Node, Scalar, Schema } from 'yaml';
import { keySegment } from './yaml-locate.ts';
import type { PathSegment } from './yaml-locate.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface SubstitutionResult {
  text: string;
  /** The input was exactly one well-formed `${...}` reference and nothing else. */
  soleReference: boolean;
  /** Human-readable problems; empty when substitution succeeded. */
  problems: string[];
}

export interface SubstitutionProblem {
  node: Scalar;
  path: PathSegment[];
  message: string;
}

// `$${` (escape) or `${...}`; the closing brace is optional in the pattern so
// an unterminated reference is recognised and reported rather than silently
// left as literal text.
const REFERENCE = /\$\$\{|\$\{([^}]*)(\}?)/g;
const BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/** Substitutes references in one string. Pure; exported for unit testing. */
export function substituteEnvString(raw: string, env: Env): SubstitutionResult {
  const problems: string[] = [];
  let references = 0;
  let soleCandidate = false;

  const text = raw.replace(REFERENCE, (match: string, body: string | undefined, close: string | undefined, offset: number) => {
    if (match === '$${') return '${';
    references++;
    soleCandidate = offset === 0 && match.length === raw.length;
    if (close !== '}') {
      problems.push(`unterminated environment reference "${match}" (missing "}")`);
      return match;
    }
    const parsed = BODY.exec(body ?? '');
    if (parsed === null) {
      problems.push(`invalid environment reference "${match}": expected \${NAME} or \${NAME:-default}`);
      return match;
    }
    const name = parsed[1] as string;
    const fallback = parsed[2];
    if (fallback?.includes('${')) {
      problems.push(`nested environment reference in the default of \${${name}} is not supported`);
      return match;
    }
    // Own properties only: a plain-object env must not leak `constructor` etc.
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (fallback !== undefined) return value === undefined || value === '' ? fallback : value;
    if (value === undefined) {
      problems.push(`environment variable ${name} is not set and no default is given (use \${${name}:-default})`);
      return match;
    }
    return value;
  });

  return { text, soleReference: references === 1 && soleCandidate && problems.length === 0, problems };
}

/**
 * Resolves `text` the way the document's schema would resolve an untagged
 * plain scalar with that source, so `${PORT}` can become a number just as a
 * literal `8080` would. Mirrors the composer's "first default tag whose test
 * matches, else string" rule.
 */
function resolveAsPlainScalar(schema: Schema, text: string): unknown {
  for (const tag of schema.tags) {
    if (tag.collection !== undefined || tag.default !== true || tag.test?.test(text) !== true) continue;
    // Core-schema tags cannot fail on input their own test accepted; the
    // callback exists only to satisfy the interface.
    const resolved = tag.resolve(text, () => {}, {});
    return isScalar(resolved) ? resolved.value : resolved;
  }
  return text;
}

/**
 * Rewrites every string scalar value in `doc` in place and returns the
 * problems found. Keys are never substituted. Aliases are not followed: the
 * anchored node they point at is substituted where it is defined, which also
 * keeps this walk linear in document size regardless of alias fan-out.
 */
export function substituteEnvInDocument(doc: Document, env: Env): SubstitutionProblem[] {
  const problems: SubstitutionProblem[] = [];

  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) walk(pair.value, [...path, keySegment(pair.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => walk(item, [...path, index]));
    } else if (isScalar(node) && typeof node.value === 'string') {
      const result = substituteEnvString(node.value, env);
      for (const message of result.problems) problems.push({ node, path, message });
      if (result.problems.length > 0) return;
      // Only an untagged, unquoted scalar that is nothing but one reference is
      // re-typed: quoting (or an explicit tag) is how authors ask for a string,
      // and mixed text like `http://${HOST}:8080` is always a string.
      const retype = node.type === 'PLAIN' && node.tag === undefined && result.soleReference;
      node.value = retype ? resolveAsPlainScalar(doc.schema, result.text) : result.text;
    }
  };

  walk(doc.contents as Node | null, []);
  return problems;
}
