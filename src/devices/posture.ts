/**
 * Device compliance: a pure function of the device (its managed flag and last posture report),
 * the configured rule and the time. Every requirement the device fails is one named reason, so a
 * denial can say exactly what to fix.
 */
import type { CoreConfig } from '../config/schema.ts';
import type { Device, Reason } from '../directory/model.ts';

export type ComplianceRule = CoreConfig['devices']['compliance'];

export interface Compliance {
  compliant: boolean;
  reasons: Reason[];
}

/** Checks the device against the rule at `now`. Only a managed device can be compliant. */
export function isCompliant(device: Pick<Device, 'managed' | 'platform' | 'posture'>, rule: ComplianceRule, now: Date = new Date()): Compliance {
  const reasons: Reason[] = [];
  const fail = (code: string, description: string) => reasons.push({ code, description });
  const posture = device.posture;

  if (!device.managed) fail('unmanaged', 'the device is not enrolled in device management');

  const reportedAt = posture.reportedAt === undefined ? NaN : Date.parse(posture.reportedAt);
  if (Number.isNaN(reportedAt)) {
    fail('no_posture', 'the device has never reported its posture');
  } else {
    const ageHours = (now.getTime() - reportedAt) / 3_600_000;
    if (ageHours > rule.maxPostureAgeHours) {
      fail('stale_posture', `the last posture report is ${formatHours(ageHours)} old; at most ${formatHours(rule.maxPostureAgeHours)} is accepted`);
    }
  }

  if (rule.requireDiskEncryption && posture.diskEncrypted !== true) {
    fail('disk_not_encrypted', posture.diskEncrypted === false ? 'the disk is not encrypted' : 'disk encryption was not reported');
  }
  if (rule.requireFirewall && posture.firewall !== true) {
    fail('firewall_off', posture.firewall === false ? 'the firewall is off' : 'the firewall state was not reported');
  }
  if (rule.requireScreenLock && posture.screenLock !== true) {
    fail('no_screen_lock', posture.screenLock === false ? 'no screen lock is set' : 'the screen lock was not reported');
  }

  const minimum = rule.minOsVersion[device.platform];
  if (minimum !== undefined) {
    const version = posture.osVersion === undefined ? undefined : parseVersion(posture.osVersion);
    if (version === undefined) {
      fail('os_version_unknown', posture.osVersion === undefined ? `the OS version was not reported (at least ${minimum} is required)` : `the OS version ${JSON.stringify(posture.osVersion)} cannot be read (at least ${minimum} is required)`);
    } else if (compareVersions(version, parseVersion(minimum)!) < 0) {
      fail('os_outdated', `${device.platform} ${posture.osVersion} is older than the required ${minimum}`);
    }
  }

  return { compliant: reasons.length === 0, reasons };
}

/**
 * The first dotted number in an OS version string: "14.2.1 (23C71)" → [14, 2, 1],
 * "10.0.22631.2861" → [10, 0, 22631, 2861]. Undefined when there is none.
 */
export function parseVersion(text: string): number[] | undefined {
  const match = /\d+(?:\.\d+)*/.exec(text);
  if (!match) return undefined;
  const parts = match[0].split('.').map(Number);
  return parts.every(Number.isSafeInteger) ? parts : undefined;
}

/** Numeric, part by part; missing parts count as 0 (14 = 14.0 = 14.0.0). */
export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

function formatHours(hours: number): string {
  return hours >= 48 ? `${Math.round(hours / 24)} days` : hours >= 1 ? `${Math.round(hours * 10) / 10} hours` : `${Math.round(hours * 60)} minutes`;
}
