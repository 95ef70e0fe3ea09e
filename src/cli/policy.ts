/**
 * `gatehouse policy list|show|add|remove|enable|disable|explain`: the conditional-access policies,
 * managed without the admin API, and what they decide and why.
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { z } from 'zod';
import type { AccessExplanation } from '../admin/explain.ts';
import type { Policy, PolicyConditions, PolicyInput, Protocol } from '../directory/model.ts';
import { PROTOCOLS } from '../directory/names.ts';
import { collectChoice, defined, FORCE_HELP, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { CliError, formatTable, printJson, readStdin, type CliIo } from './io.ts';

interface ExplainOptions {
  user: string;
  resource: string;
  ip?: string;
  device?: string;
  certificate?: boolean;
  protocol?: Protocol;
  method?: Array<'totp' | 'webauthn' | 'certificate'>;
  json?: boolean;
}

export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('Conditional-access policies: list, show, add, remove, enable or disable them, explain a decision');

  policy
    .command('list')
    .description('List the policies with their scope and conditions')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const policies = await listAll((after) => core.directory.resources.list('policies', defined({ limit: 1000, after })));
        if (options.json) return printJson(io, policies);
        io.stdout.write(formatTable(
          ['NAME', 'ACTION', 'ENABLED', 'MANAGED BY', 'USERS', 'RESOURCES', 'WHEN'],
          policies.map((p) => [p.name, actionOf(p), p.enabled ? 'yes' : 'no', p.managedBy, usersOf(p), resourcesOf(p), whenOf(p)]),
        ));
      });
    });

  policy
    .command('show')
    .description('Print one policy as YAML (or JSON), with who manages it and its version')
    .argument('<name>', 'policy name or id')
    .option('--json', 'print JSON (as the admin API returns it) instead of YAML')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      const [{ stringify }, { PolicyInput }] = await Promise.all([import('yaml'), import('../directory/model.ts')]);
      await withCore(io, configFileOf(command), async ({ core }) => {
        const shown = orderedPolicy(await core.directory.resources.find('policies', name), Object.keys(PolicyInput.shape));
        if (options.json) return printJson(io, shown);
        io.stdout.write(stringify(shown));
      });
    });

  policy
    .command('add')
    .description('Create a policy from a YAML or JSON document')
    .requiredOption('--file <file>', "the document holding one policy ('-' reads standard input)")
    .addHelpText('after', [
      '',
      'The document has the fields of a policy in the admin API (PolicyInput), for example:',
      '',
      '  name: eng-mfa',
      '  description: Engineering needs a second factor off the office network',
      '  users: { groups: [engineering], exclude: [contractors] }',
      '  resources: { include: [app:aws] }',
      '  except: { device: { managed: true }, network: { in: [office] } }',
      '  action: mfa',
      '  methods: [webauthn, totp]',
      '',
      'Every problem is printed on a line of its own (path: message) and nothing is created. The groups,',
      'networks and resources a policy names must exist. The policy is managed by the API (not the',
      'configuration file); `gatehouse policy explain` shows what it decides.',
    ].join('\n'))
    .action(async (options: { file: string }, command: Command) => {
      const input = await parsePolicyDocument(io, await readDocument(io, options.file), options.file === '-' ? 'standard input' : options.file);
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        let created: Policy;
        try {
          created = await core.directory.resources.create(audit, 'policies', input);
        } catch (err) {
          const { ValidationError } = await import('../directory/service.ts');
          if (err instanceof ValidationError) refuse(io, err.problems.map((p) => (p.path && !p.message.startsWith(p.path) ? `${p.path}: ${p.message}` : p.message)));
          throw err;
        }
        io.stdout.write(`created policy '${created.name}' (${created.id}): ${actionOf(created)}${created.enabled ? '' : ', disabled'}\n`);
      });
    });

  policy
    .command('remove')
    .description('Delete a policy (one declared in the configuration file is removed there)')
    .argument('<name>', 'policy name or id')
    .option('--force', FORCE_HELP)
    .action(async (name: string, options: { force?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const found = await core.directory.resources.find('policies', name);
        const gone = await core.directory.resources.delete(audit, 'policies', found.id, { expectVersion: found.version, force: options.force === true });
        io.stdout.write(`removed policy '${gone.name}' (${gone.id})\n`);
      });
    });

  for (const enabled of [true, false]) {
    const verb = enabled ? 'enable' : 'disable';
    policy
      .command(verb)
      .description(enabled ? 'Enable a policy: it is evaluated again' : 'Disable a policy: it is kept but no longer evaluated')
      .argument('<name>', 'policy name or id')
      .option('--force', FORCE_HELP)
      .action(async (name: string, options: { force?: boolean }, command: Command) => {
        await withCore(io, configFileOf(command), async ({ core, audit }) => {
          const found = await core.directory.resources.find('policies', name);
          if (found.enabled === enabled) {
            io.stdout.write(`policy '${found.name}' is already ${verb}d\n`);
            return;
          }
          const updated = await core.directory.resources.update(audit, 'policies', found.id, { enabled }, { expectVersion: found.version, force: options.force === true });
          io.stdout.write(`${verb}d policy '${updated.name}' (${updated.id})\n`);
        });
      });
  }

  policy
    .command('explain')
    .description('Show what the access core would decide for a request, and every reason, without auditing or remembering anything')
    .requiredOption('--user <user>', 'username or id')
    .requiredOption('--resource <resource>', "app:<name>, radius:<name>, ldap, portal or admin")
    .option('--ip <address>', 'client IPv4 or IPv6 address')
    .option('--device <device>', 'the device behind the request (id or name)')
    .option('--certificate', 'the device was identified by its Gatehouse device certificate')
    .addOption(new Option('--protocol <protocol>', "the front-end (default: the resource's own)").choices(PROTOCOLS))
    .option('--method <method>', 'a second factor already done, besides the password (repeatable): totp, webauthn, certificate', collectChoice(['totp', 'webauthn', 'certificate']))
    .option('--json', 'print JSON (as POST /api/v1/access/evaluate answers)')
    .addHelpText('after', '\nFor a RADIUS client (radius:<name>) it also lists the reply attributes an Access-Accept would carry\n(VLAN, Filter-Id, Class, vendor attributes), from the user\'s groups in precedence order.\nThe exit code is 0 whatever the decision: this is a report, not a sign-in.')
    .action(async (options: ExplainOptions, command: Command) => {
      const [{ AccessEvaluationInput }, { explainAccess }] = await Promise.all([import('../admin/schemas.ts'), import('../admin/explain.ts')]);
      const input = AccessEvaluationInput.parse(
        defined({
          user: options.user, resource: options.resource, ip: options.ip, device: options.device, certificate: options.certificate, protocol: options.protocol,
          authn: [{ method: 'password' }, ...[...new Set(options.method ?? [])].map((method) => ({ method }))],
        }),
      );
      await withCore(io, configFileOf(command), async ({ core }) => {
        const explanation = await explainAccess(core, input);
        if (options.json) return printJson(io, explanation);
        io.stdout.write(renderExplanation(explanation));
      });
    });
}

/** The largest policy document read from a file (standard input has the same cap, in readStdin). */
const MAX_DOCUMENT_BYTES = 64 * 1024;

