/**
 * The device endpoint (/device/v1) and the one function every front-end uses to tell which device
 * a request comes from.
 *
 * A device is identified by the Gatehouse device certificate it presents: on a TLS connection to
 * Gatehouse itself (mTLS), or — when a TLS-terminating proxy sits in front — in the configured
 * header (URL-encoded PEM, as nginx's $ssl_client_escaped_cert sends it), believed only when the
 * connection comes from one of server.trustedProxies. Anyone else could simply write the header.
 * Agents without a certificate check in with `Authorization: Device <token>`.
 *
 *   POST /device/v1/posture   check-in: { osVersion, diskEncrypted, firewall, screenLock } → { compliant, reasons }
 *   GET  /device/v1/me        which device this is, and whether it is compliant
 *   GET  /device/v1/ca.pem    the device CA certificate (public)
 *   GET  /device/v1/crl.pem   the CRL of revoked device certificates (public)
 */
import { reason } from '../reasons.ts';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Context } from 'koa';
import type { AuditContext } from '../audit/audit.ts';
import type { CoreConfig } from '../config/schema.ts';
import type { Device, Principal, Reason } from '../directory/model.ts';
import { CidrSet } from '../net/client-ip.ts';
import { readJson } from '../server/body.ts';
import type { HttpMount, RequestState } from '../http/types.ts';
import { HttpProblem } from '../http/problem.ts';
import type { DeviceCertificateRecord } from '../store/types.ts';
import { IDENTIFY_REASONS, type IdentifyFailure } from './ca.ts';
import { PostureReport, type DeviceService, type DeviceVia } from './service.ts';

export const DEVICE_API_PREFIX = '/device/v1';
const MAX_POSTURE_BYTES = 16 * 1024;
const MAX_HEADER_CERT_BYTES = 16 * 1024;
const REALM = 'gatehouse';

export interface DeviceHttpDeps {
  devices: DeviceService;
  config: Pick<CoreConfig, 'devices' | 'server'>;
}

/** Anything carrying the Node request: a Koa context, or a plain `{ req }`. */
export interface RequestLike {
  req: IncomingMessage;
}

export type CertificateVia = 'mtls' | 'header';

/** What a request presents, before any check. */
export type PresentedCertificate =
  | { present: true; via: CertificateVia; certificate: Buffer | string }
  | { present: false; reason?: 'untrusted_header' | 'malformed_header' };

export type RequestIdentity =
  | { status: 'identified'; via: CertificateVia; device: Device; certificate: DeviceCertificateRecord }
  | { status: 'refused'; via: CertificateVia; reason: IdentifyFailure; certificate?: DeviceCertificateRecord; fingerprint?: string }
  | { status: 'none'; ignored?: 'untrusted_header' | 'malformed_header' };

/** Proxy sets are built once per config object, not per request. */
const proxySets = new WeakMap<object, CidrSet>();
function trustedProxies(config: Pick<CoreConfig, 'server'>): CidrSet {
  let set = proxySets.get(config.server);
  if (!set) proxySets.set(config.server, (set = new CidrSet(config.server.trustedProxies)));
  return set;
}

/**
 * The certificate a request presents: the TLS peer certificate first (the client's own
 * connection), else the proxy header if — and only if — the connection comes from a trusted proxy.
 */
export function presentedCertificate(request: RequestLike, deps: Pick<DeviceHttpDeps, 'config'>): PresentedCertificate {
  const socket = request.req.socket as TLSSocket;
  if (socket.encrypted) {
    const peer = socket.getPeerCertificate(true);
    if (peer && Buffer.isBuffer(peer.raw) && peer.raw.length > 0) return { present: true, via: 'mtls', certificate: peer.raw };
  }
  const header = request.req.headers[deps.config.devices.clientCertHeader];
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return { present: false };
  if (!socket.remoteAddress || !trustedProxies(deps.config).has(socket.remoteAddress)) return { present: false, reason: 'untrusted_header' };
  const certificate = certificateFromHeader(value);
  return certificate ? { present: true, via: 'header', certificate } : { present: false, reason: 'malformed_header' };
}

