/**
 * The signature checks of inbound SAML messages, for each binding, with the SP's registered
 * certificates only.
 *
 * HTTP-Redirect (SAML bindings §3.4.4.1): the signature is over the query string as it was sent —
 * `SAMLRequest=<raw>[&RelayState=<raw>]&SigAlg=<raw>`, the values still URL-encoded exactly as they
 * appeared — never over a re-encoding of decoded values (two encoders differ on `~`, `'`, case of hex
 * digits, `+` for space).
 *
 * HTTP-POST (§3.5.4, SAML core §5): an enveloped XML signature, checked the way the wrapping attacks
 * (Somorovsky et al., "On Breaking SAML", 2012) say it must be: exactly one ds:Signature in the whole
 * document, a direct child of the root right after its Issuer; exactly one Reference, whose URI is
 * `#` + the root's ID; no other ID-like attribute in the document with a value seen twice; only the
 * enveloped-signature and exclusive-c14n (without comments) transforms; SHA-256 or stronger. It is
 * then verified by xml-crypto with the registered certificate as the only key (its KeyInfo lookup
 * returns nothing, so a certificate in the message is never used), and the caller reads the message
 * from the canonical XML that xml-crypto digested (`getSignedReferences()`), not from the document it
 * was given: what is read is exactly what was signed.
 *
 * SHA-1 (RSA-SHA1, DSA-SHA1, ECDSA-SHA1, the SHA-1 digest) is refused as weak, HMAC as unsupported
 * (an HMAC keyed with a public certificate is a forgery anyone can make).
 */
