/**
 * What an application of type `saml` declares in `settings.saml`: the service provider (SP), either
 * from its metadata (SAML 2.0 Metadata §2.4.4 SPSSODescriptor, inline XML) or from fields, plus what
 * Gatehouse puts in its assertions. Validated here on every create and update (a wrong SP is refused
 * naming each problem) and read by the front-end as one typed value (`parseSp`).
 *
 *   metadata                 the SP's metadata XML; it gives entityId, acs, slo, the certificates,
 *                            nameIdFormat, requireSignedRequests (AuthnRequestsSigned) and
 *                            wantAssertionsSigned — which may then not be given as fields too
 *   entityId                 the SP's entityID (unique across SPs)
 *   acs                      assertion consumer services, HTTP-POST only: [{ url, index, isDefault }]
 *   slo                      its single logout service: { url, binding: redirect | post }
 *   signingCertificates      PEM certificates its signed requests are verified with (only these)
 *   encryptionCertificate    PEM certificate assertions are encrypted to (RSA)
 *   nameIdFormat             emailAddress | persistent | transient | unspecified
 *   nameIdSource             for emailAddress/unspecified: email | username | id
 *   wantAssertionsSigned     sign the Assertion (default true)
 *   wantResponseSigned       sign the Response (default true)
 *   encryptAssertions        encrypt the assertion (needs encryptionCertificate), with dataEncryption
 *                            (aes256-gcm default; aes128-gcm; CBC only if asked) and keyEncryption (rsa-oaep)
 *   requireSignedRequests    AuthnRequests and LogoutRequests must be signed
 *   attributes               SAML attribute name → user field (email, username, displayName,
 *                            givenName, familyName, groups (multi-valued), id, attributes.<name>)
 *   signatureAlgorithm       rsa-sha256 | rsa-sha384 | rsa-sha512 (default: saml.signatureAlgorithm)
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { SIGNATURE_ALGORITHMS } from './config.ts';
import { xmldom, type XmlNode as XmlElement } from './libs.ts';

export const NAME_ID_FORMATS = {
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;
export type NameIdFormat = keyof typeof NAME_ID_FORMATS;

export const BINDINGS = {
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
} as const;

/** xmlenc block ciphers (XML Encryption 1.1 §5.2) and key transports (§5.5). */
export const DATA_ENCRYPTION = {
  'aes256-gcm': 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'aes128-gcm': 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'aes256-cbc': 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'aes128-cbc': 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
} as const;
export const KEY_ENCRYPTION = {
  'rsa-oaep': 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
} as const;

const USER_FIELDS = ['email', 'username', 'displayName', 'givenName', 'familyName', 'groups', 'id'] as const;

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const MAX_METADATA = 256 * 1024;

/** An https URL (http only on the loopback interface, for tests and local SPs); no fragment, no userinfo. */
const EndpointUrl = z
  .string()
  .max(2048)
  .superRefine((value, ctx) => {
    const url = URL.parse(value);
    if (!url) return void ctx.addIssue({ code: 'custom', message: `'${value}' is not an absolute URL` });
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) ctx.addIssue({ code: 'custom', message: `'${value}' must be https (http only on the loopback interface)` });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: `'${value}' carries userinfo` });
    if (url.hash) ctx.addIssue({ code: 'custom', message: `'${value}' has a fragment` });
  });

/** A PEM (or bare base64 DER) X.509 certificate with an RSA key, normalised to PEM. */
const Certificate = z
  .string()
  .max(16_384)
  .transform((value, ctx) => {
    const pem = toPem(value);
    try {
      const cert = new X509Certificate(pem);
      if (cert.publicKey.asymmetricKeyType !== 'rsa') ctx.addIssue({ code: 'custom', message: `the certificate's key is ${cert.publicKey.asymmetricKeyType}, not RSA` });
      return pem;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not an X.509 certificate (PEM or base64 DER)' });
      return z.NEVER;
    }
  });

export function toPem(value: string): string {
  const body = value.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
}

const Acs = z.strictObject({
  url: EndpointUrl,
  index: z.int().min(0).max(65535),
  binding: z.literal('post').default('post').describe('HTTP-POST (the only response binding Gatehouse sends)'),
  isDefault: z.boolean().optional(),
});

const AttributeSource = z.union([z.enum(USER_FIELDS), z.string().regex(/^attributes\.[A-Za-z0-9_.-]{1,64}$/, 'is not a user field (email, username, displayName, givenName, familyName, groups, id) nor attributes.<name>')]);

