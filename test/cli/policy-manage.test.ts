/**
 * `gatehouse policy show|add|remove|enable|disable`, in-process, against both backends: policies
 * added from a YAML file and from JSON on standard input, refused documents (every problem on a line
 * of its own, nothing created), references to unknown objects refused by the service, enabling and
 * disabling seen by `policy explain`, config-managed policies left alone, every change audited as the CLI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Core } from '../../src/core.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { cliFixture, type CliFixture } from './helpers.ts';

const ENG_MFA_YAML = `# Engineering signs in with a second factor, except from the office
name: eng-mfa
description: Engineering needs a second factor off the office network
users:
  groups: [engineering]
  exclude: [contractors]
resources:
  include: ['app:wiki']
except:
  network: { in: [office] }
action: mfa
methods: [webauthn, totp]
`;

const policyNames = (core: Core) => core.directory.resources.all('policies').then((all) => all.map((p) => p.name).sort());
const policyEvents = (core: Core) => core.audit.query({ type: 'policy.', limit: 100 }).then((page) => page.items);

describe.each(backends)('gatehouse policy show|add|remove|enable|disable on $name', (backend) => {
  let fx: CliFixture;
  const explain = async (ip: string) => {
    const result = await fx.cli(['policy', 'explain', '--user', 'alice', '--resource', 'app:wiki', '--ip', ip, '--json']);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as { decision: string; reasons: Array<{ code: string; policy?: string }> };
  };

  beforeAll(async () => {
    fx = await cliFixture(backend);
    expect((await fx.cli(['migrate'])).code).toBe(0);
    await fx.withCore(async (core) => {
      const d = core.directory;
      for (const name of ['engineering', 'contractors']) await d.groups.create(CLI_CTX, { name, attributes: {} });
      await d.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['engineering'] });
      await d.resources.create(CLI_CTX, 'networks', { name: 'office', cidrs: ['192.0.2.0/24'], risky: false });
      await d.resources.create(CLI_CTX, 'applications', { name: 'wiki', type: 'oidc', groups: ['engineering'], settings: {} });
      await d.resources.create(CLI_CTX, 'policies', {
        name: 'contractors-office-only', enabled: true, users: { groups: ['contractors'], exclude: [] }, resources: {},
        conditions: { network: { notIn: ['office'] } }, action: 'deny',
      }, { managedBy: 'config' });
    });
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('add creates a policy from a YAML file, which explain then applies', async () => {
    expect((await explain('203.0.113.7')).decision).toBe('allow');
    const file = join(fx.dir, 'eng-mfa.yaml');
    writeFileSync(file, ENG_MFA_YAML);
    const added = await fx.cli(['policy', 'add', '--file', file]);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toMatch(/^created policy 'eng-mfa' \([0-9a-f-]{36}\): mfa \(webauthn or totp\)\n$/);
    const decided = await explain('203.0.113.7');
    expect(decided).toMatchObject({ decision: 'mfa', reasons: expect.arrayContaining([expect.objectContaining({ code: 'policy_mfa', policy: 'eng-mfa' })]) });
    expect((await explain('192.0.2.10')).decision).toBe('allow');
    expect(await fx.cli(['policy', 'add', '--file', file])).toMatchObject({ code: 1, stdout: '', stderr: "gatehouse: policy with name 'eng-mfa' already exists\n" });
  });

  it('add reads a JSON document from standard input', async () => {
    const json = JSON.stringify({ name: 'wiki-deny-risky', enabled: false, resources: { include: ['app:wiki'] }, conditions: { risk: { atLeast: 'high' } }, action: 'deny' });
    const added = await fx.cli(['policy', 'add', '--file', '-'], { stdin: `${json}\n` });
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toMatch(/^created policy 'wiki-deny-risky' \([0-9a-f-]{36}\): deny, disabled\n$/);
    const created = await fx.withCore((core) => core.directory.resources.find('policies', 'wiki-deny-risky'));
    expect(created).toMatchObject({ enabled: false, users: { exclude: [] }, resources: { include: ['app:wiki'] }, conditions: { risk: { atLeast: 'high' } }, action: 'deny', managedBy: 'api', version: 1 });
  });

  it('add refuses an invalid document with a line per problem, and creates nothing', async () => {
    const before = await fx.withCore(policyNames);
    const file = join(fx.dir, 'bad.yaml');
    writeFileSync(file, 'name: Bad Name\nusers:\n  groups: [engineering]\n  everyone: true\nconditions:\n  mfaWithin: 0\naction: block\n');
    const bad = await fx.cli(['policy', 'add', '--file', file]);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    const lines = bad.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^gatehouse: name: name may contain only lower-case letters/),
      expect.stringMatching(/^gatehouse: users: Unrecognized key: "everyone"$/),
      expect.stringMatching(/^gatehouse: conditions\.mfaWithin: Too small/),
      expect.stringMatching(/^gatehouse: action: Invalid option: expected one of "allow"\|"deny"\|"mfa"$/),
    ]);

    const stdinCases: Array<[string, RegExp]> = [
      ['{"name": "x", "action": "deny", "methods": ["sms"]}', /^gatehouse: methods\[0\]: Invalid option/],
      ['{"name": "x", "action": "deny", "resources": {"include": ["application:wiki"]}}', /^gatehouse: resources\.include\[0\]: resource must be 'app:<name>'/],
      ['[{"name": "x", "action": "deny"}]', /^gatehouse: Invalid input: expected object, received array\n$/],
      ['name: x\naction: [deny\n', /^gatehouse: standard input:2:14: Flow sequence in block collection must be sufficiently indented and end with a \]\n$/],
      ['name: x\naction: deny\n---\nname: y\naction: deny\n', /^gatehouse: standard input:\d+:\d+: Source contains multiple documents/],
      ['# nothing here\n', /^gatehouse: standard input: no policy in the document\n$/],
      ['{"name": "x", "action": "deny", "methods": ["totp"]}', /^gatehouse: methods only apply to action 'mfa'\n$/],
    ];
    for (const [stdin, stderr] of stdinCases) {
      const result = await fx.cli(['policy', 'add', '--file', '-'], { stdin });
      expect(result, stdin).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr, stdin).toMatch(stderr);
    }
    expect(await fx.cli(['policy', 'add', '--file', join(fx.dir, 'missing.yaml')])).toMatchObject({ code: 1, stderr: `gatehouse: cannot read ${join(fx.dir, 'missing.yaml')}: no such file or directory\n` });
    expect((await fx.cli(['policy', 'add'])).code).toBe(2);
    expect(await fx.withCore(policyNames)).toEqual(before);
  });

  it('add refuses references to unknown groups, networks and resources with the service\'s message', async () => {
    const before = await fx.withCore(policyNames);
    const unknownGroup = await fx.cli(['policy', 'add', '--file', '-'], { stdin: 'name: ops-deny\nusers: { groups: [ops] }\naction: deny\n' });
    expect(unknownGroup).toEqual({ code: 1, stdout: '', stderr: "gatehouse: users.groups[0]: group 'ops' does not exist\n" });
    const several = await fx.cli(['policy', 'add', '--file', '-'], {
      stdin: JSON.stringify({ name: 'several', users: { exclude: ['nobody'] }, resources: { include: ['app:jira', 'radius:vpn'] }, conditions: { network: { in: ['home'] } }, action: 'deny' }),
    });
    expect(several).toMatchObject({ code: 1, stdout: '' });
    expect(several.stderr.trimEnd().split('\n')).toEqual([
      "gatehouse: users.exclude[0]: group 'nobody' does not exist",
      "gatehouse: conditions.network.in[0]: network 'home' does not exist",
      "gatehouse: resources.include[0]: application 'jira' does not exist",
      "gatehouse: resources.include[1]: RADIUS client 'vpn' does not exist",
    ]);
    expect(await fx.withCore(policyNames)).toEqual(before);
  });

  it('show prints the policy as YAML or JSON, with who manages it and its version', async () => {
    const shown = await fx.cli(['policy', 'show', 'eng-mfa']);
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.stdout).toMatch(/^name: eng-mfa\ndescription: Engineering needs a second factor off the office network\nenabled: true\n/);
    const yaml = parse(shown.stdout) as Record<string, unknown>;
    expect(yaml).toEqual({
      name: 'eng-mfa', description: 'Engineering needs a second factor off the office network', enabled: true,
      users: { groups: ['engineering'], exclude: ['contractors'] }, resources: { include: ['app:wiki'] }, conditions: {},
      except: { network: { in: ['office'] } }, action: 'mfa', methods: ['webauthn', 'totp'],
      id: expect.stringMatching(/^[0-9a-f-]{36}$/), managedBy: 'api', version: 1, createdAt: expect.any(String), updatedAt: expect.any(String),
    });
    const json = await fx.cli(['policy', 'show', 'eng-mfa', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual(yaml);
    expect(await fx.cli(['policy', 'show', String(yaml.id)])).toEqual(shown);
    expect(parse((await fx.cli(['policy', 'show', 'contractors-office-only'])).stdout)).toMatchObject({ managedBy: 'config', version: 1 });
    expect(await fx.cli(['policy', 'show', 'nope'])).toEqual({ code: 1, stdout: '', stderr: "gatehouse: policy 'nope' not found\n" });
  });

  it('disable and enable change what explain decides', async () => {
    expect(await fx.cli(['policy', 'disable', 'eng-mfa'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^disabled policy 'eng-mfa' \([0-9a-f-]{36}\)\n$/) });
    const disabled = await explain('203.0.113.7');
    expect(disabled.decision).toBe('allow');
    expect(disabled.reasons.map((r) => r.code)).toContain('default');
    expect(disabled.reasons.filter((r) => r.policy !== undefined)).toEqual([]);
    expect(await fx.cli(['policy', 'disable', 'eng-mfa'])).toEqual({ code: 0, stderr: '', stdout: "policy 'eng-mfa' is already disabled\n" });
    expect(parse((await fx.cli(['policy', 'show', 'eng-mfa'])).stdout)).toMatchObject({ enabled: false, version: 2 });

    expect(await fx.cli(['policy', 'enable', 'eng-mfa'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^enabled policy 'eng-mfa' /) });
    expect((await explain('203.0.113.7')).decision).toBe('mfa');
    expect(await fx.cli(['policy', 'enable', 'eng-mfa'])).toEqual({ code: 0, stderr: '', stdout: "policy 'eng-mfa' is already enabled\n" });
    expect(parse((await fx.cli(['policy', 'show', 'eng-mfa'])).stdout)).toMatchObject({ enabled: true, version: 3 });
    expect(await fx.cli(['policy', 'enable', 'nope'])).toMatchObject({ code: 1, stderr: "gatehouse: policy 'nope' not found\n" });
  });

  it('remove deletes a policy', async () => {
    expect(await fx.cli(['policy', 'remove', 'eng-mfa'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^removed policy 'eng-mfa' \([0-9a-f-]{36}\)\n$/) });
    expect((await explain('203.0.113.7')).decision).toBe('allow');
    expect(await fx.withCore(policyNames)).toEqual(['contractors-office-only', 'wiki-deny-risky']);
    expect(await fx.cli(['policy', 'remove', 'eng-mfa'])).toEqual({ code: 1, stdout: '', stderr: "gatehouse: policy 'eng-mfa' not found\n" });
  });

  it('refuses to remove or disable a policy the configuration file manages (enabling an enabled one changes nothing)', async () => {
    const before = await fx.withCore((core) => core.directory.resources.find('policies', 'contractors-office-only'));
    for (const [verb, change] of [['remove', 'delete'], ['disable', 'change']] as const) {
      expect(await fx.cli(['policy', verb, 'contractors-office-only']), verb).toEqual({
        code: 1, stdout: '',
        stderr: `gatehouse: policy 'contractors-office-only' is declared in ${fx.configFile}: edit it there (and reload), or repeat with --force to ${change} it here until the next reload or start puts the declaration back\n`,
      });
    }
    expect(await fx.cli(['policy', 'enable', 'contractors-office-only'])).toEqual({ code: 0, stderr: '', stdout: "policy 'contractors-office-only' is already enabled\n" });
    expect(await fx.withCore((core) => core.directory.resources.find('policies', 'contractors-office-only'))).toEqual(before);
  });

  it('audits every change with the operator as a cli actor, and nothing for refused ones', async () => {
    const events = (await fx.withCore(policyEvents)).filter((e) => e.actor.name !== CLI_CTX.actor.name);
    expect(events.map((e) => [e.type, e.target?.name]).reverse()).toEqual([
      ['policy.created', 'eng-mfa'],
      ['policy.created', 'wiki-deny-risky'],
      ['policy.updated', 'eng-mfa'],
      ['policy.updated', 'eng-mfa'],
      ['policy.deleted', 'eng-mfa'],
    ]);
    for (const event of events) expect(event).toMatchObject({ outcome: 'success', actor: { type: 'cli', name: expect.any(String) } });
    expect(events.filter((e) => e.type === 'policy.updated').map((e) => e.details)).toEqual([{ changed: ['enabled'] }, { changed: ['enabled'] }]);
    // The only other policy event is the config-managed policy created by the test itself.
    expect((await fx.withCore(policyEvents)).length).toBe(events.length + 1);
  });

  it('has help for each command', async () => {
    const help = await fx.cli(['policy', '--help']);
    for (const name of ['list', 'show', 'add', 'remove', 'enable', 'disable', 'explain']) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const add = await fx.cli(['policy', 'add', '--help']);
    expect(add).toMatchObject({ code: 0, stdout: expect.stringContaining("--file <file>") });
    expect(add.stdout).toContain('Every problem is printed on a line of its own');
  });
});