/**
 * The header value as proxies send it: URL-encoded PEM (nginx, AWS ALB), PEM with its newlines
 * folded to spaces, or bare base64 DER. Undefined when it is none of these.
 */
export function certificateFromHeader(value: string): string | Buffer | undefined {
  if (value.length > MAX_HEADER_CERT_BYTES * 3) return undefined;
  let text = value.trim();
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  const body = (pem ? pem[1]! : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  return Buffer.from(body, 'base64');
}

/** Which device a request comes from, why a presented certificate was refused, or that none was presented. */
export async function identifyRequest(request: RequestLike, deps: DeviceHttpDeps): Promise<RequestIdentity> {
  const presented = presentedCertificate(request, deps);
  if (!presented.present) return presented.reason ? { status: 'none', ignored: presented.reason } : { status: 'none' };
  const result = await deps.devices.authority.identify(presented.certificate);
  if (result.ok) return { status: 'identified', via: presented.via, device: result.device, certificate: result.certificate };
  return {
    status: 'refused', via: presented.via, reason: result.reason,
    ...(result.certificate ? { certificate: result.certificate } : {}), ...(result.fingerprint ? { fingerprint: result.fingerprint } : {}),
  };
}

/**
 * The device a request comes from, identified by a valid, unrevoked Gatehouse device certificate;
 * undefined when none (or a refused one) was presented. For the access core and every front-end.
 */
export async function deviceFromRequest(request: RequestLike, deps: DeviceHttpDeps): Promise<{ device: Device; via: CertificateVia; certificate: DeviceCertificateRecord } | undefined> {
  const identity = await identifyRequest(request, deps);
  return identity.status === 'identified' ? { device: identity.device, via: identity.via, certificate: identity.certificate } : undefined;
}

// ---------------------------------------------------------------------------------------------
// The endpoint

type Ctx = Context & { state: RequestState };

const REFUSALS = {
  missing: reason('missing_credentials', 'no device certificate and no Authorization: Device header'),
  malformed: reason('malformed_credentials', 'the Authorization header is not "Device <token>"'),
  unknownToken: reason('unknown_token'),
  untrustedHeader: reason('untrusted_header'),
  malformedHeader: reason('malformed_header'),
} satisfies Record<string, Reason>;

const DEVICE_AUTHORIZATION = /^Device +([A-Za-z0-9_-]{1,128}) *$/i;

export function createDeviceApi(deps: DeviceHttpDeps): HttpMount {
  return async (ctx, next) => {
    if (ctx.path !== DEVICE_API_PREFIX && !ctx.path.startsWith(`${DEVICE_API_PREFIX}/`)) return next();
    ctx.set('Cache-Control', 'no-store');
    const c = ctx as unknown as Ctx;
    switch (ctx.path) {
      case `${DEVICE_API_PREFIX}/posture`:
        allow(c, ['POST']);
        return postPosture(c, deps);
      case `${DEVICE_API_PREFIX}/me`:
        allow(c, ['GET', 'HEAD']);
        return getMe(c, deps);
      case `${DEVICE_API_PREFIX}/ca.pem`:
        allow(c, ['GET', 'HEAD']);
        c.state.route = ctx.path;
        ctx.type = 'application/x-pem-file';
        ctx.body = deps.devices.authority.certificatePem;
        return;
      case `${DEVICE_API_PREFIX}/crl.pem`:
        allow(c, ['GET', 'HEAD']);
        c.state.route = ctx.path;
        ctx.type = 'application/x-pem-file';
        ctx.body = await deps.devices.authority.crlPem();
        return;
      default:
        return next();
    }
  };
}

function allow(ctx: Ctx, methods: string[]): void {
  ctx.state.route = ctx.path;
  if (!methods.includes(ctx.method)) {
    throw new HttpProblem(405, 'Method not allowed', `${ctx.method} is not allowed on ${ctx.path}; use ${methods.join(', ')}`, { headers: { Allow: methods.join(', ') } });
  }
}

async function postPosture(ctx: Ctx, deps: DeviceHttpDeps): Promise<void> {
  const { device, via, audit } = await authenticateDevice(ctx, deps);
  const report = PostureReport.parse(await readJson(ctx, Math.min(MAX_POSTURE_BYTES, deps.config.server.http.maxBodyBytes)));
  const result = await deps.devices.checkIn(audit, device.id, report, via);
  ctx.body = { deviceId: result.device.id, compliant: result.compliant, reasons: result.reasons, reportedAt: result.device.posture.reportedAt };
}

async function getMe(ctx: Ctx, deps: DeviceHttpDeps): Promise<void> {
  const { device, via } = await authenticateDevice(ctx, deps);
  const verdict = deps.devices.compliance(device);
  ctx.body = { deviceId: device.id, name: device.name, via, managed: device.managed, compliant: verdict.compliant, reasons: verdict.reasons };
}

/** The device behind the request (certificate first, then token), or the 401 to answer with; refusals are audited. */
async function authenticateDevice(ctx: Ctx, deps: DeviceHttpDeps): Promise<{ device: Device; via: DeviceVia; audit: AuditContext }> {
  const base = { sourceIp: ctx.state.clientIp, requestId: ctx.state.requestId, protocol: 'device' };
  const refuse = async (reason: Reason, detail: string, details: Record<string, unknown> = {}, device?: Device): Promise<never> => {
    await deps.devices.recordRefusal({ actor: { type: 'anonymous' }, ...base }, reason, details, device);
    throw new HttpProblem(401, 'Unauthorized', detail, { headers: { 'WWW-Authenticate': `Device realm="${REALM}"` } });
  };

  const identity = await identifyRequest(ctx, deps);
  if (identity.status === 'identified') {
    return { device: identity.device, via: identity.via, audit: { actor: deviceActor(identity.device), ...base } };
  }
  if (identity.status === 'refused') {
    // A certificate that was presented decides: a revoked one is not rescued by a token.
    const serial = identity.certificate?.serial;
    const description = IDENTIFY_REASONS[identity.reason];
    return refuse(
      { code: identity.reason, description },
      `${description}${serial ? ` (serial ${serial})` : ''}`,
      { via: identity.via, ...(serial ? { serial } : {}), ...(identity.fingerprint ? { fingerprint: identity.fingerprint } : {}) },
    );
  }

  const authorization = ctx.get('authorization');
  if (authorization.trim() !== '') {
    const token = DEVICE_AUTHORIZATION.exec(authorization)?.[1];
    if (token === undefined) return refuse(REFUSALS.malformed, 'the Authorization header must be "Device <token>"', { via: 'token' });
    const device = await deps.devices.deviceForToken(token);
    if (!device) return refuse(REFUSALS.unknownToken, 'the device token is unknown or revoked', { via: 'token' });
    return { device, via: 'token', audit: { actor: deviceActor(device), ...base } };
  }

  if (identity.status === 'none' && identity.ignored === 'untrusted_header') {
    return refuse(
      REFUSALS.untrustedHeader,
      `the ${deps.config.devices.clientCertHeader} header is accepted only from trusted proxies (server.trustedProxies); connect with the device certificate (mTLS) or use Authorization: Device <token>`,
      { via: 'header' },
    );
  }
  if (identity.status === 'none' && identity.ignored === 'malformed_header') {
    return refuse(REFUSALS.malformedHeader, `the ${deps.config.devices.clientCertHeader} header does not hold a PEM or base64 certificate`, { via: 'header' });
  }
  return refuse(REFUSALS.missing, 'a device must authenticate: present its Gatehouse device certificate (mTLS) or send Authorization: Device <token>');
}

/**
 * The audit actor for a request made by a device. The Principal type has no 'device' kind yet;
 * until it does, the device appears as an anonymous actor carrying its id and name.
 */
export function deviceActor(device: Device): Principal {
  return { type: 'device', id: device.id, name: device.name };
}
