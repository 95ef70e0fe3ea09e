/**
 * Headless Chromium (Debian's `chromium`, driven by playwright-core) signs in through the real
 * pages: password only, password + TOTP, a passkey registered in the portal with Chrome's virtual
 * authenticator (CDP WebAuthn domain) then used to sign in without a username, a policy denial, and
 * adaptive MFA waived on a trusted network, and single sign-on into two OpenID Connect clients (a
 * small relying party made with openid-client, its callback on a local port) with the password asked
 * once. Each test has a fresh browser context; every page is
 * saved as a screenshot under test-artifacts/screenshots/. A page that breaks the Content Security
 * Policy fails the test (the pages use no inline script or style).
 *
 * The site is served as http://localhost:<port>: WebAuthn needs a host name as RP ID (not an IP
 * address), and browsers treat localhost as a secure context, so Secure cookies work over HTTP.
 */
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { generateSync } from 'otplib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { sqlite } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';
import { freePort } from '../helpers/ports.ts';

const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'screenshots');
const PASSWORD = 'copper-kettle-drifts-north-81';
const CLI = { actor: { type: 'cli' as const, name: 'browser-test' } };


/** The TOTP code of the step `offset` steps from now, waiting out the last seconds of a step. */
async function totpCode(secret: string, offset = 0): Promise<string> {
  const intoStep = (Date.now() / 1000) % 30;
  if (intoStep > 25) await new Promise((r) => setTimeout(r, (30.5 - intoStep) * 1000));
  return generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });
}

const RP_SECRET = 'rp-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/**
 * A tiny OpenID Connect relying party: /start/<client> sends the browser to Gatehouse (code flow
 * with PKCE and state), /cb/<client> redeems the code with openid-client and shows who signed in.
 */
