/**
 * Explain / what-if over the admin API (POST /api/v1/access/evaluate), on every backend: the
 * adaptive-MFA example of docs/access.md (Engineering needs MFA except on a managed device on the
 * office network or the VPN; unmanaged devices are denied app:aws), built through the API, then
 * explained — decisions, reasons with their policies, assignment, risk signals, default protocols,
 * bad input — and checked to have no side effect at all (no audit event, nothing remembered).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../../src/audit/audit.ts';
import type { KnexStore } from '../../src/store/open.ts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { auditEvents, expectJson, expectProblem, makeKey, withKey } from './support.ts';

interface Reason {
  code: string;
  description: string;
  policy?: string;
}
interface Explanation {
  decision: 'allow' | 'deny' | 'mfa';
  methods?: string[];
  reasons: Reason[];
  request: {
    user: { id: string; username: string; status: string };
    groups: string[];
    resource: { ref: string; kind: string; name?: string; exists?: boolean; assignedGroups?: string[] };
    protocol: string;
    clientIp?: string;
    networks: string[];
    device?: { id: string; name: string; managed: boolean; compliant: boolean; certificate: boolean };
    authn: Array<{ method: string; at: string }>;
    risk: { level: string; signals: Reason[] };
    at: string;
  };
}

const ENG_MFA = 'Engineering needs a second factor, except on a managed device in the office or on the VPN';

describe.each(backends)('admin API explain / what-if ($name)', (backend) => {
  let server: TestServer;
  let laptop: { id: string };
  let byod: { id: string };

  const post = (path: string, json: unknown) => server.api(`/api/v1/${path}`, { method: 'POST', json });
  const create = async (path: string, json: unknown) => expectJson<{ id: string }>(await post(path, json), 201);
  const evaluate = (json: unknown) => post('access/evaluate', json);
  const explain = async (json: unknown) => expectJson<Explanation>(await evaluate(json), 200);
  const codes = (reasons: Reason[]) => reasons.map((r) => r.code);

  beforeAll(async () => {
    server = await startTestServer(backend);
    for (const name of ['engineering', 'staff']) await create('groups', { name });
    await create('users', { username: 'alice', groups: ['engineering'] });
    await create('users', { username: 'bob', groups: ['staff'] });
    await create('users', { username: 'carol', groups: ['engineering'], status: 'suspended' });
    await create('networks', { name: 'office', cidrs: ['192.0.2.0/24'] });
    await create('networks', { name: 'vpn', cidrs: ['198.51.100.0/24', '2001:db8:1::/48'] });
    await create('networks', { name: 'anonymizers', cidrs: ['100.64.0.0/10'], risky: true });
    await create('applications', { name: 'aws', groups: ['engineering'] });
    await create('applications', { name: 'wiki', type: 'oidc', groups: ['engineering', 'staff'] });
    await create('applications', { name: 'payroll', type: 'saml', groups: ['staff'] });
    const reportedAt = new Date().toISOString();
    laptop = await create('devices', { name: 'alice-laptop', owners: ['alice'], platform: 'macos', managed: true, posture: { diskEncrypted: true, screenLock: true, reportedAt } });
    byod = await create('devices', { name: 'alice-phone', owners: ['alice'], platform: 'android', managed: false });
    await create('policies', {
      name: 'eng-mfa', description: ENG_MFA, users: { groups: ['engineering'] },
      except: { device: { managed: true }, network: { in: ['office', 'vpn'] } }, action: 'mfa',
    });
    await create('policies', { name: 'aws-managed-only', resources: { include: ['app:aws'] }, conditions: { device: { managed: false } }, action: 'deny' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a managed, compliant device on the office network: no policy applies, allowed, with the whole request', async () => {
    const answer = await explain({ user: 'alice', resource: 'app:aws', ip: '192.0.2.10', device: laptop.id });
    expect(answer.decision).toBe('allow');
    expect(answer).not.toHaveProperty('methods');
    expect(answer.reasons[0]).toEqual({ code: 'default', description: 'no policy applies; the default is to allow' });
    expect(answer.request).toMatchObject({
      user: { username: 'alice', status: 'active' },
      groups: ['engineering'],
      resource: { ref: 'app:aws', kind: 'app', name: 'aws', exists: true, assignedGroups: ['engineering'] },
      // A generic application is launched from the portal: a real sign-in for it is made there.
      protocol: 'portal',
      clientIp: '192.0.2.10',
      networks: ['office'],
      device: { id: laptop.id, name: 'alice-laptop', managed: true, compliant: true, certificate: false },
      authn: [{ method: 'password', at: expect.any(String) }],
    });
    expect(Date.parse(answer.request.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(answer.request.authn[0]!.at).toBe(answer.request.at);
    // First time from here and with this device: both are risk signals, and reasons too.
    expect(answer.request.risk).toEqual({ level: 'medium', signals: [expect.objectContaining({ code: 'new_network' }), expect.objectContaining({ code: 'new_device' })] });
    expect(codes(answer.reasons)).toEqual(['default', 'new_network', 'new_device']);
  });

  it('on the VPN (IPv6) with a device certificate: allowed; the address is normalised', async () => {
    const answer = await explain({ user: 'alice', resource: 'app:wiki', ip: '2001:DB8:1::0:7', device: laptop.id, certificate: true });
    expect(answer.decision).toBe('allow');
    expect(answer.request).toMatchObject({ clientIp: '2001:db8:1::7', networks: ['vpn'], device: { certificate: true } });
    const mapped = await explain({ user: 'alice', resource: 'app:wiki', ip: '::ffff:192.0.2.10', device: laptop.id });
    expect(mapped.request).toMatchObject({ clientIp: '192.0.2.10', networks: ['office'] });
  });

  it('the managed device elsewhere needs a second factor, naming the policy; a TOTP done satisfies it', async () => {
    const answer = await explain({ user: 'alice', resource: 'app:wiki', ip: '203.0.113.7', device: laptop.id });
    expect(answer.decision).toBe('mfa');
    expect(answer.methods).toEqual(['totp', 'webauthn', 'certificate']);
    expect(answer.reasons[0]).toEqual({ code: 'policy_mfa', description: ENG_MFA, policy: 'eng-mfa' });
    expect(answer.request.networks).toEqual([]);

    const done = await explain({ user: 'alice', resource: 'app:wiki', ip: '203.0.113.7', device: laptop.id, authn: [{ method: 'password' }, { method: 'totp', at: '2030-01-01T12:00:00+01:00' }] });
    expect(done.decision).toBe('allow');
    expect(done.reasons[0]).toMatchObject({ code: 'mfa_satisfied', policy: 'eng-mfa' });
    expect(done.request.authn).toEqual([{ method: 'password', at: done.request.at }, { method: 'totp', at: '2030-01-01T11:00:00.000Z' }]);
  });

  it('an unmanaged device in the office still needs MFA for the wiki (the exception needs both)', async () => {
    const answer = await explain({ user: 'alice', resource: 'app:wiki', ip: '192.0.2.10', device: byod.id });
    expect(answer.decision).toBe('mfa');
    expect(answer.request.device).toMatchObject({ managed: false, compliant: false });
  });

  it('an unmanaged or unknown device is denied app:aws on any network, naming the policy (deny beats mfa)', async () => {
    for (const body of [
      { user: 'alice', resource: 'app:aws', ip: '192.0.2.10', device: byod.id },
      { user: 'alice', resource: 'app:aws', ip: '192.0.2.10' },
      { user: 'alice', resource: 'app:aws', ip: '203.0.113.7', authn: [{ method: 'password' }, { method: 'webauthn' }] },
    ]) {
      const answer = await explain(body);
      expect(answer.decision, JSON.stringify(body)).toBe('deny');
      expect(answer.reasons[0]).toEqual({ code: 'policy_deny', description: "policy 'aws-managed-only' denies access", policy: 'aws-managed-only' });
      expect(codes(answer.reasons)).not.toContain('policy_mfa');
    }
  });

  it('least privilege: a user outside the assigned groups is denied before any policy; an unknown application too', async () => {
    const bob = await explain({ user: 'bob', resource: 'app:aws', ip: '192.0.2.10', device: laptop.id });
    expect(bob.decision).toBe('deny');
    expect(bob.reasons[0]).toEqual({ code: 'not_assigned', description: "application 'aws' is not assigned to any of the user's groups" });
    expect(bob.request).toMatchObject({ groups: ['staff'], resource: { assignedGroups: ['engineering'] } });

    const unknown = await explain({ user: 'bob', resource: 'app:nope' });
    expect(unknown.decision).toBe('deny');
    expect(unknown.reasons[0]).toMatchObject({ code: 'unknown_resource' });
    expect(unknown.request.resource).toEqual({ ref: 'app:nope', kind: 'app', name: 'nope', exists: false, assignedGroups: [] });
  });

  it('a suspended user is denied', async () => {
    const answer = await explain({ user: 'carol', resource: 'portal' });
    expect(answer).toMatchObject({ decision: 'deny', reasons: [{ code: 'suspended' }], request: { user: { username: 'carol', status: 'suspended' } } });
  });

  it('risk: a risky network is high risk, and each signal is also a reason', async () => {
    const answer = await explain({ user: 'alice', resource: 'portal', ip: '100.64.1.1' });
    expect(answer.request.networks).toEqual(['anonymizers']);
    expect(answer.request.risk.level).toBe('high');
    expect(codes(answer.request.risk.signals)).toEqual(['risky_network', 'new_network']);
    expect(answer.reasons).toEqual(expect.arrayContaining(answer.request.risk.signals));
    expect(answer.decision).toBe('mfa'); // eng-mfa covers every resource
  });

  it('the protocol defaults to the resource\'s own; one given is used', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ user: 'bob', resource: 'app:wiki' }, 'oidc'],
      [{ user: 'bob', resource: 'app:payroll' }, 'saml'],
      [{ user: 'bob', resource: 'radius:vpn-gateway' }, 'radius'],
      [{ user: 'bob', resource: 'ldap' }, 'ldap'],
      [{ user: 'bob', resource: 'portal' }, 'portal'],
      [{ user: 'bob', resource: 'admin' }, 'admin'],
      [{ user: 'bob', resource: 'app:wiki', protocol: 'saml' }, 'saml'],
    ];
    for (const [body, protocol] of cases) expect((await explain(body)).request.protocol, JSON.stringify(body)).toBe(protocol);
    // By id as well as by username.
    const bob = await server.gh.core.directory.users.find('bob');
    expect((await explain({ user: bob.id, resource: 'ldap' })).request.user).toEqual({ id: bob.id, username: 'bob', status: 'active' });
  });

  it('an unknown user or device is 404; bad input is 400 naming the field', async () => {
    expect((await expectProblem(await evaluate({ user: 'nobody', resource: 'portal' }), 404)).detail).toBe("user 'nobody' not found");
    expect((await expectProblem(await evaluate({ user: 'alice', resource: 'portal', device: '3f0b7c6e-1111-4222-8333-444455556666' }), 404)).detail).toMatch(/^device '.*' not found$/);

    const cases: Array<[Record<string, unknown>, string]> = [
      [{ user: 'alice', resource: 'application:aws' }, 'resource'],
      [{ user: 'alice', resource: 'app:AWS' }, 'resource'],
      [{ user: 'alice', resource: 'portal', ip: '999.1.1.1' }, 'ip'],
      [{ user: 'alice', resource: 'portal', ip: 'office' }, 'ip'],
      [{ user: 'alice', resource: 'portal', ip: '192.0.2.0/24' }, 'ip'],
      [{ user: 'alice', resource: 'portal', protocol: 'kerberos' }, 'protocol'],
      [{ user: 'alice', resource: 'portal', certificate: true }, 'certificate'],
      [{ user: 'alice', resource: 'portal', authn: [{ method: 'sms' }] }, 'authn[0].method'],
      [{ user: 'alice', resource: 'portal', authn: [{ method: 'totp', at: 'yesterday' }] }, 'authn[0].at'],
      [{ user: 'alice', resource: 'portal', groups: ['admins'] }, 'groups'],
      [{ resource: 'portal' }, 'user'],
    ];
    for (const [body, path] of cases) {
      const problem = await expectProblem(await evaluate(body), 400);
      expect(problem.errors?.map((e) => e.path), JSON.stringify(body)).toEqual([path]);
    }
  });

  it('a read-only key may evaluate (it changes nothing); no key may not', async () => {
    const reader = withKey(server, await makeKey(server, 'reader', ['read']));
    const answer = await expectJson<Explanation>(await reader('/api/v1/access/evaluate', { method: 'POST', json: { user: 'alice', resource: 'portal' } }), 200);
    expect(answer.request.user.username).toBe('alice');
    await expectProblem(await withKey(server, undefined)('/api/v1/access/evaluate', { method: 'POST', json: { user: 'alice', resource: 'portal' } }), 401);
  });

  it('has no side effect: no audit event, nothing remembered for the risk signals (unlike a real decision)', async () => {
    const knex = (server.gh.store as KnexStore).knex;
    const snapshot = async () => ({ audit: (await auditEvents(server)).length, kv: await knex('kv').select('*').orderBy('key') });
    const before = await snapshot();
    const body = { user: 'alice', resource: 'app:aws', ip: '198.51.100.20', device: laptop.id };
    for (let i = 0; i < 3; i++) {
      const answer = await explain(body);
      expect(answer.decision).toBe('allow');
      // Still the first time from here: the earlier explanations were not remembered.
      expect(codes(answer.request.risk.signals)).toEqual(['new_network', 'new_device']);
    }
    expect(await snapshot()).toEqual(before);

    // The real decision for the same context is audited and remembered, so the check above means something.
    const alice = await server.gh.core.directory.users.find('alice');
    const device = await server.gh.core.directory.resources.find('devices', laptop.id);
    const real = await server.gh.core.access.decide(SYSTEM, { user: alice, resource: 'app:aws', protocol: 'oidc', clientIp: '198.51.100.20', device: { device, certificate: false }, authn: [{ method: 'password', at: new Date().toISOString() }] });
    expect(real.decision.action).toBe('allow');
    const after = await snapshot();
    expect(after.audit).toBe(before.audit + 1);
    expect(after.kv).not.toEqual(before.kv);
    expect((await explain(body)).request.risk).toEqual({ level: 'low', signals: [] });
  });
});
