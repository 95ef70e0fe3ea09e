import { describe, expect, it } from 'vitest';
import { ApplicationInput, DeviceInput, NetworkInput, PolicyInput, RadiusClientInput, UserInput } from '../../../src/directory/model.ts';

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';

describe('directory model', () => {
  it('lower-cases and trims usernames and e-mail addresses', () => {
    expect(UserInput.parse({ username: '  Alice.Smith@Corp ', email: 'Alice@Example.COM' })).toMatchObject({ username: 'alice.smith@corp', email: 'alice@example.com', status: 'active', sshPublicKeys: [], attributes: {} });
  });

  it.each([
    [{ username: '' }, 'username'],
    [{ username: '-leading' }, 'username'],
    [{ username: 'has space' }, 'username'],
    [{ username: 'x'.repeat(129) }, 'username'],
    [{ username: 'ok', email: 'not-an-email' }, 'email'],
    [{ username: 'ok', homeDirectory: 'relative/path' }, 'homeDirectory'],
    [{ username: 'ok', uidNumber: -1 }, 'uidNumber'],
    [{ username: 'ok', uidNumber: 1.5 }, 'uidNumber'],
    [{ username: 'ok', status: 'deleted' }, 'status'],
    [{ username: 'ok', attributes: { '1bad': 'x' } }, 'attributes'],
    [{ username: 'ok', attributes: { nested: { no: 1 } } }, 'attributes'],
    [{ username: 'ok', sshPublicKeys: ['ssh-ed25519 notbase64!'] }, 'sshPublicKeys'],
    [{ username: 'ok', role: 'admin' }, ''],
  ])('refuses %j at %s', (input, path) => {
    const result = UserInput.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues.some((i) => String(i.path[0] ?? '') === path)).toBe(true);
  });

  it('accepts OpenSSH keys whose blob names the declared type, and refuses mismatches', () => {
    expect(UserInput.parse({ username: 'a', sshPublicKeys: [ED25519] }).sshPublicKeys).toEqual([ED25519]);
    const rsaLabelled = ED25519.replace('ssh-ed25519', 'ssh-rsa');
    expect(UserInput.safeParse({ username: 'a', sshPublicKeys: [rsaLabelled] }).success).toBe(false);
  });

  it('canonicalises network CIDRs and names the bad one', () => {
    expect(NetworkInput.parse({ name: 'vpn', cidrs: ['10.8.0.0/16', '2001:DB8::/32', '192.0.2.1'] }).cidrs).toEqual(['10.8.0.0/16', '2001:db8::/32', '192.0.2.1/32']);
    const bad = NetworkInput.safeParse({ name: 'vpn', cidrs: ['10.8.0.0/16', '10.8.0.1/16', '999.1.1.1/8'] });
    expect(bad.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['cidrs.1', "'10.8.0.1/16' has host bits set (the network is 10.8.0.0/16)"],
      ['cidrs.2', "'999.1.1.1/8' is not an IPv4/IPv6 address or CIDR"],
    ]);
    expect(NetworkInput.safeParse({ name: 'vpn', cidrs: [] }).success).toBe(false);
  });

  it('requires long RADIUS secrets', () => {
    expect(RadiusClientInput.safeParse({ name: 'ap', address: '10.0.0.1', secret: 'short' }).error!.issues[0]!.message).toMatch(/at least 16/);
  });

  it('validates policy shapes and resource references', () => {
    const p = PolicyInput.parse({ name: 'eng-mfa', users: { groups: ['engineering'] }, conditions: { network: { notIn: ['office'] } }, action: 'mfa', methods: ['webauthn'] });
    expect(p).toMatchObject({ enabled: true, users: { groups: ['engineering'], exclude: [] }, resources: {} });
    expect(PolicyInput.safeParse({ name: 'x', action: 'allow', resources: { include: ['aws'] } }).success).toBe(false);
    expect(PolicyInput.safeParse({ name: 'x', action: 'permit' }).success).toBe(false);
    expect(PolicyInput.safeParse({ name: 'x', action: 'mfa', methods: ['password'] }).success).toBe(false);
  });

  it('fills defaults for applications and devices', () => {
    expect(ApplicationInput.parse({ name: 'aws' })).toEqual({ name: 'aws', type: 'generic', groups: [], settings: {} });
    expect(DeviceInput.parse({ name: 'Laptop' })).toMatchObject({ owners: [], platform: 'other', managed: false, posture: {} });
  });
});
