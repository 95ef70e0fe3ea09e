/**
 * The access core over a real store: the request is built from the directory (nested groups,
 * assignment, named networks, device state, risk), decisions are audited with their reasons,
 * explain has no side effects, and a broken store denies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessService } from '../../src/access/service.ts';
import type { Device, User } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const ctx = { actor: { type: 'system' as const } };

describe.each(backends)('access core ($name)', (backend) => {
  let t: TestCore;
  let access: AccessService;
  let alice: User;
  let bob: User;
  let laptop: Device;
  let homePc: Device;

  beforeAll(async () => {
    t = await coreFor(backend, { throttle: { freeAttempts: 100 }, access: { risk: { userFailuresMedium: 3, userFailuresHigh: 6 } } });
    // Compliance is the device module's rule; here: managed and disk encrypted.
    access = new AccessService({ store: t.store, throttle: t.core.throttle, auditor: t.core.audit, config: t.config, isCompliant: (d) => d.posture.diskEncrypted === true });
    const d = t.core.directory;
    await d.groups.create(CLI_CTX, { name: 'staff', attributes: {} });
    await d.groups.create(CLI_CTX, { name: 'engineering', attributes: {} });
    await d.groups.addMember(CLI_CTX, 'staff', 'group', 'engineering');
    alice = await d.users.create(CLI_CTX, { username: 'alice', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['engineering'] });
    bob = await d.users.create(CLI_CTX, { username: 'bob', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    await d.resources.create(CLI_CTX, 'networks', { name: 'office', cidrs: ['192.168.10.0/24', '2001:db8:10::/48'], risky: false });
    await d.resources.create(CLI_CTX, 'networks', { name: 'vpn', cidrs: ['10.8.0.0/16'], risky: false });
    await d.resources.create(CLI_CTX, 'networks', { name: 'tor', cidrs: ['198.51.100.0/24'], risky: true });
    await d.resources.create(CLI_CTX, 'applications', { name: 'aws', type: 'oidc', groups: ['engineering'], settings: {} });
    await d.resources.create(CLI_CTX, 'applications', { name: 'wiki', type: 'generic', groups: ['staff'], settings: {} });
    laptop = await d.resources.create(CLI_CTX, 'devices', { name: 'alice-mac', owners: ['alice'], platform: 'macos', managed: true, posture: { diskEncrypted: true }, attributes: {} });
    homePc = await d.resources.create(CLI_CTX, 'devices', { name: 'home-pc', owners: ['alice'], platform: 'windows', managed: false, posture: {}, attributes: {} });
    await d.resources.create(CLI_CTX, 'policies', {
      name: 'eng-mfa', description: 'Engineering needs MFA except on a managed device in the office or on the VPN',
      enabled: true, users: { groups: ['engineering'], exclude: [] }, resources: {}, conditions: {},
      except: { device: { managed: true }, network: { in: ['office', 'vpn'] } }, action: 'mfa',
    });
    await d.resources.create(CLI_CTX, 'policies', { name: 'aws-managed-only', enabled: true, users: { exclude: [] }, resources: { include: ['app:aws'] }, conditions: { device: { managed: false } }, action: 'deny' });
  });
  afterAll(async () => t?.cleanup());

  it('builds the request from the directory', async () => {
    const request = await access.buildRequest({ user: alice, resource: 'app:wiki', protocol: 'oidc', clientIp: '::ffff:192.168.10.20', device: { device: laptop, certificate: true } });
    expect(request).toMatchObject({
      groups: ['engineering', 'staff'],
      resource: { kind: 'app', name: 'wiki', exists: true, assignedGroups: ['staff'] },
      networks: ['office'],
      device: { id: laptop.id, managed: true, compliant: true, certificate: true },
    });
    expect((await access.buildRequest({ user: alice, resource: 'portal', protocol: 'portal', clientIp: '2001:db8:10::5' })).networks).toEqual(['office']);
    // Groups the password check resolved already are used as given, not read again.
    const staff = await t.core.directory.groups.find('staff');
    expect((await access.buildRequest({ user: alice, groups: [staff], resource: 'portal', protocol: 'portal' })).groups).toEqual(['staff']);
  });

  it('carries out the adaptive MFA example', async () => {
    const office = await access.explain({ user: alice, resource: 'app:wiki', protocol: 'oidc', clientIp: '192.168.10.20', device: { device: laptop, certificate: false } });
    expect(office.decision.action).toBe('allow');
    const vpn = await access.explain({ user: alice, resource: 'app:wiki', protocol: 'oidc', clientIp: '10.8.3.4', device: { device: laptop, certificate: false } });
    expect(vpn.decision.action).toBe('allow');
    const cafe = await access.explain({ user: alice, resource: 'app:wiki', protocol: 'oidc', clientIp: '203.0.113.9', device: { device: laptop, certificate: false } });
    expect(cafe.decision.action).toBe('mfa');
    expect(cafe.decision.reasons[0]).toMatchObject({ code: 'policy_mfa', policy: 'eng-mfa' });
    const unmanaged = await access.explain({ user: alice, resource: 'app:wiki', protocol: 'oidc', clientIp: '192.168.10.20', device: { device: homePc, certificate: false } });
    expect(unmanaged.decision.action).toBe('mfa');
    const done = await access.explain({ user: alice, resource: 'app:wiki', protocol: 'oidc', clientIp: '203.0.113.9', authn: [{ method: 'password', at: new Date().toISOString() }, { method: 'totp', at: new Date().toISOString() }] });
    expect(done.decision.action).toBe('allow');
    expect(done.decision.reasons[0]).toMatchObject({ code: 'mfa_satisfied', policy: 'eng-mfa' });
    expect((await access.explain({ user: bob, resource: 'app:wiki', protocol: 'oidc', clientIp: '203.0.113.9' })).decision.action).toBe('allow');
  });

  it('denies unmanaged devices for the AWS app, and people it is not assigned to', async () => {
    const done = [{ method: 'totp' as const, at: new Date().toISOString() }];
    const unmanaged = (await access.explain({ user: alice, resource: 'app:aws', protocol: 'oidc', clientIp: '192.168.10.20', device: { device: homePc, certificate: false }, authn: done })).decision;
    expect(unmanaged.action).toBe('deny');
    expect(unmanaged.reasons[0]).toMatchObject({ code: 'policy_deny', policy: 'aws-managed-only' });
    expect((await access.explain({ user: alice, resource: 'app:aws', protocol: 'oidc', clientIp: '192.168.10.20', device: { device: laptop, certificate: false } })).decision.action).toBe('allow');
    const notAssigned = (await access.explain({ user: bob, resource: 'app:aws', protocol: 'oidc', clientIp: '192.168.10.20' })).decision;
    expect([notAssigned.action, notAssigned.reasons[0]?.code]).toEqual(['deny', 'not_assigned']);
    const unknown = (await access.explain({ user: bob, resource: 'app:nope', protocol: 'oidc' })).decision;
    expect([unknown.action, unknown.reasons[0]?.code]).toEqual(['deny', 'unknown_resource']);
  });

  it('audits real decisions with their reasons; explain leaves no trace', async () => {
    const before = (await t.store.directory.audit.query({ type: 'access.decision', limit: 1000 })).items.length;
    await access.explain({ user: bob, resource: 'app:wiki', protocol: 'oidc', clientIp: '192.168.10.5' });
    expect((await t.store.directory.audit.query({ type: 'access.decision', limit: 1000 })).items.length).toBe(before);
    await access.decide({ ...ctx, requestId: 'req-1' }, { user: alice, resource: 'app:aws', protocol: 'oidc', clientIp: '203.0.113.50', device: { device: homePc, certificate: false } });
    const [event] = (await t.store.directory.audit.query({ type: 'access.decision', limit: 1 })).items;
    expect(event).toMatchObject({
      outcome: 'denied', sourceIp: '203.0.113.50', protocol: 'oidc', requestId: 'req-1',
      actor: { type: 'user', name: 'alice' }, target: { type: 'resource', name: 'app:aws' },
      reasons: expect.arrayContaining([{ code: 'policy_deny', description: expect.any(String), policy: 'aws-managed-only' }]),
      details: { decision: 'deny', device: { id: homePc.id, managed: false } },
    });
  });

  it('raises risk for new networks and devices, remembers them after an allowed sign-in', async () => {
    const first = await access.explain({ user: bob, resource: 'portal', protocol: 'portal', clientIp: '203.0.113.77' });
    expect(first.request.risk).toMatchObject({ level: 'medium', signals: [{ code: 'new_network' }] });
    const allowed = await access.decide(ctx, { user: bob, resource: 'portal', protocol: 'portal', clientIp: '203.0.113.77' });
    expect(allowed.decision.action).toBe('allow');
    expect((await access.explain({ user: bob, resource: 'portal', protocol: 'portal', clientIp: '203.0.113.200' })).request.risk).toEqual({ level: 'low', signals: [] });
    const tor = await access.explain({ user: bob, resource: 'portal', protocol: 'portal', clientIp: '198.51.100.3' });
    expect(tor.request.risk.level).toBe('high');
    expect(tor.request.risk.signals.map((s) => s.code)).toContain('risky_network');
  });

  it('writes a known network again at most once a day, and refreshes one remembered the old way', async () => {
    const ip = '203.0.113.90';
    const key = `seen:${bob.id}:net:203.0.113.0/24`;
    await access.decide(ctx, { user: bob, resource: 'portal', protocol: 'portal', clientIp: ip });
    const first = await t.store.ttl.get<number>(key);
    expect(first).toEqual(expect.any(Number));
    await access.decide(ctx, { user: bob, resource: 'portal', protocol: 'portal', clientIp: ip, now: first! + 3_600_000 });
    expect(await t.store.ttl.get(key)).toBe(first);
    await access.decide(ctx, { user: bob, resource: 'portal', protocol: 'portal', clientIp: ip, now: first! + 2 * 86_400_000 });
    expect(await t.store.ttl.get(key)).toBe(first! + 2 * 86_400_000);
    // Entries from before timestamps were kept (true) count as known, and are rewritten once.
    await t.store.ttl.put(key, true, 3600);
    const decided = await access.decide(ctx, { user: bob, resource: 'portal', protocol: 'portal', clientIp: ip });
    expect(decided.request?.risk.signals).toEqual([]);
    expect(await t.store.ttl.get(key)).toEqual(expect.any(Number));
  });

  it('raises risk with failed-attempt velocity', async () => {
    await access.decide(ctx, { user: bob, resource: 'portal', protocol: 'portal', clientIp: '192.168.10.9' });
    for (let i = 0; i < 3; i++) await t.core.throttle.failure({ user: 'bob' });
    expect((await access.explain({ user: bob, resource: 'portal', protocol: 'portal', clientIp: '192.168.10.9' })).request.risk).toMatchObject({ level: 'medium', signals: [{ code: 'failed_attempts_user' }] });
    for (let i = 0; i < 3; i++) await t.core.throttle.failure({ user: 'bob' });
    expect((await access.explain({ user: bob, resource: 'portal', protocol: 'portal', clientIp: '192.168.10.9' })).request.risk.level).toBe('high');
  });
});

describe('access core fails closed', () => {
  it('denies when the store cannot be read', async () => {
    const t = await coreFor(backends[0]!);
    const access = new AccessService({ store: t.store, throttle: t.core.throttle, auditor: t.core.audit, config: t.config, isCompliant: () => true });
    const user = await t.core.directory.users.create(CLI_CTX, { username: 'zed', status: 'active', sshPublicKeys: [], attributes: {} });
    await t.store.close();
    const { decision } = await access.decide(ctx, { user, resource: 'portal', protocol: 'portal' });
    expect(decision).toMatchObject({ action: 'deny', reasons: [{ code: 'evaluation_error' }] });
    await t.cleanup().catch(() => undefined);
  });
});
