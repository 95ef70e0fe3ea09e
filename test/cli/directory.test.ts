/**
 * `gatehouse migrate`, `user`, `group` and `apikey` commands, in-process, against both backends.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { cliFixture, type CliFixture } from './helpers.ts';

const GOOD_PASSWORD = 'correct horse battery staple';
const OTHER_PASSWORD = 'violet tangerine submarine';

describe.each(backends)('gatehouse directory commands on $name', (backend) => {
  let fx: CliFixture;
  beforeEach(async () => {
    fx = await cliFixture(backend);
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  const migrate = async () => expect((await fx.cli(['migrate'])).code).toBe(0);
  const signIn = (username: string, password: string) =>
    fx.withCore(async (core) => (await core.passwords.authenticate({ username, password, context: { actor: { type: 'anonymous' } } })).outcome);

  it('migrate applies the migrations once, then says the store is up to date; other commands wait for it', async () => {
    const before = await fx.cli(['user', 'list']);
    expect(before).toMatchObject({ code: 1, stdout: '' });
    expect(before.stderr).toMatch(/^gatehouse: the store at .* is not ready: .*run 'gatehouse migrate'\n$/);

    const first = await fx.cli(['migrate']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^applied migration \S+$/m);
    const second = await fx.cli(['migrate']);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toMatch(/is up to date/);
  });

  describe('users', () => {
    beforeEach(migrate);

    it('user add creates a user with every option, the password from stdin, in the groups given', async () => {
      expect((await fx.cli(['group', 'add', 'staff'])).code).toBe(0);
      const added = await fx.cli(
        ['user', 'add', 'Alice', '--email', 'Alice@Example.com', '--name', 'Alice Liddell', '--uid', '1000', '--gid', '100', '--home', '/home/alice', '--shell', '/bin/zsh', '--group', 'staff', '--password-stdin'],
        { stdin: `${GOOD_PASSWORD}\n` },
      );
      expect(added).toMatchObject({ code: 0, stderr: '' });
      expect(added.stdout).toMatch(/^created user 'alice' \([0-9a-f-]{36}\), member of staff\n$/);

      const user = await fx.withCore((core) => core.directory.users.find('alice'));
      expect(user).toMatchObject({ username: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', uidNumber: 1000, gidNumber: 100, homeDirectory: '/home/alice', loginShell: '/bin/zsh', status: 'active', managedBy: 'api' });
      expect(await signIn('alice', GOOD_PASSWORD)).toBe('success');
      const members = await fx.withCore(async (core) => core.directory.groups.members((await core.directory.groups.find('staff')).id));
      expect(members.map((m) => m.name)).toEqual(['alice']);
    });

    it('user add refuses bad input with one line naming the field, and changes nothing', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['user', 'add', 'bob', '--home', 'relative/path'], /^gatehouse: homeDirectory: must be an absolute path\n$/],
        [['user', 'add', 'bob', '--email', 'not-an-address'], /^gatehouse: email: not a valid e-mail address\n$/],
        [['user', 'add', 'bob', '--uid', '-5'], /^gatehouse: uidNumber: .*\n$/],
        [['user', 'add', 'bob', '--group', 'nope'], /^gatehouse: group 'nope' not found\n$/],
      ];
      for (const [argv, message] of cases) {
        const result = await fx.cli(argv);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(result).toMatchObject({ code: 1, stdout: '' });
      }
      // A usage error (not a number) is the command line's fault: exit code 2.
      const usage = await fx.cli(['user', 'add', 'bob', '--uid', 'abc']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/^gatehouse: option '--uid <n>' argument 'abc' is invalid/);
      expect(await fx.withCore((core) => core.directory.users.byName('bob'))).toBeUndefined();
    });

    it('user add refuses a weak password and an existing username, creating nothing', async () => {
      const weak = await fx.cli(['user', 'add', 'bob', '--password-stdin'], { stdin: 'password\n' });
      expect(weak.code).toBe(1);
      expect(weak.stderr).toMatch(/^gatehouse: password must be at least 15 characters; password is too common/);
      expect(weak.stderr.trim().split('\n')).toHaveLength(1);
      expect(await fx.withCore((core) => core.directory.users.byName('bob'))).toBeUndefined();

      expect((await fx.cli(['user', 'add', 'bob'])).code).toBe(0);
      const again = await fx.cli(['user', 'add', 'BOB']);
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toMatch(/^gatehouse: .*'bob' already exists\n$/);
    });

    it('user list prints a table or JSON, filtered by prefix, status and group', async () => {
      await fx.cli(['group', 'add', 'ops']);
      await fx.cli(['user', 'add', 'alice', '--email', 'alice@example.com', '--uid', '1000', '--group', 'ops']);
      await fx.cli(['user', 'add', 'albert']);
      await fx.cli(['user', 'add', 'carol']);
      await fx.cli(['user', 'suspend', 'albert']);

      const table = await fx.cli(['user', 'list']);
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^USERNAME\s+STATUS\s+EMAIL\s+NAME\s+UID\s+GID$/);
      expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['albert', 'alice', 'carol']);
      expect(lines[2]).toMatch(/^alice\s+active\s+alice@example\.com\s+-\s+1000\s+-$/);

      const names = async (...args: string[]) => ((JSON.parse((await fx.cli(['user', 'list', '--json', ...args])).stdout) as Array<{ username: string }>).map((u) => u.username));
      expect(await names()).toEqual(['albert', 'alice', 'carol']);
      expect(await names('--q', 'al')).toEqual(['albert', 'alice']);
      expect(await names('--status', 'suspended')).toEqual(['albert']);
      expect(await names('--status', 'active', '--q', 'al')).toEqual(['alice']);
      expect(await names('--group', 'ops')).toEqual(['alice']);

      const json = JSON.parse((await fx.cli(['user', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
      for (const user of json) expect(Object.keys(user).join()).not.toMatch(/password(?!ChangedAt)|hash/i);

      const badStatus = await fx.cli(['user', 'list', '--status', 'gone']);
      expect(badStatus.code).toBe(2);
      expect((await fx.cli(['user', 'list', '--group', 'nope'])).stderr).toBe("gatehouse: group 'nope' not found\n");
    });

    it('user list --group includes the members of nested groups at any depth, once each; --direct only the direct ones', async () => {
      for (const g of ['staff', 'eng', 'backend', 'other']) await fx.cli(['group', 'add', g]);
      await fx.cli(['group', 'members', 'staff', '--add-group', 'eng']);
      await fx.cli(['group', 'members', 'eng', '--add-group', 'backend']);
      await fx.cli(['user', 'add', 'sam', '--group', 'staff']);
      await fx.cli(['user', 'add', 'erin', '--group', 'eng', '--group', 'staff']);
      await fx.cli(['user', 'add', 'bea', '--group', 'backend']);
      await fx.cli(['user', 'add', 'olga', '--group', 'other']);
      await fx.cli(['user', 'suspend', 'bea']);

      const names = async (...args: string[]) => ((JSON.parse((await fx.cli(['user', 'list', '--json', ...args])).stdout) as Array<{ username: string }>).map((u) => u.username));
      expect(await names('--group', 'staff')).toEqual(['bea', 'erin', 'sam']);
      expect(await names('--group', 'staff', '--direct')).toEqual(['erin', 'sam']);
      expect(await names('--group', 'eng')).toEqual(['bea', 'erin']);
      expect(await names('--group', 'backend', '--direct')).toEqual(['bea']);
      expect(await names('--group', 'staff', '--status', 'active')).toEqual(['erin', 'sam']);
      const table = await fx.cli(['user', 'list', '--group', 'staff']);
      expect(table.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['bea', 'erin', 'sam']);
      expect(await fx.cli(['user', 'list', '--direct'])).toMatchObject({ code: 1, stderr: 'gatehouse: --direct goes with --group\n' });
    });

    it('user passwd sets the password from stdin; a weak one is refused and the old one keeps working', async () => {
      await fx.cli(['user', 'add', 'dave', '--password-stdin'], { stdin: GOOD_PASSWORD });
      // Not a terminal: the password is read from stdin even without --password-stdin.
      const set = await fx.cli(['user', 'passwd', 'dave'], { stdin: `${OTHER_PASSWORD}\n` });
      expect(set).toMatchObject({ code: 0, stdout: "password of user 'dave' set\n", stderr: '' });
      expect(await signIn('dave', OTHER_PASSWORD)).toBe('success');
      expect(await signIn('dave', GOOD_PASSWORD)).toBe('failure');

      const weak = await fx.cli(['user', 'passwd', 'dave', '--password-stdin'], { stdin: 'dave12345678\n' });
      expect(weak).toMatchObject({ code: 1, stdout: '' });
      expect(weak.stderr).toMatch(/^gatehouse: password [^\n]+\n$/);
      expect(await signIn('dave', OTHER_PASSWORD)).toBe('success');

      const empty = await fx.cli(['user', 'passwd', 'dave'], { stdin: '' });
      expect(empty).toMatchObject({ code: 1, stderr: 'gatehouse: no password on standard input\n' });
      const unknown = await fx.cli(['user', 'passwd', 'nobody'], { stdin: OTHER_PASSWORD });
      expect(unknown).toMatchObject({ code: 1, stderr: "gatehouse: user 'nobody' not found\n" });
    });

    it('user passwd on a terminal prompts twice without echo, and refuses two different answers', async () => {
      await fx.cli(['user', 'add', 'erin']);
      const terminal = (answers: string[]) => {
        const stdin = Object.assign(new PassThrough(), { isTTY: true });
        stdin.end(answers.map((a) => `${a}\r`).join(''));
        return stdin;
      };
      const ok = await fx.cli(['user', 'passwd', 'erin'], { stdin: terminal([GOOD_PASSWORD, GOOD_PASSWORD]) });
      expect(ok).toMatchObject({ code: 0, stdout: "password of user 'erin' set\n" });
      expect(ok.stderr).toBe('New password: \nRepeat the password: \n');
      expect(await signIn('erin', GOOD_PASSWORD)).toBe('success');

      const mismatch = await fx.cli(['user', 'passwd', 'erin'], { stdin: terminal([OTHER_PASSWORD, GOOD_PASSWORD]) });
      expect(mismatch.code).toBe(1);
      expect(mismatch.stderr).toMatch(/gatehouse: the passwords do not match\n$/);
      expect(await signIn('erin', GOOD_PASSWORD)).toBe('success');
    });

    it('user suspend and activate change the status; sign-in is refused while suspended', async () => {
      await fx.cli(['user', 'add', 'frank', '--password-stdin'], { stdin: GOOD_PASSWORD });
      expect(await fx.cli(['user', 'suspend', 'Frank'])).toMatchObject({ code: 0, stdout: "user 'frank' suspended\n" });
      expect((await fx.withCore((core) => core.directory.users.find('frank'))).status).toBe('suspended');
      expect(await signIn('frank', GOOD_PASSWORD)).toBe('denied');
      expect(await fx.cli(['user', 'activate', 'frank'])).toMatchObject({ code: 0, stdout: "user 'frank' active\n" });
      expect(await signIn('frank', GOOD_PASSWORD)).toBe('success');
      expect(await fx.cli(['user', 'suspend', 'nobody'])).toMatchObject({ code: 1, stderr: "gatehouse: user 'nobody' not found\n" });
    });
  });

  describe('groups', () => {
    beforeEach(migrate);

    it('group add, then members --add/--remove for users and nested groups', async () => {
      const added = await fx.cli(['group', 'add', 'engineering', '--description', 'Builders', '--gid', '5000']);
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/^created group 'engineering' \([0-9a-f-]{36}\)\n$/);
      expect(await fx.withCore((core) => core.directory.groups.find('engineering'))).toMatchObject({ description: 'Builders', gidNumber: 5000 });
      await fx.cli(['group', 'add', 'backend']);
      await fx.cli(['user', 'add', 'gina']);
      await fx.cli(['user', 'add', 'hank']);

      expect(await fx.cli(['group', 'members', 'engineering', '--add', 'gina'])).toMatchObject({ code: 0, stdout: "user 'gina' added to group 'engineering'\n" });
      expect(await fx.cli(['group', 'members', 'backend', '--add', 'hank'])).toMatchObject({ code: 0 });
      expect(await fx.cli(['group', 'members', 'engineering', '--add-group', 'backend'])).toMatchObject({ code: 0, stdout: "group 'backend' added to group 'engineering'\n" });

      const listed = await fx.cli(['group', 'members', 'engineering']);
      expect(listed.stdout).toBe('KIND   NAME     MANAGED BY\nuser   gina     api\ngroup  backend  api\n');
      // Nested: hank is in engineering through backend.
      const hankGroups = await fx.withCore(async (core) => (await core.directory.users.groupsOf((await core.directory.users.find('hank')).id)).map((g) => g.name).sort());
      expect(hankGroups).toEqual(['backend', 'engineering']);

      // A cycle is refused.
      const cycle = await fx.cli(['group', 'members', 'backend', '--add-group', 'engineering']);
      expect(cycle.code).toBe(1);
      expect(cycle.stderr).toMatch(/^gatehouse: .*contain itself\n$/);

      expect(await fx.cli(['group', 'members', 'engineering', '--remove-group', 'backend'])).toMatchObject({ code: 0, stdout: "group 'backend' removed from group 'engineering'\n" });
      expect(await fx.cli(['group', 'members', 'engineering', '--remove', 'gina'])).toMatchObject({ code: 0 });
      const json = JSON.parse((await fx.cli(['group', 'members', 'engineering', '--json'])).stdout) as unknown[];
      expect(json).toEqual([]);

      const notMember = await fx.cli(['group', 'members', 'engineering', '--remove', 'gina']);
      expect(notMember).toMatchObject({ code: 1, stdout: '' });
      expect(notMember.stderr).toMatch(/^gatehouse: membership .* not found\n$/);
      const two = await fx.cli(['group', 'members', 'engineering', '--add', 'gina', '--add-group', 'backend']);
      expect(two).toMatchObject({ code: 1, stderr: 'gatehouse: give one of --add, --remove, --add-group, --remove-group per run\n' });
      expect(await fx.cli(['group', 'add', 'Bad Name'])).toMatchObject({ code: 1 });
      expect((await fx.cli(['group', 'add', 'backend'])).stderr).toMatch(/already exists/);
    });

    it('group list', async () => {
      await fx.cli(['group', 'add', 'b-team', '--gid', '20']);
      await fx.cli(['group', 'add', 'a-team']);
      const listed = await fx.cli(['group', 'list']);
      expect(listed.stdout.split('\n').slice(1, 3).map((l) => l.split(/\s+/)[0])).toEqual(['a-team', 'b-team']);
    });
  });

  describe('applications', () => {
    beforeEach(migrate);

    it('app add with --secret prints it once; app secret rotates it; list never shows it; bad settings JSON is one line', async () => {
      expect((await fx.cli(['group', 'add', 'builders'])).code).toBe(0);
      const added = await fx.cli(['app', 'add', 'jenkins', '--group', 'builders', '--display-name', 'Jenkins', '--settings', '{"ldap":{"scope":{"groups":["builders"]}}}', '--secret']);
      expect(added).toMatchObject({ code: 0, stderr: '' });
      const first = added.stdout.match(/^ {2}(\S{43})$/m)?.[1];
      expect(first).toBeDefined();
      expect(await fx.withCore((core) => core.directory.applications.verifySecret('jenkins', first!))).toMatchObject({ groups: ['builders'], settings: { ldap: { scope: { groups: ['builders'] } } } });

      const rotated = await fx.cli(['app', 'secret', 'jenkins', '--json']);
      const { secret } = JSON.parse(rotated.stdout) as { secret: string };
      expect(await fx.withCore((core) => core.directory.applications.verifySecret('jenkins', first!))).toBeUndefined();
      expect(await fx.withCore((core) => core.directory.applications.verifySecret('jenkins', secret))).toBeDefined();

      const listed = await fx.cli(['app', 'list']);
      expect(listed.stdout).toMatch(/^jenkins\s+generic\s+builders\s+yes\s+api\s+Jenkins$/m);
      expect(listed.stdout + (await fx.cli(['app', 'show', 'jenkins'])).stdout).not.toContain(secret);

      const insecure = await fx.cli(['app', 'add', 'grafana', '--type', 'oidc', '--settings', '{"redirectUris":["http://grafana.example/login"]}']);
      expect(insecure.code).toBe(1);
      expect(insecure.stderr).toMatch(/^gatehouse: settings\.redirectUris\.0: .*use https.*\n$/);
      const bad = await fx.cli(['app', 'add', 'broken', '--settings', '{nope']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^gatehouse: --settings is not JSON: .*\n$/);
      expect(await fx.cli(['app', 'remove', 'jenkins'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^removed application 'jenkins'/) });
    });
  });

  describe('API keys', () => {
    beforeEach(migrate);

    it('apikey create prints the secret once; the key verifies with its scopes; revoke stops it', async () => {
      const created = await fx.cli(['apikey', 'create', 'deploy-bot', '--scope', 'read', '--scope', 'write', '--expires', '2099-01-01T00:00:00Z']);
      expect(created).toMatchObject({ code: 0, stderr: '' });
      expect(created.stdout).toMatch(/shown only this once/);
      const secret = created.stdout.match(/^ {2}(ghk_\S+)$/m)?.[1];
      expect(secret).toBeDefined();

      const check = await fx.withCore((core) => core.directory.apiKeys.verify(secret!, 'write'));
      expect(check).toMatchObject({ ok: true, apiKey: { name: 'deploy-bot', scopes: ['read', 'write'], expiresAt: '2099-01-01T00:00:00.000Z' } });

      const readOnly = await fx.cli(['apikey', 'create', 'reporting', '--json']);
      const { secret: readSecret, apiKey } = JSON.parse(readOnly.stdout) as { secret: string; apiKey: { scopes: string[] } };
      expect(apiKey.scopes).toEqual(['read']);
      expect(await fx.withCore((core) => core.directory.apiKeys.verify(readSecret, 'write'))).toMatchObject({ ok: false, code: 'scope' });

      const listed = await fx.cli(['apikey', 'list']);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^NAME\s+PREFIX\s+SCOPES/);
      expect(listed.stdout).toMatch(/^deploy-bot\s+ghk_\S+\s+read,write\s+2099-01-01/m);
      expect(listed.stdout).not.toContain(secret);
      const listedJson = (await fx.cli(['apikey', 'list', '--json'])).stdout;
      expect(listedJson).not.toMatch(/secretHash|ghk_\S{20}/);

      expect(await fx.cli(['apikey', 'revoke', 'deploy-bot'])).toMatchObject({ code: 0 });
      expect(await fx.withCore((core) => core.directory.apiKeys.verify(secret!, 'read'))).toMatchObject({ ok: false, code: 'unknown' });
      expect(await fx.cli(['apikey', 'revoke', 'deploy-bot'])).toMatchObject({ code: 1, stderr: "gatehouse: API key 'deploy-bot' not found\n" });

      expect((await fx.cli(['apikey', 'create', 'x', '--scope', 'admin'])).code).toBe(2);
      const badTime = await fx.cli(['apikey', 'create', 'x', '--expires', 'tomorrow']);
      expect(badTime.code).toBe(1);
      expect(badTime.stderr).toMatch(/^gatehouse: expiresAt: /);
    });
  });

  it('changes made through the CLI are audited with the operator as a cli actor', async () => {
    await migrate();
    await fx.cli(['group', 'add', 'auditors']);
    await fx.cli(['user', 'add', 'ivan', '--group', 'auditors']);
    await fx.cli(['user', 'suspend', 'ivan']);
    await fx.cli(['apikey', 'create', 'k1']);
    const events = await fx.withCore(async (core) => (await core.audit.query({ limit: 100 })).items);
    const types = events.map((e) => e.type).sort();
    expect(types).toEqual(['apikey.created', 'group.created', 'group.member.added', 'user.created', 'user.suspended']);
    for (const event of events) {
      expect(event.actor.type).toBe('cli');
      expect(event.actor.name).toBeTruthy();
    }
  });
});
