/**
 * The configuration reference (docs/configuration.md), generated from the schema: every option with
 * its path, type, default and description. The schema is read through its JSON Schema (zod's public
 * view of it); defaults it cannot show (those of lists of transformed values) are taken from parsing
 * an empty configuration, which is what Gatehouse itself does with an option left out.
 */
import { z } from 'zod';
import { ConfigSchema } from '../front-ends.ts';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
}

interface Row {
  path: string;
  type: string;
  default: string;
  description: string;
}

interface Table {
  /** Heading of the table: a top-level section, or a list of objects inside one. */
  path: string;
  level: 2 | 3;
  description?: string;
  rows: Row[];
}

export interface ReferenceOptions {
  /** Heading level 1 title and preamble; off when embedding the tables elsewhere. */
  preamble?: boolean;
}

export function renderConfigReference(options: ReferenceOptions = {}): string {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const defaults = ConfigSchema.parse({}) as Record<string, unknown>;
  const tables: Table[] = [];
  for (const [key, section] of Object.entries(schema.properties ?? {})) {
    const table: Table = { path: key, level: 2, ...(section.description ? { description: section.description } : {}), rows: [] };
    tables.push(table);
    walkProperties(section, key, table, tables, defaults);
  }

  const lines: string[] = [];
  if (options.preamble !== false) {
    lines.push(
      '# Configuration reference',
      '',
      '<!-- Generated from src/config/schema.ts and each front-end\'s config.ts by `npm run docs`; do not edit by hand. -->',
      '',
      'Gatehouse reads one YAML file: `--config FILE`, else `$GATEHOUSE_CONFIG`, else `config/gatehouse.yaml`.',
      'Every option below may be left out and then takes its default. `${VAR}` in a value is replaced by the',
      'environment variable `VAR` (a missing variable is an error), so secrets can stay out of the file.',
      'Check a file with `gatehouse config check FILE`: every error is reported with its path and line.',
      '',
      'The environment overrides two settings: `GATEHOUSE_STORAGE_URL` replaces `storage.url`, and',
      '`GATEHOUSE_ADMIN_KEY` (at least 32 characters) is kept as the admin API key.',
      '',
      'On reload (SIGHUP) the declared `directory` objects are reconciled again and `log.level` is applied;',
      'changes to the other sections take effect at the next start. Relative paths (`sqlite:./data/…`,',
      '`secrets.keyFile`) are relative to the working directory Gatehouse is started from.',
      '',
    );
  }
  for (const table of tables) {
    if (table.rows.length === 0) continue;
    lines.push(`${'#'.repeat(table.level)} \`${table.path}\``, '');
    if (table.description) lines.push(`${table.description}.`.replace(/\.\.$/, '.'), '');
    lines.push('| option | type | default | description |', '|---|---|---|---|');
    for (const row of table.rows) lines.push(`| \`${row.path}\` | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.description)} |`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * @param within set when the object itself may be left out: its required fields are required only
 *   when it is given.
 */
function walkProperties(object: JsonSchema, path: string, table: Table, tables: Table[], defaults: Record<string, unknown>, within?: string): void {
  const required = new Set(object.required ?? []);
  for (const [key, property] of Object.entries(object.properties ?? {})) {
    walk(property, `${path}.${key}`, required.has(key) ? (within ? `**required** in \`${within}\`` : '**required**') : undefined, table, tables, defaults);
  }
}

/** @param required how to say the option must be given; undefined when it may be left out. */
function walk(schema: JsonSchema, path: string, required: string | undefined, table: Table, tables: Table[], defaults: Record<string, unknown>): void {
  if (schema.properties) {
    // A group of settings: its own row only when it says something about itself.
    if (schema.description) table.rows.push({ path, type: 'object', default: '', description: schema.description });
    walkProperties(schema, path, table, tables, defaults, required === undefined && schema.default === undefined ? path : undefined);
    return;
  }
  if (schema.items?.properties) {
    // A list of objects (declared users, groups, ...): the list here, its fields in a table of their own.
    table.rows.push({ path, type: 'list of objects (below)', default: defaultOf(schema, path, required, defaults), description: schema.description ?? '' });
    const items: Table = { path: `${path}[]`, level: 3, ...(schema.description ? { description: schema.description } : {}), rows: [] };
    tables.push(items);
    walkProperties(schema.items, `${path}[]`, items, tables, defaults);
    return;
  }
  const itemNote = schema.items?.description && schema.items.description !== schema.description ? ` (each: ${schema.items.description})` : '';
  table.rows.push({ path, type: typeOf(schema), default: defaultOf(schema, path, required, defaults), description: `${schema.description ?? ''}${itemNote}`.trim() });
}

function defaultOf(schema: JsonSchema, path: string, required: string | undefined, defaults: Record<string, unknown>): string {
  if (required) return required;
  let value = schema.default;
  if (value === undefined && !path.includes('[]')) value = valueAt(defaults, path);
  return value === undefined ? '' : code(typeof value === 'string' ? value : JSON.stringify(value));
}

function valueAt(root: Record<string, unknown>, path: string): unknown {
  let value: unknown = root;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function typeOf(schema: JsonSchema): string {
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(' or ');
  if (schema.enum) return `one of ${schema.enum.map((v) => code(String(v))).join(', ')}`;
  if (schema.const !== undefined) return code(String(schema.const));
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : schema.type;
  switch (type) {
    case 'array':
      return schema.items ? `list of ${typeOf(schema.items)}` : 'list';
    case 'object':
      return typeof schema.additionalProperties === 'object' && Object.keys(schema.additionalProperties).length > 0 ? `map of ${typeOf(schema.additionalProperties)}` : 'map';
    case 'integer':
    case 'number':
      return `${type}${range(schema)}`;
    case 'string':
      return schema.format === 'uri' ? 'URL' : schema.format === 'email' ? 'e-mail address' : schema.format === 'date-time' ? 'time (ISO 8601)' : 'string';
    default:
      return type ?? 'any';
  }
}

function range(schema: JsonSchema): string {
  const { minimum: min, maximum: max } = schema;
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** A table cell: pipes escaped, on one line. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}
