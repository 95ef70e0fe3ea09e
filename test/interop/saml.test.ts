/**
 * SAML with tools no one here wrote, against a started Gatehouse:
 *
 *  - `xmlsec1 --verify` (Debian xmlsec1) checks the signatures of a produced Response (Response and
 *    Assertion) and of the metadata with the certificate the metadata publishes;
 *  - `xmllint --schema` validates the Response and the metadata against the OASIS SAML 2.0 XSDs kept in
 *    protocols/saml/schemas;
 *  - headless Chromium signs in through the real pages for an SP-initiated request from a small SP
 *    (@node-saml/node-saml on a local port, which validates what its ACS receives): the password,
 *    then the TOTP code the SP's policy demands; the auto-submitting form posts to the SP without
 *    breaking the Content Security Policy.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { generateSync } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA_DIR } from '../../protocols/saml/xml-schema.ts';
import { createLogger } from '../../src/log.ts';
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { sqlite } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/ports.ts';
import { acsOf, Browser as CookieBrowser, entityOf, metadataCertificates, NodeSaml, readPostForm, SP_KEYS } from '../saml/helpers.ts';

const PASSWORD = 'copper-kettle-drifts-north-81';
const CLI = { actor: { type: 'cli' as const, name: 'saml-interop' } };

async function totpCode(secret: string): Promise<string> {
  const intoStep = (Date.now() / 1000) % 30;
  if (intoStep > 25) await new Promise((r) => setTimeout(r, (30.5 - intoStep) * 1000));
  return generateSync({ secret, epoch: Math.floor(Date.now() / 1000) });
}

describe('SAML interop', () => {
  let gh: Gatehouse;
  let drop: (() => Promise<void>) | undefined;
  let base: string;
  let spServer: Server;
  let spBase: string;
  let received: Array<{ nameID?: string; error?: string }> = [];
  let browser: Browser | undefined;
  let dir: string;

  beforeAll(async () => {
    const port = await freePort();
    const spPort = await freePort();
    base = `http://localhost:${port}`;
    spBase = `http://127.0.0.1:${spPort}`;
    const db = await sqlite.create();
    drop = db.drop;
    const sp = (name: string, acs: string) => ({ name, type: 'saml', groups: ['staff'], settings: { saml: { entityId: entityOf(name), acs: [{ url: acs, index: 0 }], signingCertificates: [SP_KEYS.cert], attributes: { mail: 'email', groups: 'groups' } } } });
    gh = await startGatehouse({
      config: testConfig(db.url, {
        server: { http: { host: '127.0.0.1', port, publicUrl: base } },
        ldap: { enabled: false },
        directory: {
          groups: [{ name: 'staff' }],
          users: [{ username: 'tom', displayName: 'Tom <Engineer>', email: 'tom@example.test', password: PASSWORD, groups: ['staff'] }],
          applications: [sp('wiki', acsOf('wiki')), sp('browser-sp', `${spBase}/acs`)],
          policies: [{ name: 'sp-mfa', resources: { include: ['app:browser-sp'] }, action: 'mfa' }],
        },
      }),
      env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY },
      logger: createLogger('silent'),
    });
    dir = mkdtempSync(join(tmpdir(), 'saml-interop-'));
    const metadata = await (await fetch(`${base}/saml/metadata`)).text();
    const nodeSaml = new NodeSaml({ entryPoint: `${base}/saml/sso`, issuer: entityOf('browser-sp'), callbackUrl: `${spBase}/acs`, audience: entityOf('browser-sp'), idpCert: metadataCertificates(metadata), privateKey: SP_KEYS.key, signatureAlgorithm: 'sha256', wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: 'never' });
    spServer = createHttpServer((req, res) => {
      void (async () => {
        if (req.url === '/login') {
          res.writeHead(302, { location: await nodeSaml.getAuthorizeUrlAsync('', undefined, {}) }).end();
          return;
        }
        if (req.method !== 'POST' || req.url !== '/acs') {
          res.writeHead(404).end();
          return;
        }
        let body = '';
        for await (const chunk of req) body += String(chunk);
        const form = Object.fromEntries(new URLSearchParams(body));
        try {
          const { profile } = await nodeSaml.validatePostResponseAsync(form);
          received.push({ nameID: profile?.nameID });
          res.writeHead(200, { 'content-type': 'text/html' }).end(`<h1>Signed in as ${String(profile?.nameID).replace(/[<>&]/g, '')}</h1>`);
        } catch (err) {
          received.push({ error: String(err) });
          res.writeHead(400).end('refused');
        }
      })();
    });
    await new Promise<void>((resolve) => spServer.listen(spPort, '127.0.0.1', resolve));
  }, 60_000);

  afterAll(async () => {
    spServer?.close();
    await browser?.close();
    await gh?.stop();
    await drop?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function response(): Promise<string> {
    const cookies = new CookieBrowser(base);
    const res = await cookies.navigate('/saml/start/wiki', { username: 'tom', password: PASSWORD });
    return Buffer.from(readPostForm(await res.text()).fields.SAMLResponse!, 'base64').toString('utf8');
  }

  it('xmlsec1 verifies the Response and the Assertion signatures, and the metadata, with the published certificate', async () => {
    const metadata = await (await fetch(`${base}/saml/metadata`)).text();
    writeFileSync(join(dir, 'idp.pem'), metadataCertificates(metadata)[0]!);
    writeFileSync(join(dir, 'metadata.xml'), metadata);
    writeFileSync(join(dir, 'response.xml'), await response());
    const verify = (file: string, node: string, extra: string[] = []) =>
      execFileSync('xmlsec1', ['--verify', '--pubkey-cert-pem', join(dir, 'idp.pem'), '--enabled-key-data', 'x509', ...extra, '--node-xpath', node, join(dir, file)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const idAttr = ['--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:protocol:Response', '--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:assertion:Assertion'];
    expect(() => verify('response.xml', "/*[local-name()='Response']/*[local-name()='Signature']", idAttr)).not.toThrow();
    expect(() => verify('response.xml', "//*[local-name()='Assertion']/*[local-name()='Signature']", idAttr)).not.toThrow();
    expect(() => verify('metadata.xml', "/*[local-name()='EntityDescriptor']/*[local-name()='Signature']", ['--id-attr:ID', 'urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor'])).not.toThrow();
    // And refuses a changed one.
    writeFileSync(join(dir, 'tampered.xml'), (await response()).replace('tom@example.test</saml:NameID>', 'eve@example.test</saml:NameID>'));
    expect(() => verify('tampered.xml', "//*[local-name()='Assertion']/*[local-name()='Signature']", idAttr)).toThrow();
  });

  it('xmllint validates the Response and the metadata against the OASIS SAML 2.0 schemas', async () => {
    writeFileSync(join(dir, 'response2.xml'), await response());
    writeFileSync(join(dir, 'metadata2.xml'), await (await fetch(`${base}/saml/metadata`)).text());
    const lint = (schema: string, file: string) => execFileSync('xmllint', ['--noout', '--nonet', '--schema', join(SCHEMA_DIR, schema), join(dir, file)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(() => lint('saml-schema-protocol-2.0.xsd', 'response2.xml')).not.toThrow();
    expect(() => lint('saml-schema-metadata-2.0.xsd', 'metadata2.xml')).not.toThrow();
  });

  it('Chromium: SP-initiated SSO, the password then the TOTP code the policy demands, and the SP accepts the response', async () => {
    const tom = await gh.core.directory.users.find('tom');
    const { secret } = await gh.core.totp.enrol(CLI, tom.id, 'tom');
    await gh.core.totp.confirm(CLI, tom.id, generateSync({ secret, epoch: Math.floor(Date.now() / 1000) - 30 }));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--host-resolver-rules=MAP localhost 127.0.0.1'] });
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${spBase}/login`);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Username').fill('tom');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Code from your authenticator app').fill(await totpCode(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${spBase}/acs`);
    expect(await page.locator('h1').textContent()).toBe('Signed in as tom@example.test');
    expect(received).toEqual([{ nameID: 'tom@example.test' }]);
    expect(violations).toEqual([]);
    await context.close();
  }, 60_000);
});
