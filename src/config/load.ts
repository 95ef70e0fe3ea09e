/**
 * Generic YAML configuration loader: YAML text -> validated, typed value.
 *
 * The loader knows nothing about Gatehouse's configuration shape; the caller
 * passes a zod schema. Its job is to turn every way a file can be wrong
 * (unreadable, not UTF-8, too big, bad YAML, alias bomb, missing environment
 * variable, schema violation) into a single `ConfigInvalidError` listing all
 * problems with `file:line:column` positions, so an operator can fix the file
 * in one pass instead of one error per restart.
 *
 * Pipeline (each stage stops the load if it found problems, because later
 * stages would only report noise caused by earlier ones):
 *   1. size limit
 *   2. parse to an AST (syntax errors, warnings, duplicate keys, >1 document)
 *   3. environment substitution on the AST (so errors keep line numbers)
 *   4. AST -> JS with an alias-expansion cap
 *   5. schema validation, issues mapped back to AST positions
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isScalar, LineCounter, parseDocument } from 'yaml';
import type { Document, Node, YAMLError } from 'yaml';
import type { z } from 'zod';
import { knownKeys, nearestKey } from './suggest.ts';
import { substituteEnvInDocument } from './yaml-env.ts';
import { formatPath, locate, pathAtOffset } from './yaml-locate.ts';

export interface ConfigError {
  file: string;
  /** Dotted path into the configuration (`directory.users[2].email`); '' for the whole document. */
  path: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  column?: number;
  message: string;
}

export class ConfigInvalidError extends Error {
  readonly errors: ConfigError[];

  constructor(errors: ConfigError[]) {
    super(formatConfigErrors(errors));
    this.name = 'ConfigInvalidError';
    this.errors = errors;
  }
}

export interface LoadOptions {
  /** Name used in error messages; parseConfig never reads it. */
  file: string;
  /** Source of `${VAR}` values. */
  env: Record<string, string | undefined>;
  /** Cap on alias expansions ("billion laughs" defence); -1 disables. Default 100. */
  maxAliasCount?: number;
  /** Maximum size of the UTF-8 encoded text. Default 4 MiB. */
  maxBytes?: number;
}

/** The tunables of `LoadOptions`, for callers of `loadConfigFile`. */
export type LoadLimits = Pick<LoadOptions, 'maxAliasCount' | 'maxBytes'>;

export const DEFAULT_MAX_ALIAS_COUNT = 100;
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

/** One error per line: `file:line:column: path: message`, unknown parts omitted. */
export function formatConfigErrors(errors: ConfigError[]): string {
  return errors
    .map((error) => {
      let where = error.file;
      if (error.line !== undefined) {
        where += `:${error.line}`;
        if (error.column !== undefined) where += `:${error.column}`;
      }
      return `${where}: ${error.path === '' ? '(root)' : error.path}: ${error.message}`;
    })
    .join('\n');
}

/**
 * Parses, substitutes and validates configuration text.
 * @throws ConfigInvalidError for any problem with the text (never anything else).
 */