export const SamlSpSettings = z.strictObject({
  metadata: z.string().max(MAX_METADATA).optional().describe("The SP's metadata (XML)"),
  entityId: z.string().min(1).max(1024).optional().describe("The SP's entityID"),
  acs: z.array(Acs).min(1).max(32).optional().describe('Assertion consumer services (HTTP-POST)'),
  slo: z.strictObject({ url: EndpointUrl, binding: z.enum(['redirect', 'post']).default('redirect') }).optional().describe('Single logout service'),
  signingCertificates: z.array(Certificate).max(8).optional().describe("Certificates the SP's signed messages are verified with"),
  encryptionCertificate: Certificate.optional().describe('Certificate assertions are encrypted to'),
  nameIdFormat: z.enum(Object.keys(NAME_ID_FORMATS) as [NameIdFormat, ...NameIdFormat[]]).optional().describe('NameID format (default: the first the metadata names that Gatehouse supports, else emailAddress)'),
  nameIdSource: z.enum(['email', 'username', 'id']).optional().describe('The user field an emailAddress or unspecified NameID carries (default: email for emailAddress, username for unspecified)'),
  wantAssertionsSigned: z.boolean().optional().describe('Sign the Assertion (default true, or the metadata says)'),
  wantResponseSigned: z.boolean().default(true).describe('Sign the Response'),
  encryptAssertions: z.boolean().default(false).describe('Encrypt assertions to encryptionCertificate'),
  dataEncryption: z.enum(Object.keys(DATA_ENCRYPTION) as [keyof typeof DATA_ENCRYPTION]).default('aes256-gcm').describe('Block cipher for encrypted assertions (CBC only for SPs that cannot do GCM)'),
  keyEncryption: z.enum(Object.keys(KEY_ENCRYPTION) as [keyof typeof KEY_ENCRYPTION]).default('rsa-oaep').describe('Key transport for encrypted assertions'),
  requireSignedRequests: z.boolean().optional().describe('Refuse unsigned AuthnRequests and LogoutRequests (default false, or the metadata AuthnRequestsSigned)'),
  attributes: z.record(z.string().min(1).max(256), AttributeSource).default({}).describe('SAML attribute name → user field'),
  signatureAlgorithm: z.enum(SIGNATURE_ALGORITHMS).optional().describe('XML signature algorithm (default: saml.signatureAlgorithm)'),
  url: z.url({ protocol: /^https?$/ }).max(2048).optional().describe("The application's home page"),
});

/** A service provider, complete and checked: what the front-end works with. */
export interface ServiceProvider {
  entityId: string;
  acs: Array<{ url: string; index: number; binding: 'post'; isDefault?: boolean }>;
  slo?: { url: string; binding: 'redirect' | 'post' };
  signingCertificates: string[];
  encryptionCertificate?: string;
  nameIdFormat: NameIdFormat;
  nameIdSource: 'email' | 'username' | 'id';
  wantAssertionsSigned: boolean;
  wantResponseSigned: boolean;
  encryptAssertions: boolean;
  dataEncryption: keyof typeof DATA_ENCRYPTION;
  keyEncryption: keyof typeof KEY_ENCRYPTION;
  requireSignedRequests: boolean;
  attributes: Record<string, string>;
  signatureAlgorithm?: (typeof SIGNATURE_ALGORITHMS)[number];
}

type Problem = { path: string; message: string };

/** What SP metadata gives, or its problems. */
export interface SpMetadata {
  entityId: string;
  acs: ServiceProvider['acs'];
  slo?: ServiceProvider['slo'];
  signingCertificates: string[];
  encryptionCertificate?: string;
  nameIdFormats: string[];
  authnRequestsSigned?: boolean;
  wantAssertionsSigned?: boolean;
}

const children = (parent: XmlElement, ns: string, local: string): XmlElement[] => {
  const out: XmlElement[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) if (n.nodeType === 1 && (n as XmlElement).namespaceURI === ns && (n as XmlElement).localName === local) out.push(n as XmlElement);
  return out;
};
const bool = (v: string | null): boolean | undefined => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : undefined);

