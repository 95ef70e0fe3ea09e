/**
 * Device trust, the core service: the device CA (ca.ts), device tokens for agents without a
 * certificate, posture check-ins and the compliance verdict. Front-ends (the device endpoint, the
 * access core, the admin API) call this and never the store.
 */
import { randomBytes } from 'node:crypto';
import { hashSecret } from '../secrets/digest.ts';
import { z } from 'zod';
import type { Auditor, AuditContext, EventDraft } from '../audit/audit.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Device, Reason } from '../directory/model.ts';
import type { Keyring } from '../secrets/keyring.ts';
import { NotFoundError } from '../errors.ts';
import type { DirectoryStore, Fields, Store } from '../store/types.ts';
import { DeviceAuthority, type DeviceAuthorityDeps } from './ca.ts';
import { isCompliant, type Compliance } from './posture.ts';

export const DEVICE_TOKEN_PREFIX = 'ghd_';

/** What an agent reports at check-in (POST /device/v1/posture). Unknown fields are refused. */
export const PostureReport = z.strictObject({
  osVersion: z.string().trim().min(1, 'osVersion must not be empty').max(128).optional().describe('Operating system version, e.g. "14.2.1" or "10.0.22631"'),
  diskEncrypted: z.boolean().optional().describe('Whether the system disk is encrypted (FileVault, BitLocker, LUKS)'),
  firewall: z.boolean().optional().describe('Whether the host firewall is on'),
  screenLock: z.boolean().optional().describe('Whether a screen lock (password, PIN, biometrics) is set'),
});
export type PostureReport = z.output<typeof PostureReport>;

/** How a device proved who it is. */
export type DeviceVia = 'mtls' | 'header' | 'token';

export interface DeviceServiceDeps {
  store: Store;
  keyring: Keyring;
  auditor: Auditor;
  config: Pick<CoreConfig, 'devices'>;
  clock?: () => Date;
  /** See DeviceAuthorityDeps. */
  onCertificateRevoked?: DeviceAuthorityDeps['onCertificateRevoked'];
}

export interface CheckIn extends Compliance {
  device: Device;
}

export class DeviceService {
  readonly authority: DeviceAuthority;
  private readonly store: Store;
  private readonly auditor: Auditor;
  private readonly config: Pick<CoreConfig, 'devices'>;
  private readonly clock: () => Date;

  constructor(deps: DeviceServiceDeps) {
    this.authority = new DeviceAuthority(deps);
    this.store = deps.store;
    this.auditor = deps.auditor;
    this.config = deps.config;
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Loads (or, on the first start, creates) the device CA. Call once before serving. */
  init(): Promise<void> {
    return this.authority.init();
  }

  private get dir(): DirectoryStore {
    return this.store.directory;
  }

  /** The compliance verdict for a device now, under the configured rule. */
  compliance(device: Device, now: Date = this.clock()): Compliance {
    return isCompliant(device, this.config.devices.compliance, now);
  }

  // -------------------------------------------------------------------------------------------
  // Device tokens

  /** Issues a token an agent can check in with (`Authorization: Device <token>`); shown once, stored as its SHA-256. */
  async issueDeviceToken(ctx: AuditContext, deviceId: string): Promise<string> {
    const device = await this.dir.devices.get(deviceId);
    const token = `${DEVICE_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    await this.change(ctx, async (tx, emit) => {
      await tx.pki.addDeviceToken(device.id, hashDeviceToken(token));
      await emit({ type: 'device.token.issued', outcome: 'success', target: deviceTarget(device) });
    });
    return token;
  }

  /** Revokes every token of a device; returns how many there were. */
  async revokeDeviceTokens(ctx: AuditContext, deviceId: string): Promise<number> {
    const device = await this.dir.devices.get(deviceId);
    return this.change(ctx, async (tx, emit) => {
      const count = await tx.pki.deleteDeviceTokens(device.id);
      await emit({ type: 'device.token.revoked', outcome: 'success', target: deviceTarget(device), details: { count } });
      return count;
    });
  }

  /** The device a token belongs to, or undefined for an unknown or revoked token. */
  async deviceForToken(token: string): Promise<Device | undefined> {
    if (!token.startsWith(DEVICE_TOKEN_PREFIX) || token.length > 128) return undefined;
    const hash = hashDeviceToken(token);
    const deviceId = await this.dir.pki.findDeviceByToken(hash);
    if (deviceId === undefined) return undefined;
    try {
      return await this.dir.devices.get(deviceId);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Posture

  /**
   * Records a posture report from an authenticated device: the posture is replaced by the report
   * (anything not reported is unknown, not kept from an older report), stamped with reportedAt and
   * lastSeenAt, in one transaction with its audit event.
   */
  async checkIn(ctx: AuditContext, deviceId: string, report: PostureReport, via: DeviceVia): Promise<CheckIn> {
    const now = this.clock();
    const at = now.toISOString();
    const posture = { ...report, reportedAt: at };
    const device = await this.change(ctx, async (tx, emit) => {
      const updated = await tx.devices.update(deviceId, (current) => ({ ...fieldsOf(current), posture, lastSeenAt: at }));
      const verdict = isCompliant(updated, this.config.devices.compliance, now);
      await emit({
        type: 'device.posture.reported', outcome: 'success', target: deviceTarget(updated), reasons: verdict.reasons,
        details: { via, ...report, compliant: verdict.compliant },
      });
      return updated;
    });
    return { device, ...this.compliance(device, now) };
  }

  /** Records a refused device authentication (`authn.device`). */
  async recordRefusal(ctx: AuditContext, reason: Reason, details: Record<string, unknown>, device?: Device): Promise<void> {
    await this.auditor.record(ctx, {
      type: 'authn.device', outcome: 'failure',
      reasons: [reason], details, ...(device ? { target: deviceTarget(device) } : {}),
    });
  }

  private change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: (draft: EventDraft) => Promise<void>) => Promise<R>): Promise<R> {
    return this.auditor.change(ctx, work);
  }
}

export function hashDeviceToken(token: string): string {
  return hashSecret(token);
}

function fieldsOf(device: Device): Fields<Device> {
  const { id: _id, managedBy: _m, version: _v, createdAt: _c, updatedAt: _u, ...fields } = device;
  return fields;
}

function deviceTarget(device: Device) {
  return { type: 'device', id: device.id, name: device.name };
}
