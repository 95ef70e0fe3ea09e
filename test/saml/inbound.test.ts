/**
 * Strict inbound validation (protocols/saml/inbound.ts): real AuthnRequests and LogoutRequests from
 * a samlify service provider on both bindings are accepted; then the hostile suite, each message
 * refused with its own code (issue 12, item 5 and its tests); then a bounded fuzz loop.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSign, randomBytes, sign as cryptoSign } from 'node:crypto';
import { x509 } from '../../src/devices/x509.ts';
import { makeKey } from '../helpers/pki.ts';
import { deflateRawSync } from 'node:zlib';
import { SAML } from '@node-saml/node-saml';
import {
  SamlRequestError,
  decodePost,
  decodeRedirect,
  readAuthnRequest,
  readLogoutRequest,
  readLogoutResponse,
  type InboundMessage,
  type InboundOptions,
  type SamlRequestErrorCode,
} from '../../protocols/saml/inbound.ts';
import {
  ALG,
  IDP_SLO,
  IDP_SSO,
  SP_ACS,
  SP_ACS2,
  SP_ENTITY,
  authnRequestXml,
  b64,
  inboundOptions,
  keyAndCert,
  logoutRequestXml,
  newId,
  queryOf,
  redirectQuery,
  samlifyPair,
  signXml,
  spTrust,
  unb64,
  type KeyAndCert,
} from './inbound-fixtures.ts';

let spKey: KeyAndCert;
let attacker: KeyAndCert;

beforeAll(async () => {
  [spKey, attacker] = await Promise.all([keyAndCert('sp.test'), keyAndCert('attacker.test')]);
});

/** Runs `read`, expecting a refusal with `code`; returns it. */
async function refused(promise: Promise<unknown> | (() => unknown), code: SamlRequestErrorCode): Promise<SamlRequestError> {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    error = err;
  }
  expect(error, `expected a refusal with ${code}`).toBeInstanceOf(SamlRequestError);
  expect((error as SamlRequestError).code, (error as SamlRequestError).message).toBe(code);
  expect((error as SamlRequestError).status).toBe(400);
  return error as SamlRequestError;
}

/** The AssertionConsumerServiceURL the SP wrote (samlify picks one of its ACS). */
function acsUrlOf(xml: string): string {
  const url = /AssertionConsumerServiceURL="([^"]+)"/.exec(xml)![1]!;
  expect([SP_ACS, SP_ACS2]).toContain(url);
  return url;
}

const signedOpts = (overrides: Partial<InboundOptions> = {}) => inboundOptions(spTrust(spKey.certPem, true), IDP_SSO, overrides);
const unsignedOpts = (overrides: Partial<InboundOptions> = {}) => inboundOptions(spTrust(spKey.certPem, false), IDP_SSO, overrides);

/** A signed POST AuthnRequest built from `xml`, as the real SP's key signs it. */
const signedPost = (xml: string, relayState?: string): InboundMessage =>
  decodePost({ SAMLRequest: b64(signXml(xml, { keyPem: spKey.keyPem, rootName: 'AuthnRequest' })), ...(relayState === undefined ? {} : { RelayState: relayState }) }, 'SAMLRequest');

