/**
 * The floor of an SP-initiated SAML SSO round trip in Node.js on this machine: an HTTP server that
 * does only what no identity provider can skip for an HTTP-Redirect AuthnRequest from a person
 * already signed in — read the query, inflate the request (capped), parse it (libxml2, the fastest
 * parser at hand), take its ID, Issuer and ACS URL, build the Response with Gatehouse's own builder
 * (protocols/saml/messages.ts), sign the Assertion as Gatehouse does (exclusive c14n by libxml2, RSA
 * on libuv's pool: protocols/saml/xml-sign.ts) and answer the auto-post page. No session lookup, no
 * store, no schema, no signature or replay checks on the request, no access decision, no audit.
 * A reference for the SAML benchmark, never a server to use (bench/radius-floor.ts and
 * bench/ldap-floor.ts are the same for RADIUS and LDAP): it runs in the benchmark's process, as
 * Gatehouse does there, and takes the same client, so it shows what any server in this process model
 * pays between the signing rate and an SSO rate.
 */
import { createServer, type Server } from 'node:http';
import { inflateRawSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { SamlKey } from '../protocols/saml/keys.ts';
import { loginResponseXml, postForm } from '../protocols/saml/messages.ts';
import { loadXmlSigner, signElementAsync } from '../protocols/saml/xml-sign.ts';
import type { ServiceProvider } from '../protocols/saml/settings.ts';

export async function startSamlFloor(key: SamlKey, idpEntityId: string): Promise<{ url: string; close(): Promise<void> }> {
  await loadXmlSigner();
  const { XmlDocument, ParseOption } = await import('libxml2-wasm');
  const server: Server = createServer((req, res) => {
    const fail = () => {
      res.writeHead(400);
      res.end();
    };
    let request: { id: string; issuer: string; acs: string };
    try {
      const query = new URL(req.url ?? '/', 'http://floor').searchParams;
      const xml = inflateRawSync(Buffer.from(query.get('SAMLRequest') ?? '', 'base64'), { maxOutputLength: 64 * 1024 }).toString('utf8');
      const doc = XmlDocument.fromString(xml, { option: ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE });
      try {
        const root = doc.root;
        request = { id: root.attr('ID')?.value ?? '', acs: root.attr('AssertionConsumerServiceURL')?.value ?? '', issuer: root.firstChild?.content ?? '' };
      } finally {
        doc.dispose();
      }
    } catch {
      return fail();
    }
    const now = Date.now();
    const built = loginResponseXml({
      idpEntityId,
      sp: { entityId: request.issuer, wantAssertionsSigned: true, wantResponseSigned: false } as ServiceProvider,
      acsUrl: request.acs,
      inResponseTo: request.id,
      identity: { nameId: 'bench@example.test', nameIdFormat: 'emailAddress', attributes: [['mail', ['bench@example.test']], ['groups', ['staff']]] },
      authnInstant: now,
      authnContext: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
      sessionIndex: '_floor',
      sessionNotOnOrAfter: now + 3_600_000,
      lifetimeSeconds: 300,
    });
    signElementAsync(built.assertion, key, 'rsa-sha256').then((assertion) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(postForm(request.acs, 'SAMLResponse', Buffer.from(built.head + assertion + built.tail, 'utf8').toString('base64'), undefined));
    }, fail);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