export function parseConfig<S extends z.ZodType>(text: string, schema: S, opts: LoadOptions): z.output<S> {
  const { file, env } = opts;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxAliasCount = opts.maxAliasCount ?? DEFAULT_MAX_ALIAS_COUNT;

  // Checked before parsing: the parser's cost is what the limit protects against.
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) throw tooBig(file, bytes, maxBytes);

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    // Positions are added by us from `pos`; pretty errors would embed a
    // multi-line source excerpt in the message and break one-error-per-line.
    prettyErrors: false,
    uniqueKeys: true,
    // Config keys are names: `1:` or `true:` mean the strings "1"/"true",
    // and collection keys are rejected instead of being stringified.
    stringKeys: true,
    // An explicit schema wins over a `%YAML 1.1` directive, so `yes`/`on`
    // always stay strings and `010` is always decimal.
    version: '1.2',
    schema: 'core',
    // Warnings are surfaced as ConfigErrors; don't also print them.
    logLevel: 'error',
  });

  const position = (offset: number | undefined): Pick<ConfigError, 'line' | 'column'> => {
    if (offset === undefined) return {};
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const nodePosition = (node: Node | null): Pick<ConfigError, 'line' | 'column'> => position(node?.range?.[0]);

  // Warnings (e.g. an unknown `!tag`) are treated as errors: a config file
  // whose meaning the parser had to guess at should not be started with.
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) {
    throw new ConfigInvalidError(
      yamlProblems.map((problem: YAMLError) => ({
        file,
        path: formatPath(pathAtOffset(doc, problem.pos[0])),
        ...position(problem.pos[0]),
        message: yamlMessage(problem),
      })),
    );
  }

  const envProblems = substituteEnvInDocument(doc, env);
  if (envProblems.length > 0) {
    throw new ConfigInvalidError(
      envProblems.map(({ node, path, message }) => ({ file, path: formatPath(path), ...nodePosition(node), message })),
    );
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount });
  } catch (error) {
    // The yaml package throws (rather than records) alias problems, notably
    // an exceeded alias cap, as ReferenceErrors; it does not say which alias,
    // so no position is available.
    const detail = error instanceof Error ? error.message : String(error);
    const message =
      error instanceof ReferenceError
        ? `alias expansion refused (maxAliasCount ${maxAliasCount}): ${detail}`
        : `cannot convert document: ${detail}`;
    throw new ConfigInvalidError([{ file, path: '', message }]);
  }
  if (isEmptyDocument(doc)) value = {};

  const fileProblems = readMetadataFiles(value, file);
  if (fileProblems.length > 0) {
    throw new ConfigInvalidError(fileProblems.map(({ path, message }) => ({ file, path: formatPath(path), ...nodePosition(locate(doc, path).node), message })));
  }

  const result = schema.safeParse(value);
  if (result.success) return result.data;

  const errors: ConfigError[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      // The keys that could have been meant: accepted here and not written already.
      const written = valueAt(value, issue.path);
      const candidates = knownKeys(schema, issue.path).filter((k) => !(typeof written === 'object' && written !== null && Object.hasOwn(written, k)));
      // One error per key, each pointing at its own key in the file.
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const { keyNode, node, resolved } = locate(doc, path);
        const at = resolved === path.length ? (keyNode ?? node) : node;
        const meant = nearestKey(key, candidates);
        errors.push({ file, path: formatPath(path), ...nodePosition(at), message: meant === undefined ? 'unknown key' : `unknown key; did you mean '${meant}'?` });
      }
      continue;
    }
    const { node, resolved } = locate(doc, issue.path);
    // Only the last segment is absent from the file: a missing key (zod would
    // have complained about the parent if it were the wrong type). Reported at
    // the parent mapping, with a clearer message than "received undefined".
    const missing =
      issue.code === 'invalid_type' && resolved === issue.path.length - 1 && typeof issue.path.at(-1) === 'string';
    const message = missing ? `required key is missing (expected ${issue.expected})` : issue.message;
    errors.push({ file, path: formatPath(issue.path), ...nodePosition(node), message });
  }
  // zod reports in schema order; file order reads better next to the file.
  errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new ConfigInvalidError(errors);
}

const MAX_METADATA_FILE = 256 * 1024;

/**
 * A declared SAML application may name its SP's metadata by file (`settings.saml.metadataFile`,
 * relative to the configuration file): read here, at every load and reload, into
 * `settings.saml.metadata`, which the SAML front-end's settings check then reads like inline XML.
 * Mutates `value` (the document just converted); returns the problems, each with its path.
 */
