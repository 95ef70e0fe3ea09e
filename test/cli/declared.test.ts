/**
 * The commands that change directory objects, on what the configuration file declares: refused
 * with one line naming the file (and --force), nothing changed, nothing audited; made with --force,
 * audited as forced, and put back by the next reconciliation. What the file leaves out (a member
 * added here, a password or secret the declaration does not set) changes without --force. In-process,
 * against both backends, with the file the commands are given (-c).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/config/reconcile.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { backends } from '../helpers/backends.ts';
import { cliFixture, testYamlConfig, type CliFixture } from './helpers.ts';

const PASSWORD = 'amber-lantern-orbit-42';
const OTHER_PASSWORD = 'violet tangerine submarine';

const DIRECTORY = {
  groups: [{ name: 'staff' }, { name: 'engineering', memberOf: ['staff'] }],
  users: [
    { username: 'alice', password: PASSWORD, groups: ['engineering'] },
    { username: 'carol', groups: ['staff'] },
  ],
  networks: [{ name: 'office', cidrs: ['192.0.2.0/24'] }],
  applications: [
    { name: 'wiki', groups: ['staff'], secret: 'declared-wiki-secret-0123456789abcdef' },
    { name: 'nas', groups: ['staff'] },
  ],
  policies: [{ name: 'office-only', users: { groups: ['engineering'] }, conditions: { network: { notIn: ['office'] } }, action: 'deny' }],
};

describe.each(backends)('gatehouse commands on declared objects ($name)', (backend) => {
  let fx: CliFixture;
  /** The refusal, word for word, as the command prints it. */
  const refused = (what: string, verb: string) => ({
    code: 1,
    stdout: '',
    stderr: `gatehouse: ${what} is declared in ${fx.configFile}: edit it there (and reload), or repeat with --force to ${verb} it here until the next reload or start puts the declaration back\n`,
  });
  const reconcileFile = () =>
    fx.withCore((core, store) => reconcile(core, store, ConfigSchema.parse(testYamlConfig(fx.url, { directory: DIRECTORY })), { actor: { type: 'config', name: fx.configFile } }, fx.configFile));
  const cliEvents = () => fx.withCore(async (core) => (await core.audit.query({ limit: 1000 })).items.filter((e) => e.actor.type === 'cli'));

  beforeAll(async () => {
    fx = await cliFixture(backend);
    expect((await fx.cli(['migrate'])).code).toBe(0);
    fx.writeConfig({ directory: DIRECTORY });
    await reconcileFile();
    expect((await fx.cli(['user', 'add', 'bob'])).code).toBe(0);
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('refuses each change with one line naming the file, changes nothing and audits nothing', async () => {
    const before = await fx.withCore((core) => core.directory.changes.snapshot());
    const events = (await cliEvents()).length;
    const cases: Array<[string[], string, string, string?]> = [
      [['user', 'suspend', 'alice'], "user 'alice'", 'suspend'],
      [['user', 'activate', 'alice'], "user 'alice'", 'activate'],
      [['user', 'passwd', 'alice', '--password-stdin'], "the password of user 'alice'", 'change', `${OTHER_PASSWORD}\n`],
      [['group', 'members', 'engineering', '--remove', 'alice'], "the membership of user 'alice' in group 'engineering'", 'remove'],
      [['group', 'members', 'staff', '--remove-group', 'engineering'], "the membership of group 'engineering' in group 'staff'", 'remove'],
      [['app', 'remove', 'nas'], "application 'nas'", 'delete'],
      [['app', 'secret', 'wiki'], "the secret of application 'wiki'", 'replace'],
      [['network', 'remove', 'office'], "network 'office'", 'delete'],
      [['policy', 'disable', 'office-only'], "policy 'office-only'", 'change'],
      [['policy', 'remove', 'office-only'], "policy 'office-only'", 'delete'],
    ];
    for (const [argv, what, verb, stdin] of cases) {
      expect(await fx.cli(argv, stdin !== undefined ? { stdin } : {}), argv.join(' ')).toEqual(refused(what, verb));
    }
    expect(await fx.withCore((core) => core.directory.changes.snapshot())).toEqual(before);
    expect(await fx.withCore((core) => core.directory.resources.find('policies', 'office-only'))).toMatchObject({ enabled: true, version: 1 });
    expect((await cliEvents()).length).toBe(events);
  });

  it('changes without --force what the file leaves out: members added here, a password or secret the declaration does not set', async () => {
    expect(await fx.cli(['group', 'members', 'engineering', '--add', 'bob'])).toEqual({ code: 0, stderr: '', stdout: "user 'bob' added to group 'engineering'\n" });
    expect(await fx.cli(['group', 'members', 'engineering', '--remove', 'bob'])).toEqual({ code: 0, stderr: '', stdout: "user 'bob' removed from group 'engineering'\n" });
    expect(await fx.cli(['user', 'passwd', 'carol', '--password-stdin'], { stdin: `${OTHER_PASSWORD}\n` })).toEqual({ code: 0, stderr: '', stdout: "password of user 'carol' set\n" });
    expect(await fx.cli(['app', 'secret', 'nas'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^New secret for 'nas'/) });
  });

  it('makes the change with --force, audited as forced; the next reconciliation puts the declaration back', async () => {
    expect(await fx.cli(['user', 'suspend', 'alice', '--force'])).toEqual({ code: 0, stderr: '', stdout: "user 'alice' suspended\n" });
    expect(await fx.cli(['group', 'members', 'engineering', '--remove', 'alice', '--force'])).toEqual({ code: 0, stderr: '', stdout: "user 'alice' removed from group 'engineering'\n" });
    expect(await fx.cli(['policy', 'disable', 'office-only', '--force'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^disabled policy 'office-only' /) });
    expect(await fx.cli(['network', 'remove', 'office', '--force'])).toEqual(
      { code: 1, stdout: '', stderr: "gatehouse: network 'office' cannot be deleted: policy 'office-only' refers to it\n" },
    );
    const forced = (await cliEvents()).filter((e) => e.details?.forced === true).map((e) => `${e.type} ${e.target?.name}`);
    expect(forced.sort()).toEqual(['group.member.removed engineering', 'policy.updated office-only', 'user.suspended alice']);

    await reconcileFile();
    const alice = await fx.withCore((core) => core.directory.users.find('alice'));
    expect(alice.status).toBe('active');
    expect((await fx.withCore((core) => core.directory.users.directGroupsOf(alice.id))).map((g) => g.name)).toEqual(['engineering']);
    expect(await fx.withCore((core) => core.directory.resources.find('policies', 'office-only'))).toMatchObject({ enabled: true });
  });

  it('refuses to revoke the key GATEHOUSE_ADMIN_KEY keeps, naming the variable; --force revokes it', async () => {
    await fx.withCore((core) => core.directory.apiKeys.create({ actor: { type: 'system' } }, { name: 'bootstrap', scopes: ['read', 'write'] }, undefined, 'config'));
    expect(await fx.cli(['apikey', 'revoke', 'bootstrap'])).toEqual({
      code: 1, stdout: '',
      stderr: "gatehouse: API key 'bootstrap' is set by GATEHOUSE_ADMIN_KEY: change the variable (and restart), or repeat with --force to revoke it here until the next start puts it back\n",
    });
    expect(await fx.cli(['apikey', 'revoke', 'bootstrap', '--force'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^revoked API key 'bootstrap' /) });
  });

  it('offers --force in the help of each command that changes objects', async () => {
    for (const argv of [['user', 'passwd'], ['user', 'suspend'], ['user', 'activate'], ['group', 'members'], ['app', 'remove'], ['app', 'secret'], ['network', 'remove'], ['policy', 'remove'], ['policy', 'enable'], ['policy', 'disable'], ['apikey', 'revoke']]) {
      const help = await fx.cli([...argv, '--help']);
      expect(help.stdout.replace(/\s+/g, ' '), argv.join(' ')).toMatch(/--force .*(configuration file declares it|GATEHOUSE_ADMIN_KEY sets it) \(the next (reload or )?start puts/);
    }
  });
});