describe('messages from a real samlify SP are accepted', () => {
  it('a signed AuthnRequest over HTTP-Redirect, with RelayState', async () => {
    const { sp, idp } = samlifyPair(spKey, true);
    const { id, context } = sp.createLoginRequest(idp, 'redirect', { relayState: 'back to /reports?x=1' });
    const msg = decodeRedirect(queryOf(context), 'SAMLRequest');
    expect(msg.querySignature).toBeDefined();
    const req = await readAuthnRequest(msg, signedOpts());
    expect(req).toMatchObject({ id, issuer: SP_ENTITY, signed: true, binding: 'redirect', relayState: 'back to /reports?x=1', forceAuthn: false, isPassive: false, acs: { url: acsUrlOf(msg.xml), binding: 'post' } });
    expect(req.nameIdFormat).toBeDefined();
  });

  it('a signed AuthnRequest over HTTP-POST (enveloped signature, KeyInfo ignored)', async () => {
    const { sp, idp } = samlifyPair(spKey, true);
    const { id, context } = sp.createLoginRequest(idp, 'post', { relayState: 'rs-1', forceAuthn: true });
    expect(unb64(context)).toContain('X509Certificate');
    const req = await readAuthnRequest(decodePost({ SAMLRequest: context, RelayState: 'rs-1' }, 'SAMLRequest'), signedOpts());
    expect(req).toMatchObject({ id, signed: true, binding: 'post', forceAuthn: true, relayState: 'rs-1', acs: { url: acsUrlOf(unb64(context)) } });
  });

  it('an AuthnRequest by ACS index resolves to the registered URL of that index', async () => {
    const { sp, idp } = samlifyPair(spKey, true);
    const { context } = sp.createLoginRequest(idp, 'redirect', { assertionConsumerServiceIndex: 1 });
    const req = await readAuthnRequest(decodeRedirect(queryOf(context), 'SAMLRequest'), signedOpts());
    expect(req.acs).toEqual({ url: SP_ACS2, binding: 'post', index: 1 });
  });

  it('an unsigned AuthnRequest when the SP does not require signatures; neither URL nor index → the default ACS', async () => {
    const req = await readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml({ acsUrl: null, attrs: 'IsPassive="1"' })), 'SAMLRequest'), unsignedOpts());
    expect(req).toMatchObject({ signed: false, isPassive: true, acs: { url: SP_ACS, index: 0 } });
  });

  it('RequestedAuthnContext and NameIDPolicy are read', async () => {
    const extra =
      '<samlp:RequestedAuthnContext Comparison="minimum"><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>';
    const req = await readAuthnRequest(signedPost(authnRequestXml({ extra })), signedOpts());
    expect(req.requestedAuthnContext).toEqual({ comparison: 'minimum', classRefs: ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport'] });
    expect(req).toMatchObject({ nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', allowCreate: true });
  });

  it('a signed LogoutRequest on both bindings, and an unsigned one reported as such', async () => {
    const { sp, idp } = samlifyPair(spKey, true);
    const user = { logoutNameID: 'alice@example.com', sessionIndex: 'idx-7' };
    const opts = inboundOptions(spTrust(spKey.certPem, false), IDP_SLO);
    const redirect = sp.createLogoutRequest(idp, 'redirect', user, 'rs');
    const fromRedirect = await readLogoutRequest(decodeRedirect(queryOf(redirect.context), 'SAMLRequest'), opts);
    expect(fromRedirect).toMatchObject({ id: redirect.id, signed: true, nameId: { value: 'alice@example.com' }, sessionIndexes: ['idx-7'], relayState: 'rs' });
    const post = sp.createLogoutRequest(idp, 'post', user);
    expect(unb64(post.context)).toContain('SignatureValue');
    const fromPost = await readLogoutRequest(decodePost({ SAMLRequest: post.context }, 'SAMLRequest'), opts);
    expect(fromPost).toMatchObject({ id: post.id, signed: true, binding: 'post' });

    const unsigned = samlifyPair(spKey, false);
    const plain = unsigned.sp.createLogoutRequest(unsigned.idp, 'redirect', user);
    const fromPlain = await readLogoutRequest(decodeRedirect(queryOf(plain.context), 'SAMLRequest'), opts);
    expect(fromPlain.signed).toBe(false);
    // ... and refused when the SP's registration requires signatures.
    const plain2 = unsigned.sp.createLogoutRequest(unsigned.idp, 'redirect', user);
    await refused(readLogoutRequest(decodeRedirect(queryOf(plain2.context), 'SAMLRequest'), inboundOptions(spTrust(spKey.certPem, true), IDP_SLO)), 'unsigned');
  });

  it('a LogoutResponse from the SP', async () => {
    const id = newId();
    const xml =
      `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${IDP_SLO}" InResponseTo="_abc">` +
      `<saml:Issuer>${SP_ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`;
    const opts = inboundOptions(spTrust(spKey.certPem, true), IDP_SLO);
    const res = await readLogoutResponse(decodeRedirect(redirectQuery(xml, { param: 'SAMLResponse', keyPem: spKey.keyPem }), 'SAMLResponse'), opts);
    expect(res).toMatchObject({ id, inResponseTo: '_abc', success: true, signed: true, status: { code: 'urn:oasis:names:tc:SAML:2.0:status:Success' } });
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(xml, { param: 'SAMLResponse', keyPem: spKey.keyPem }), 'SAMLResponse'), opts), 'unexpected_message');
  });
});

