/**
 * SAML single sign-on against a started Gatehouse on both stores, read by two SP libraries no one
 * here wrote (samlify, @node-saml/node-saml): IdP-initiated SSO from the portal's tile, the access
 * decision (deny, MFA), NameID formats, attributes (multi-valued, escaped), encrypted assertions,
 * metadata.
 */
import { generateSync } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import type { KnexStore } from '../../src/store/open.ts';
import { acsOf, Browser, entityOf, metadataCertificates, NodeSaml, readPostForm, samlifyIdp, samlifySp, SP_KEYS, startSamlServer } from './helpers.ts';

const CLI = { actor: { type: 'cli' as const, name: 'saml-test' } };

describe.each(backends)('SAML SSO ($name)', (backend) => {
  let server: TestServer & { metadataUrl: string; metadata: string };
  beforeAll(async () => {
    server = await startSamlServer(backend);
  }, 60_000);
  afterAll(async () => server?.stop());

  /** IdP-initiated: the tile's link, signing in on the way; the auto-post form back. */
  async function idpInitiated(browser: Browser, app: string, username = 'alice') {
    const res = await browser.navigate(`/saml/start/${app}`, { username });
    const html = await res.text();
    return { res, html };
  }

  it('publishes signed metadata with the signing certificate, SSO and SLO on both bindings', async () => {
    const md = server.metadata;
    expect(md).toContain(`entityID="${server.url}/saml/metadata"`);
    expect(md).toContain(`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${server.url}/saml/sso"/>`);
    expect(md).toContain(`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${server.url}/saml/sso"/>`);
    expect(md).toContain('SingleLogoutService');
    expect(md).toMatch(/<md:EntityDescriptor[^>]*><ds:Signature/);
    expect(metadataCertificates(md)).toHaveLength(1);
    // Byte-identical certificates on every fetch (derived from the key record).
    expect(metadataCertificates(await (await fetch(server.metadataUrl)).text())).toEqual(metadataCertificates(md));
  });

  it('IdP-initiated SSO: samlify and node-saml accept the signed response; no InResponseTo; attributes escaped and multi-valued', async () => {
    const browser = new Browser(server.url);
    const { res, html } = await idpInitiated(browser, 'wiki');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain('form-action http://127.0.0.1:9');
    const form = readPostForm(html);
    expect(form.action).toBe(acsOf('wiki'));
    const xml = Buffer.from(form.fields.SAMLResponse!, 'base64').toString('utf8');
    expect(xml).not.toContain('InResponseTo');
    expect(xml).toContain('R&amp;D &quot;&lt;x&gt;&quot; &lt;!-- c --&gt;');

    const { extract } = await samlifySp('wiki').parseLoginResponse(samlifyIdp(server.metadata), 'post', { body: form.fields });
    expect(extract.nameID).toBe('alice@example.test');
    expect(extract.attributes.mail).toBe('alice@example.test');
    expect(extract.attributes.groups).toEqual(['research', 'staff']);
    expect(extract.attributes.dept).toBe('R&D "<x>" <!-- c -->');

    const nodeSaml = new NodeSaml({ callbackUrl: acsOf('wiki'), issuer: entityOf('wiki'), audience: entityOf('wiki'), idpCert: metadataCertificates(server.metadata), wantAssertionsSigned: true, wantAuthnResponseSigned: true, acceptedClockSkewMs: 5000 });
    const { profile } = await nodeSaml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse });
    expect(profile.nameID).toBe('alice@example.test');
    expect(profile.groups).toEqual(['research', 'staff']);
    expect(profile.issuer).toBe(`${server.url}/saml/metadata`);
    expect(profile.getAssertionXml()).toContain('urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport');

    const issued = await server.gh.core.audit.query({ type: 'saml.response.issued' } as never);
    expect(JSON.stringify(issued)).toContain('idp-initiated');

    // Signed in, the tile's link answers at once (nothing stored, no /saml/continue hop).
    const tile = await browser.fetch('/saml/start/wiki');
    expect(tile.status).toBe(200);
    expect(readPostForm(await tile.text()).action).toBe(acsOf('wiki'));
    // A HEAD (a link checker) is parked instead: no response issued, nothing audited for it.
    const issuedBefore = (await server.gh.core.audit.query({ type: 'saml.response.issued' } as never)).items.length;
    const head = await browser.fetch('/saml/start/wiki', { method: 'HEAD' });
    expect(head.status).toBe(303);
    expect(head.headers.get('location')).toMatch(/^\/saml\/continue\/[A-Za-z0-9_-]{22}$/);
    expect((await server.gh.core.audit.query({ type: 'saml.response.issued' } as never)).items).toHaveLength(issuedBefore);
  });

  it("the person's groups are read once per response: the decision's, reused for the groups attribute", async () => {
    const browser = new Browser(server.url);
    await idpInitiated(browser, 'wiki');
    const knex = (server.gh.store as KnexStore).knex;
    const reads: string[] = [];
    const watch = (q: { sql: string }) => {
      if (/with recursive up/.test(q.sql)) reads.push(q.sql);
    };
    knex.on('query', watch);
    const tile = await browser.fetch('/saml/start/wiki').finally(() => knex.off('query', watch));
    const xml = Buffer.from(readPostForm(await tile.text()).fields.SAMLResponse!, 'base64').toString('utf8');
    expect(xml).toContain('>research</saml:AttributeValue><saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">staff<');
    expect(reads).toHaveLength(1);
  });

  it('a tampered response fails at both SPs', async () => {
    const browser = new Browser(server.url);
    const form = readPostForm((await idpInitiated(browser, 'wiki')).html);
    const xml = Buffer.from(form.fields.SAMLResponse!, 'base64').toString('utf8').replace('alice@example.test</saml:NameID>', 'mallory@example.test</saml:NameID>');
    const SAMLResponse = Buffer.from(xml).toString('base64');
    await expect(samlifySp('wiki').parseLoginResponse(samlifyIdp(server.metadata), 'post', { body: { SAMLResponse } })).rejects.toBeTruthy();
    const nodeSaml = new NodeSaml({ callbackUrl: acsOf('wiki'), issuer: entityOf('wiki'), audience: entityOf('wiki'), idpCert: metadataCertificates(server.metadata), wantAssertionsSigned: true, wantAuthnResponseSigned: true });
    await expect(nodeSaml.validatePostResponseAsync({ SAMLResponse })).rejects.toBeTruthy();
  });

  it('persistent NameID: stable for the person and SP, opaque, different per SP and per person', async () => {
    const nameIdOf = async (username: string) => {
      const browser = new Browser(server.url);
      const form = readPostForm((await idpInitiated(browser, 'crm', username)).html);
      const { extract } = await samlifySp('crm').parseLoginResponse(samlifyIdp(server.metadata), 'post', { body: form.fields });
      expect(Buffer.from(form.fields.SAMLResponse!, 'base64').toString()).toContain('nameid-format:persistent');
      return extract.nameID as string;
    };
    const first = await nameIdOf('alice');
    expect(await nameIdOf('alice')).toBe(first);
    expect(await nameIdOf('bob')).not.toBe(first);
    expect(first).not.toContain('alice');
    // Another SP gets another value for the same person (derived with its entityID).
    const front = (server.gh.frontEnd('saml') as unknown as { context: { persistentId(userId: string, sp: string): string } }).context;
    const alice = (await server.gh.core.directory.users.list({ q: 'alice' })).items.find((u) => u.username === 'alice')!;
    expect(front.persistentId(alice.id, entityOf('crm'))).toBe(first);
    expect(front.persistentId(alice.id, entityOf('wiki'))).not.toBe(first);
  });

  it('an encrypted assertion (AES-256-GCM, RSA-OAEP) is decrypted by both SPs; transient NameID', async () => {
    const browser = new Browser(server.url);
    const form = readPostForm((await idpInitiated(browser, 'secret')).html);
    const xml = Buffer.from(form.fields.SAMLResponse!, 'base64').toString('utf8');
    expect(xml).toContain('EncryptedAssertion');
    expect(xml).toContain('http://www.w3.org/2009/xmlenc11#aes256-gcm');
    expect(xml).not.toContain('alice');
    const { extract } = await samlifySp('secret', { isAssertionEncrypted: true }).parseLoginResponse(samlifyIdp(server.metadata, { isAssertionEncrypted: true }), 'post', { body: form.fields });
    expect(extract.attributes.mail).toBe('alice@example.test');
    const nodeSaml = new NodeSaml({ callbackUrl: acsOf('secret'), issuer: entityOf('secret'), audience: entityOf('secret'), idpCert: metadataCertificates(server.metadata), decryptionPvk: SP_KEYS.key, wantAssertionsSigned: true, wantAuthnResponseSigned: true });
    const { profile } = await nodeSaml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse });
    expect(profile.nameIDFormat).toBe('urn:oasis:names:tc:SAML:2.0:nameid-format:transient');
    expect(profile.mail).toBe('alice@example.test');
  });

  it('IdP-initiated for an application the person is not assigned to: a denial page with the reference, no response', async () => {
    const browser = new Browser(server.url);
    const { res, html } = await idpInitiated(browser, 'locked');
    expect(res.status).toBe(403);
    expect(html).not.toContain('SAMLResponse');
    expect(html).toMatch(/reference/i);
  });

  it('MFA required by policy: the code step of the sign-in pages, then an assertion with the multi-factor context class', async () => {
    const carol = (await server.gh.core.directory.users.list({ q: 'carol' })).items.find((u) => u.username === 'carol')!;
    const { secret } = await server.gh.core.totp.enrol(CLI, carol.id, 'carol');
    await server.gh.core.totp.confirm(CLI, carol.id, generateSync({ secret, epoch: Math.floor(Date.now() / 1000) - 30 }));
    const browser = new Browser(server.url);
    const afterPassword = await browser.navigate('/saml/start/vault', { username: 'carol' }, (location) => location.pathname === '/login/mfa');
    expect(afterPassword.status).toBe(303);
    expect(afterPassword.headers.get('location')).toBe('/login/mfa');
    const page = await (await browser.fetch('/login/mfa')).text();
    expect(page).not.toContain('SAMLResponse');
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const code = generateSync({ secret, epoch: Math.floor(Date.now() / 1000) });
    const verified = await browser.post('/login/mfa', { csrf, code });
    const res = await browser.navigate(verified.headers.get('location')!);
    const form = readPostForm(await res.text());
    expect(form.action).toBe(acsOf('vault'));
    const xml = Buffer.from(form.fields.SAMLResponse!, 'base64').toString('utf8');
    expect(xml).toContain('<saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef>');
    await samlifySp('vault').parseLoginResponse(samlifyIdp(server.metadata), 'post', { body: form.fields });
  });

  it('unknown application, unknown path, expired request', async () => {
    expect((await fetch(`${server.url}/saml/start/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/saml/nothing`)).status).toBe(404);
    expect((await fetch(`${server.url}/saml/continue/AAAAAAAAAAAAAAAAAAAAAA`)).status).toBe(400);
    expect((await fetch(`${server.url}/saml/metadata`, { method: 'POST' })).status).toBe(405);
  });

  it("the portal's tile for a SAML application links to its IdP-initiated sign-in", async () => {
    const browser = new Browser(server.url);
    const res = await browser.navigate('/', { username: 'alice' });
    expect(await res.text()).toContain('href="/saml/start/wiki"');
  });

  // Last: it changes the keys for the rest of the file.
  it('after gatehouse keys rotate: both certificates in the metadata, the new key signs', async () => {
    const before = metadataCertificates(server.metadata);
    await server.gh.core.signingKeys({ algorithms: ['RS256', 'ES256'], rotationOverlapHours: 24 }).rotate(CLI);
    const metadata = await (await fetch(server.metadataUrl)).text();
    const published = metadataCertificates(metadata);
    expect(published).toHaveLength(2);
    expect(published[1]).toBe(before[0]);
    const browser = new Browser(server.url);
    const form = readPostForm((await idpInitiated(browser, 'wiki')).html);
    const onlyNew = new NodeSaml({ callbackUrl: acsOf('wiki'), issuer: entityOf('wiki'), audience: entityOf('wiki'), idpCert: [published[0]!], wantAssertionsSigned: true, wantAuthnResponseSigned: true });
    await expect(onlyNew.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse })).resolves.toBeTruthy();
    const onlyOld = new NodeSaml({ callbackUrl: acsOf('wiki'), issuer: entityOf('wiki'), audience: entityOf('wiki'), idpCert: [before[0]!], wantAssertionsSigned: true, wantAuthnResponseSigned: true });
    await expect(onlyOld.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse })).rejects.toBeTruthy();
  });
});