async function relyingParty(issuer: string, port: number): Promise<{ server: Server; base: string }> {
  const server = createHttpServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${port}`;
  const configs = new Map<string, oidc.Configuration>();
  const pending = new Map<string, { verifier: string; state: string }>();
  const configFor = async (client: string) => {
    let config = configs.get(client);
    if (!config) {
      config = await oidc.discovery(new URL(issuer), client, RP_SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
      configs.set(client, config);
    }
    return config;
  };
  server.on('request', (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      const [, action, client] = url.pathname.split('/');
      try {
        const config = await configFor(client!);
        if (action === 'start') {
          const verifier = oidc.randomPKCECodeVerifier();
          const state = oidc.randomState();
          pending.set(client!, { verifier, state });
          const to = oidc.buildAuthorizationUrl(config, { redirect_uri: `${base}/cb/${client}`, scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
          res.writeHead(303, { location: to.href }).end();
          return;
        }
        const { verifier, state } = pending.get(client!)!;
        const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
        const claims = tokens.claims()!;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>${client}</title><h1>${client}: signed in as ${String(claims.preferred_username ?? claims.sub)}</h1>`);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`relying party error: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
  });
  return { server, base };
}

describe('the sign-in pages and portal in Chromium', () => {
  let gh: Gatehouse;
  let drop: () => Promise<void>;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let violations: string[];
  let rp: { server: Server; base: string } | undefined;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const port = await freePort();
    const rpPort = await freePort();
    base = `http://localhost:${port}`;
    const rpBase = `http://127.0.0.1:${rpPort}`;
    const db = await sqlite.create();
    drop = db.drop;
    gh = await startGatehouse({
      config: testConfig(db.url, {
        server: { http: { host: '127.0.0.1', port, publicUrl: base } },
        mfa: { webauthn: { rpId: 'localhost', rpName: 'Gatehouse test', origins: [base] } },
        directory: {
          groups: [{ name: 'staff' }, { name: 'engineering', memberOf: ['staff'] }, { name: 'ops', memberOf: ['staff'] }, { name: 'kiosk' }],
          networks: [{ name: 'office', description: 'This machine, standing in for the office LAN', cidrs: ['127.0.0.1/32', '::1/128'] }],
          users: [
            { username: 'alice', displayName: 'Alice Example', email: 'alice@example.com', password: PASSWORD, groups: ['staff'] },
            { username: 'tom', displayName: 'Tom Engineer', password: PASSWORD, groups: ['engineering'] },
            { username: 'pat', displayName: 'Pat Passkey', password: PASSWORD, groups: ['staff'] },
            { username: 'olga', displayName: 'Olga Ops', password: PASSWORD, groups: ['ops'] },
            { username: 'kim', displayName: 'Kim Kiosk', password: PASSWORD, groups: ['kiosk'] },
          ],
          applications: [
            { name: 'wiki', displayName: 'Team wiki', description: 'Notes, how-tos and runbooks', groups: ['staff'], settings: { url: 'https://wiki.example.test/' } },
            { name: 'grafana', displayName: 'Grafana', description: 'Dashboards', groups: ['engineering', 'ops'], settings: { url: 'https://grafana.example.test/' } },
            // Two OpenID Connect clients of the relying party below (its port is fixed before it starts).
            { name: 'rp-one', displayName: 'RP one', type: 'oidc', groups: ['staff'], secret: RP_SECRET, settings: { redirectUris: [`${rpBase}/cb/rp-one`], url: `${rpBase}/start/rp-one` } },
            { name: 'rp-two', displayName: 'RP two', type: 'oidc', groups: ['staff'], secret: RP_SECRET, settings: { redirectUris: [`${rpBase}/cb/rp-two`], url: `${rpBase}/start/rp-two` } },
          ],
          policies: [
            { name: 'eng-mfa', description: 'Engineering always needs a second factor', users: { groups: ['engineering'] }, action: 'mfa' },
            { name: 'ops-mfa-off-site', description: 'Ops needs a second factor outside the office', users: { groups: ['ops'] }, except: { network: { in: ['office'] } }, action: 'mfa' },
            { name: 'kiosk-deny', description: 'Kiosk accounts may not sign in interactively', users: { groups: ['kiosk'] }, action: 'deny' },
          ],
        },
      }),
      env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY },
      logger: createLogger('silent'),
    });
    if (gh.oidc) rp = await relyingParty(`${base}/oidc`, rpPort);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
        '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP localhost 127.0.0.1',
      ],
    });
  });

  afterAll(async () => {
    rp?.server.close();
    await browser?.close();
    await gh?.stop();
    await drop?.();
  });

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    page = await context.newPage();
    violations = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page.on('pageerror', (error) => violations.push(String(error)));
  });

  afterEach(async () => {
    await context?.close();
    expect(violations).toEqual([]);
  });

  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  async function passwordStep(username: string, returnTo = '/'): Promise<void> {
    await page.goto(`${base}${returnTo}`);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  it('password only, into the portal and around it', async () => {
    await page.goto(`${base}/`);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/login');
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()).toBe(true); // the script ran
    await shot('01-login');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('not her password at all');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('Wrong username or password.').waitFor();
    await shot('02-login-wrong-password');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your applications' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    const wiki = page.getByRole('listitem').filter({ hasText: 'Team wiki' });
    expect(await wiki.getByRole('link', { name: 'Open' }).getAttribute('href')).toBe('https://wiki.example.test/');
    expect(await page.getByRole('listitem').filter({ hasText: 'Grafana' }).count()).toBe(0); // not her groups
    await shot('03-portal-applications');
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === '__Host-gatehouse_session')).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax' });

    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Change your password' }).waitFor();
    await shot('04-portal-account');
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { name: 'Security keys and passkeys' }).waitFor();
    await shot('05-portal-security');
    await page.getByRole('link', { name: 'Sessions and devices' }).click();
    await page.getByText('This session').waitFor();
    await shot('06-portal-sessions');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out of Gatehouse.').waitFor();
    await shot('07-signed-out');
    await page.goto(`${base}/account`);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/login');
  });

  it('password + TOTP: enrolled in the portal with the QR code page, then asked for at the next sign-in', async () => {
    // Tom's policy asks for a second factor he does not have yet: an administrator's first step is
    // outside this test, so enrol him through the core and show the portal's enrolment with Alice.
    const tom = await gh.core.directory.users.find('tom');
    const { secret } = await gh.core.totp.enrol(CLI, tom.id, 'tom');
    await gh.core.totp.confirm(CLI, tom.id, await totpCode(secret, -1));

    await passwordStep('tom', '/account');
    await page.getByLabel('Code from your authenticator app').waitFor();
    expect(new URL(page.url()).pathname).toBe('/login/mfa');
    await shot('10-mfa-totp');
    await page.getByLabel('Code from your authenticator app').fill('000000' === (await totpCode(secret)) ? '111111' : '000000');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('That code did not work').waitFor();
    await shot('11-mfa-totp-wrong');
    await page.getByLabel('Code from your authenticator app').fill(await totpCode(secret));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Account' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/account');

    // The enrolment pages, as a person goes through them.
    await context.clearCookies();
    await passwordStep('alice', '/account/security');
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await page.getByRole('img', { name: /QR code/ }).waitFor();
    await shot('12-totp-enrolment');
    await page.getByText('Cannot scan it?').click();
    const key = (await page.locator('code.secret').textContent())!.replaceAll(' ', '');
    await page.getByRole('textbox', { name: 'Code' }).fill(await totpCode(key));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    expect(await page.locator('ol.codes li').count()).toBe(10);
    await shot('13-recovery-codes');
    await gh.core.totp.reset(CLI, (await gh.core.directory.users.find('alice')).id);
  });

  it('a passkey: registered in the portal with the virtual authenticator, then signing in without a username', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await passwordStep('pat', '/account/security');
    await page.getByLabel('Name it').fill('Virtual passkey');
    await page.getByRole('button', { name: 'Add a security key or passkey' }).click();
    await page.getByText('The security key or passkey was added.').waitFor();
    await expect.poll(() => page.getByRole('cell', { name: 'Virtual passkey' }).count()).toBe(1);
    expect(await page.getByRole('cell', { name: /^passkey/ }).count()).toBe(1); // discoverable
    await shot('20-passkey-registered');
    const pat = await gh.core.directory.users.find('pat');
    expect(await gh.core.webauthn.list(pat.id)).toMatchObject([{ name: 'Virtual passkey', discoverable: true }]);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out of Gatehouse.').waitFor();
    await page.goto(`${base}/login?return_to=${encodeURIComponent('/account/sessions')}`);
    await shot('21-login-passkey');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Sessions and devices' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/account/sessions');
    // The sign-in is one event: the decision, carrying the passkey check.
    const [event] = (await gh.core.audit.query({ type: 'access.decision', user: 'pat', limit: 1 })).items;
    expect(event).toMatchObject({ outcome: 'success', details: { decision: 'allow', checks: [{ type: 'authn.webauthn', details: { passkey: true, userVerified: true } }] } });
    await shot('22-signed-in-with-passkey');
  });

  it('a policy denial: a generic page with a reference, and no session', async () => {
    await passwordStep('kim');
    await page.getByRole('heading', { name: 'Access denied' }).waitFor();
    const reference = (await page.locator('.reference code').textContent())!;
    expect(reference).toMatch(/^[0-9a-f-]{36}$/);
    expect(await page.content()).not.toContain('kiosk');
    await shot('30-denied');
    expect((await context.cookies()).some((c) => c.name === '__Host-gatehouse_session')).toBe(false);
    const [decision] = (await gh.core.audit.query({ type: 'access.decision', user: 'kim', limit: 1 })).items;
    expect(decision).toMatchObject({ requestId: reference, outcome: 'denied' });
  });

  it('adaptive MFA: Ops signs in with the password alone from the office network', async () => {
    await passwordStep('olga');
    await page.getByRole('heading', { name: 'Your applications' }).waitFor();
    expect(await page.getByText('Grafana').count()).toBe(1);
    await shot('40-adaptive-office');
    const [decision] = (await gh.core.audit.query({ type: 'access.decision', user: 'olga', limit: 1 })).items;
    expect(decision).toMatchObject({ outcome: 'success', details: { decision: 'allow', networks: ['office'] } });
    // From anywhere else the same policy asks for a second factor.
    const olga = await gh.core.directory.users.find('olga');
    const elsewhere = await gh.core.access.explain({ user: olga, resource: 'portal', protocol: 'portal', clientIp: '203.0.113.7', authn: [{ method: 'password', at: new Date().toISOString() }] });
    expect(elsewhere.decision.action).toBe('mfa');
  });

  it('single sign-on: the password once for the first OpenID Connect client, not again for the second', async (t) => {
    if (!rp) return t.skip();
    await page.goto(`${rp.base}/start/rp-one`);
    await expect.poll(() => new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('resource')).toBe('app:rp-one');
    await shot('50-sso-login');
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'rp-one: signed in as alice' }).waitFor();
    await shot('51-sso-first-client');

    // The second client from the portal's launch link: no password asked.
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Your applications' }).waitFor();
    await page.getByRole('listitem').filter({ hasText: 'RP two' }).getByRole('link', { name: 'Open' }).click();
    await page.getByRole('heading', { name: 'rp-two: signed in as alice' }).waitFor();
    await shot('52-sso-second-client');
    // One password check (carried by the first client's decision), two decisions.
    const sessions = (await gh.core.audit.query({ type: 'session.started', user: 'alice', limit: 100 })).items;
    const since = Date.parse(sessions[0]!.time);
    const decisions = (await gh.core.audit.query({ type: 'access.decision', user: 'alice', limit: 100 })).items.filter((e) => Date.parse(e.time) >= since - 1000);
    const withPassword = decisions.filter((d) => (d.details.checks as Array<{ type: string }> | undefined)?.some((c) => c.type === 'authn.password'));
    expect(withPassword.map((d) => d.target?.name)).toEqual(['app:rp-one']);
    expect(decisions.map((d) => d.target?.name)).toEqual(expect.arrayContaining(['app:rp-one', 'app:rp-two']));
  });
});
