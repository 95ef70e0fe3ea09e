/**
 * Admin API handlers for device trust, as plain functions over parsed input so the route table
 * (src/admin/routes.ts) can list them, with the wire schemas for their bodies and answers.
 *
 *   POST   /devices/:id/certificates          { csr }                → IssuedCertificate (201)
 *   POST   /devices/:id/certificates/pkcs12   { password, keyType? } → IssuedPkcs12 (201)
 *   GET    /devices/:id/certificates                                 → DeviceCertificateList
 *   GET    /certificates/:serial                                     → DeviceCertificate
 *   DELETE /certificates/:serial              (revoke)               → DeviceCertificate
 *   POST   /devices/:id/tokens                                       → DeviceToken (201)
 *   DELETE /devices/:id/tokens                                       → { revoked }
 *   GET    /devices/:id/compliance                                   → DeviceCompliance
 *   GET    /device-ca                                                → DeviceCa
 */
import { z } from 'zod';
import type { AuditContext } from '../audit/audit.ts';
import { Posture, Reason } from '../directory/model.ts';
import type { DirectoryService } from '../directory/service.ts';
import { NotFoundError } from '../errors.ts';
import type { DeviceCertificateRecord } from '../store/types.ts';
import { normalizeSerial } from './ca.ts';
import type { DeviceService } from './service.ts';

/** What the handlers need: the route table's Env satisfies it once the core has `devices`. */
export interface DeviceAdminEnv {
  core: { devices: DeviceService; directory: DirectoryService };
  audit: AuditContext;
}

// ---------------------------------------------------------------------------------------------
// Wire schemas

export const CertificateParams = z.strictObject({
  serial: z.string().min(1).max(128).describe('Serial number, hex (colons allowed)'),
});

export const DeviceCsrInput = z.strictObject({
  csr: z.string().max(16 * 1024).describe('PKCS#10 certificate request, PEM. Only its key is used: Gatehouse sets the subject (CN=<device id>), the SAN (urn:gatehouse:device:<id>) and the extensions. EC P-256/P-384 or RSA ≥ 2048 bits.'),
});

export const DevicePkcs12Input = z.strictObject({
  password: z.string().describe('Protects the PKCS#12 file: 8-128 printable ASCII characters; never stored'),
  keyType: z.enum(['ec-p256', 'rsa']).default('ec-p256').describe("Key generated for the device: 'ec-p256' (default) or 'rsa' (3072 bits, for older supplicants)"),
});

export const CertificateStatus = z.enum(['valid', 'revoked', 'expired']);

export const DeviceCertificate = z.object({
  serial: z.string().describe('Serial number, lower-case hex'),
  deviceId: z.string(),
  fingerprint: z.string().describe('SHA-256 of the DER certificate, lower-case hex'),
  subject: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  revokedAt: z.string().optional(),
  status: CertificateStatus,
  certificatePem: z.string(),
  createdAt: z.string(),
});
export type DeviceCertificate = z.infer<typeof DeviceCertificate>;

export const DeviceCertificateList = z.object({ items: z.array(DeviceCertificate) });

export const IssuedCertificate = DeviceCertificate.extend({
  caPem: z.string().describe('The device CA certificate, PEM: install it where the device certificate is used'),
});

export const IssuedPkcs12 = DeviceCertificate.extend({
  pkcs12: z.string().describe('PKCS#12 file (key, certificate, CA certificate), base64; the key exists nowhere else'),
});

export const DeviceToken = z.object({
  deviceId: z.string(),
  token: z.string().describe('Send as Authorization: Device <token> to /device/v1/posture; shown once, stored only as a hash'),
});

export const RevokedTokens = z.object({ revoked: z.int().describe('How many tokens were revoked') });

export const DeviceCompliance = z.object({
  deviceId: z.string(),
  managed: z.boolean(),
  compliant: z.boolean(),
  reasons: z.array(Reason),
  posture: Posture,
  lastSeenAt: z.string().optional(),
});

