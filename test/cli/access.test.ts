/**
 * `gatehouse policy list|explain` and `gatehouse user mfa`, in-process, against both backends: the
 * adaptive-MFA example of docs/access.md explained as a report (exit 0 whatever the decision,
 * nothing audited), and a user's second factors shown and changed (each change audited as the CLI).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import type { User } from '../../src/directory/model.ts';
import { SoftwareAuthenticator } from '../helpers/authenticator.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { totpStep } from '../unit/mfa/totp-reference.ts';
import { cliFixture, type CliFixture } from './helpers.ts';

const ENG_MFA = 'Engineering needs a second factor, except on a managed device in the office or on the VPN';
const portal = (user: User): AuditContext => ({ actor: { type: 'user', id: user.id, name: user.username }, protocol: 'portal' });
const auditCount = (core: Core) => core.audit.query({ limit: 1000 }).then((page) => page.items.length);

describe.each(backends)('gatehouse policy and user mfa on $name', (backend) => {
  let fx: CliFixture;
  let laptopId: string;
  beforeAll(async () => {
    fx = await cliFixture(backend);
    expect((await fx.cli(['migrate'])).code).toBe(0);
    await fx.withCore(async (core) => {
      const d = core.directory;
      for (const name of ['engineering', 'staff', 'contractors']) await d.groups.create(CLI_CTX, { name, attributes: {} });
      await d.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['engineering'] });
      await d.users.create(CLI_CTX, { username: 'bob', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
      await d.resources.create(CLI_CTX, 'networks', { name: 'office', cidrs: ['192.0.2.0/24'], risky: false });
      await d.resources.create(CLI_CTX, 'networks', { name: 'vpn', cidrs: ['198.51.100.0/24'], risky: false });
      await d.resources.create(CLI_CTX, 'applications', { name: 'aws', type: 'generic', groups: ['engineering'], settings: {} });
      await d.resources.create(CLI_CTX, 'applications', { name: 'wiki', type: 'oidc', groups: ['engineering', 'staff'], settings: {} });
      const laptop = await d.resources.create(CLI_CTX, 'devices', {
        name: 'alice-laptop', owners: ['alice'], platform: 'macos', managed: true, attributes: {},
        posture: { diskEncrypted: true, screenLock: true, reportedAt: new Date().toISOString() },
      });
      laptopId = laptop.id;
      await d.resources.create(CLI_CTX, 'policies', {
        name: 'eng-mfa', description: ENG_MFA, enabled: true, users: { groups: ['engineering'], exclude: ['contractors'] }, resources: {}, conditions: {},
        except: { device: { managed: true }, network: { in: ['office', 'vpn'] } }, action: 'mfa',
      });
      await d.resources.create(CLI_CTX, 'policies', {
        name: 'aws-managed-only', enabled: true, users: { exclude: [] }, resources: { include: ['app:aws'] }, conditions: { device: { managed: false } }, action: 'deny',
      });
      await d.resources.create(CLI_CTX, 'policies', {
        name: 'admins-webauthn', enabled: false, users: { groups: ['staff'], exclude: [] }, resources: { include: ['admin'], protocols: ['admin'] }, conditions: { mfaWithin: 60 }, action: 'mfa', methods: ['webauthn'],
      });
    });
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  describe('policy', () => {
    it('list prints each policy with its action, state and scope, or JSON', async () => {
      const listed = await fx.cli(['policy', 'list']);
      expect(listed).toMatchObject({ code: 0, stderr: '' });
      const lines = listed.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+ACTION\s+ENABLED\s+MANAGED BY\s+USERS\s+RESOURCES\s+WHEN$/);
      expect(lines.slice(1)).toEqual([
        expect.stringMatching(/^admins-webauthn\s+mfa \(webauthn\)\s+no\s+api\s+staff\s+admin via admin\s+no second factor within 60 min$/),
        expect.stringMatching(/^aws-managed-only\s+deny\s+yes\s+api\s+everyone\s+app:aws\s+unmanaged device$/),
        expect.stringMatching(/^eng-mfa\s+mfa\s+yes\s+api\s+engineering except contractors\s+all\s+always unless managed device and network in office, vpn$/),
      ]);
      const json = JSON.parse((await fx.cli(['policy', 'list', '--json'])).stdout) as Array<{ name: string; action: string }>;
      expect(json.map((p) => [p.name, p.action])).toEqual([['admins-webauthn', 'mfa'], ['aws-managed-only', 'deny'], ['eng-mfa', 'mfa']]);
    });

    it('explain reports mfa with the methods, each reason with its policy, and the request context', async () => {
      const result = await fx.cli(['policy', 'explain', '--user', 'alice', '--resource', 'app:wiki', '--ip', '203.0.113.7', '--device', laptopId]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toBe(
        [
          'decision  mfa',
          'methods   totp, webauthn, certificate',
          'reasons',
          `  policy_mfa   ${ENG_MFA}  (policy eng-mfa)`,
          '  new_network  first sign-in from address range 203.0.113.0/24',
          '  new_device   first sign-in from this device',
          'request',
          '  user       alice (active)',
          '  groups     engineering',
          '  resource   app:wiki (assigned to engineering, staff)',
          '  protocol   oidc',
          '  client IP  203.0.113.7',
          '  networks   -',
          `  device     alice-laptop (${laptopId}): managed, compliant, no device certificate`,
          '  factors    password',
          '  risk       medium (new_network, new_device)',
          '',
        ].join('\n'),
      );
      const done = await fx.cli(['policy', 'explain', '--user', 'alice', '--resource', 'app:wiki', '--ip', '203.0.113.7', '--method', 'totp']);
      expect(done.stdout).toMatch(/^decision  allow\nreasons\n {2}mfa_satisfied +policy 'eng-mfa' requires a second factor: totp was used {2}\(policy eng-mfa\)\n/);
      expect(done.stdout).toMatch(/^ {2}factors {4}password, totp$/m);
    });

    it('explain reports a deny with exit code 0: the policy for unmanaged devices, and least privilege', async () => {
      const denied = await fx.cli(['policy', 'explain', '--user', 'alice', '--resource', 'app:aws', '--ip', '192.0.2.10']);
      expect(denied.code).toBe(0);
      expect(denied.stdout).toMatch(/^decision  deny\nreasons\n {2}policy_deny +policy 'aws-managed-only' denies access {2}\(policy aws-managed-only\)\n/);
      expect(denied.stdout).toMatch(/^ {2}networks {3}office$/m);
      expect(denied.stdout).toMatch(/^ {2}device {5}none$/m);

      const allowed = await fx.cli(['policy', 'explain', '--user', 'alice', '--resource', 'app:aws', '--ip', '198.51.100.4', '--device', 'alice-laptop', '--certificate']);
      expect(allowed.stdout).toMatch(/^decision  allow\nreasons\n {2}default +no policy applies; the default is to allow\n/);
      expect(allowed.stdout).toMatch(/managed, compliant, device certificate$/m);

      const bob = await fx.cli(['policy', 'explain', '--user', 'bob', '--resource', 'app:aws']);
      expect(bob.code).toBe(0);
      expect(bob.stdout).toMatch(/^decision  deny\nreasons\n {2}not_assigned {2}application 'aws' is not assigned to any of the user's groups\n/);
      expect(bob.stdout).toMatch(/^ {2}resource {3}app:aws \(assigned to engineering\)$/m);
    });

    it('explain --json prints what the admin API answers; --protocol is honoured', async () => {
      const result = await fx.cli(['policy', 'explain', '--user', 'bob', '--resource', 'app:wiki', '--protocol', 'saml', '--json']);
      expect(result.code).toBe(0);
      const json = JSON.parse(result.stdout) as Record<string, any>;
      expect(json).toMatchObject({ decision: 'allow', reasons: [{ code: 'default' }], request: { user: { username: 'bob' }, groups: ['staff'], protocol: 'saml', networks: [], authn: [{ method: 'password' }], risk: { level: 'low' } } });
    });

    it('explain changes nothing: no audit event, nothing remembered', async () => {
      const before = await fx.withCore(auditCount);
      for (let i = 0; i < 2; i++) {
        const json = JSON.parse((await fx.cli(['policy', 'explain', '--user', 'alice', '--resource', 'portal', '--ip', '192.0.2.99', '--json'])).stdout) as Record<string, any>;
        expect(json.request.risk.signals.map((s: { code: string }) => s.code)).toEqual(['new_network']);
      }
      expect(await fx.withCore(auditCount)).toBe(before);
    });

    it('explain refuses bad input with one line, and an unknown user or device', async () => {
      const cases: Array<[string[], number, RegExp]> = [
        [['--user', 'alice', '--resource', 'app:wiki', '--ip', '999.0.0.1'], 1, /^gatehouse: ip: '999\.0\.0\.1' is not an IPv4 or IPv6 address\n$/],
        [['--user', 'alice', '--resource', 'application:wiki'], 1, /^gatehouse: resource: resource must be 'app:<name>'/],
        [['--user', 'alice', '--resource', 'portal', '--certificate'], 1, /^gatehouse: certificate: certificate needs a device\n$/],
        [['--user', 'nobody', '--resource', 'portal'], 1, /^gatehouse: user 'nobody' not found\n$/],
        [['--user', 'alice', '--resource', 'portal', '--device', 'no-such-device'], 1, /^gatehouse: device 'no-such-device' not found\n$/],
        [['--user', 'alice', '--resource', 'portal', '--method', 'sms'], 2, /^gatehouse: option '--method <method>' argument 'sms' is invalid/],
        [['--user', 'alice', '--resource', 'portal', '--protocol', 'kerberos'], 2, /^gatehouse: option '--protocol <protocol>' argument 'kerberos' is invalid/],
        [['--resource', 'portal'], 2, /^gatehouse: required option '--user <user>' not specified/],
      ];
      for (const [argv, code, stderr] of cases) {
        const result = await fx.cli(['policy', 'explain', ...argv]);
        expect(result, argv.join(' ')).toMatchObject({ code, stdout: '' });
        expect(result.stderr).toMatch(stderr);
      }
    });
  });

  it('user network-password: generated and printed once, replaced, removed; unknown users and removing none fail', async () => {
    const made = await fx.cli(['user', 'network-password', 'bob']);
    expect(made.code).toBe(0);
    const password = /\n([a-z2-9]{4}(?:-[a-z2-9]{4}){4})\n$/.exec(made.stdout)?.[1];
    expect(password).toBeDefined();
    const json = JSON.parse((await fx.cli(['user', 'network-password', 'bob', '--json'])).stdout) as { user: string; password: string };
    expect(json).toMatchObject({ user: 'bob', password: expect.stringMatching(/^[a-z2-9-]{24}$/) });
    expect(json.password).not.toBe(password);
    await fx.withCore(async (core) => {
      const bob = await core.directory.users.find('bob');
      expect(await core.networkPasswords.has(bob.id)).toBe(true);
    });
    expect(await fx.cli(['user', 'network-password', 'bob', '--remove'])).toEqual({ code: 0, stderr: '', stdout: "network password of user 'bob' removed\n" });
    expect((await fx.cli(['user', 'network-password', 'bob', '--remove'])).code).toBe(1);
    expect(await fx.cli(['user', 'network-password', 'nobody'])).toMatchObject({ code: 1, stderr: "gatehouse: user 'nobody' not found\n" });
  });

  describe('user mfa', () => {
    const yubikey = new SoftwareAuthenticator({ origin: 'http://localhost:9090', discoverable: false, transports: ['usb'] });
    const passkey = new SoftwareAuthenticator({ origin: 'http://localhost:9090', backupEligible: true, backedUp: true });
    const secrets: string[] = [];

    it('shows a user without factors', async () => {
      expect(await fx.cli(['user', 'mfa', 'bob'])).toEqual({ code: 0, stderr: '', stdout: 'user      bob\nTOTP      none\nWebAuthn  none\n' });
      expect(JSON.parse((await fx.cli(['user', 'mfa', 'bob', '--json'])).stdout)).toEqual({ totp: 'none', recoveryCodesLeft: 0, webauthn: [] });
      expect(await fx.cli(['user', 'mfa', 'nobody'])).toMatchObject({ code: 1, stderr: "gatehouse: user 'nobody' not found\n" });
    });

    it('shows TOTP and the WebAuthn authenticators, never a secret', async () => {
      await fx.withCore(async (core) => {
        const alice = await core.directory.users.find('alice');
        const { secret } = await core.totp.enrol(portal(alice), alice.id, 'alice');
        const { recoveryCodes } = await core.totp.confirm(portal(alice), alice.id, totpStep(secret, Math.floor(Date.now() / 30_000)));
        secrets.push(secret, ...recoveryCodes);
        for (const [authenticator, name] of [[yubikey, 'YubiKey'], [passkey, 'Phone']] as const) {
          const { challengeId, options } = await core.webauthn.registrationOptions(portal(alice), alice);
          secrets.push((await core.webauthn.verifyRegistration(portal(alice), alice, challengeId, authenticator.register(options), name)).publicKey);
        }
      });
      const shown = await fx.cli(['user', 'mfa', 'alice']);
      expect(shown.code).toBe(0);
      const lines = shown.stdout.trimEnd().split('\n');
      expect(lines.slice(0, 4)).toEqual(['user      alice', 'TOTP      active, 10 recovery codes left', 'WebAuthn  2 authenticators', '']);
      expect(lines[4]).toMatch(/^ID\s+NAME\s+PASSKEY\s+SYNCED\s+CREATED\s+LAST USED$/);
      expect(lines.slice(5)).toHaveLength(2);
      expect(lines.slice(5)).toEqual(expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${passkey.credentialId}\\s+Phone\\s+yes\\s+yes\\s+\\S+\\s+-$`)),
        expect.stringMatching(new RegExp(`^${yubikey.credentialId}\\s+YubiKey\\s+no\\s+no\\s+\\S+\\s+-$`)),
      ]));
      const json = await fx.cli(['user', 'mfa', 'alice', '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject({ totp: 'active', recoveryCodesLeft: 10, webauthn: expect.arrayContaining([expect.objectContaining({ name: 'YubiKey' })]) });
      for (const secret of secrets) expect(shown.stdout + json.stdout).not.toContain(secret);
    });

    it('--new-recovery-codes prints fresh codes once, audited as the CLI; refused without active TOTP', async () => {
      const result = await fx.cli(['user', 'mfa', 'alice', '--new-recovery-codes']);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const [header, ...codes] = result.stdout.trimEnd().split('\n');
      expect(header).toBe("new recovery codes for user 'alice' (shown this once; the earlier ones no longer work):");
      expect(codes).toHaveLength(10);
      expect(codes.filter((c) => secrets.includes(c))).toEqual([]);
      const event = await fx.withCore(async (core) => (await core.audit.query({ type: 'mfa.recovery_codes.regenerated', limit: 1 })).items[0]);
      expect(event).toMatchObject({ outcome: 'success', actor: { type: 'cli' }, target: { name: 'alice' } });

      expect(await fx.cli(['user', 'mfa', 'bob', '--new-recovery-codes'])).toMatchObject({ code: 1, stdout: '', stderr: 'gatehouse: recovery codes need an active TOTP factor\n' });
    });

    it('--rename-key and --remove-key change one authenticator, audited as the CLI', async () => {
      expect(await fx.cli(['user', 'mfa', 'alice', '--rename-key', yubikey.credentialId, '--name', 'Spare key'])).toMatchObject({ code: 0, stdout: `WebAuthn authenticator ${yubikey.credentialId} renamed to 'Spare key'\n` });
      expect(await fx.cli(['user', 'mfa', 'alice', '--remove-key', passkey.credentialId])).toMatchObject({ code: 0, stdout: `WebAuthn authenticator 'Phone' (${passkey.credentialId}) of user 'alice' removed\n` });
      expect(await fx.cli(['user', 'mfa', 'alice', '--remove-key', passkey.credentialId])).toMatchObject({ code: 1, stderr: `gatehouse: WebAuthn credential '${passkey.credentialId}' not found\n` });
      expect(await fx.cli(['user', 'mfa', 'bob', '--remove-key', yubikey.credentialId])).toMatchObject({ code: 1 });
      const factors = JSON.parse((await fx.cli(['user', 'mfa', 'alice', '--json'])).stdout) as { webauthn: Array<{ id: string; name: string }> };
      expect(factors.webauthn.map((k) => [k.id, k.name])).toEqual([[yubikey.credentialId, 'Spare key']]);
      const events = await fx.withCore(async (core) => (await core.audit.query({ type: 'mfa.webauthn.', limit: 10 })).items);
      expect(events.slice(0, 2)).toMatchObject([{ type: 'mfa.webauthn.deleted', actor: { type: 'cli' } }, { type: 'mfa.webauthn.renamed', actor: { type: 'cli' } }]);
    });

    it('--reset-totp removes TOTP and the recovery codes; again is an error', async () => {
      expect(await fx.cli(['user', 'mfa', 'alice', '--reset-totp'])).toMatchObject({ code: 0, stdout: "TOTP factor and recovery codes of user 'alice' removed\n" });
      expect((await fx.cli(['user', 'mfa', 'alice'])).stdout).toMatch(/^user {6}alice\nTOTP {6}none\nWebAuthn {2}1 authenticator\n/);
      const event = await fx.withCore(async (core) => (await core.audit.query({ type: 'mfa.totp.reset', limit: 1 })).items[0]);
      expect(event).toMatchObject({ outcome: 'success', actor: { type: 'cli' }, target: { name: 'alice' }, details: { totp: true, recoveryCodes: 10 } });
      expect(await fx.cli(['user', 'mfa', 'alice', '--reset-totp'])).toMatchObject({ code: 1, stderr: "gatehouse: TOTP factor of user 'alice' not found\n" });
    });

    it('takes one change per run', async () => {
      expect(await fx.cli(['user', 'mfa', 'alice', '--reset-totp', '--remove-key', 'x'])).toMatchObject({ code: 1, stderr: 'gatehouse: give one of --reset-totp, --new-recovery-codes, --remove-key, --rename-key per run\n' });
      expect(await fx.cli(['user', 'mfa', 'alice', '--rename-key', 'x'])).toMatchObject({ code: 1, stderr: 'gatehouse: --rename-key needs --name\n' });
      expect(await fx.cli(['user', 'mfa', 'alice', '--name', 'x'])).toMatchObject({ code: 1, stderr: 'gatehouse: --name goes with --rename-key\n' });
    });
  });
});
