/**
 * Fixtures for the inbound validation tests: a real samlify ServiceProvider (and the IdP entity it
 * needs to address its messages) with a throwaway key and self-signed certificate, what our
 * registration of that SP looks like (SpTrust), an in-memory firstUse, and the attacker's tools —
 * an XML signer (xml-crypto) and an HTTP-Redirect query signer — to build hostile variants.
 */
import { createRequire } from 'node:module';
import { createSign, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { x509 } from '../../src/devices/x509.ts';
import { makeKey } from '../helpers/pki.ts';
import type { InboundOptions, SpTrust } from '../../protocols/saml/inbound.ts';

// samlify's type declarations pull the DOM library into the program (through @xmldom/xmldom),
// which clashes with Node's webcrypto types: loaded untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const samlify = createRequire(import.meta.url)('samlify') as any;

export const IDP_ENTITY = 'https://idp.test/saml/metadata';
export const IDP_SSO = 'https://idp.test/saml/sso';
export const IDP_SLO = 'https://idp.test/saml/slo';
export const SP_ENTITY = 'https://sp.test/metadata';
export const SP_ACS = 'https://sp.test/acs';
export const SP_ACS2 = 'https://sp.test/acs/second';
export const SP_SLO = 'https://sp.test/slo';

export const BINDING = {
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
};
export const ALG = {
  rsaSha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  rsaSha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  rsaSha512: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  excC14n: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  excC14nWithComments: 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
};

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

/** An RSA key and a self-signed certificate for it. */
export async function keyAndCert(name: string): Promise<KeyAndCert> {
  const key = makeKey('rsa-2048');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^./, '4'),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: key.keys,
    signingAlgorithm: key.signingAlgorithm,
  });
  return { keyPem: key.privateKeyPem, certPem: cert.toString('pem') };
}

/** A samlify SP and the IdP entity it sends to; `signed` for both AuthnRequests and LogoutRequests. */
export function samlifyPair(spKey: KeyAndCert, signed: boolean) {
  const idp = samlify.IdentityProvider({
    entityID: IDP_ENTITY,
    wantAuthnRequestsSigned: signed,
    wantLogoutRequestSigned: signed,
    singleSignOnService: [
      { Binding: BINDING.redirect, Location: IDP_SSO },
      { Binding: BINDING.post, Location: IDP_SSO },
    ],
    singleLogoutService: [
      { Binding: BINDING.redirect, Location: IDP_SLO },
      { Binding: BINDING.post, Location: IDP_SLO },
    ],
  });
  const sp = samlify.ServiceProvider({
    entityID: SP_ENTITY,
    authnRequestsSigned: signed,
    privateKey: spKey.keyPem,
    signingCert: spKey.certPem,
    requestSignatureAlgorithm: ALG.rsaSha256,
    assertionConsumerService: [
      { Binding: BINDING.post, Location: SP_ACS },
      { Binding: BINDING.post, Location: SP_ACS2 },
    ],
    singleLogoutService: [{ Binding: BINDING.redirect, Location: SP_SLO }],
  });
  return { idp, sp };
}

/** Our registration of the SP. */
export function spTrust(certPem: string, requireSignedRequests: boolean): SpTrust {
  return {
    entityId: SP_ENTITY,
    signingCertificates: [certPem],
    acs: [
      { url: SP_ACS, index: 0, binding: 'post', isDefault: true },
      { url: SP_ACS2, index: 1, binding: 'post' },
    ],
    slo: { url: SP_SLO, binding: 'redirect' },
    requireSignedRequests,
  };
}

/** Options over one registered SP, a Map as the replay store, and a settable clock. */
export function inboundOptions(trust: SpTrust, destination = IDP_SSO, overrides: Partial<InboundOptions> = {}): InboundOptions & { used: Map<string, number> } {
  const used = new Map<string, number>();
  return {
    used,
    spByEntityId: async (entityId) => (entityId === trust.entityId ? trust : undefined),
    destination,
    skewSeconds: 120,
    firstUse: async (sp, id, ttl) => {
      const key = `${sp} ${id}`;
      if (used.has(key)) return false;
      used.set(key, ttl);
      return true;
    },
    ...overrides,
  };
}

/** The query string of a redirect URL. */
export function queryOf(url: string): string {
  return url.slice(url.indexOf('?') + 1);
}

/** base64 of the XML. */
export function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

/** The XML of a base64 POST message. */
export function unb64(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}

