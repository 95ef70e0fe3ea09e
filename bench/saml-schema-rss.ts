/**
 * Memory of SAML inbound validation over many messages: issue 12 asks for RSS that stays flat (the
 * schema validator it replaces is reported to leak about 16 MB per login). Two modes:
 *
 *   node bench/saml-schema-rss.ts [N]           N schema validations (protocols/saml/xml-schema.ts)
 *   node bench/saml-schema-rss.ts [N] --full    N signed HTTP-POST AuthnRequests (500 distinct,
 *                                               signed beforehand) through readAuthnRequest with the
 *                                               schema validator (--no-schema: without)
 *
 * --detail prints heapTotal/heapUsed/external too; `node --expose-gc ... --gc` collects every 100
 * (RSS then shows what is retained rather than what V8 has not collected yet).
 *
 * Prints the process's RSS (the worker and its WebAssembly instance included) after a warm-up of
 * 100, every quarter, and the growth. Not a ratio benchmark, so not a `*.bench.ts`.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { x509 } from '../src/devices/x509.ts';
import { decodePost, readAuthnRequest, type InboundOptions } from '../protocols/saml/inbound.ts';
import { createSchemaValidator } from '../protocols/saml/xml-schema.ts';

const n = Number(process.argv[2] ?? 2000);
const full = process.argv.includes('--full');
// --gc (with node --expose-gc): a full collection every 100, to tell garbage from growth.
const forceGc = process.argv.includes('--gc') ? (globalThis as unknown as { gc?: () => void }).gc : undefined;
const SP = 'https://sp.test/metadata';
const SSO = 'https://idp.test/saml/sso';

const request = (id: string) =>
  '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ' +
  `ID="${id}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${SSO}" ` +
  'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="https://sp.test/acs">' +
  `<saml:Issuer>${SP}</saml:Issuer>` +
  '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>' +
  '</samlp:AuthnRequest>';

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const validator = createSchemaValidator();

let step: () => Promise<void>;
if (full) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const keys = { privateKey: privateKey.toCryptoKey(algorithm, true, ['sign']), publicKey: publicKey.toCryptoKey(algorithm, true, ['verify']) };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=sp.test', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys: keys as never, signingAlgorithm: algorithm });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const sp = { entityId: SP, signingCertificates: [cert.toString('pem')], acs: [{ url: 'https://sp.test/acs', index: 0, binding: 'post' as const, isDefault: true }], requireSignedRequests: true };
  // firstUse always true: a Map of used IDs here would be growth of the bench's own making.
  const options: InboundOptions = { spByEntityId: async (e) => (e === SP ? sp : undefined), destination: SSO, skewSeconds: 120, firstUse: async () => true, ...(process.argv.includes('--no-schema') ? {} : { schema: validator }) };
  // 500 signed requests made beforehand, so that what is measured is the validation alone.
  const signed = Array.from({ length: 500 }, () => {
    const sig = new SignedXml({ privateKey: keyPem, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
    sig.addReference({ xpath: "/*[local-name(.)='AuthnRequest']", transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
    sig.computeSignature(request(`_${randomBytes(16).toString('hex')}`), { prefix: 'ds', location: { reference: "/*/*[local-name(.)='Issuer']", action: 'after' } });
    return Buffer.from(sig.getSignedXml()).toString('base64');
  });
  let next = 0;
  step = async () => {
    await readAuthnRequest(decodePost({ SAMLRequest: signed[next++ % signed.length]! }, 'SAMLRequest'), options);
  };
} else {
  const message = request('_0123456789abcdef');
  step = () => validator.validate(message, 'protocol');
}

try {
  for (let i = 0; i < 100; i++) await step();
  const start = process.memoryUsage().rss;
  const started = Date.now();
  console.log(`${full ? 'signed AuthnRequests through readAuthnRequest' : 'schema validations'}; after a warm-up of 100: RSS ${mib(start)} MiB`);
  for (let i = 1; i <= n; i++) {
    await step();
    if (forceGc && i % 100 === 0) forceGc();
    if (i % Math.max(1, Math.floor(n / 4)) === 0) console.log(`${i}: RSS ${mib(process.memoryUsage().rss)} MiB`, process.argv.includes('--detail') ? JSON.stringify(Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, mib(v)]))) : "");
  }
  const end = process.memoryUsage().rss;
  const seconds = (Date.now() - started) / 1000;
  console.log(`${n} in ${seconds.toFixed(1)} s (${(n / seconds).toFixed(0)}/s): RSS ${mib(start)} → ${mib(end)} MiB (${(((end - start) / start) * 100).toFixed(1)} %)`);
} finally {
  await validator.close();
}
