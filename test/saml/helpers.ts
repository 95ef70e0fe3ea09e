/**
 * What the SAML tests share: a Gatehouse with a few people, groups and SAML service providers; two
 * independent SP libraries (samlify and @node-saml/node-saml) to read what it sends; key pairs for
 * the SPs (openssl); and the auto-submitting POST form read back into its fields. The browser (a
 * cookie jar that signs in through the real /login form) is the OIDC tests'.
 *
 * The SP libraries are loaded through require: their declaration files pull in TypeScript's DOM
 * library, which clashes with Node's WebCrypto types in the rest of the program (see
 * protocols/saml/libs.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { PASSWORD } from '../oidc/helpers.ts';

export { Browser, PASSWORD } from '../oidc/helpers.ts';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any */
export const samlify = require('samlify') as any;
export const NodeSaml = (require('@node-saml/node-saml') as { SAML: new (options: Record<string, unknown>) => any }).SAML;

// The test SP validates the schema with nothing: what it checks here is the signature, the
// conditions and the content; the schema is validated by xmllint in test/interop.
samlify.setSchemaValidator({ validate: async () => 'skipped' });

/** An RSA key and a self-signed certificate for a test SP (PEM). */
export function spKeyPair(cn = 'sp.test'): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'saml-sp-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Nothing listens there: the tests read the form Gatehouse would post. */
export const SP_BASE = 'http://127.0.0.1:9';
export const acsOf = (name: string) => `${SP_BASE}/${name}/acs`;
export const sloOf = (name: string) => `${SP_BASE}/${name}/slo`;
export const entityOf = (name: string) => `https://${name}.sp.test/saml`;

export const SP_KEYS = spKeyPair();

export function samlOverrides(extra: { applications?: unknown[]; policies?: unknown[] } = {}): Record<string, unknown> {
  const sp = (name: string, settings: Record<string, unknown> = {}, groups = ['staff']) => ({
    name,
    displayName: `SP ${name}`,
    type: 'saml',
    groups,
    settings: {
      saml: {
        entityId: entityOf(name),
        acs: [{ url: acsOf(name), index: 0, isDefault: true }],
        slo: { url: sloOf(name), binding: 'redirect' },
        signingCertificates: [SP_KEYS.cert],
        attributes: { mail: 'email', displayName: 'displayName', groups: 'groups', givenName: 'givenName', dept: 'attributes.department' },
        ...settings,
      },
    },
  });
  return {
    server: { http: { host: '127.0.0.1', port: 0 }, trustedProxies: ['127.0.0.1/32'] },
    ldap: { enabled: false },
    throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100_000 },
    directory: {
      groups: [{ name: 'staff' }, { name: 'admins' }, { name: 'research' }],
      users: ['alice', 'bob', 'carol'].map((username) => ({
        username,
        email: `${username}@example.test`,
        displayName: `${username[0]!.toUpperCase()}${username.slice(1)} Example`,
        password: PASSWORD,
        groups: username === 'alice' ? ['staff', 'research'] : ['staff'],
        attributes: { givenName: username, familyName: 'Example', department: 'R&D "<x>" <!-- c -->', roles: ['a<b', 'c&d'] },
      })),
      applications: [
        sp('wiki'),
        sp('crm', { nameIdFormat: 'persistent' }),
        sp('vault'),
        sp('locked', {}, ['admins']),
        sp('secret', { encryptAssertions: true, encryptionCertificate: SP_KEYS.cert, nameIdFormat: 'transient' }),
        ...(extra.applications ?? []),
      ],
      policies: [{ name: 'vault-needs-mfa', resources: { include: ['app:vault'] }, action: 'mfa' }, ...(extra.policies ?? [])],
    },
  };
}

export async function startSamlServer(backend: Backend, extra: Parameters<typeof samlOverrides>[0] = {}): Promise<TestServer & { metadataUrl: string; metadata: string }> {
  const server = await startTestServer(backend, samlOverrides(extra));
  const metadataUrl = `${server.url}/saml/metadata`;
  const metadata = await (await fetch(metadataUrl)).text();
  return Object.assign(server, { metadataUrl, metadata });
}

/** The fields of the auto-submitting form Gatehouse answers with. */
export function readPostForm(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`no SAML POST form in: ${html.slice(0, 400)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]!] = decodeEntities(m[2]!);
  return { action: decodeEntities(action), fields };
}

function decodeEntities(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** A samlify SP for an application of the test server. */
export function samlifySp(name: string, options: Record<string, unknown> = {}): any {
  return samlify.ServiceProvider({
    entityID: entityOf(name),
    assertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: acsOf(name) }],
    singleLogoutService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: sloOf(name) }],
    privateKey: SP_KEYS.key,
    signingCert: SP_KEYS.cert,
    encPrivateKey: SP_KEYS.key,
    encryptCert: SP_KEYS.cert,
    wantAssertionsSigned: true,
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    ...options,
  });
}

/** The IdP as samlify sees it: from the published metadata. */
export function samlifyIdp(metadata: string, options: Record<string, unknown> = {}): any {
  return samlify.IdentityProvider({ metadata, ...options });
}

/** The certificates the metadata publishes (PEM). */
export function metadataCertificates(metadata: string): string[] {
  return [...metadata.matchAll(/<md:KeyDescriptor use="signing"><ds:KeyInfo[^>]*><ds:X509Data><ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/g)].map((m) => `-----BEGIN CERTIFICATE-----\n${m[1]!.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
}