/** Reads SP metadata (an EntityDescriptor with one SPSSODescriptor). No DTD is ever processed. */
export function readSpMetadata(xml: string): { ok: true; metadata: SpMetadata } | { ok: false; problems: string[] } {
  if (xml.length > MAX_METADATA) return { ok: false, problems: ['is larger than 256 KiB'] };
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return { ok: false, problems: ['contains a DOCTYPE or entity declaration, which SAML metadata never needs (refused)'] };
  const errors: string[] = [];
  let doc: { documentElement: XmlElement | null } | undefined;
  const fail = (message: string) => void errors.push(String(message).split('\n')[0]!);
  try {
    doc = new (xmldom().DOMParser)({ errorHandler: { warning: () => undefined, error: fail, fatalError: fail } }).parseFromString(xml, 'text/xml');
  } catch (err) {
    errors.push(err instanceof Error ? err.message.split('\n')[0]! : String(err));
  }
  if (errors.length || !doc?.documentElement) return { ok: false, problems: [`is not well-formed XML: ${errors[0] ?? 'empty'}`] };
  const root = doc.documentElement;
  if (root.namespaceURI !== MD || root.localName !== 'EntityDescriptor') return { ok: false, problems: ['the root element is not an md:EntityDescriptor'] };
  const problems: string[] = [];
  const entityId = root.getAttribute('entityID') ?? '';
  if (!entityId) problems.push('the EntityDescriptor has no entityID');
  const sps = children(root, MD, 'SPSSODescriptor');
  if (sps.length !== 1) return { ok: false, problems: [...problems, `has ${sps.length} SPSSODescriptor elements, not one`] };
  const sp = sps[0]!;
  if (!(sp.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes('urn:oasis:names:tc:SAML:2.0:protocol')) problems.push('the SPSSODescriptor does not support SAML 2.0 (protocolSupportEnumeration)');
  const acs: ServiceProvider['acs'] = [];
  for (const [i, el] of children(sp, MD, 'AssertionConsumerService').entries()) {
    if (el.getAttribute('Binding') !== BINDINGS.post) continue;
    const index = Number(el.getAttribute('index') ?? i);
    acs.push({ url: el.getAttribute('Location') ?? '', index: Number.isInteger(index) ? index : -1, binding: 'post', ...(bool(el.getAttribute('isDefault')) ? { isDefault: true } : {}) });
  }
  if (acs.length === 0) problems.push('has no AssertionConsumerService with the HTTP-POST binding');
  const slos = children(sp, MD, 'SingleLogoutService');
  const sloEl = slos.find((s) => s.getAttribute('Binding') === BINDINGS.redirect) ?? slos.find((s) => s.getAttribute('Binding') === BINDINGS.post);
  const slo = sloEl ? { url: sloEl.getAttribute('Location') ?? '', binding: sloEl.getAttribute('Binding') === BINDINGS.redirect ? ('redirect' as const) : ('post' as const) } : undefined;
  const signingCertificates: string[] = [];
  let encryptionCertificate: string | undefined;
  for (const kd of children(sp, MD, 'KeyDescriptor')) {
    const use = kd.getAttribute('use');
    for (const ki of children(kd, DS, 'KeyInfo'))
      for (const data of children(ki, DS, 'X509Data'))
        for (const c of children(data, DS, 'X509Certificate')) {
          const pem = toPem(c.textContent ?? '');
          if (use !== 'encryption') signingCertificates.push(pem);
          if (use !== 'signing' && !encryptionCertificate) encryptionCertificate = pem;
        }
  }
  const nameIdFormats = children(sp, MD, 'NameIDFormat').map((n) => (n.textContent ?? '').trim());
  if (problems.length) return { ok: false, problems };
  const authn = bool(sp.getAttribute('AuthnRequestsSigned'));
  const want = bool(sp.getAttribute('WantAssertionsSigned'));
  return {
    ok: true,
    metadata: { entityId, acs, ...(slo ? { slo } : {}), signingCertificates, ...(encryptionCertificate ? { encryptionCertificate } : {}), nameIdFormats, ...(authn !== undefined ? { authnRequestsSigned: authn } : {}), ...(want !== undefined ? { wantAssertionsSigned: want } : {}) },
  };
}

const FROM_METADATA = ['entityId', 'acs', 'slo', 'signingCertificates', 'encryptionCertificate'] as const;

/** The SP an application declares, or every problem with it (paths under settings.saml). */
export function parseSp(settings: Record<string, unknown>): { ok: true; sp: ServiceProvider } | { ok: false; problems: Problem[] } {
  const at = (path: Array<string | number | symbol>) => ['settings', 'saml', ...path].map(String).join('.');
  if (settings.saml === undefined) return { ok: false, problems: [{ path: 'settings.saml', message: 'a SAML application needs settings.saml: its metadata, or at least entityId and acs' }] };
  const parsed = SamlSpSettings.safeParse(settings.saml);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => ({ path: at(i.path), message: i.message })) };
  const s = parsed.data;
  const problems: Problem[] = [];
  let fields: Pick<ServiceProvider, 'entityId' | 'acs' | 'slo' | 'signingCertificates' | 'encryptionCertificate'> & { requireSignedRequests?: boolean; wantAssertionsSigned?: boolean; nameIdFormat?: NameIdFormat };
  if (s.metadata !== undefined) {
    for (const key of FROM_METADATA) if (s[key] !== undefined) problems.push({ path: at([key]), message: 'comes from the metadata: give one or the other' });
    const read = readSpMetadata(s.metadata);
    if (!read.ok) return { ok: false, problems: [...problems, ...read.problems.map((message) => ({ path: at(['metadata']), message }))] };
    const m = read.metadata;
    // The metadata's values go through the same checks as fields.
    const checked = SamlSpSettings.pick({ entityId: true, acs: true, slo: true, signingCertificates: true, encryptionCertificate: true }).safeParse({
      entityId: m.entityId, acs: m.acs, ...(m.slo ? { slo: m.slo } : {}), signingCertificates: m.signingCertificates, ...(m.encryptionCertificate ? { encryptionCertificate: m.encryptionCertificate } : {}),
    });
    if (!checked.success) return { ok: false, problems: [...problems, ...checked.error.issues.map((i) => ({ path: at(['metadata']), message: `${i.path.map(String).join('.')}: ${i.message}` }))] };
    const format = (Object.keys(NAME_ID_FORMATS) as NameIdFormat[]).find((f) => m.nameIdFormats.includes(NAME_ID_FORMATS[f]));
    fields = { ...(checked.data as typeof fields), ...(m.authnRequestsSigned !== undefined ? { requireSignedRequests: m.authnRequestsSigned } : {}), ...(m.wantAssertionsSigned !== undefined ? { wantAssertionsSigned: m.wantAssertionsSigned } : {}), ...(format ? { nameIdFormat: format } : {}) };
  } else {
    if (s.entityId === undefined) problems.push({ path: at(['entityId']), message: 'is required (or give the metadata)' });
    if (s.acs === undefined) problems.push({ path: at(['acs']), message: 'is required: at least one assertion consumer service (or give the metadata)' });
    fields = { entityId: s.entityId ?? '', acs: s.acs ?? [], ...(s.slo ? { slo: s.slo } : {}), signingCertificates: s.signingCertificates ?? [], ...(s.encryptionCertificate ? { encryptionCertificate: s.encryptionCertificate } : {}) };
  }
  const indexes = fields.acs.map((a) => a.index);
  if (new Set(indexes).size !== indexes.length) problems.push({ path: at(['acs']), message: 'two assertion consumer services have the same index' });
  if (fields.acs.filter((a) => a.isDefault).length > 1) problems.push({ path: at(['acs']), message: 'more than one assertion consumer service is the default' });
  const requireSignedRequests = s.requireSignedRequests ?? fields.requireSignedRequests ?? false;
  if (requireSignedRequests && fields.signingCertificates.length === 0) problems.push({ path: at(['signingCertificates']), message: 'signed requests are required but no signing certificate is registered to verify them with' });
  if (s.encryptAssertions && !fields.encryptionCertificate) problems.push({ path: at(['encryptionCertificate']), message: 'encryptAssertions needs the certificate to encrypt to' });
  const nameIdFormat = s.nameIdFormat ?? fields.nameIdFormat ?? 'emailAddress';
  if (s.nameIdSource !== undefined && (nameIdFormat === 'persistent' || nameIdFormat === 'transient')) problems.push({ path: at(['nameIdSource']), message: `a ${nameIdFormat} NameID is made by Gatehouse, not taken from a user field` });
  const wantAssertionsSigned = s.wantAssertionsSigned ?? fields.wantAssertionsSigned ?? true;
  if (!wantAssertionsSigned && !s.wantResponseSigned) problems.push({ path: at(['wantResponseSigned']), message: 'either the Response or the Assertion must be signed' });
  if (problems.length) return { ok: false, problems };
  return {
    ok: true,
    sp: {
      entityId: fields.entityId,
      acs: fields.acs,
      ...(fields.slo ? { slo: fields.slo } : {}),
      signingCertificates: fields.signingCertificates,
      ...(fields.encryptionCertificate ? { encryptionCertificate: fields.encryptionCertificate } : {}),
      nameIdFormat,
      nameIdSource: s.nameIdSource ?? (nameIdFormat === 'emailAddress' ? 'email' : 'username'),
      wantAssertionsSigned,
      wantResponseSigned: s.wantResponseSigned,
      encryptAssertions: s.encryptAssertions,
      dataEncryption: s.dataEncryption,
      keyEncryption: s.keyEncryption,
      requireSignedRequests,
      attributes: s.attributes,
      ...(s.signatureAlgorithm ? { signatureAlgorithm: s.signatureAlgorithm } : {}),
    },
  };
}

/** The directory's check of a saml application's settings (registered by the server and the CLI). */
export function samlSettingsProblems(app: { type: string; settings: Record<string, unknown> }): Problem[] {
  // Incomplete rather than wrong (as an OIDC client without redirect URIs): the application may be
  // created first and its SP registered later; it signs nobody in until then (start warns).
  if (app.type !== 'saml' || app.settings.saml === undefined) return [];
  const parsed = parseSp(app.settings);
  return parsed.ok ? [] : parsed.problems;
}
