/**
 * The policy semantics as a table: scopes, exclusions, each condition, precedence, the default,
 * freshness, and evaluation errors. Each row names the expected action, and the reason codes (and
 * policies) that must explain it.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/access/evaluate.ts';
import type { AccessRequest } from '../../../src/access/types.ts';
import { PolicyInput, type Policy } from '../../../src/directory/model.ts';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();

function policy(input: Record<string, unknown>): Policy {
  return { ...PolicyInput.parse(input), id: `id-${String(input.name)}`, managedBy: 'api', version: 1, createdAt: '', updatedAt: '' };
}

function request(over: Partial<AccessRequest> = {}): AccessRequest {
  return {
    user: { id: 'u1', username: 'alice', status: 'active' },
    groups: ['engineering', 'staff'],
    resource: { kind: 'app', name: 'aws', exists: true, assignedGroups: ['engineering'] },
    protocol: 'oidc',
    clientIp: '203.0.113.7',
    networks: [],
    authn: [{ method: 'password', at: minutesAgo(0) }],
    risk: { level: 'low', signals: [] },
    now: NOW,
    ...over,
  };
}

const managed = { id: 'd1', name: 'MacBook', managed: true, compliant: true, certificate: false };
const unmanaged = { id: 'd2', name: 'Home PC', managed: false, compliant: false, certificate: false };
const managedNonCompliant = { ...managed, compliant: false };
const withCert = { ...managed, certificate: true };
const totpNow = [{ method: 'password' as const, at: minutesAgo(1) }, { method: 'totp' as const, at: minutesAgo(1) }];
const webauthnNow = [{ method: 'password' as const, at: minutesAgo(1) }, { method: 'webauthn' as const, at: minutesAgo(1) }];

const allowAll = policy({ name: 'allow-all', action: 'allow' });
const denyAll = policy({ name: 'deny-all', action: 'deny' });
const mfaAll = policy({ name: 'mfa-all', action: 'mfa' });
const engMfaExceptOffice = policy({
  name: 'eng-mfa', description: 'Engineering needs MFA except on a managed device in the office or on the VPN',
  users: { groups: ['engineering'] }, action: 'mfa',
  except: { device: { managed: true }, network: { in: ['office', 'vpn'] } },
});
const denyUnmanagedAws = policy({ name: 'aws-managed-only', resources: { include: ['app:aws'] }, conditions: { device: { managed: false } }, action: 'deny' });

interface Row {
  name: string;
  policies: Policy[];
  req?: Partial<AccessRequest>;
  defaultAction?: 'allow' | 'deny';
  action: 'allow' | 'deny' | 'mfa';
  codes: string[];
  methods?: string[];
  policiesNamed?: string[];
}

const rows: Row[] = [
  // The default and the checks before any policy
  { name: 'no policy, default allow', policies: [], action: 'allow', codes: ['default'] },
  { name: 'no policy, default deny', policies: [], defaultAction: 'deny', action: 'deny', codes: ['default'] },
  { name: 'a suspended user is denied even by an allow policy', policies: [allowAll], req: { user: { id: 'u1', username: 'alice', status: 'suspended' } }, action: 'deny', codes: ['suspended'] },
  { name: 'an application not assigned to the user is denied before policies', policies: [allowAll], req: { resource: { kind: 'app', name: 'payroll', exists: true, assignedGroups: ['finance'] } }, action: 'deny', codes: ['not_assigned'] },
  { name: 'an application assigned to no group is denied', policies: [allowAll], req: { resource: { kind: 'app', name: 'new', exists: true, assignedGroups: [] } }, action: 'deny', codes: ['not_assigned'] },
  { name: 'an unknown application is denied', policies: [allowAll], req: { resource: { kind: 'app', name: 'ghost', exists: false, assignedGroups: [] } }, action: 'deny', codes: ['unknown_resource'] },
  { name: 'a RADIUS client assigned through a nested group is allowed', policies: [], req: { resource: { kind: 'radius', name: 'vpn-gw', exists: true, assignedGroups: ['staff'] } }, action: 'allow', codes: ['default'] },
  { name: 'the LDAP directory has no assignment check', policies: [], req: { resource: { kind: 'ldap' }, protocol: 'ldap' }, action: 'allow', codes: ['default'] },
  // Actions and precedence
  { name: 'an allow policy allows', policies: [allowAll], defaultAction: 'deny', action: 'allow', codes: ['policy_allow'], policiesNamed: ['allow-all'] },
  { name: 'a deny policy denies', policies: [denyAll], action: 'deny', codes: ['policy_deny'], policiesNamed: ['deny-all'] },
  { name: 'deny beats allow', policies: [allowAll, denyAll], action: 'deny', codes: ['policy_deny'] },
  { name: 'mfa beats allow', policies: [allowAll, mfaAll], action: 'mfa', codes: ['policy_mfa', 'policy_allow'], methods: ['totp', 'webauthn', 'certificate'] },
  { name: 'deny beats mfa', policies: [mfaAll, denyAll], action: 'deny', codes: ['policy_deny'] },
  { name: 'an mfa policy is satisfied by a second factor already used', policies: [mfaAll], req: { authn: totpNow }, action: 'allow', codes: ['mfa_satisfied'], policiesNamed: ['mfa-all'] },
  { name: 'phishing-resistant only: TOTP does not satisfy', policies: [policy({ name: 'wa-only', action: 'mfa', methods: ['webauthn'] })], req: { authn: totpNow }, action: 'mfa', codes: ['policy_mfa'], methods: ['webauthn'] },
  { name: 'phishing-resistant only: WebAuthn satisfies', policies: [policy({ name: 'wa-only', action: 'mfa', methods: ['webauthn'] })], req: { authn: webauthnNow }, action: 'allow', codes: ['mfa_satisfied'] },
  { name: 'two mfa policies ask for the methods both accept', policies: [mfaAll, policy({ name: 'no-cert', action: 'mfa', methods: ['totp', 'webauthn'] })], action: 'mfa', codes: ['policy_mfa', 'policy_mfa'], methods: ['totp', 'webauthn'] },
  { name: 'two mfa policies with nothing in common ask for the first one\'s', policies: [policy({ name: 'a-totp', action: 'mfa', methods: ['totp'] }), policy({ name: 'b-wa', action: 'mfa', methods: ['webauthn'] })], action: 'mfa', codes: ['policy_mfa', 'policy_mfa'], methods: ['totp'] },
  { name: 'a disabled policy is ignored', policies: [policy({ name: 'off', action: 'deny', enabled: false })], action: 'allow', codes: ['default'] },
  // Scopes and exclusions
  { name: 'a group-scoped policy applies to members', policies: [policy({ name: 'eng-deny', users: { groups: ['engineering'] }, action: 'deny' })], action: 'deny', codes: ['policy_deny'] },
  { name: 'a group-scoped policy skips non-members', policies: [policy({ name: 'fin-deny', users: { groups: ['finance'] }, action: 'deny' })], action: 'allow', codes: ['default'] },
  { name: 'membership through nesting counts', policies: [policy({ name: 'staff-deny', users: { groups: ['staff'] }, action: 'deny' })], action: 'deny', codes: ['policy_deny'] },
  { name: 'an excluded group is exempt', policies: [policy({ name: 'all-but-eng', users: { exclude: ['engineering'] }, action: 'deny' })], action: 'allow', codes: ['default'] },
  { name: 'exclusion wins over inclusion', policies: [policy({ name: 'staff-not-eng', users: { groups: ['staff'], exclude: ['engineering'] }, action: 'deny' })], action: 'allow', codes: ['default'] },
  { name: 'a resource-scoped policy applies to its resource', policies: [policy({ name: 'aws-deny', resources: { include: ['app:aws'] }, action: 'deny' })], action: 'deny', codes: ['policy_deny'] },
  { name: 'a resource-scoped policy skips other resources', policies: [policy({ name: 'wiki-deny', resources: { include: ['app:wiki'] }, action: 'deny' })], action: 'allow', codes: ['default'] },
  { name: 'a protocol-scoped policy skips other protocols', policies: [policy({ name: 'radius-deny', resources: { protocols: ['radius'] }, action: 'deny' })], action: 'allow', codes: ['default'] },
  { name: 'a protocol-scoped policy applies to its protocol', policies: [policy({ name: 'ldap-mfa', resources: { protocols: ['ldap'] }, action: 'mfa' })], req: { resource: { kind: 'ldap' }, protocol: 'ldap' }, action: 'mfa', codes: ['policy_mfa'] },
  // Conditions
  { name: 'device.managed true matches a managed device', policies: [policy({ name: 'm', conditions: { device: { managed: true } }, action: 'deny' })], req: { device: managed }, action: 'deny', codes: ['policy_deny'] },
  { name: 'device.managed false matches a request with no known device', policies: [policy({ name: 'm', conditions: { device: { managed: false } }, action: 'deny' })], action: 'deny', codes: ['policy_deny'] },
  { name: 'device.compliant true does not match a non-compliant device', policies: [policy({ name: 'c', conditions: { device: { compliant: true } }, action: 'allow' })], defaultAction: 'deny', req: { device: managedNonCompliant }, action: 'deny', codes: ['default'] },
  { name: 'device.certificate true matches a certificate-identified device', policies: [policy({ name: 'cert', conditions: { device: { certificate: true } }, action: 'allow' })], defaultAction: 'deny', req: { device: withCert }, action: 'allow', codes: ['policy_allow'] },
  { name: 'network.in matches an address in the network', policies: [policy({ name: 'office-only', conditions: { network: { in: ['office'] } }, action: 'allow' })], defaultAction: 'deny', req: { networks: ['office'] }, action: 'allow', codes: ['policy_allow'] },
  { name: 'network.in does not match elsewhere', policies: [policy({ name: 'office-only', conditions: { network: { in: ['office'] } }, action: 'allow' })], defaultAction: 'deny', action: 'deny', codes: ['default'] },
  { name: 'network.notIn does not match inside the network', policies: [policy({ name: 'outside-deny', conditions: { network: { notIn: ['office'] } }, action: 'deny' })], req: { networks: ['office'] }, action: 'allow', codes: ['default'] },
  { name: 'network.notIn matches outside', policies: [policy({ name: 'outside-deny', conditions: { network: { notIn: ['office'] } }, action: 'deny' })], action: 'deny', codes: ['policy_deny'] },
  { name: 'risk.atLeast medium matches high risk', policies: [policy({ name: 'risky-mfa', conditions: { risk: { atLeast: 'medium' } }, action: 'mfa' })], req: { risk: { level: 'high', signals: [{ code: 'risky_network', description: 'sign-in from a risky network' }] } }, action: 'mfa', codes: ['policy_mfa', 'risky_network'] },
  { name: 'risk.atLeast medium does not match low risk', policies: [policy({ name: 'risky-mfa', conditions: { risk: { atLeast: 'medium' } }, action: 'mfa' })], action: 'allow', codes: ['default'] },
  { name: 'mfaWithin: a second factor within the window satisfies', policies: [policy({ name: 'fresh', conditions: { mfaWithin: 60 }, action: 'mfa' })], req: { authn: [{ method: 'totp', at: minutesAgo(30) }] }, action: 'allow', codes: ['default'] },
  { name: 'mfaWithin: an older second factor does not', policies: [policy({ name: 'fresh', conditions: { mfaWithin: 60 }, action: 'mfa' })], req: { authn: [{ method: 'totp', at: minutesAgo(120) }] }, action: 'mfa', codes: ['policy_mfa'] },
  { name: 'mfaWithin: without any second factor', policies: [policy({ name: 'fresh', conditions: { mfaWithin: 60 }, action: 'mfa' })], action: 'mfa', codes: ['policy_mfa'] },
  { name: 'conditions combine with AND', policies: [policy({ name: 'both', conditions: { device: { managed: true }, network: { in: ['office'] } }, action: 'deny' })], req: { device: managed }, action: 'allow', codes: ['default'] },
  // The two examples the access core must get right
  { name: 'Engineering: managed device in the office needs no MFA', policies: [engMfaExceptOffice], req: { device: managed, networks: ['office'] }, action: 'allow', codes: ['default'] },
  { name: 'Engineering: managed device on the VPN needs no MFA', policies: [engMfaExceptOffice], req: { device: managed, networks: ['vpn'] }, action: 'allow', codes: ['default'] },
  { name: 'Engineering: managed device at home needs MFA', policies: [engMfaExceptOffice], req: { device: managed, networks: [] }, action: 'mfa', codes: ['policy_mfa'], policiesNamed: ['eng-mfa'] },
  { name: 'Engineering: unmanaged device in the office needs MFA', policies: [engMfaExceptOffice], req: { device: unmanaged, networks: ['office'] }, action: 'mfa', codes: ['policy_mfa'] },
  { name: 'Engineering: at home with TOTP done is allowed', policies: [engMfaExceptOffice], req: { authn: totpNow }, action: 'allow', codes: ['mfa_satisfied'] },
  { name: 'Non-engineers are not asked', policies: [engMfaExceptOffice], req: { groups: ['staff'], resource: { kind: 'app', name: 'aws', exists: true, assignedGroups: ['staff'] } }, action: 'allow', codes: ['default'] },
  { name: 'AWS: unmanaged device denied', policies: [denyUnmanagedAws], req: { device: unmanaged }, action: 'deny', codes: ['policy_deny'], policiesNamed: ['aws-managed-only'] },
  { name: 'AWS: no identified device denied', policies: [denyUnmanagedAws], action: 'deny', codes: ['policy_deny'] },
  { name: 'AWS: managed device allowed', policies: [denyUnmanagedAws], req: { device: managed }, action: 'allow', codes: ['default'] },
  { name: 'AWS rule leaves other apps alone', policies: [denyUnmanagedAws], req: { device: unmanaged, resource: { kind: 'app', name: 'wiki', exists: true, assignedGroups: ['staff'] } }, action: 'allow', codes: ['default'] },
  { name: 'AWS deny beats the Engineering MFA exception', policies: [engMfaExceptOffice, denyUnmanagedAws], req: { device: unmanaged, networks: ['office'] }, action: 'deny', codes: ['policy_deny'] },
];

describe('access decision semantics', () => {
  it('has at least 30 cases', () => expect(rows.length).toBeGreaterThanOrEqual(30));

  it.each(rows)('$name', (row) => {
    const decision = evaluate(request(row.req), row.policies, { defaultAction: row.defaultAction ?? 'allow' });
    expect(decision.action).toBe(row.action);
    expect(decision.reasons.map((r) => r.code)).toEqual(row.codes);
    if (row.methods) expect(decision.action === 'mfa' && decision.methods).toEqual(row.methods);
    if (row.policiesNamed) expect(decision.reasons.filter((r) => r.policy).map((r) => r.policy)).toEqual(row.policiesNamed);
  });

  it('denies when evaluation throws (a malformed policy)', () => {
    const broken = { ...allowAll, users: undefined } as unknown as Policy;
    const decision = evaluate(request(), [broken], { defaultAction: 'allow' });
    expect(decision).toMatchObject({ action: 'deny', reasons: [{ code: 'evaluation_error' }] });
  });

  it('explains with the policy description when there is one', () => {
    const decision = evaluate(request({ device: managed }), [engMfaExceptOffice], { defaultAction: 'allow' });
    expect(decision.reasons[0]).toEqual({ code: 'policy_mfa', description: 'Engineering needs MFA except on a managed device in the office or on the VPN', policy: 'eng-mfa' });
  });
});
