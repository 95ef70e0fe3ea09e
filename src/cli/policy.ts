/** `gatehouse policy list|explain`: the conditional-access policies, and what they decide and why. */
import { Option, type Command } from 'commander';
import { explainAccess, type AccessExplanation } from '../admin/explain.ts';
import { AccessEvaluationInput } from '../admin/schemas.ts';
import { Protocol, type Policy, type PolicyConditions } from '../directory/model.ts';
import { collectChoice, defined, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { formatTable, printJson, type CliIo } from './io.ts';

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
  const policy = program.command('policy').description('Conditional-access policies: list them, explain a decision');

  policy
    .command('list')
    .description('List the policies with their scope and conditions')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const policies = await listAll((after) => core.directory.dir.policies.list(defined({ limit: 1000, after })));
        if (options.json) return printJson(io, policies);
        io.stdout.write(formatTable(
          ['NAME', 'ACTION', 'ENABLED', 'MANAGED BY', 'USERS', 'RESOURCES', 'WHEN'],
          policies.map((p) => [p.name, actionOf(p), p.enabled ? 'yes' : 'no', p.managedBy, usersOf(p), resourcesOf(p), whenOf(p)]),
        ));
      });
    });

  policy
    .command('explain')
    .description('Show what the access core would decide for a request, and every reason, without auditing or remembering anything')
    .requiredOption('--user <user>', 'username or id')
    .requiredOption('--resource <resource>', "app:<name>, radius:<name>, ldap, portal or admin")
    .option('--ip <address>', 'client IPv4 or IPv6 address')
    .option('--device <device>', 'the device behind the request (id or name)')
    .option('--certificate', 'the device was identified by its Gatehouse device certificate')
    .addOption(new Option('--protocol <protocol>', "the front-end (default: the resource's own)").choices(Protocol.options))
    .option('--method <method>', 'a second factor already done, besides the password (repeatable): totp, webauthn, certificate', collectChoice(['totp', 'webauthn', 'certificate']))
    .option('--json', 'print JSON (as POST /api/v1/access/evaluate answers)')
    .addHelpText('after', '\nThe exit code is 0 whatever the decision: this is a report, not a sign-in.')
    .action(async (options: ExplainOptions, command: Command) => {
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
