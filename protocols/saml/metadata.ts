/**
 * The identity provider's metadata (SAML 2.0 Metadata §2.4.3 IDPSSODescriptor): its entityID, a
 * signing KeyDescriptor per published certificate (the signing one and, during a rotation's overlap,
 * the retiring one), single sign-on and single logout on HTTP-Redirect and HTTP-POST, and the NameID
 * formats it issues. Signed with the current key (Metadata §3), valid for a week, cached a day.
 */
import type { SignatureAlgorithm } from './config.ts';
import type { SamlKeys } from './keys.ts';
import { NS, newId, xmlEscape } from './messages.ts';
import { signElement } from './xml-sign.ts';
import { BINDINGS, NAME_ID_FORMATS } from './settings.ts';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
export const METADATA_VALID_DAYS = 7;

export function idpMetadata(input: { entityId: string; baseUrl: string; keys: SamlKeys; algorithm: SignatureAlgorithm; wantAuthnRequestsSigned?: boolean }): string {
  const until = new Date(Date.now() + METADATA_VALID_DAYS * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const keyDescriptors = input.keys.published
    .map((k) => `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="${DS}"><ds:X509Data><ds:X509Certificate>${k.certificateBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  const services = (element: string, path: string) =>
    [BINDINGS.redirect, BINDINGS.post].map((binding) => `<md:${element} Binding="${binding}" Location="${xmlEscape(`${input.baseUrl}${path}`)}"/>`).join('');
  const xml =
    `<md:EntityDescriptor xmlns:md="${MD}" xmlns:saml="${NS.assertion}" ID="${newId()}" entityID="${xmlEscape(input.entityId)}" validUntil="${until}" cacheDuration="PT24H">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="${NS.protocol}"${input.wantAuthnRequestsSigned ? ' WantAuthnRequestsSigned="true"' : ''}>` +
    keyDescriptors +
    services('SingleLogoutService', '/slo') +
    Object.values(NAME_ID_FORMATS).map((f) => `<md:NameIDFormat>${f}</md:NameIDFormat>`).join('') +
    services('SingleSignOnService', '/sso') +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`;
  // The signature is the EntityDescriptor's first child (Metadata §2.3.2).
  return signElement(xml, input.keys.current, input.algorithm, 'first-child');
}