export const DeviceCa = z.object({
  certificatePem: z.string().describe('The device CA certificate, PEM'),
  crlPem: z.string().describe('The current CRL of revoked device certificates, PEM'),
});

// ---------------------------------------------------------------------------------------------
// Handlers

interface IdInput {
  params: { id: string };
}

export async function issueDeviceCertificate(input: IdInput & { body: z.output<typeof DeviceCsrInput> }, env: DeviceAdminEnv): Promise<z.input<typeof IssuedCertificate>> {
  const device = await env.core.directory.resources.find('devices', input.params.id);
  const issued = await env.core.devices.authority.issueFromCsr(env.audit, device.id, input.body.csr);
  return { ...shown(issued.record), caPem: issued.caPem };
}

export async function issueDevicePkcs12(input: IdInput & { body: z.output<typeof DevicePkcs12Input> }, env: DeviceAdminEnv): Promise<z.input<typeof IssuedPkcs12>> {
  const device = await env.core.directory.resources.find('devices', input.params.id);
  const issued = await env.core.devices.authority.issuePkcs12(env.audit, device.id, input.body.password, input.body.keyType);
  return { ...shown(issued.record), pkcs12: issued.pkcs12.toString('base64') };
}

export async function listDeviceCertificates(input: IdInput, env: DeviceAdminEnv): Promise<z.input<typeof DeviceCertificateList>> {
  const device = await env.core.directory.resources.find('devices', input.params.id);
  return { items: (await env.core.devices.authority.list(device.id)).map((r) => shown(r)) };
}

export async function getDeviceCertificate(input: { params: z.output<typeof CertificateParams> }, env: DeviceAdminEnv): Promise<z.input<typeof DeviceCertificate>> {
  const serial = normalizeSerial(input.params.serial);
  const record = serial === undefined ? undefined : await env.core.devices.authority.get(serial);
  if (!record) throw new NotFoundError('certificate', input.params.serial);
  return shown(record);
}

/** Revokes a certificate (404 if unknown, 409 if revoked already). */
export async function revokeDeviceCertificate(input: { params: z.output<typeof CertificateParams> }, env: DeviceAdminEnv): Promise<z.input<typeof DeviceCertificate>> {
  return shown(await env.core.devices.authority.revoke(env.audit, input.params.serial));
}

export async function issueDeviceToken(input: IdInput, env: DeviceAdminEnv): Promise<z.input<typeof DeviceToken>> {
  const device = await env.core.directory.resources.find('devices', input.params.id);
  return { deviceId: device.id, token: await env.core.devices.issueDeviceToken(env.audit, device.id) };
}

export async function revokeDeviceTokens(input: IdInput, env: DeviceAdminEnv): Promise<z.input<typeof RevokedTokens>> {
  const device = await env.core.directory.resources.find('devices', input.params.id);
  return { revoked: await env.core.devices.revokeDeviceTokens(env.audit, device.id) };
}

export async function getDeviceCompliance(input: IdInput, env: DeviceAdminEnv): Promise<z.input<typeof DeviceCompliance>> {
  const device = await env.core.directory.resources.find('devices', input.params.id);
  const verdict = env.core.devices.compliance(device);
  return { deviceId: device.id, managed: device.managed, ...verdict, posture: device.posture, ...(device.lastSeenAt ? { lastSeenAt: device.lastSeenAt } : {}) };
}

export async function getDeviceCa(_input: unknown, env: DeviceAdminEnv): Promise<z.input<typeof DeviceCa>> {
  return { certificatePem: env.core.devices.authority.certificatePem, crlPem: await env.core.devices.authority.crlPem() };
}

function shown(record: DeviceCertificateRecord, now: Date = new Date()): DeviceCertificate {
  const status = record.revokedAt ? 'revoked' : Date.parse(record.notAfter) < now.getTime() ? 'expired' : 'valid';
  return { ...record, status };
}
