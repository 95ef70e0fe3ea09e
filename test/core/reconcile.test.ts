/**
 * Reconciliation of declared objects: idempotent, audited, removes only what the config made, never
 * touches API-made objects, refuses collisions before changing anything.
 */
import { randomBytes, createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { declarationsOf, reconcile, ReconcileError } from '../../src/config/reconcile.ts';
import { ManagedByConfigError } from '../../src/errors.ts';
import { ConfigSchema, type Config } from '../../src/front-ends.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const CONFIG_CTX = { actor: { type: 'config' as const, name: 'test.yaml' } };
const DEMO_PASSWORD = 'amber-lantern-orbit-42';

function withDirectory(base: Config, directory: Record<string, unknown>): Config {
  return { ...base, directory: ConfigSchema.shape.directory.parse(directory) };
}

async function counts(t: TestCore) {
  const d = t.store.directory;
  return {
    users: (await d.users.all()).length, groups: (await d.groups.all()).length, networks: (await d.networks.all()).length,
    applications: (await d.applications.all()).length, memberships: (await d.memberships.all()).length,
    events: (await d.audit.query({ limit: 1000 })).items.filter((e) => e.type !== 'config.reconciled').length,
  };
}

describe.each(backends)('reconciliation ($name)', (backend) => {
  let t: TestCore;
  beforeEach(async () => {
    t = await coreFor(backend);
  });
  afterEach(async () => t?.cleanup());

  it('applies the demo configuration, and a second run changes nothing but is audited', async () => {
    const demo = await loadConfigFile('config/gatehouse.yaml', ConfigSchema, {});
    const config = { ...t.config, directory: demo.directory };
    const first = await reconcile(t.core, t.store, config, CONFIG_CTX, 'config/gatehouse.yaml');
    expect(first.created).toBeGreaterThanOrEqual(5);
    const after1 = await counts(t);
    const alice = await t.core.directory.users.find('alice');
    expect(alice).toMatchObject({ managedBy: 'config', uidNumber: 10001, email: 'alice@example.com' });
    expect((await t.store.directory.memberships.resolveUserGroups(alice.id)).map((g) => g.name)).toEqual(['engineering', 'staff']);
    expect((await t.core.passwords.authenticate({ username: 'alice', password: DEMO_PASSWORD, context: { actor: { type: 'anonymous' } } })).outcome).toBe('success');

    const second = await reconcile(t.core, t.store, config, CONFIG_CTX, 'config/gatehouse.yaml');
    expect(second).toEqual({ created: 0, updated: 0, deleted: 0 });
    const after2 = await counts(t);
    // The sign-in above wrote one authn event; nothing else happened.
    expect(after2).toEqual({ ...after1, events: after1.events + 1 });
    const runs = (await t.store.directory.audit.query({ type: 'config.reconciled' })).items;
    expect(runs).toHaveLength(2);
    expect(runs[0]).toMatchObject({ actor: { type: 'config', name: 'test.yaml' }, details: { created: 0, updated: 0, deleted: 0, file: 'config/gatehouse.yaml' } });
  });

  it('applies the production example with its networks, applications and policies, idempotently', async () => {
    // Only what its header says `config check` needs.
    const env = { DB_PASSWORD: 'x', RADIUS_VPN_SECRET: randomBytes(24).toString('base64'), GATEHOUSE_SECRET_KEY: randomBytes(32).toString('base64') };
    const example = await loadConfigFile('config/production.yaml', ConfigSchema, env);
    const config = { ...t.config, directory: example.directory };
    await reconcile(t.core, t.store, config, CONFIG_CTX, 'config/production.yaml');
    expect((await t.store.directory.networks.all()).map((n) => n.name).sort()).toEqual(['hq', 'ldap-clients', 'tor-exits', 'vpn']);
    expect((await t.store.directory.applications.all()).map((a) => a.name).sort()).toEqual(['aws', 'grafana', 'jenkins']);
    expect((await t.store.directory.policies.all()).map((p) => p.name)).toEqual(['aws-managed-only', 'eng-mfa', 'risky-sign-ins']);
    expect((await t.store.directory.radiusClients.all()).map((c) => c.name)).toEqual(['vpn-gw']);
    expect((await t.store.directory.policies.findByName('eng-mfa'))?.except).toEqual({ device: { managed: true }, network: { in: ['hq', 'vpn'] } });
    expect(await reconcile(t.core, t.store, config, CONFIG_CTX, 'config/production.yaml')).toEqual({ created: 0, updated: 0, deleted: 0 });
  });

  it('updates and removes only config-managed objects', async () => {
    const v1 = withDirectory(t.config, {
      groups: [{ name: 'ops', description: 'Operations' }, { name: 'old' }],
      users: [{ username: 'erin', email: 'erin@example.com', displayName: 'Erin', groups: ['ops', 'old'] }],
      networks: [{ name: 'vpn', cidrs: ['10.8.0.0/16'] }],
    });
    await reconcile(t.core, t.store, v1, CONFIG_CTX, 'v1');
    // Made through the API: an extra member of a config group, and a network of its own.
    await t.core.directory.users.create(CLI_CTX, { username: 'frank', status: 'active', sshPublicKeys: [], attributes: {} });
    await t.core.directory.groups.addMember(CLI_CTX, 'ops', 'user', 'frank');
    await t.core.directory.resources.create(CLI_CTX, 'networks', { name: 'lab', cidrs: ['192.0.2.0/24'], risky: false });

    const v2 = withDirectory(t.config, {
      groups: [{ name: 'ops', description: 'Operations team' }],
      users: [{ username: 'erin', displayName: 'Erin E.', groups: ['ops'] }],
    });
    const summary = await reconcile(t.core, t.store, v2, CONFIG_CTX, 'v2');
    expect(summary.deleted).toBe(2); // group 'old' and network 'vpn'
    const erin = await t.core.directory.users.find('erin');
    expect(erin.displayName).toBe('Erin E.');
    expect(erin.email).toBeUndefined(); // dropped from the declaration: removed
    expect((await t.core.directory.groups.find('ops')).description).toBe('Operations team');
    await expect(t.core.directory.groups.find('old')).rejects.toThrow(/not found/);
    expect((await t.store.directory.networks.all()).map((n) => n.name)).toEqual(['lab']);
    const members = (await t.store.directory.memberships.members((await t.core.directory.groups.find('ops')).id)).map((m) => `${m.name}:${m.managedBy}`);
    expect(members).toEqual(['erin:config', 'frank:api']);
    expect(await reconcile(t.core, t.store, v2, CONFIG_CTX, 'v2')).toEqual({ created: 0, updated: 0, deleted: 0 });
  });

  it('refuses a declaration that collides with an API-made object, changing nothing', async () => {
    await t.core.directory.groups.create(CLI_CTX, { name: 'admins', attributes: {} });
    const before = await counts(t);
    const bad = withDirectory(t.config, { groups: [{ name: 'newgroup' }, { name: 'admins' }], networks: [{ name: 'n1', cidrs: ['10.0.0.0/8'] }] });
    await expect(reconcile(t.core, t.store, bad, CONFIG_CTX, 'bad')).rejects.toThrow(ReconcileError);
    await expect(reconcile(t.core, t.store, bad, CONFIG_CTX, 'bad')).rejects.toThrow(/directory\.groups\[1\]: group 'admins' already exists and was made through the API/);
    expect(await counts(t)).toEqual(before);
  });

  it('refuses declared passwords the policy rejects before changing anything', async () => {
    const bad = withDirectory(t.config, { groups: [{ name: 'g1' }], users: [{ username: 'weak', password: 'password' }] });
    await expect(reconcile(t.core, t.store, bad, CONFIG_CTX, 'bad')).rejects.toThrow(/directory\.users\[0\]\.password: password must be at least 15 characters/);
    expect((await counts(t)).groups).toBe(0);
  });

  it('imports a declared hash once: a rehash at sign-in is not undone by the next run', async () => {
    const salt = randomBytes(8);
    const ssha = `{SSHA}${Buffer.concat([createHash('sha1').update(DEMO_PASSWORD).update(salt).digest(), salt]).toString('base64')}`;
    const config = withDirectory(t.config, { users: [{ username: 'gina', passwordHash: ssha }] });
    await reconcile(t.core, t.store, config, CONFIG_CTX, 'hash');
    expect((await t.core.passwords.authenticate({ username: 'gina', password: DEMO_PASSWORD, context: { actor: { type: 'anonymous' } } })).outcome).toBe('success');
    const gina = await t.core.directory.users.find('gina');
    expect((await t.store.directory.passwords.get(gina.id))?.hash).toMatch(/^\$argon2id\$/);
    expect(await reconcile(t.core, t.store, config, CONFIG_CTX, 'hash')).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect((await t.store.directory.passwords.get(gina.id))?.hash).toMatch(/^\$argon2id\$/);
  });

  it('keeps RADIUS secrets encrypted and updates them only when they change', async () => {
    const secret1 = 'radius-shared-secret-0001';
    const v1 = withDirectory(t.config, { groups: [{ name: 'wifi' }], radiusClients: [{ name: 'ap1', address: '10.1.0.0/24', secret: secret1, groups: ['wifi'] }] });
    await reconcile(t.core, t.store, v1, CONFIG_CTX, 'r1');
    const stored = (await t.store.directory.radiusClients.findByName('ap1'))!;
    expect(stored.secretEncrypted).toMatch(/^v1\.test\./);
    expect(JSON.stringify(stored)).not.toContain(secret1);
    expect(await t.core.directory.radiusClients.secretOf(stored)).toBe(secret1);
    expect(await reconcile(t.core, t.store, v1, CONFIG_CTX, 'r1')).toEqual({ created: 0, updated: 0, deleted: 0 });
    const v2 = withDirectory(t.config, { groups: [{ name: 'wifi' }], radiusClients: [{ name: 'ap1', address: '10.1.0.0/24', secret: 'radius-shared-secret-0002', groups: ['wifi'] }] });
    expect(await reconcile(t.core, t.store, v2, CONFIG_CTX, 'r2')).toEqual({ created: 0, updated: 1, deleted: 0 });
    expect(await t.core.directory.radiusClients.secretOf((await t.store.directory.radiusClients.findByName('ap1'))!)).toBe('radius-shared-secret-0002');
    const event = (await t.store.directory.audit.query({ type: 'radius_client.updated' })).items[0];
    expect(event?.details).toEqual({ changed: ['secret'] });
    expect(JSON.stringify(event)).not.toContain('radius-shared-secret');
  });

  it('keeps application secrets hashed, updates them only when they change, and keeps one rotated through the API', async () => {
    const secret1 = 'declared-application-secret-0000000001';
    const declare = (secret?: string) => withDirectory(t.config, { applications: [{ name: 'nas', ...(secret ? { secret } : {}) }] });
    await reconcile(t.core, t.store, declare(secret1), CONFIG_CTX, 'a1');
    const stored = (await t.store.directory.applications.findByName('nas'))!;
    expect(stored.secretHash).toBe(createHash('sha256').update(secret1).digest('hex'));
    expect(JSON.stringify(await t.store.directory.audit.query({ type: 'application.' }))).not.toContain(secret1);
    expect(await t.core.directory.applications.verifySecret('nas', secret1)).toMatchObject({ name: 'nas', hasSecret: true, managedBy: 'config' });
    expect(await reconcile(t.core, t.store, declare(secret1), CONFIG_CTX, 'a1')).toEqual({ created: 0, updated: 0, deleted: 0 });
    const secret2 = 'declared-application-secret-0000000002';
    expect(await reconcile(t.core, t.store, declare(secret2), CONFIG_CTX, 'a2')).toEqual({ created: 0, updated: 1, deleted: 0 });
    expect(await t.core.directory.applications.verifySecret('nas', secret1)).toBeUndefined();
    expect(await t.core.directory.applications.verifySecret('nas', secret2)).toBeDefined();
    // A declaration without a secret leaves the one it set before, and one generated through the API, alone.
    expect(await reconcile(t.core, t.store, declare(), CONFIG_CTX, 'a3')).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(await t.core.directory.applications.verifySecret('nas', secret2)).toBeDefined();
    t.core.directory.declare(declarationsOf(declare(), 'a3'));
    const { secret: generated } = await t.core.directory.applications.rotateSecret(CLI_CTX, 'nas');
    expect(await reconcile(t.core, t.store, declare(), CONFIG_CTX, 'a3')).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(await t.core.directory.applications.verifySecret('nas', generated)).toBeDefined();
  });

  it('is the one writer of what the file declares: others are refused unless forced, and a forced change is undone by the next run', async () => {
    const declared = withDirectory(t.config, { users: [{ username: 'ivy', password: DEMO_PASSWORD }, { username: 'jo' }], applications: [{ name: 'kiosk' }] });
    await reconcile(t.core, t.store, declared, CONFIG_CTX, 'd1');
    const fresh = 'copper-meadow-violin-73';
    // Not told what the file declares: every password and secret of a declared object counts as declared.
    await expect(t.core.directory.users.setPassword(CLI_CTX, 'jo', fresh)).rejects.toThrow(
      "the password of user 'jo' is declared in the configuration file: edit it there (and reload), or repeat with --force to change it here until the next reload or start puts the declaration back",
    );
    await expect(t.core.directory.applications.rotateSecret(CLI_CTX, 'kiosk')).rejects.toBeInstanceOf(ManagedByConfigError);
    // Told: what the declaration leaves out is changeable; what it sets is not, but by force.
    t.core.directory.declare(declarationsOf(declared, 'd1.yaml'));
    await t.core.directory.users.setPassword(CLI_CTX, 'jo', fresh);
    await t.core.directory.applications.rotateSecret(CLI_CTX, 'kiosk');
    await expect(t.core.directory.users.setPassword(CLI_CTX, 'ivy', fresh)).rejects.toThrow(/^the password of user 'ivy' is declared in d1\.yaml: /);
    await expect(t.core.directory.users.suspend(CLI_CTX, 'ivy')).rejects.toThrow(/^user 'ivy' is declared in d1\.yaml: .* to suspend it here /);
    await t.core.directory.users.suspend(CLI_CTX, 'ivy', { force: true });
    await t.core.directory.users.setPassword(CLI_CTX, 'ivy', fresh, { force: true });

    expect(await reconcile(t.core, t.store, declared, CONFIG_CTX, 'd1')).toEqual({ created: 0, updated: 1, deleted: 0 });
    expect(await t.core.directory.users.find('ivy')).toMatchObject({ status: 'active' });
    const signIn = (username: string, password: string) => t.core.passwords.authenticate({ username, password, context: { actor: { type: 'anonymous' } } });
    expect((await signIn('ivy', DEMO_PASSWORD)).outcome).toBe('success');
    expect((await signIn('jo', fresh)).outcome).toBe('success');
  });

  it('suspends through the config like through the API', async () => {
    await reconcile(t.core, t.store, withDirectory(t.config, { users: [{ username: 'hal', password: DEMO_PASSWORD }] }), CONFIG_CTX, 's1');
    await reconcile(t.core, t.store, withDirectory(t.config, { users: [{ username: 'hal', password: DEMO_PASSWORD, status: 'suspended' }] }), CONFIG_CTX, 's2');
    expect((await t.core.passwords.authenticate({ username: 'hal', password: DEMO_PASSWORD, context: { actor: { type: 'anonymous' } } })).outcome).toBe('denied');
    expect((await t.store.directory.audit.query({ type: 'user.suspended' })).items).toHaveLength(1);
  });
});