/**
 * An HTTP-Redirect query for `xml` as an SP would send it; signed with `keyPem` over the octets of
 * SAML bindings §3.4.4.1 when given.
 */
export function redirectQuery(xml: string, opts: { param?: 'SAMLRequest' | 'SAMLResponse'; relayState?: string; keyPem?: string; sigAlg?: string; hash?: string } = {}): string {
  const param = opts.param ?? 'SAMLRequest';
  let query = `${param}=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`;
  if (opts.relayState !== undefined) query += `&RelayState=${encodeURIComponent(opts.relayState)}`;
  if (opts.keyPem) {
    query += `&SigAlg=${encodeURIComponent(opts.sigAlg ?? ALG.rsaSha256)}`;
    const signature = createSign(opts.hash ?? 'RSA-SHA256').update(query).sign(opts.keyPem, 'base64');
    query += `&Signature=${encodeURIComponent(signature)}`;
  }
  return query;
}

/**
 * Signs `xml` with an enveloped signature after the root's Issuer, the way SPs do, with the choices
 * an attacker may vary: the key, the algorithms, extra references, the certificate in KeyInfo.
 */
export function signXml(
  xml: string,
  opts: {
    keyPem: string;
    certPem?: string;
    rootName: string;
    signatureAlgorithm?: string;
    digestAlgorithm?: string;
    transforms?: string[];
    canonicalization?: string;
    extraReferenceXpath?: string;
  },
): string {
  const sig = new SignedXml({
    privateKey: opts.keyPem,
    ...(opts.certPem ? { publicCert: opts.certPem } : {}),
    signatureAlgorithm: opts.signatureAlgorithm ?? ALG.rsaSha256,
    canonicalizationAlgorithm: opts.canonicalization ?? ALG.excC14n,
  });
  sig.addReference({
    xpath: `/*[local-name(.)='${opts.rootName}']`,
    transforms: opts.transforms ?? [ALG.enveloped, ALG.excC14n],
    digestAlgorithm: opts.digestAlgorithm ?? ALG.sha256,
  });
  if (opts.extraReferenceXpath) sig.addReference({ xpath: opts.extraReferenceXpath, transforms: [ALG.excC14n], digestAlgorithm: ALG.sha256 });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: `/*[local-name(.)='${opts.rootName}']/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

/** A fresh message ID. */
export function newId(): string {
  return `_${randomBytes(16).toString('hex')}`;
}

/** An AuthnRequest as SPs write it, with attributes to vary. */
export function authnRequestXml(opts: { id?: string; issuer?: string; destination?: string | null; issueInstant?: string; acsUrl?: string | null; acsIndex?: string; protocolBinding?: string | null; extensions?: string; extra?: string; attrs?: string } = {}): string {
  const attrs = [
    `ID="${opts.id ?? newId()}"`,
    'Version="2.0"',
    `IssueInstant="${opts.issueInstant ?? new Date().toISOString()}"`,
    opts.destination === null ? '' : `Destination="${opts.destination ?? IDP_SSO}"`,
    opts.protocolBinding === null ? '' : `ProtocolBinding="${opts.protocolBinding ?? BINDING.post}"`,
    opts.acsUrl === null || opts.acsIndex !== undefined ? '' : `AssertionConsumerServiceURL="${opts.acsUrl ?? SP_ACS}"`,
    opts.acsIndex !== undefined ? `AssertionConsumerServiceIndex="${opts.acsIndex}"` : '',
    opts.attrs ?? '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ${attrs}>` +
    `<saml:Issuer>${opts.issuer ?? SP_ENTITY}</saml:Issuer>` +
    (opts.extensions ? `<samlp:Extensions>${opts.extensions}</samlp:Extensions>` : '') +
    `<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>` +
    (opts.extra ?? '') +
    `</samlp:AuthnRequest>`
  );
}

/** A LogoutRequest; `nameId` is inserted as raw markup (comments included). */
export function logoutRequestXml(opts: { id?: string; nameId?: string; destination?: string; sessionIndex?: string } = {}): string {
  return (
    `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${opts.id ?? newId()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${opts.destination ?? IDP_SLO}">` +
    `<saml:Issuer>${SP_ENTITY}</saml:Issuer>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${opts.nameId ?? 'alice@example.com'}</saml:NameID>` +
    `<samlp:SessionIndex>${opts.sessionIndex ?? 'session-1'}</samlp:SessionIndex>` +
    `</samlp:LogoutRequest>`
  );
}
