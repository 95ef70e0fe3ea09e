/**
 * Admin API routes for device trust: certificates from the device CA (from a CSR, or a generated
 * key as PKCS#12), revocation, device tokens for posture agents, compliance, and the CA itself.
 * The handlers live with the device service (src/devices/admin.ts); this is their place in the table.
 */
import {
  CertificateParams, DeviceCa, DeviceCertificate, DeviceCertificateList, DeviceCompliance, DeviceCsrInput, DevicePkcs12Input, DeviceToken, IssuedCertificate, IssuedPkcs12, RevokedTokens,
  getDeviceCa, getDeviceCertificate, getDeviceCompliance, issueDeviceCertificate, issueDevicePkcs12, issueDeviceToken, listDeviceCertificates, revokeDeviceCertificate, revokeDeviceTokens,
} from '../devices/admin.ts';
import { route, type Route } from './route.ts';
import { IdParams, requestBody, responseBody } from './schemas.ts';

const REQ = {
  csr: requestBody('DeviceCsrInput', DeviceCsrInput),
  pkcs12: requestBody('DevicePkcs12Input', DevicePkcs12Input),
};
const RES = {
  certificate: responseBody('DeviceCertificate', DeviceCertificate),
  certificates: responseBody('DeviceCertificateList', DeviceCertificateList),
  issued: responseBody('IssuedCertificate', IssuedCertificate),
  pkcs12: responseBody('IssuedPkcs12', IssuedPkcs12),
  token: responseBody('DeviceToken', DeviceToken),
  revokedTokens: responseBody('RevokedTokens', RevokedTokens),
  compliance: responseBody('DeviceCompliance', DeviceCompliance),
  ca: responseBody('DeviceCa', DeviceCa),
};

export const deviceRoutes: Route[] = [
  route({
    operationId: 'issueDeviceCertificate', method: 'post', path: '/devices/:id/certificates', tag: 'devices', summary: 'Issue a device certificate from a CSR',
    description: 'Only the key of the CSR is used (EC P-256/P-384 or RSA of 2048 bits or more); Gatehouse sets the subject (CN=<device id>) and the SAN urn:gatehouse:device:<id>. A CN in the CSR must name the device.',
    params: IdParams, body: REQ.csr, status: 201, response: RES.issued, location: (c) => `/certificates/${c.serial}`, errors: [404],
    handle: (input, env) => issueDeviceCertificate(input, env),
  }),
  route({
    operationId: 'issueDevicePkcs12', method: 'post', path: '/devices/:id/certificates/pkcs12', tag: 'devices', summary: 'Issue a device key and certificate as a PKCS#12 file',
    description: 'For devices that cannot make a CSR: Gatehouse generates the key and returns key, certificate and CA as PKCS#12 (base64) protected by the password given. The key is not kept.',
    params: IdParams, body: REQ.pkcs12, status: 201, response: RES.pkcs12, location: (c) => `/certificates/${c.serial}`, errors: [404],
    handle: (input, env) => issueDevicePkcs12(input, env),
  }),
  route({
    operationId: 'listDeviceCertificates', method: 'get', path: '/devices/:id/certificates', tag: 'devices', summary: "List a device's certificates",
    params: IdParams, status: 200, response: RES.certificates, errors: [404],
    handle: (input, env) => listDeviceCertificates(input, env),
  }),
  route({
    operationId: 'getDeviceCertificate', method: 'get', path: '/certificates/:serial', tag: 'devices', summary: 'Get a device certificate by serial number',
    params: CertificateParams, status: 200, response: RES.certificate, errors: [404],
    handle: (input, env) => getDeviceCertificate(input, env),
  }),
  route({
    operationId: 'revokeDeviceCertificate', method: 'delete', path: '/certificates/:serial', tag: 'devices', summary: 'Revoke a device certificate',
    description: 'From then on the certificate identifies nothing, over mTLS or a proxy header; it appears in the CRL. 409 if it is revoked already.',
    params: CertificateParams, status: 200, response: RES.certificate, errors: [404, 409],
    handle: (input, env) => revokeDeviceCertificate(input, env),
  }),
  route({
    operationId: 'issueDeviceToken', method: 'post', path: '/devices/:id/tokens', tag: 'devices', summary: 'Issue a device token for posture check-ins',
    description: 'For agents without a device certificate: `Authorization: Device <token>` on POST /device/v1/posture. Shown once; only its SHA-256 is stored.',
    params: IdParams, status: 201, response: RES.token, errors: [404],
    handle: (input, env) => issueDeviceToken(input, env),
  }),
  route({
    operationId: 'revokeDeviceTokens', method: 'delete', path: '/devices/:id/tokens', tag: 'devices', summary: "Revoke all of a device's tokens",
    params: IdParams, status: 200, response: RES.revokedTokens, errors: [404],
    handle: (input, env) => revokeDeviceTokens(input, env),
  }),
  route({
    operationId: 'getDeviceCompliance', method: 'get', path: '/devices/:id/compliance', tag: 'devices', summary: 'Whether a device meets the compliance rule, and why not',
    params: IdParams, status: 200, response: RES.compliance, errors: [404],
    handle: (input, env) => getDeviceCompliance(input, env),
  }),
  route({
    operationId: 'getDeviceCa', method: 'get', path: '/device-ca', tag: 'devices', summary: 'The device CA certificate and its current CRL (PEM)',
    status: 200, response: RES.ca,
    handle: (input, env) => getDeviceCa(input, env),
  }),
];