describe('signature wrapping and key substitution are refused', () => {
  it('the signature moved to a new root that wraps the original (signed request inside Extensions)', async () => {
    const original = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    const wrapped = authnRequestXml({ acsUrl: 'https://evil.test/acs', extensions: original.replace(/^<\?xml[^>]*>/, '') });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(wrapped) }, 'SAMLRequest'), signedOpts()), 'signature_placement');
  });

  it("the original Signature kept under a new root, its Reference pointing at the original inside Extensions", async () => {
    const id = newId();
    const original = signXml(authnRequestXml({ id }), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(original)![0];
    const inner = original.replace(signature, '');
    const evil = authnRequestXml({ acsUrl: 'https://evil.test/acs', extensions: inner }).replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(evil) }, 'SAMLRequest'), signedOpts()), 'reference_mismatch');
  });

  it('duplicate IDs: a forged root with the signed ID, the original inside Extensions', async () => {
    const id = newId();
    const original = signXml(authnRequestXml({ id }), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(original)![0];
    const evil = authnRequestXml({ id, acsUrl: 'https://evil.test/acs', extensions: original.replace(signature, '') }).replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(evil) }, 'SAMLRequest'), signedOpts()), 'duplicate_id');
    // An ID-like attribute of another spelling counts too.
    const evil2 = original.replace('<samlp:NameIDPolicy', `<samlp:Extensions><x:y xmlns:x="urn:x" Id="${id}"/></samlp:Extensions><samlp:NameIDPolicy`);
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(evil2) }, 'SAMLRequest'), signedOpts()), 'duplicate_id');
  });

  it('two References', async () => {
    const xml = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest', extraReferenceXpath: "//*[local-name(.)='Issuer']" });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml) }, 'SAMLRequest'), signedOpts()), 'reference_count');
  });

  it('a second Signature', async () => {
    const xml = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(xml)![0];
    const evil = xml.replace('<samlp:NameIDPolicy', `<samlp:Extensions>${signature}</samlp:Extensions><samlp:NameIDPolicy`);
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(evil) }, 'SAMLRequest'), signedOpts()), 'signature_count');
  });

  it('signed with the attacker key whose certificate is in KeyInfo', async () => {
    const xml = signXml(authnRequestXml({ acsUrl: SP_ACS2 }), { keyPem: attacker.keyPem, certPem: attacker.certPem, rootName: 'AuthnRequest' });
    expect(xml).toContain('X509Certificate');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml) }, 'SAMLRequest'), signedOpts()), 'signature_invalid');
    // ... and over HTTP-Redirect with the attacker's key.
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml(), { keyPem: attacker.keyPem }), 'SAMLRequest'), signedOpts()), 'signature_invalid');
  });

  it('a signed message altered after signing', async () => {
    const xml = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' }).replace(SP_ACS, SP_ACS2);
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml) }, 'SAMLRequest'), signedOpts()), 'signature_invalid');
    const query = redirectQuery(authnRequestXml(), { keyPem: spKey.keyPem, relayState: 'a' }).replace('RelayState=a', 'RelayState=b');
    await refused(readAuthnRequest(decodeRedirect(query, 'SAMLRequest'), signedOpts()), 'signature_invalid');
  });

  it('SHA-1: the SigAlg of a Redirect and the signature and digest of a POST', async () => {
    const query = redirectQuery(authnRequestXml(), { keyPem: spKey.keyPem, sigAlg: ALG.rsaSha1, hash: 'RSA-SHA1' });
    await refused(readAuthnRequest(decodeRedirect(query, 'SAMLRequest'), signedOpts()), 'weak_algorithm');
    const sha1Sig = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest', signatureAlgorithm: ALG.rsaSha1 });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(sha1Sig) }, 'SAMLRequest'), signedOpts()), 'weak_algorithm');
    const sha1Digest = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest', digestAlgorithm: ALG.sha1 });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(sha1Digest) }, 'SAMLRequest'), signedOpts()), 'weak_algorithm');
  });

  it('a transform other than enveloped-signature and exclusive c14n without comments', async () => {
    const xml = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest', transforms: [ALG.enveloped, ALG.excC14nWithComments] });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml) }, 'SAMLRequest'), signedOpts()), 'unsupported_transform');
  });

  it('an XML signature inside an HTTP-Redirect message', async () => {
    const xml = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(xml), 'SAMLRequest'), unsignedOpts()), 'embedded_signature_in_redirect');
  });

  it('a bad signature is refused even where signatures are optional (never downgraded to unsigned)', async () => {
    const xml = signXml(authnRequestXml(), { keyPem: attacker.keyPem, certPem: attacker.certPem, rootName: 'AuthnRequest' });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml) }, 'SAMLRequest'), unsignedOpts()), 'signature_invalid');
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml(), { keyPem: attacker.keyPem }), 'SAMLRequest'), unsignedOpts()), 'signature_invalid');
  });

  it('a signed message from an SP registered without a usable certificate', async () => {
    const trust = { ...spTrust(spKey.certPem, false), signingCertificates: ['not a certificate'] };
    await refused(readAuthnRequest(signedPost(authnRequestXml()), inboundOptions(trust)), 'no_registered_certificate');
  });

  it('ECDSA and RSA-SHA512 signatures from a registered key are accepted; the certificate may be bare base64', async () => {
    const ec = makeKey('ec-p256');
    const ecCert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '0a', name: 'CN=ec-sp', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000), keys: ec.keys, signingAlgorithm: ec.signingAlgorithm });
    const bare = ecCert.toString('base64');
    const xml = authnRequestXml();
    let query = `SAMLRequest=${encodeURIComponent(deflateRawSync(Buffer.from(xml)).toString('base64'))}&SigAlg=${encodeURIComponent('http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256')}`;
    const signature = cryptoSign('sha256', Buffer.from(query), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    query += `&Signature=${encodeURIComponent(signature.toString('base64'))}`;
    const trust = { ...spTrust(spKey.certPem, true), signingCertificates: [spKey.certPem, bare] };
    expect((await readAuthnRequest(decodeRedirect(query, 'SAMLRequest'), inboundOptions(trust))).signed).toBe(true);
    const sha512 = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest', signatureAlgorithm: ALG.rsaSha512 });
    expect((await readAuthnRequest(decodePost({ SAMLRequest: b64(sha512) }, 'SAMLRequest'), inboundOptions(trust))).signed).toBe(true);
  });

  it('unsigned where the registration requires signatures (both bindings)', async () => {
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml()), 'SAMLRequest'), signedOpts()), 'unsigned');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(authnRequestXml()) }, 'SAMLRequest'), signedOpts()), 'unsigned');
  });

  it('the SigAlg without a Signature', async () => {
    const query = `${redirectQuery(authnRequestXml())}&SigAlg=${encodeURIComponent(ALG.rsaSha256)}`;
    await refused(() => decodeRedirect(query, 'SAMLRequest'), 'malformed_encoding');
  });
});

