/** The compliance rule as a table: each failed requirement is one named reason. */
import { describe, expect, it } from 'vitest';
import { CoreConfigSchema as ConfigSchema } from '../../../src/config/schema.ts';
import type { Device } from '../../../src/directory/model.ts';
import { compareVersions, isCompliant, parseVersion, type ComplianceRule } from '../../../src/devices/posture.ts';

const NOW = new Date('2026-11-23T12:00:00Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString();

const RULE: ComplianceRule = {
  requireDiskEncryption: true,
  requireFirewall: true,
  requireScreenLock: true,
  minOsVersion: { macos: '14.2', windows: '10.0.22631' },
  maxPostureAgeHours: 24,
};

type Subject = Pick<Device, 'managed' | 'platform' | 'posture'>;
const GOOD: Subject = { managed: true, platform: 'macos', posture: { osVersion: '14.4.1', diskEncrypted: true, firewall: true, screenLock: true, reportedAt: hoursAgo(1) } };
const with_ = (patch: Partial<Subject>, posture: Partial<Subject['posture']> = {}): Subject => ({ ...GOOD, ...patch, posture: { ...GOOD.posture, ...posture } });
const without = (key: keyof Subject['posture']): Subject => {
  const posture = { ...GOOD.posture };
  delete posture[key];
  return { ...GOOD, posture };
};

describe('device compliance', () => {
  it('passes a managed, healthy, recently reported device', () => {
    expect(isCompliant(GOOD, RULE, NOW)).toEqual({ compliant: true, reasons: [] });
  });

  it.each<[string, Subject, string[]]>([
    ['unmanaged', with_({ managed: false }), ['unmanaged']],
    ['never reported', { managed: true, platform: 'macos', posture: {} }, ['no_posture', 'disk_not_encrypted', 'firewall_off', 'no_screen_lock', 'os_version_unknown']],
    ['stale report', with_({}, { reportedAt: hoursAgo(25) }), ['stale_posture']],
    ['report just in time', with_({}, { reportedAt: hoursAgo(24) }), []],
    ['unreadable reportedAt', with_({}, { reportedAt: 'yesterday' }), ['no_posture']],
    ['disk not encrypted', with_({}, { diskEncrypted: false }), ['disk_not_encrypted']],
    ['disk encryption not reported', without('diskEncrypted'), ['disk_not_encrypted']],
    ['firewall off', with_({}, { firewall: false }), ['firewall_off']],
    ['no screen lock', with_({}, { screenLock: false }), ['no_screen_lock']],
    ['old macOS', with_({}, { osVersion: '14.1.2' }), ['os_outdated']],
    ['exactly the minimum', with_({}, { osVersion: '14.2' }), []],
    ['minimum with a trailing .0', with_({}, { osVersion: '14.2.0 (23C64)' }), []],
    ['numeric, not lexical', with_({}, { osVersion: '14.10' }), []],
    ['OS version missing', without('osVersion'), ['os_version_unknown']],
    ['OS version unreadable', with_({}, { osVersion: 'Sonoma' }), ['os_version_unknown']],
    ['old Windows build', with_({ platform: 'windows' }, { osVersion: '10.0.19045.3803' }), ['os_outdated']],
    ['current Windows build', with_({ platform: 'windows' }, { osVersion: '10.0.22631.2861' }), []],
    ['no minimum for the platform', with_({ platform: 'linux' }, { osVersion: '1.0' }), []],
    ['everything wrong', { managed: false, platform: 'macos', posture: { osVersion: '13', diskEncrypted: false, firewall: false, screenLock: false, reportedAt: hoursAgo(100) } },
      ['unmanaged', 'stale_posture', 'disk_not_encrypted', 'firewall_off', 'no_screen_lock', 'os_outdated']],
  ])('%s', (_name, device, codes) => {
    const result = isCompliant(device, RULE, NOW);
    expect(result.reasons.map((r) => r.code)).toEqual(codes);
    expect(result.compliant).toBe(codes.length === 0);
    for (const reason of result.reasons) expect(reason.description.length).toBeGreaterThan(10);
  });

  it('explains what to fix', () => {
    const { reasons } = isCompliant(with_({}, { osVersion: '14.1', reportedAt: hoursAgo(72), diskEncrypted: false }), RULE, NOW);
    expect(reasons.map((r) => r.description)).toEqual([
      'the last posture report is 3 days old; at most 24 hours is accepted',
      'the disk is not encrypted',
      'macos 14.1 is older than the required 14.2',
    ]);
  });

  it('applies only the requirements that are switched on (the defaults: disk encryption and screen lock)', () => {
    const defaults = ConfigSchema.parse({}).devices.compliance;
    expect(isCompliant(with_({}, { firewall: false, osVersion: '1.0' }), defaults, NOW).compliant).toBe(true);
    expect(isCompliant(with_({}, { screenLock: false }), defaults, NOW).reasons.map((r) => r.code)).toEqual(['no_screen_lock']);
  });
});

describe('OS versions', () => {
  it.each([
    ['14.2.1 (23C71)', [14, 2, 1]],
    ['10.0.22631.2861', [10, 0, 22631, 2861]],
    ['Android 14', [14]],
    ['no digits', undefined],
  ])('reads %j', (text, parts) => expect(parseVersion(text)).toEqual(parts));

  it.each([
    [[14], [14, 0, 0], 0],
    [[14, 10], [14, 9], 1],
    [[9], [10], -1],
    [[10, 0, 22631], [10, 0, 22631, 1], -1],
  ])('compares %j with %j', (a, b, expected) => expect(compareVersions(a, b)).toBe(expected));
});
