/**
 * The messages the identity provider sends, and how they travel:
 *
 *   loginResponse    a Response with one Assertion, built here as XML (every value escaped), signed
 *                    (Assertion and/or Response, per SP) by xml-sign.ts; encrypted assertions by
 *                    samlify's IdentityProvider.createLoginResponse (its customTagReplacement path:
 *                    samlify's own template drops custom attributes and writes InResponseTo="" when
 *                    there is no request, which schema-validating SPs refuse)
 *   statusResponse   a Response without assertion carrying a status: RequestDenied, NoPassive,
 *                    Requester / Responder errors (SAML Core §3.2.2.2), signed
 *   logoutRequest    to the other SPs of a session (SAML Core §3.7.1)
 *   logoutResponse   to the SP that asked to log out (SAML Core §3.7.2)
 *
 *   postForm         the HTTP-POST binding (SAML Bindings §3.5): an auto-submitting HTML form
 *   redirectUrl      the HTTP-Redirect binding (SAML Bindings §3.4): DEFLATE, base64, and the
 *                    signature over the query string (§3.4.4.1)
 */
import { createSign, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { escapeHtml } from '../../src/http/html.ts';
import { HASH_OF, SIGNATURE_URI, type SignatureAlgorithm } from './config.ts';
import type { SamlKey } from './keys.ts';
import { samlify, type SamlifyEntity, type SamlifyIdp } from './libs.ts';
import { signElementAsync } from './xml-sign.ts';
import { BINDINGS, DATA_ENCRYPTION, KEY_ENCRYPTION, NAME_ID_FORMATS, type ServiceProvider } from './settings.ts';

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
} as const;

export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  requestDenied: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  authnFailed: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed',
  partialLogout: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout',
} as const;

/** AuthnContext classes (SAML AuthnContext §3.4.15, and REFEDS MFA for more than one factor). */
export const AUTHN_CONTEXT = {
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
  mfa: 'https://refeds.org/profile/mfa',
  x509: 'urn:oasis:names:tc:SAML:2.0:ac:classes:X509',
  unspecified: 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified',
} as const;