describe('addressing, time and replay', () => {
  it('an unknown ACS URL or index is refused without a response to anyone', async () => {
    const byUrl = await refused(readAuthnRequest(signedPost(authnRequestXml({ acsUrl: 'https://evil.test/acs' })), signedOpts()), 'unknown_acs');
    expect(byUrl.canRespond).toBe(false);
    expect(byUrl.sp).toBe(SP_ENTITY);
    const byIndex = await refused(readAuthnRequest(signedPost(authnRequestXml({ acsIndex: '7' })), signedOpts()), 'unknown_acs');
    expect(byIndex.canRespond).toBe(false);
    // A prefix or a trailing slash is not the registered URL.
    await refused(readAuthnRequest(signedPost(authnRequestXml({ acsUrl: `${SP_ACS}/` })), signedOpts()), 'unknown_acs');
  });

  it('both ACS URL and index, or a ProtocolBinding other than HTTP-POST', async () => {
    const both = authnRequestXml({ attrs: 'AssertionConsumerServiceIndex="1"' });
    const error = await refused(readAuthnRequest(signedPost(both), signedOpts()), 'ambiguous_acs');
    expect(error.canRespond).toBe(true);
    await refused(readAuthnRequest(signedPost(authnRequestXml({ protocolBinding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact' })), signedOpts()), 'unsupported_binding');
  });

  it('a wrong Destination, and a signed message without one', async () => {
    await refused(readAuthnRequest(signedPost(authnRequestXml({ destination: 'https://other-idp.test/sso' })), signedOpts()), 'wrong_destination');
    await refused(readAuthnRequest(signedPost(authnRequestXml({ destination: null })), signedOpts()), 'missing_destination');
    // Unsigned and without a Destination: accepted (nothing binds it to another endpoint).
    await readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml({ destination: null })), 'SAMLRequest'), unsignedOpts());
  });

  it('an unknown Issuer', async () => {
    const error = await refused(readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml({ issuer: 'https://stranger.test' })), 'SAMLRequest'), unsignedOpts()), 'unknown_issuer');
    expect(error.sp).toBeUndefined();
    expect(error.canRespond).toBe(false);
  });

  it('a replayed ID, remembered for the skew window', async () => {
    const opts = signedOpts();
    const xml = authnRequestXml();
    await readAuthnRequest(signedPost(xml), opts);
    const error = await refused(readAuthnRequest(signedPost(xml), opts), 'replayed_id');
    expect(error.reason).toBe('saml_replayed_request');
    expect([...opts.used.values()][0]).toBeGreaterThanOrEqual(2 * 120);
  });

  it('a forged copy does not burn the genuine ID (the ID is marked used last)', async () => {
    const opts = signedOpts();
    const id = newId();
    const forged = signXml(authnRequestXml({ id }), { keyPem: attacker.keyPem, rootName: 'AuthnRequest' });
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(forged) }, 'SAMLRequest'), opts), 'signature_invalid');
    await readAuthnRequest(signedPost(authnRequestXml({ id })), opts);
  });

  it('a stale IssueInstant, and one in the future beyond the skew', async () => {
    const now = Date.now();
    await refused(readAuthnRequest(signedPost(authnRequestXml({ issueInstant: new Date(now - 10 * 60_000).toISOString() })), signedOpts()), 'stale_issue_instant');
    await refused(readAuthnRequest(signedPost(authnRequestXml({ issueInstant: new Date(now + 10 * 60_000).toISOString() })), signedOpts()), 'future_issue_instant');
    // Within the skew either way: accepted.
    await readAuthnRequest(signedPost(authnRequestXml({ issueInstant: new Date(now + 60_000).toISOString() })), signedOpts());
    await readAuthnRequest(signedPost(authnRequestXml({ issueInstant: new Date(now - 60_000).toISOString() })), signedOpts());
    await refused(readAuthnRequest(signedPost(authnRequestXml({ issueInstant: '2026-01-01T00:00:00+02:00' })), signedOpts()), 'bad_issue_instant');
  });

  it('RelayState over 80 bytes (81) is refused; 80 bytes is echoed as is', async () => {
    await refused(readAuthnRequest(signedPost(authnRequestXml(), 'r'.repeat(81)), signedOpts()), 'relay_state_too_long');
    const query = redirectQuery(authnRequestXml(), { keyPem: spKey.keyPem, relayState: 'é'.repeat(41) });
    await refused(readAuthnRequest(decodeRedirect(query, 'SAMLRequest'), signedOpts()), 'relay_state_too_long');
    const ok = await readAuthnRequest(signedPost(authnRequestXml(), `https://evil.test/${'x'.repeat(62)}`), signedOpts());
    expect(ok.relayState).toBe(`https://evil.test/${'x'.repeat(62)}`);
  });

  it('an expired LogoutRequest (NotOnOrAfter)', async () => {
    const xml = logoutRequestXml().replace('Version="2.0"', `Version="2.0" NotOnOrAfter="${new Date(Date.now() - 10 * 60_000).toISOString()}"`);
    await refused(readLogoutRequest(decodeRedirect(redirectQuery(xml, { keyPem: spKey.keyPem }), 'SAMLRequest'), inboundOptions(spTrust(spKey.certPem, true), IDP_SLO)), 'expired');
  });

  it('a comment inside the Issuer does not hide its value', async () => {
    const xml = authnRequestXml().replace(`>${SP_ENTITY}<`, `>https://sp.test/<!-- -->metadata<`);
    expect((await readAuthnRequest(decodeRedirect(redirectQuery(xml), 'SAMLRequest'), unsignedOpts())).issuer).toBe(SP_ENTITY);
    const other = authnRequestXml().replace(`>${SP_ENTITY}<`, `>${SP_ENTITY}<!-- -->.evil<`);
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(other), 'SAMLRequest'), unsignedOpts()), 'unknown_issuer');
  });

  it('Version other than 2.0, an AuthnRequest with a Subject', async () => {
    await refused(readAuthnRequest(signedPost(authnRequestXml().replace('Version="2.0"', 'Version="1.1"')), signedOpts()), 'bad_version');
    const subject = '<saml:Subject><saml:NameID>admin@example.com</saml:NameID></saml:Subject>';
    await refused(readAuthnRequest(signedPost(authnRequestXml().replace('</saml:Issuer>', `</saml:Issuer>${subject}`)), signedOpts()), 'subject_not_supported');
  });
});

