/**
 * Enveloped XML signatures (XML-DSig, as SAML Core §5.4 profiles them) over the messages this
 * identity provider builds: RSA-SHA256/384/512, one Reference to the signed element's ID, the
 * enveloped-signature and exclusive c14n transforms, the signing certificate in KeyInfo.
 *
 * The canonical form is libxml2's (libxml2-wasm, the same C14N code xmlsec1 uses), the digest and
 * the signature Node's. The messages are built here as text, so no DOM is needed to place the
 * signature: every element signed declares each namespace it uses (the Assertion repeats
 * `xmlns:saml`), which makes its exclusive canonical form the same alone as inside the Response, and
 * the Signature goes right after the element's Issuer (or first, for metadata) with no whitespace
 * around it, which is what the enveloped-signature transform takes away again. Replaces samlify's and
 * xml-crypto's signing for these messages: XPath over a DOM built for each signature was most of the
 * cost of a login response after the RSA operation itself. Verification of what SPs send stays with
 * xml-crypto (inbound-signature.ts).
 *
 * libxml2-wasm is an ES module that instantiates its WebAssembly when first imported: the front-end
 * awaits `loadXmlSigner()` at start, and signing is synchronous from then on.
 */
import { createHash, createSign, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { HASH_OF, SIGNATURE_URI, type SignatureAlgorithm } from './config.ts';
import type { SamlKey } from './keys.ts';

const signOnPool = promisify(sign);

type Libxml2 = typeof import('libxml2-wasm');
let libxml2: Libxml2 | undefined;

/** Loads libxml2-wasm (once per process); every signing function needs it. */
export async function loadXmlSigner(): Promise<void> {
  libxml2 ??= await import('libxml2-wasm');
}

const DS = 'http://www.w3.org/2000/09/xmldsig#';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const DIGEST_URI = {
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
  sha512: 'http://www.w3.org/2001/04/xmlenc#sha512',
} as const;

/** Exclusive XML canonicalization 1.0 without comments of a whole document (an element as text). */
export function exclusiveCanonical(xml: string): string {
  const lib = libxml2;
  if (!lib) throw new Error('the XML signer is not loaded (loadXmlSigner)');
  const doc = lib.XmlDocument.fromString(xml, { option: lib.ParseOption.XML_PARSE_NONET | lib.ParseOption.XML_PARSE_NO_XXE });
  try {
    return doc.canonicalizeToString({ mode: lib.XmlC14NMode.XML_C14N_EXCLUSIVE_1_0 });
  } finally {
    doc.dispose();
  }
}

/** The SignedInfo of a signature over the element `id`, in exclusive canonical form (what is signed). */
export function signedInfo(id: string, digest: string, algorithm: SignatureAlgorithm): string {
  return (
    `<ds:SignedInfo xmlns:ds="${DS}">` +
    `<ds:CanonicalizationMethod Algorithm="${EXC_C14N}"></ds:CanonicalizationMethod>` +
    `<ds:SignatureMethod Algorithm="${SIGNATURE_URI[algorithm]}"></ds:SignatureMethod>` +
    `<ds:Reference URI="#${id}"><ds:Transforms><ds:Transform Algorithm="${ENVELOPED}"></ds:Transform><ds:Transform Algorithm="${EXC_C14N}"></ds:Transform></ds:Transforms>` +
    `<ds:DigestMethod Algorithm="${DIGEST_URI[HASH_OF[algorithm]]}"></ds:DigestMethod><ds:DigestValue>${digest}</ds:DigestValue></ds:Reference>` +
    `</ds:SignedInfo>`
  );
}

const ROOT_ID = /^<[A-Za-z_][\w.:-]*\s[^>]*?\bID="([A-Za-z_][\w.-]*)"/;
const ISSUER_END = '</saml:Issuer>';

/** Where the signature goes in `element`, and the SignedInfo to sign (its digest computed). */
function prepare(element: string, algorithm: SignatureAlgorithm, placement: 'after-issuer' | 'first-child'): { at: number; info: string } {
  const id = ROOT_ID.exec(element)?.[1];
  if (!id) throw new Error('the element to sign has no ID');
  let at: number;
  if (placement === 'after-issuer') {
    const issuer = element.indexOf(ISSUER_END);
    if (issuer < 0) throw new Error('the element to sign has no saml:Issuer');
    at = issuer + ISSUER_END.length;
  } else {
    // The root's start tag ends at its first '>': attribute values are escaped (xmlEscape writes &gt;).
    at = element.indexOf('>') + 1;
    if (at === 0 || element[at - 2] === '/') throw new Error('the element to sign has no content');
  }
  const digest = createHash(HASH_OF[algorithm]).update(exclusiveCanonical(element)).digest('base64');
  return { at, info: signedInfo(id, digest, algorithm) };
}

/** `element` with the ds:Signature carrying `info` and its signature value inserted at `at`. */
function place(element: string, at: number, info: string, value: string, key: SamlKey): string {
  const signature =
    `<ds:Signature xmlns:ds="${DS}">${info.replace(` xmlns:ds="${DS}"`, '')}` +
    `<ds:SignatureValue>${value}</ds:SignatureValue>` +
    `<ds:KeyInfo><ds:X509Data><ds:X509Certificate>${key.certificateBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>`;
  return element.slice(0, at) + signature + element.slice(at);
}

/**
 * `element` (one element as text, every namespace it uses declared in it, its root carrying an
 * `ID`) with an enveloped signature inserted after its first `saml:Issuer` (`after-issuer`, SAML
 * Core §5.4.1 for requests, responses and assertions) or as its first child (`first-child`,
 * Metadata §3.1.1).
 */
export function signElement(element: string, key: SamlKey, algorithm: SignatureAlgorithm, placement: 'after-issuer' | 'first-child' = 'after-issuer'): string {
  const { at, info } = prepare(element, algorithm, placement);
  return place(element, at, info, createSign(HASH_OF[algorithm]).update(info).sign(key.privateKey, 'base64'), key);
}

/**
 * signElement with the RSA operation on libuv's pool instead of the event loop: for the login
 * response, where it is the largest single cost of the request.
 */
export async function signElementAsync(element: string, key: SamlKey, algorithm: SignatureAlgorithm, placement: 'after-issuer' | 'first-child' = 'after-issuer'): Promise<string> {
  const { at, info } = prepare(element, algorithm, placement);
  const value = await signOnPool(HASH_OF[algorithm], Buffer.from(info, 'utf8'), key.privateKey);
  return place(element, at, info, value.toString('base64'), key);
}