/** XML character data and attribute values (XML 1.0 §2.4, §3.3.3); characters XML cannot carry are dropped. */
export function xmlEscape(value: string): string {
  return value
    .replace(/[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\r/g, '&#13;');
}

/** A message ID: xs:ID (an NCName), 160 bits of randomness (SAML Core §1.3.4). */
export const newId = () => `_${randomBytes(20).toString('hex')}`;
const instant = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export interface Identity {
  nameId: string;
  nameIdFormat: keyof typeof NAME_ID_FORMATS;
  /** SAML attribute name → values (already chosen by the SP's mapping). */
  attributes: Array<[string, string[]]>;
}

export interface LoginResponseInput {
  idpEntityId: string;
  sp: ServiceProvider;
  acsUrl: string;
  inResponseTo?: string;
  identity: Identity;
  authnInstant: number;
  authnContext: string;
  sessionIndex: string;
  sessionNotOnOrAfter: number;
  lifetimeSeconds: number;
}

function attributeStatement(attributes: Identity['attributes']): string {
  const present = attributes.filter(([, values]) => values.length > 0);
  if (present.length === 0) return '';
  const body = present
    .map(
      ([name, values]) =>
        `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values
          .map((v) => `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${xmlEscape(v)}</saml:AttributeValue>`)
          .join('')}</saml:Attribute>`,
    )
    .join('');
  return `<saml:AttributeStatement>${body}</saml:AttributeStatement>`;
}

/**
 * The unsigned Response (SAML Core §3.3.3, Web SSO profile §4.1.4.2): `xml` whole, and in its parts
 * (`head` + `assertion` + `tail`) for signing the Assertion alone. The Assertion declares the one
 * namespace it uses itself, so it is the same element alone as inside the Response.
 */
export function loginResponseXml(input: LoginResponseInput, now = Date.now()): { id: string; xml: string; head: string; assertion: string; tail: string } {
  const id = newId();
  const assertionId = newId();
  const issued = instant(now);
  const expires = instant(now + input.lifetimeSeconds * 1000);
  const irt = input.inResponseTo ? ` InResponseTo="${xmlEscape(input.inResponseTo)}"` : '';
  const { identity } = input;
  const spQualifier = identity.nameIdFormat === 'persistent' || identity.nameIdFormat === 'transient' ? ` NameQualifier="${xmlEscape(input.idpEntityId)}" SPNameQualifier="${xmlEscape(input.sp.entityId)}"` : '';
  const head =
    `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${id}" Version="2.0" IssueInstant="${issued}" Destination="${xmlEscape(input.acsUrl)}"${irt}>` +
    `<saml:Issuer>${xmlEscape(input.idpEntityId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${STATUS.success}"/></samlp:Status>`;
  const assertion =
    `<saml:Assertion xmlns:saml="${NS.assertion}" ID="${assertionId}" Version="2.0" IssueInstant="${issued}">` +
    `<saml:Issuer>${xmlEscape(input.idpEntityId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${NAME_ID_FORMATS[identity.nameIdFormat]}"${spQualifier}>${xmlEscape(identity.nameId)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${expires}" Recipient="${xmlEscape(input.acsUrl)}"${irt}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${issued}" NotOnOrAfter="${expires}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(input.sp.entityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${instant(input.authnInstant)}" SessionIndex="${xmlEscape(input.sessionIndex)}" SessionNotOnOrAfter="${instant(input.sessionNotOnOrAfter)}"><saml:AuthnContext><saml:AuthnContextClassRef>${xmlEscape(input.authnContext)}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    attributeStatement(identity.attributes) +
    `</saml:Assertion>`;
  const tail = '</samlp:Response>';
  return { id, xml: head + assertion + tail, head, assertion, tail };
}

/**
 * samlify's entities for one signing key and SP: the IdP entity carries the key, the signature
 * algorithm and the encryption choice (samlify keeps those on the IdP), the SP entity what it wants
 * signed and its encryption certificate. Cached per key and SP settings (bounded by the registered SPs).
 */
export class Entities {
  readonly #cache = new Map<string, { idp: SamlifyIdp; sp: SamlifyEntity }>();

  for(key: SamlKey, idpEntityId: string, sp: ServiceProvider, algorithm: SignatureAlgorithm): { idp: SamlifyIdp; sp: SamlifyEntity } {
    const cacheKey = JSON.stringify([key.kid, idpEntityId, algorithm, sp]);
    let found = this.#cache.get(cacheKey);
    if (!found) {
      if (this.#cache.size > 1000) this.#cache.clear();
      const idp = samlify().IdentityProvider({
        entityID: idpEntityId,
        // The parsed key: xml-crypto signs with it as is (a PEM string would be parsed at every signature).
        privateKey: key.privateKey,
        signingCert: key.certificatePem,
        requestSignatureAlgorithm: SIGNATURE_URI[algorithm],
        isAssertionEncrypted: sp.encryptAssertions,
        dataEncryptionAlgorithm: DATA_ENCRYPTION[sp.dataEncryption],
        keyEncryptionAlgorithm: KEY_ENCRYPTION[sp.keyEncryption],
        singleSignOnService: [{ Binding: BINDINGS.redirect, Location: `${idpEntityId}` }],
        singleLogoutService: [{ Binding: BINDINGS.redirect, Location: `${idpEntityId}` }],
      });
      const spEntity = samlify().ServiceProvider({
        entityID: sp.entityId,
        wantAssertionsSigned: sp.wantAssertionsSigned,
        wantMessageSigned: sp.wantResponseSigned,
        assertionConsumerService: sp.acs.map((a) => ({ Binding: BINDINGS.post, Location: a.url })),
        ...(sp.encryptionCertificate ? { encryptCert: sp.encryptionCertificate } : {}),
      });
      found = { idp, sp: spEntity };
      this.#cache.set(cacheKey, found);
    }
    return found;
  }
}

/**
 * The signed (and, if the SP asks, encrypted) Response, base64 for the HTTP-POST binding. Signed as
 * samlify does: the Assertion when the SP wants it signed, the Response when it wants that or not
 * the Assertion (so never neither). Encrypted assertions go through samlify (xml-encryption):
 * encrypt-then-sign, the Assertion signed, encrypted, then the Response signed over the
 * EncryptedAssertion (signing the Response before encrypting would break its signature).
 */
export async function loginResponse(entities: Entities, key: SamlKey, algorithm: SignatureAlgorithm, input: LoginResponseInput): Promise<{ id: string; base64: string }> {
  const built = loginResponseXml(input);
  if (!input.sp.encryptAssertions) {
    const assertion = input.sp.wantAssertionsSigned ? await signElementAsync(built.assertion, key, algorithm) : built.assertion;
    let xml = built.head + assertion + built.tail;
    if (input.sp.wantResponseSigned || !input.sp.wantAssertionsSigned) xml = await signElementAsync(xml, key, algorithm);
    return { id: built.id, base64: Buffer.from(xml, 'utf8').toString('base64') };
  }
  const { idp, sp } = entities.for(key, input.idpEntityId, input.sp, algorithm);
  const result = await idp.createLoginResponse(sp, {}, 'post', {}, { customTagReplacement: () => ({ id: built.id, context: built.xml }), encryptThenSign: true });
  return { id: built.id, base64: result.context };
}

/** A Response with a status and no assertion (a refusal), signed. */
export function statusResponseXml(input: { idpEntityId: string; destination: string; inResponseTo?: string; status: string; subStatus?: string; message?: string }): string {
  const irt = input.inResponseTo ? ` InResponseTo="${xmlEscape(input.inResponseTo)}"` : '';
  const code = input.subStatus ? `<samlp:StatusCode Value="${input.status}"><samlp:StatusCode Value="${input.subStatus}"/></samlp:StatusCode>` : `<samlp:StatusCode Value="${input.status}"/>`;
  return (
    `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${newId()}" Version="2.0" IssueInstant="${instant(Date.now())}" Destination="${xmlEscape(input.destination)}"${irt}>` +
    `<saml:Issuer>${xmlEscape(input.idpEntityId)}</saml:Issuer>` +
    `<samlp:Status>${code}${input.message ? `<samlp:StatusMessage>${xmlEscape(input.message)}</samlp:StatusMessage>` : ''}</samlp:Status></samlp:Response>`
  );
}