describe('hostile encodings and markup', () => {
  it('a DOCTYPE, and entity expansion (billion laughs)', async () => {
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' +
      authnRequestXml().replace(SP_ENTITY, '&lol3;');
    await refused(readAuthnRequest(decodeRedirect(redirectQuery(laughs), 'SAMLRequest'), unsignedOpts()), 'doctype');
    const xxe = `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>${authnRequestXml()}`;
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xxe) }, 'SAMLRequest'), unsignedOpts()), 'doctype');
  });

  it('a deflate bomb (50 MB of zeros) stops at the cap', async () => {
    const bomb = deflateRawSync(Buffer.alloc(50 * 1024 * 1024));
    const before = process.memoryUsage().arrayBuffers;
    await refused(() => decodeRedirect(`SAMLRequest=${encodeURIComponent(bomb.toString('base64'))}`, 'SAMLRequest'), 'too_large');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('a deflate bomb over HTTP-POST (where deflated messages are tolerated for node-saml) stops at the cap too', async () => {
    const bomb = deflateRawSync(Buffer.alloc(50 * 1024 * 1024));
    await refused(() => decodePost({ SAMLRequest: bomb.toString('base64') }, 'SAMLRequest'), 'too_large');
  });

  it('deeply nested elements are refused, not a stack overflow', async () => {
    const deep = authnRequestXml({ extensions: `${'<x:a xmlns:x="urn:x">'.repeat(1)}${'<x:a>'.repeat(15_000)}${'</x:a>'.repeat(15_001)}` });
    const error = await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(deep) }, 'SAMLRequest'), unsignedOpts()), 'malformed_xml');
    expect(error.detail).toMatch(/nested more than 64 deep/);
  });

  it('an oversized POST message', async () => {
    await refused(() => decodePost({ SAMLRequest: 'A'.repeat(300 * 1024) }, 'SAMLRequest'), 'too_large');
  });

  it('comment injection in a LogoutRequest NameID reads the whole value, as signed', async () => {
    const opts = inboundOptions(spTrust(spKey.certPem, true), IDP_SLO);
    const signed = signXml(logoutRequestXml({ nameId: 'admin@evil.com<!---->.example' }), { keyPem: spKey.keyPem, rootName: 'LogoutRequest' });
    const fromPost = await readLogoutRequest(decodePost({ SAMLRequest: b64(signed) }, 'SAMLRequest'), opts);
    expect(fromPost.nameId.value).toBe('admin@evil.com.example');
    const query = redirectQuery(logoutRequestXml({ nameId: 'admin@evil.com<!-- x -->.example' }), { keyPem: spKey.keyPem });
    const fromRedirect = await readLogoutRequest(decodeRedirect(query, 'SAMLRequest'), opts);
    expect(fromRedirect.nameId.value).toBe('admin@evil.com.example');
    // CDATA and split text nodes are one value too.
    const cdata = redirectQuery(logoutRequestXml({ nameId: 'admin@evil.com<![CDATA[.example]]>' }), { keyPem: spKey.keyPem });
    expect((await readLogoutRequest(decodeRedirect(cdata, 'SAMLRequest'), opts)).nameId.value).toBe('admin@evil.com.example');
  });

  it('malformed base64, not DEFLATE, not UTF-8, not XML, truncated XML, the wrong message', async () => {
    await refused(() => decodePost({ SAMLRequest: '!!!not base64' }, 'SAMLRequest'), 'malformed_encoding');
    await refused(() => decodeRedirect('SAMLRequest=abc', 'SAMLRequest'), 'malformed_encoding');
    await refused(() => decodeRedirect('SAMLRequest=%ZZ', 'SAMLRequest'), 'malformed_encoding');
    await refused(() => decodeRedirect(`SAMLRequest=${encodeURIComponent(b64('<plain/>'))}`, 'SAMLRequest'), 'inflate_failed');
    await refused(() => decodePost({ SAMLRequest: Buffer.from([0x3c, 0xff, 0xfe, 0x41]).toString('base64') }, 'SAMLRequest'), 'bad_encoding');
    await refused(() => decodePost({ SAMLRequest: Buffer.from([0xff, 0xfe, 0x41]).toString('base64') }, 'SAMLRequest'), 'inflate_failed');
    await refused(() => decodeRedirect('RelayState=x', 'SAMLRequest'), 'missing_message');
    await refused(() => decodeRedirect(`${redirectQuery(authnRequestXml())}&SAMLRequest=x`, 'SAMLRequest'), 'duplicate_parameter');
    const opts = unsignedOpts();
    await refused(readAuthnRequest(decodeRedirect(redirectQuery('hello, not XML'), 'SAMLRequest'), opts), 'malformed_xml');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64('<hello, not XML') }, 'SAMLRequest'), opts), 'malformed_xml');
    const xml = authnRequestXml();
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml.slice(0, xml.length - 10)) }, 'SAMLRequest'), opts), 'malformed_xml');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(`${xml}<extra/>`) }, 'SAMLRequest'), opts), 'malformed_xml');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml.replace('Version="2.0"', 'Version="2.0" Version="2.0"')) }, 'SAMLRequest'), opts), 'malformed_xml');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml.replace(SP_ENTITY, `${SP_ENTITY}&#1;`)) }, 'SAMLRequest'), opts), 'malformed_xml');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(logoutRequestXml()) }, 'SAMLRequest'), opts), 'unexpected_message');
    await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml.replace(/urn:oasis:names:tc:SAML:2.0:protocol/, 'urn:evil')) }, 'SAMLRequest'), opts), 'unexpected_message');
  });
});

