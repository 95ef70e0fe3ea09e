/**
 * The enveloped signatures of protocols/saml/xml-sign.ts, checked by another implementation:
 * xml-crypto (what samlify and node-saml verify with) reads each signed message with its own DOM and
 * canonicalization. The Assertion signed alone verifies inside the Response; values XML makes
 * awkward (CR, tab, quotes, markup, characters outside the BMP) are covered by the digest; a changed
 * byte is not. (xmlsec1 checks the same messages in the interop suite.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { exclusiveCanonical, loadXmlSigner, signElement, signElementAsync, signedInfo } from '../../protocols/saml/xml-sign.ts';
import { loginResponseXml, type LoginResponseInput } from '../../protocols/saml/messages.ts';
import type { SamlKey } from '../../protocols/saml/keys.ts';
import type { ServiceProvider } from '../../protocols/saml/settings.ts';
import { xmldom } from '../../protocols/saml/libs.ts';
import { keyAndCert } from './inbound-fixtures.ts';

let key: SamlKey;

beforeAll(async () => {
  await loadXmlSigner();
  const { keyPem, certPem } = await keyAndCert('idp.test');
  key = { kid: 'k1', privatePem: keyPem, privateKey: createPrivateKey(keyPem), certificatePem: certPem, certificateBase64: certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '') };
});

// The DOM as xml-crypto reads it (xmldom), typed as far as used here.
interface El {
  parentNode: El;
  textContent: string | null;
  getAttribute(name: string): string | null;
}
const parse = (xml: string) => new (xmldom().DOMParser)().parseFromString(xml, 'text/xml') as unknown as { getElementsByTagNameNS(ns: string, name: string): ArrayLike<El> };
const DS = 'http://www.w3.org/2000/09/xmldsig#';

/** Checks one signature with xml-crypto and the certificate. */
function checks(xml: string, signature: El): boolean {
  const check = new SignedXml({ publicCert: key.certificatePem });
  check.loadSignature(signature as never);
  return check.checkSignature(xml);
}

/** Every signature in `xml` checked by xml-crypto with the certificate; the IDs of the elements signed. */
function verify(xml: string): string[] {
  const signatures = Array.from(parse(xml).getElementsByTagNameNS(DS, 'Signature'));
  expect(signatures.length).toBeGreaterThan(0);
  return signatures.map((signature) => {
    expect(checks(xml, signature)).toBe(true);
    return signature.parentNode.getAttribute('ID') ?? '';
  });
}

function input(value: string): LoginResponseInput {
  return {
    idpEntityId: 'https://idp.test/saml/metadata',
    sp: { entityId: 'https://sp.test/metadata', wantAssertionsSigned: true, wantResponseSigned: true } as ServiceProvider,
    acsUrl: 'https://sp.test/acs?a=1&b=2',
    inResponseTo: '_request1',
    identity: { nameId: 'alice@example.test', nameIdFormat: 'emailAddress', attributes: [['dept', [value]], ['groups', ['a', 'b']]] },
    authnInstant: Date.now(),
    authnContext: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
    sessionIndex: '_s1',
    sessionNotOnOrAfter: Date.now() + 3_600_000,
    lifetimeSeconds: 300,
  };
}

describe('enveloped signatures (xml-sign.ts)', () => {
  it('the SignedInfo written out is already in exclusive canonical form', () => {
    const info = signedInfo('_abc', 'A'.repeat(43) + '=', 'rsa-sha256');
    expect(exclusiveCanonical(info)).toBe(info);
    for (const algorithm of ['rsa-sha384', 'rsa-sha512'] as const) expect(exclusiveCanonical(signedInfo('_x', 'B=', algorithm))).toBe(signedInfo('_x', 'B=', algorithm));
  });

  it('an Assertion signed alone verifies inside the Response, and the Response signed over it too (on the pool)', async () => {
    const built = loginResponseXml(input('R&D "<x>" <!-- c --> \r\n\ttab \u{1F511} ]]> \'q\''));
    const assertion = signElement(built.assertion, key, 'rsa-sha256');
    const xml = await signElementAsync(built.head + assertion + built.tail, key, 'rsa-sha512');
    expect(verify(xml).sort()).toEqual([built.id, /ID="([^"]+)"/.exec(built.assertion)![1]].sort());
    // The signature is the element's child right after its Issuer (SAML Core §5.4.1).
    expect(xml).toMatch(/<\/saml:Issuer><ds:Signature xmlns:ds="http:\/\/www.w3.org\/2000\/09\/xmldsig#"><ds:SignedInfo>/);
    // The values are what was signed: xml-crypto's reader gets them back.
    expect(parse(xml).getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'AttributeValue')[0]!.textContent).toBe('R&D "<x>" <!-- c --> \r\n\ttab \u{1F511} ]]> \'q\'');
  });

  it('a changed value, or a signature moved to another element, does not verify', () => {
    const built = loginResponseXml(input('engineering'));
    const signed = signElement(built.head + signElement(built.assertion, key, 'rsa-sha256') + built.tail, key, 'rsa-sha256');
    const tampered = signed.replace('>engineering<', '>executives<');
    const [responseSignature, assertionSignature] = Array.from(parse(tampered).getElementsByTagNameNS(DS, 'Signature'));
    expect(checks(tampered, assertionSignature!)).toBe(false);
    expect(checks(tampered, responseSignature!)).toBe(false);
    expect(verify(signed)).toHaveLength(2);
  });

  it('metadata is signed with the signature as its first child; an element without an ID or Issuer is refused', () => {
    const md = '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_m1" entityID="https://idp.test/saml/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>';
    const signed = signElement(md, key, 'rsa-sha256', 'first-child');
    expect(signed).toMatch(/^<md:EntityDescriptor [^>]*><ds:Signature /);
    expect(verify(signed)).toEqual(['_m1']);
    expect(() => signElement('<a><saml:Issuer>x</saml:Issuer></a>', key, 'rsa-sha256')).toThrow(/no ID/);
    expect(() => signElement('<a ID="_1"/>', key, 'rsa-sha256')).toThrow(/no saml:Issuer/);
  });
});