/** A LogoutRequest to an SP of the session (SAML Core §3.7.1). */
export function logoutRequestXml(input: { idpEntityId: string; destination: string; nameId: string; nameIdFormat: keyof typeof NAME_ID_FORMATS; spEntityId: string; sessionIndex: string; lifetimeSeconds: number }): { id: string; xml: string } {
  const id = newId();
  const now = Date.now();
  const qualifier = input.nameIdFormat === 'persistent' || input.nameIdFormat === 'transient' ? ` NameQualifier="${xmlEscape(input.idpEntityId)}" SPNameQualifier="${xmlEscape(input.spEntityId)}"` : '';
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${id}" Version="2.0" IssueInstant="${instant(now)}" Destination="${xmlEscape(input.destination)}" NotOnOrAfter="${instant(now + input.lifetimeSeconds * 1000)}" Reason="urn:oasis:names:tc:SAML:2.0:logout:user">` +
    `<saml:Issuer>${xmlEscape(input.idpEntityId)}</saml:Issuer>` +
    `<saml:NameID Format="${NAME_ID_FORMATS[input.nameIdFormat]}"${qualifier}>${xmlEscape(input.nameId)}</saml:NameID>` +
    `<samlp:SessionIndex>${xmlEscape(input.sessionIndex)}</samlp:SessionIndex></samlp:LogoutRequest>`;
  return { id, xml };
}

/** A LogoutResponse (SAML Core §3.7.2). */
export function logoutResponseXml(input: { idpEntityId: string; destination: string; inResponseTo?: string; status: string; subStatus?: string }): string {
  const code = input.subStatus ? `<samlp:StatusCode Value="${input.status}"><samlp:StatusCode Value="${input.subStatus}"/></samlp:StatusCode>` : `<samlp:StatusCode Value="${input.status}"/>`;
  const irt = input.inResponseTo ? ` InResponseTo="${xmlEscape(input.inResponseTo)}"` : '';
  return (
    `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${newId()}" Version="2.0" IssueInstant="${instant(Date.now())}" Destination="${xmlEscape(input.destination)}"${irt}>` +
    `<saml:Issuer>${xmlEscape(input.idpEntityId)}</saml:Issuer><samlp:Status>${code}</samlp:Status></samlp:LogoutResponse>`
  );
}

/**
 * The HTTP-Redirect binding's URL: DEFLATE (RFC 1951), base64, URL-encoded, and the signature over
 * `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as sent (SAML Bindings §3.4.4.1).
 */
export function redirectUrl(target: string, field: 'SAMLRequest' | 'SAMLResponse', xml: string, relayState: string | undefined, key: SamlKey, algorithm: SignatureAlgorithm): string {
  let query = `${field}=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`;
  if (relayState !== undefined && relayState !== '') query += `&RelayState=${encodeURIComponent(relayState)}`;
  query += `&SigAlg=${encodeURIComponent(SIGNATURE_URI[algorithm])}`;
  const signature = createSign(HASH_OF[algorithm]).update(query).sign(key.privateKey, 'base64');
  query += `&Signature=${encodeURIComponent(signature)}`;
  return `${target}${target.includes('?') ? '&' : '?'}${query}`;
}

/** The auto-submit script of the POST form: a constant, allowed by its hash in the page's CSP. */
export const AUTO_SUBMIT_SCRIPT = 'document.forms[0].submit();';

/** The HTTP-POST binding's page: a form to `target` that submits itself (a button without JavaScript). */
export function postForm(target: string, field: 'SAMLRequest' | 'SAMLResponse', base64: string, relayState: string | undefined): string {
  const relay = relayState !== undefined && relayState !== '' ? `<input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Signing in · Gatehouse</title></head>
<body>
<form method="post" action="${escapeHtml(target)}">
<input type="hidden" name="${field}" value="${escapeHtml(base64)}">${relay}
<noscript><p>JavaScript is off: press the button to continue.</p></noscript>
<button type="submit">Continue</button>
</form>
<script>${AUTO_SUBMIT_SCRIPT}</script>
</body></html>
`;
}