function readMetadataFiles(value: unknown, file: string): Array<{ path: PropertyKey[]; message: string }> {
  const apps = (value as { directory?: { applications?: unknown } } | null)?.directory?.applications;
  if (!Array.isArray(apps)) return [];
  const problems: Array<{ path: PropertyKey[]; message: string }> = [];
  apps.forEach((app: unknown, i) => {
    const saml = (app as { settings?: { saml?: Record<string, unknown> } } | null)?.settings?.saml;
    if (typeof saml !== 'object' || saml === null || saml.metadataFile === undefined) return;
    const path = ['directory', 'applications', i, 'settings', 'saml', 'metadataFile'];
    if (typeof saml.metadataFile !== 'string' || saml.metadataFile === '') return void problems.push({ path, message: 'must be a file path' });
    if (saml.metadata !== undefined) return void problems.push({ path, message: 'give metadata or metadataFile, not both' });
    const target = resolve(dirname(file), saml.metadataFile);
    try {
      const fd = openSync(target, 'r');
      try {
        const buffer = Buffer.alloc(MAX_METADATA_FILE + 1);
        const read = readSync(fd, buffer, 0, buffer.length, 0);
        if (read > MAX_METADATA_FILE) return void problems.push({ path, message: `${target} is larger than 256 KiB` });
        saml.metadata = new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, read));
        delete saml.metadataFile;
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      problems.push({ path, message: `cannot read ${target}: ${error instanceof Error ? error.message : String(error)}` });
    }
  });
  return problems;
}

/**
 * Reads and loads a configuration file. `limits` is an optional extension of
 * the basic `(file, schema, env)` signature.
 * @throws ConfigInvalidError if the file cannot be read or its content is invalid.
 */
export async function loadConfigFile<S extends z.ZodType>(
  file: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
  limits: LoadLimits = {},
): Promise<z.output<S>> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const bytes = await readBounded(file, maxBytes);

  let text: string;
  try {
    // fatal: a mis-encoded file must not be silently "repaired" with U+FFFD
    // (that could e.g. change a password). A leading BOM is dropped.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigInvalidError([{ file, path: '', message: 'file is not valid UTF-8' }]);
  }
  return parseConfig(text, schema, { file, env, ...limits });
}

/**
 * Reads at most `maxBytes` (+1 to detect overflow) so an oversized or endless
 * input (a FIFO, /dev/zero) is refused without being read into memory.
 */
async function readBounded(file: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const handle = await open(file, 'r');
    try {
      for (;;) {
        const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        chunks.push(chunk.subarray(0, bytesRead));
        total += bytesRead;
        if (total > maxBytes) break;
      }
    } finally {
      await handle.close();
    }
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ConfigInvalidError([{ file, path: '', message: `cannot read file: ${detail}` }]);
  }
  if (total > maxBytes) throw tooBig(file, undefined, maxBytes);
  return Buffer.concat(chunks, total);
}

function tooBig(file: string, bytes: number | undefined, maxBytes: number): ConfigInvalidError {
  const size = bytes === undefined ? 'more than' : `${bytes} bytes, over`;
  return new ConfigInvalidError([{ file, path: '', message: `file too large (${size} the ${maxBytes}-byte limit)` }]);
}

/**
 * An empty or comment-only file, or a bare `---`, means "all defaults". An
 * explicit `null` or `~` is content, and is left for the schema to judge.
 */
/** The part of the parsed document at a zod issue's path (undefined where there is none). */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let here = value;
  for (const segment of path) {
    if (typeof here !== 'object' || here === null) return undefined;
    here = (here as Record<PropertyKey, unknown>)[segment];
  }
  return here;
}

function isEmptyDocument(doc: Document): boolean {
  const contents = doc.contents;
  if (contents === null) return true;
  return isScalar(contents) && contents.value === null && contents.source === '' && contents.tag === undefined;
}

function yamlMessage(problem: YAMLError): string {
  // The library's own wording points at its API (parseAllDocuments), which is
  // meaningless to someone editing a config file.
  if (problem.code === 'MULTIPLE_DOCS') return 'multiple YAML documents are not allowed; remove the second "---" document';
  return problem.message;
}