describe('fuzz', () => {
  it('random bytes and mutated valid messages are refused with a SamlRequestError, nothing else', async () => {
    const opts = unsignedOpts({ firstUse: async () => true });
    const signedOptions = signedOpts({ firstUse: async () => true });
    const valid = signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const mutate = (text: string): string => {
      const chars = [...text];
      for (let k = 0, n = 1 + rand(4); k < n; k++) {
        const i = rand(chars.length);
        const op = rand(3);
        const ch = String.fromCharCode(rand(4) === 0 ? rand(0x80) : '<>/="&!-x#;'.charCodeAt(rand(11)));
        if (op === 0) chars[i] = ch;
        else if (op === 1) chars.splice(i, 1);
        else chars.splice(i, 0, ch);
      }
      return chars.join('');
    };
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const attempts: Array<() => Promise<unknown>> = [
        async () => readAuthnRequest(decodePost({ SAMLRequest: randomBytes(1 + rand(300)).toString('base64') }, 'SAMLRequest'), opts),
        async () => readAuthnRequest(decodeRedirect(`SAMLRequest=${encodeURIComponent(deflateRawSync(randomBytes(1 + rand(300))).toString('base64'))}`, 'SAMLRequest'), opts),
        async () => readAuthnRequest(decodePost({ SAMLRequest: b64(mutate(valid)) }, 'SAMLRequest'), signedOptions),
        async () => readLogoutRequest(decodeRedirect(redirectQuery(mutate(logoutRequestXml())), 'SAMLRequest'), inboundOptions(spTrust(spKey.certPem, false), IDP_SLO, { firstUse: async () => true })),
        async () => readAuthnRequest(decodeRedirect(mutate(redirectQuery(authnRequestXml(), { keyPem: spKey.keyPem })), 'SAMLRequest'), signedOptions),
      ];
      try {
        await attempts[i % attempts.length]!();
        accepted++;
      } catch (err) {
        if (!(err instanceof SamlRequestError)) throw new Error(`iteration ${i}: ${String(err)}`, { cause: err });
      }
    }
    // Some mutations are harmless (in a value the signature does not cover on an unsigned path).
    expect(accepted).toBeLessThan(400);
  });
});