/** The text of `--file`: a file, or standard input for '-'. */
async function readDocument(io: CliIo, file: string): Promise<string> {
  if (file === '-') return readStdin(io.stdin);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : err instanceof Error ? err.message : String(err);
    throw new CliError(`cannot read ${file}: ${problem}`);
  }
  if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) throw new CliError(`${file} is longer than ${MAX_DOCUMENT_BYTES} bytes`);
  return text;
}

/**
 * One policy from a YAML or JSON text (JSON is YAML), checked against PolicyInput. Refused with a
 * line per problem: YAML syntax errors with their position, then schema issues with their path.
 */
async function parsePolicyDocument(io: CliIo, text: string, source: string): Promise<z.output<typeof PolicyInput>> {
  const [{ LineCounter, parseDocument }, model] = await Promise.all([import('yaml'), import('../directory/model.ts')]);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    refuse(io, doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return `${source}:${line}:${col}: ${e.message.split('\n')[0]}`;
    }));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Alias expansion beyond the limit (a "billion laughs" document), or an alias to nothing.
    refuse(io, [`${source}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (value === null || value === undefined) refuse(io, [`${source}: no policy in the document`]);
  const parsed = model.PolicyInput.safeParse(value);
  if (!parsed.success) refuse(io, parsed.error.issues.map((issue) => `${issue.path.length ? `${formatPath(issue.path)}: ` : ''}${issue.message}`));
  return parsed.data;
}

/**
 * Prints every problem but the last as a `gatehouse: ` line, and throws the last one, which main
 * prints the same way before exiting with code 1.
 */
function refuse(io: CliIo, problems: string[]): never {
  for (const problem of problems.slice(0, -1)) io.stderr.write(`gatehouse: ${problem}\n`);
  throw new CliError(problems.at(-1) ?? 'refused');
}

/** `users.groups[0]`, as main prints the paths of other commands' input errors. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.map((segment, i) => (typeof segment === 'number' ? `[${segment}]` : `${i === 0 ? '' : '.'}${String(segment)}`)).join('');
}

/** The policy's fields in the order of the schema (`fields`, PolicyInput's), then its bookkeeping. */
function orderedPolicy(p: Policy, fields: string[]): Record<string, unknown> {
  const { id, managedBy, version, createdAt, updatedAt, ...body } = p;
  const ordered: Record<string, unknown> = {};
  for (const key of fields) if ((body as Record<string, unknown>)[key] !== undefined) ordered[key] = (body as Record<string, unknown>)[key];
  for (const [key, value] of Object.entries(body)) if (!(key in ordered) && value !== undefined) ordered[key] = value;
  return { ...ordered, id, managedBy, version, createdAt, updatedAt };
}

/** The decision, the methods for mfa, each reason (`code  description  (policy NAME)`), then the request. */
export function renderExplanation(e: AccessExplanation): string {
  const r = e.request;
  const lines = [`decision  ${e.decision}`];
  if (e.methods) lines.push(`methods   ${e.methods.join(', ')}`);
  lines.push('reasons');
  const width = Math.max(...e.reasons.map((reason) => reason.code.length));
  for (const reason of e.reasons) lines.push(`  ${reason.code.padEnd(width)}  ${reason.description}${reason.policy ? `  (policy ${reason.policy})` : ''}`);
  const resource = r.resource.exists === undefined ? r.resource.ref
    : r.resource.exists ? `${r.resource.ref} (assigned to ${list(r.resource.assignedGroups ?? [])})`
    : `${r.resource.ref} (does not exist)`;
  const device = r.device
    ? `${r.device.name} (${r.device.id}): ${r.device.managed ? 'managed' : 'unmanaged'}, ${r.device.compliant ? 'compliant' : 'not compliant'}, ${r.device.certificate ? 'device certificate' : 'no device certificate'}`
    : 'none';
  const risk = r.risk.signals.length ? `${r.risk.level} (${r.risk.signals.map((s) => s.code).join(', ')})` : r.risk.level;
  const context: Array<[string, string]> = [
    ['user', `${r.user.username} (${r.user.status})`],
    ['groups', list(r.groups)],
    ['resource', resource],
    ['protocol', r.protocol],
    ['client IP', r.clientIp ?? '-'],
    ['networks', list(r.networks)],
    ['device', device],
    ['factors', list(r.authn.map((a) => a.method))],
    ['risk', risk],
  ];
  lines.push('request');
  for (const [label, value] of context) lines.push(`  ${label.padEnd(9)}  ${value}`);
  if (e.radiusReply) {
    lines.push('radius reply (Access-Accept attributes, from the groups)');
    if (!e.radiusReply.items.length) lines.push('  -');
    for (const item of e.radiusReply.items) lines.push(`  ${item.attribute}${item.tag !== undefined ? `:${item.tag}` : ''} = ${JSON.stringify(item.value)}  (group ${item.group})`);
    for (const problem of e.radiusReply.problems) lines.push(`  skipped: ${problem}`);
  }
  return `${lines.join('\n')}\n`;
}

const list = (items: readonly string[]) => (items.length ? items.join(', ') : '-');

function actionOf(p: Policy): string {
  return p.action === 'mfa' && p.methods?.length ? `mfa (${p.methods.join(' or ')})` : p.action;
}

function usersOf(p: Policy): string {
  const who = p.users.groups ? p.users.groups.join(', ') : 'everyone';
  return p.users.exclude.length ? `${who} except ${p.users.exclude.join(', ')}` : who;
}

function resourcesOf(p: Policy): string {
  const what = p.resources.include ? p.resources.include.join(', ') : 'all';
  return p.resources.protocols ? `${what} via ${p.resources.protocols.join(', ')}` : what;
}

function whenOf(p: Policy): string {
  const when = conditionsText(p.conditions) ?? 'always';
  const unless = p.except ? conditionsText(p.except) : undefined;
  return unless ? `${when} unless ${unless}` : when;
}

/** `managed device and network in office, vpn`; undefined for no conditions. */
export function conditionsText(c: PolicyConditions): string | undefined {
  const parts: string[] = [];
  const flag = (value: boolean | undefined, yes: string, no: string) => value !== undefined && parts.push(value ? yes : no);
  flag(c.device?.managed, 'managed device', 'unmanaged device');
  flag(c.device?.compliant, 'compliant device', 'non-compliant device');
  flag(c.device?.certificate, 'device certificate', 'no device certificate');
  if (c.network?.in) parts.push(`network in ${c.network.in.join(', ')}`);
  if (c.network?.notIn) parts.push(`network not in ${c.network.notIn.join(', ')}`);
  if (c.risk) parts.push(`risk at least ${c.risk.atLeast}`);
  if (c.mfaWithin !== undefined) parts.push(`no second factor within ${c.mfaWithin} min`);
  return parts.length ? parts.join(' and ') : undefined;
}