import { X509Certificate, createHash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { ExclusiveCanonicalization } from 'xml-crypto/lib/exclusive-canonicalization.js';
import { EnvelopedSignature } from 'xml-crypto/lib/enveloped-signature.js';
import { NS, attr, childrenNamed, descendants, elementChildren, idAttributes, is, parseStrict, type Document, type Element } from './inbound-xml.ts';

/** A refusal of a signature check: its code (one of SamlRequestError's) and a safe detail. */
export class SignatureRefusal extends Error {
  readonly code: SignatureRefusalCode;
  constructor(code: SignatureRefusalCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type SignatureRefusalCode =
  | 'weak_algorithm'
  | 'unsupported_algorithm'
  | 'signature_invalid'
  | 'signature_count'
  | 'signature_placement'
  | 'reference_count'
  | 'reference_mismatch'
  | 'duplicate_id'
  | 'unsupported_transform'
  | 'no_registered_certificate';

interface SignatureAlgorithmSpec {
  hash: 'sha256' | 'sha384' | 'sha512';
  key: 'rsa' | 'ec';
}

/** Signature algorithms accepted, on both bindings (XMLDSig, RFC 6931 §2.3). */
export const SIGNATURE_ALGORITHMS: Readonly<Record<string, SignatureAlgorithmSpec>> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': { hash: 'sha256', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': { hash: 'sha384', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': { hash: 'sha512', key: 'rsa' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': { hash: 'sha256', key: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': { hash: 'sha384', key: 'ec' },
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512': { hash: 'sha512', key: 'ec' },
};

/** Digest algorithms accepted (XMLDSig, XML Encryption, RFC 6931 §2.1). */
export const DIGEST_ALGORITHMS: Readonly<Record<string, 'sha256' | 'sha384' | 'sha512'>> = {
  'http://www.w3.org/2001/04/xmlenc#sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384': 'sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'sha512',
};

const WEAK_ALGORITHMS = new Set([
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  'http://www.w3.org/2000/09/xmldsig#dsa-sha1',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-md5',
  'http://www.w3.org/2000/09/xmldsig#sha1',
  'http://www.w3.org/2001/04/xmldsig-more#md5',
]);

export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

function refuseAlgorithm(uri: string | undefined, what: string): never {
  if (uri && (WEAK_ALGORITHMS.has(uri) || /sha1$|md5$/i.test(uri))) throw new SignatureRefusal('weak_algorithm', `${what} ${uri} is too weak (SHA-256 or stronger only)`);
  throw new SignatureRefusal('unsupported_algorithm', `${what} ${uri === undefined ? '(none)' : JSON.stringify(uri.slice(0, 100))} is not supported`);
}

// Parsed registered certificates, by their text: registrations change rarely and every signed
// message needs its SP's keys. Keyed by registration data only, and bounded all the same.
const KEY_CACHE = new Map<string, KeyObject | null>();
const KEY_CACHE_MAX = 512;

/** The public keys of the registered certificates (PEM, or bare base64 DER); unusable ones are skipped. */
export function registeredKeys(certificates: readonly string[]): KeyObject[] {
  const keys: KeyObject[] = [];
  for (const pem of certificates) {
    let key = KEY_CACHE.get(pem);
    if (key === undefined) {
      try {
        key = new X509Certificate(toPem(pem)).publicKey;
      } catch {
        // A registration the settings check let through but that does not parse: not a key.
        key = null;
      }
      if (KEY_CACHE.size >= KEY_CACHE_MAX) KEY_CACHE.clear();
      KEY_CACHE.set(pem, key);
    }
    if (key) keys.push(key);
  }
  return keys;
}

/** A certificate as PEM: registrations may hold the bare base64 of metadata's X509Certificate. */
export function toPem(cert: string): string {
  if (cert.includes('-----BEGIN')) return cert;
  const b64 = cert.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function verifyWith(spec: SignatureAlgorithmSpec, data: Buffer, key: KeyObject, signature: Buffer): boolean {
  if (key.asymmetricKeyType !== spec.key) return false;
  try {
    // XMLDSig 1.1 §6.4.3: an ECDSA SignatureValue is r || s, not DER.
    return cryptoVerify(spec.hash, data, spec.key === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
  } catch {
    return false;
  }
}

/** An HTTP-Redirect signature, as decoded from the query. */
export interface QuerySignature {
  /** SigAlg, URL-decoded. */
  sigAlg: string;
  /** Signature, base64-decoded. */
  signature: Buffer;
  /** The exact octets signed: `SAMLRequest=<raw>[&RelayState=<raw>]&SigAlg=<raw>` (§3.4.4.1). */
  signedOctets: string;
}

/** Verifies an HTTP-Redirect query signature with the registered keys; throws SignatureRefusal. */
export function verifyQuerySignature(sig: QuerySignature, certificates: readonly string[]): void {
  const spec = SIGNATURE_ALGORITHMS[sig.sigAlg];
  if (!spec) refuseAlgorithm(sig.sigAlg, 'SigAlg');
  const keys = registeredKeys(certificates);
  if (keys.length === 0) throw new SignatureRefusal('no_registered_certificate', 'the message is signed but the service provider has no usable registered signing certificate');
  const data = Buffer.from(sig.signedOctets, 'utf8');
  if (!keys.some((key) => verifyWith(spec, data, key, sig.signature))) throw new SignatureRefusal('signature_invalid', 'the query signature does not verify with any registered certificate');
}

// xml-crypto's algorithm objects, restricted to the accepted ones (its defaults include SHA-1 and,
// on request, HMAC). A class per URI because xml-crypto instantiates them with `new`.
function xmlSignatureAlgorithm(uri: string, spec: SignatureAlgorithmSpec) {
  return class {
    getAlgorithmName = () => uri;
    getSignature = (): string => {
      throw new Error('signing is not done here');
    };
    verifySignature = (material: string, key: string | KeyObject, value: string): boolean => {
      const keyObject = typeof key === 'string' ? new X509Certificate(key).publicKey : key;
      return verifyWith(spec, Buffer.from(material, 'utf8'), keyObject, Buffer.from(value.replace(/\s+/g, ''), 'base64'));
    };
  };
}

function xmlDigestAlgorithm(uri: string, hash: string) {
  return class {
    getAlgorithmName = () => uri;
    getHash = (xml: string) => createHash(hash).update(xml, 'utf8').digest('base64');
  };
}

const XML_SIGNATURE_ALGORITHMS = Object.fromEntries(Object.entries(SIGNATURE_ALGORITHMS).map(([uri, spec]) => [uri, xmlSignatureAlgorithm(uri, spec)]));
const XML_DIGEST_ALGORITHMS = Object.fromEntries(Object.entries(DIGEST_ALGORITHMS).map(([uri, hash]) => [uri, xmlDigestAlgorithm(uri, hash)]));

/**
 * The enveloped signature of `doc` (parsed strictly from `xml`), checked and verified. Returns
 * `{ signed: false }` when the document has no ds:Signature at all; otherwise the root element as
 * signed — parsed from the canonical XML xml-crypto verified — or throws SignatureRefusal.
 */
export function verifyEnvelopedSignature(doc: Document, xml: string, certificates: readonly string[]): { signed: false } | { signed: true; root: Element } {
  const root = doc.documentElement!;
  const signatures = descendants(doc).filter((el) => is(el, NS.ds, 'Signature'));
  if (signatures.length === 0) return { signed: false };
  if (signatures.length > 1) throw new SignatureRefusal('signature_count', `${signatures.length} Signature elements: exactly one is allowed`);
  const signature = signatures[0]!;
  if (signature.parentNode !== root) throw new SignatureRefusal('signature_placement', 'the Signature is not a direct child of the root element');
  const children = elementChildren(root);
  if (!is(children[0], NS.saml, 'Issuer') || children[1] !== signature) throw new SignatureRefusal('signature_placement', 'the Signature must follow the Issuer, as the first two children of the root');

  const rootId = attr(root, 'ID');
  if (!rootId) throw new SignatureRefusal('reference_mismatch', 'the root element has no ID to sign');
  const seen = new Set<string>();
  for (const [, value] of idAttributes(doc)) {
    if (seen.has(value)) throw new SignatureRefusal('duplicate_id', 'two ID attributes of the document have the same value');
    seen.add(value);
  }

  const signedInfos = childrenNamed(signature, NS.ds, 'SignedInfo');
  if (signedInfos.length !== 1) throw new SignatureRefusal('signature_invalid', 'the Signature must have one SignedInfo');
  const signedInfo = signedInfos[0]!;
  const c14n = childrenNamed(signedInfo, NS.ds, 'CanonicalizationMethod');
  if (c14n.length !== 1 || attr(c14n[0]!, 'Algorithm') !== EXC_C14N) refuseAlgorithm(c14n[0] && attr(c14n[0], 'Algorithm'), 'CanonicalizationMethod');
  const method = childrenNamed(signedInfo, NS.ds, 'SignatureMethod');
  const methodUri = method.length === 1 ? attr(method[0]!, 'Algorithm') : undefined;
  if (!methodUri || !SIGNATURE_ALGORITHMS[methodUri]) refuseAlgorithm(methodUri, 'SignatureMethod');
  if (method[0] && elementChildren(method[0]).length > 0) throw new SignatureRefusal('unsupported_algorithm', 'SignatureMethod parameters (HMACOutputLength) are not supported');
  const references = childrenNamed(signedInfo, NS.ds, 'Reference');
  if (references.length !== 1) throw new SignatureRefusal('reference_count', `${references.length} References: exactly one is allowed`);
  const reference = references[0]!;
  if (attr(reference, 'URI') !== `#${rootId}`) throw new SignatureRefusal('reference_mismatch', "the Reference does not point at the root element's ID");
  const transforms = childrenNamed(reference, NS.ds, 'Transforms').flatMap((t) => elementChildren(t));
  const algorithms = transforms.map((t) => (is(t, NS.ds, 'Transform') ? attr(t, 'Algorithm') : undefined));
  if (algorithms.length > 2 || !algorithms.includes(ENVELOPED) || algorithms.some((a) => a !== ENVELOPED && a !== EXC_C14N) || new Set(algorithms).size !== algorithms.length) {
    throw new SignatureRefusal('unsupported_transform', 'only the enveloped-signature and exclusive c14n (without comments) transforms are allowed');
  }
  const digest = childrenNamed(reference, NS.ds, 'DigestMethod');
  const digestUri = digest.length === 1 ? attr(digest[0]!, 'Algorithm') : undefined;
  if (!digestUri || !DIGEST_ALGORITHMS[digestUri]) refuseAlgorithm(digestUri, 'DigestMethod');

  const keys = registeredKeys(certificates);
  if (keys.length === 0) throw new SignatureRefusal('no_registered_certificate', 'the message is signed but the service provider has no usable registered signing certificate');
  for (const key of keys) {
    const signed = new SignedXml({
      publicCert: key,
      // Never a key from the message: KeyInfo is ignored (issue 12, item 5).
      getCertFromKeyInfo: () => null,
    });
    signed.SignatureAlgorithms = XML_SIGNATURE_ALGORITHMS as unknown as SignedXml['SignatureAlgorithms'];
    signed.HashAlgorithms = XML_DIGEST_ALGORITHMS as unknown as SignedXml['HashAlgorithms'];
    signed.CanonicalizationAlgorithms = {
      [EXC_C14N]: ExclusiveCanonicalization,
      [ENVELOPED]: EnvelopedSignature,
    } as unknown as SignedXml['CanonicalizationAlgorithms'];
    let ok = false;
    try {
      signed.loadSignature(signature as unknown as Parameters<SignedXml['loadSignature']>[0]);
      ok = signed.checkSignature(xml) === true;
    } catch {
      ok = false;
    }
    if (!ok) continue;
    const signedReferences = signed.getSignedReferences();
    if (signedReferences.length !== 1) throw new SignatureRefusal('reference_count', 'the signature covers more than one reference');
    let verified: Document;
    try {
      verified = parseStrict(signedReferences[0]!);
    } catch {
      throw new SignatureRefusal('signature_invalid', 'the signed content does not parse');
    }
    const verifiedRoot = verified.documentElement!;
    if (verifiedRoot.namespaceURI !== root.namespaceURI || verifiedRoot.localName !== root.localName || attr(verifiedRoot, 'ID') !== rootId) {
      throw new SignatureRefusal('reference_mismatch', 'the signed element is not the root element');
    }
    return { signed: true, root: verifiedRoot };
  }
  throw new SignatureRefusal('signature_invalid', 'the XML signature does not verify with any registered certificate');
}