// A query signed by us with a different encoding of the same values must fail: the signature is over
// the octets as sent, not over a re-encoding.
it('the Redirect signature is checked over the raw query octets', async () => {
  const xml = authnRequestXml();
  const deflated = deflateRawSync(Buffer.from(xml)).toString('base64');
  const lower = encodeURIComponent(deflated).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
  const octets = `SAMLRequest=${lower}&SigAlg=${encodeURIComponent(ALG.rsaSha256)}`;
  const signature = createSign('RSA-SHA256').update(octets).sign(spKey.keyPem, 'base64');
  const accepted = await readAuthnRequest(decodeRedirect(`${octets}&Signature=${encodeURIComponent(signature)}`, 'SAMLRequest'), signedOpts());
  expect(accepted.signed).toBe(true);
  // The same signature over the upper-case encoding: not what was signed.
  const upper = `SAMLRequest=${encodeURIComponent(deflated)}&SigAlg=${encodeURIComponent(ALG.rsaSha256)}&Signature=${encodeURIComponent(signature)}`;
  expect(lower).not.toBe(encodeURIComponent(deflated));
  await refused(readAuthnRequest(decodeRedirect(upper, 'SAMLRequest'), signedOpts()), 'signature_invalid');
});

describe('messages from a second, independent SP library (@node-saml/node-saml) are accepted', () => {
  const nodeSaml = (binding?: 'HTTP-POST') =>
    new SAML({
      entryPoint: IDP_SSO,
      logoutUrl: IDP_SLO,
      issuer: SP_ENTITY,
      callbackUrl: SP_ACS2,
      idpCert: spKey.certPem,
      privateKey: spKey.keyPem,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      ...(binding ? { authnRequestBinding: binding } : {}),
    });

  it('a signed AuthnRequest over HTTP-Redirect', async () => {
    const url = await nodeSaml().getAuthorizeUrlAsync('state-42', undefined, {});
    const req = await readAuthnRequest(decodeRedirect(queryOf(url), 'SAMLRequest'), signedOpts());
    expect(req).toMatchObject({ issuer: SP_ENTITY, signed: true, binding: 'redirect', relayState: 'state-42', acs: { url: SP_ACS2, index: 1 } });
    expect(req.requestedAuthnContext?.classRefs.length).toBeGreaterThan(0);
  });

  it('a signed AuthnRequest over HTTP-POST', async () => {
    const form = (await nodeSaml('HTTP-POST').getAuthorizeMessageAsync('state-43')) as Record<string, string>;
    const req = await readAuthnRequest(decodePost(form, 'SAMLRequest'), signedOpts());
    expect(req).toMatchObject({ signed: true, binding: 'post', relayState: 'state-43', acs: { url: SP_ACS2 } });
  });

  it('a signed LogoutRequest over HTTP-Redirect', async () => {
    const url = await nodeSaml().getLogoutUrlAsync({ issuer: IDP_SSO, nameID: 'alice@example.com', nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', sessionIndex: 'idx-9' }, 'bye', {});
    const req = await readLogoutRequest(decodeRedirect(queryOf(url), 'SAMLRequest'), inboundOptions(spTrust(spKey.certPem, true), IDP_SLO));
    expect(req).toMatchObject({ signed: true, nameId: { value: 'alice@example.com' }, sessionIndexes: ['idx-9'], relayState: 'bye' });
  });
});

it('an ID that is not an xs:ID is refused before any signature check uses it', async () => {
  const xml = signXml(authnRequestXml({ id: "_a' or '1'='1" }), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
  await refused(readAuthnRequest(decodePost({ SAMLRequest: b64(xml) }, 'SAMLRequest'), signedOpts()), 'bad_id');
  await refused(readAuthnRequest(decodeRedirect(redirectQuery(authnRequestXml({ id: `_${'x'.repeat(300)}` })), 'SAMLRequest'), unsignedOpts()), 'bad_id');
});
