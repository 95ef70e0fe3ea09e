/**
 * A SAML service provider's registration (settings.saml): from metadata or fields, every problem
 * named; through the admin API (400 naming them) and the CLI (--saml-metadata) on both stores.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSp, readSpMetadata, samlSettingsProblems } from '../../protocols/saml/settings.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { cliFixture } from '../cli/helpers.ts';
import { SP_KEYS, startSamlServer } from './helpers.ts';

const b64 = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');

export function spMetadata(options: { entityId?: string; acs?: string; doctype?: boolean; extra?: string } = {}): string {
  return `${options.doctype ? '<!DOCTYPE x [<!ENTITY a "b">]>' : ''}<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${options.entityId ?? 'https://nextcloud.example.com/saml'}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true" WantAssertionsSigned="true">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${b64(SP_KEYS.cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${b64(SP_KEYS.cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://nextcloud.example.com/saml/slo"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${options.acs ?? 'https://nextcloud.example.com/saml/acs'}" index="1" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://nextcloud.example.com/saml/artifact" index="2"/>
    ${options.extra ?? ''}
  </md:SPSSODescriptor>
</md:EntityDescriptor>`;
}

describe('settings.saml', () => {
  it('from metadata: entityID, the HTTP-POST ACS, SLO, certificates, NameID format, signed requests', () => {
    const parsed = parseSp({ saml: { metadata: spMetadata(), attributes: { mail: 'email', memberOf: 'groups' } } });
    expect(parsed).toMatchObject({
      ok: true,
      sp: {
        entityId: 'https://nextcloud.example.com/saml',
        acs: [{ url: 'https://nextcloud.example.com/saml/acs', index: 1, binding: 'post', isDefault: true }],
        slo: { url: 'https://nextcloud.example.com/saml/slo', binding: 'redirect' },
        nameIdFormat: 'persistent',
        requireSignedRequests: true,
        wantAssertionsSigned: true,
        wantResponseSigned: true,
        encryptAssertions: false,
        dataEncryption: 'aes256-gcm',
      },
    });
    expect(parsed.ok && parsed.sp.signingCertificates).toHaveLength(1);
    expect(parsed.ok && parsed.sp.encryptionCertificate).toContain('BEGIN CERTIFICATE');
  });

  it('refuses a DOCTYPE, malformed XML, a wrong root, no POST ACS, an http ACS off the loopback', () => {
    expect(readSpMetadata(spMetadata({ doctype: true }))).toMatchObject({ ok: false, problems: [expect.stringMatching(/DOCTYPE/)] });
    expect(readSpMetadata('<md:EntityDescriptor')).toMatchObject({ ok: false, problems: [expect.stringMatching(/well-formed/)] });
    expect(readSpMetadata('<root/>')).toMatchObject({ ok: false, problems: [expect.stringMatching(/EntityDescriptor/)] });
    expect(readSpMetadata(spMetadata().replace(/<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"[^>]+>/, ''))).toMatchObject({ ok: false, problems: [expect.stringMatching(/HTTP-POST/)] });
    expect(samlSettingsProblems({ type: 'saml', settings: { saml: { metadata: spMetadata({ acs: 'http://app.example.com/acs' }) } } })).toEqual([{ path: 'settings.saml.metadata', message: expect.stringMatching(/acs\.0\.url: .*https/) }]);
  });

  it('from fields: every problem named, with its path', () => {
    const problems = samlSettingsProblems({
      type: 'saml',
      settings: {
        saml: {
          acs: [{ url: 'https://a.example/acs', index: 0 }, { url: 'https://a.example/acs2', index: 0 }],
          signingCertificates: ['not a certificate'],
          nameIdFormat: 'x509',
          attributes: { mail: 'emial' },
          signatureAlgorithm: 'rsa-sha1',
        },
      },
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['settings.saml.signingCertificates.0', 'settings.saml.nameIdFormat', 'settings.saml.attributes.mail', 'settings.saml.signatureAlgorithm']));
    const second = samlSettingsProblems({ type: 'saml', settings: { saml: { acs: [{ url: 'https://a.example/acs', index: 0 }, { url: 'https://a.example/acs2', index: 0 }], encryptAssertions: true, requireSignedRequests: true, wantAssertionsSigned: false, wantResponseSigned: false } } });
    expect(second.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'settings.saml.entityId: is required (or give the metadata)',
      'settings.saml.acs: two assertion consumer services have the same index',
      'settings.saml.signingCertificates: signed requests are required but no signing certificate is registered to verify them with',
      'settings.saml.encryptionCertificate: encryptAssertions needs the certificate to encrypt to',
      'settings.saml.wantResponseSigned: either the Response or the Assertion must be signed',
    ]);
    expect(samlSettingsProblems({ type: 'saml', settings: { saml: { metadata: spMetadata(), entityId: 'x' } } })).toEqual([{ path: 'settings.saml.entityId', message: 'comes from the metadata: give one or the other' }]);
    // Not a SAML application, or not registered yet: nothing to check.
    expect(samlSettingsProblems({ type: 'oidc', settings: { saml: 1 } })).toEqual([]);
    expect(samlSettingsProblems({ type: 'saml', settings: {} })).toEqual([]);
  });
});

describe('settings.saml.metadataFile in the YAML file', () => {
  it('is read, relative to the configuration file, into settings.saml.metadata; a missing file is an error at its line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'saml-yaml-'));
    writeFileSync(join(dir, 'sp.xml'), spMetadata());
    const yaml = (name: string) => `directory:\n  groups: [{ name: staff }]\n  applications:\n    - name: nextcloud\n      type: saml\n      groups: [staff]\n      settings:\n        saml:\n          metadataFile: ${name}\n`;
    writeFileSync(join(dir, 'good.yaml'), yaml('sp.xml'));
    writeFileSync(join(dir, 'bad.yaml'), yaml('missing.xml'));
    const config = await loadConfigFile(join(dir, 'good.yaml'), ConfigSchema, {});
    const settings = config.directory.applications[0]!.settings as { saml: Record<string, unknown> };
    expect(settings.saml.metadataFile).toBeUndefined();
    expect(parseSp(settings)).toMatchObject({ ok: true, sp: { entityId: 'https://nextcloud.example.com/saml' } });
    await expect(loadConfigFile(join(dir, 'bad.yaml'), ConfigSchema, {})).rejects.toThrow(/bad\.yaml:9:\d+: directory\.applications\[0\]\.settings\.saml\.metadataFile: cannot read .*missing\.xml/);
  });
});

describe.each(backends)('SAML SPs through the admin API and the CLI ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startSamlServer(backend);
  }, 60_000);
  afterAll(async () => server?.stop());

  it('POST /applications with SP metadata creates it; a wrong one is a 400 naming each problem', async () => {
    const created = await server.api('/api/v1/applications', { method: 'POST', json: { name: 'nextcloud', type: 'saml', groups: ['staff'], settings: { saml: { metadata: spMetadata() } } } });
    expect(created.status).toBe(201);
    const bad = await server.api('/api/v1/applications', { method: 'POST', json: { name: 'broken', type: 'saml', settings: { saml: { acs: [{ url: 'ftp://x', index: 0 }], nameIdFormat: 'nope' } } } });
    expect(bad.status).toBe(400);
    const body = JSON.stringify(await bad.json());
    expect(body).toContain('settings.saml.acs.0.url');
    expect(body).toContain('settings.saml.nameIdFormat');
    const doctype = await server.api('/api/v1/applications', { method: 'POST', json: { name: 'evil', type: 'saml', settings: { saml: { metadata: spMetadata({ doctype: true, entityId: 'https://evil.example' }) } } } });
    expect(doctype.status).toBe(400);
    expect(JSON.stringify(await doctype.json())).toContain('DOCTYPE');
  });

  it('gatehouse app add --type saml --saml-metadata FILE', async () => {
    const fx = await cliFixture(backend);
    try {
      expect((await fx.cli(['migrate'])).code).toBe(0);
      const dir = mkdtempSync(join(tmpdir(), 'saml-md-'));
      writeFileSync(join(dir, 'sp.xml'), spMetadata({ entityId: 'https://gitlab.example.com' }));
      const added = await fx.cli(['app', 'add', 'gitlab', '--type', 'saml', '--saml-metadata', join(dir, 'sp.xml')]);
      expect(added).toMatchObject({ code: 0, stdout: expect.stringMatching(/created application 'gitlab'.*type saml/) });
      writeFileSync(join(dir, 'bad.xml'), '<oops');
      const bad = await fx.cli(['app', 'add', 'bad', '--type', 'saml', '--saml-metadata', join(dir, 'bad.xml')]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/settings\.saml\.metadata: is not well-formed XML/);
      expect((await fx.cli(['app', 'add', 'x', '--saml-metadata', join(dir, 'sp.xml')])).stderr).toMatch(/--saml-metadata is for --type saml/);
    } finally {
      await fx.cleanup();
    }
  });
});
