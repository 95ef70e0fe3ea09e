/**
 * What the OpenID Connect provider leaves in the store is useless to someone who copies the
 * database: artifacts are keyed by a SHA-256 of their id and hold no id in clear, so no row key or
 * value contains a refresh token, an access token, the session cookie or a device code (also where
 * an interaction refers to them), and a key read from the table is refused when presented as a
 * refresh token. The real credentials keep working.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KnexStore } from '../../src/store/open.ts';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { authorize, Browser, expectPage, postForm, relyingParty, SECRET, signInTo, startOidcServer } from './helpers.ts';

function knexOf(server: TestServer) {
  if (!(server.gh.store instanceof KnexStore)) throw new Error('the test server has no SQL store');
  return server.gh.store.knex;
}

describe.each(backends)('OpenID Connect artifacts at rest ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  beforeAll(async () => {
    server = await startOidcServer(backend);
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The rows of the `oidc` namespace, read from the table as anyone with a copy of it would. */
  const oidcRows = async () => (await knexOf(server)('kv').where('key', 'like', 'oidc:%').select('key', 'value')) as Array<{ key: string; value: string | null }>;

  async function expectNowhere(secrets: Record<string, string>): Promise<void> {
    for (const row of await oidcRows()) {
      for (const [name, secret] of Object.entries(secrets)) {
        expect(row.key, `${name} in a key`).not.toContain(secret);
        expect(row.value ?? '', `${name} in the value of ${row.key}`).not.toContain(secret);
      }
    }
  }

  it('stores no token, code or session id in clear, and a stored key is no refresh token', async () => {
    const web = await relyingParty(server.issuer, 'web', SECRET);
    const browser = new Browser(server.url);
    const tokens = await signInTo(browser, web, 'alice');
    const refreshToken = tokens.refresh_token!;
    const sessionId = browser.jar.get('_session')!;
    expect(refreshToken).toEqual(expect.any(String));
    expect(sessionId).toEqual(expect.any(String));

    await expectNowhere({ refreshToken, accessToken: tokens.access_token, sessionId });
    const rows = await oidcRows();
    // Listing by model still works: the prefixes stay, the ids are SHA-256 hex.
    const stored = rows.filter((r) => r.key.startsWith('oidc:RefreshToken:'));
    expect(stored).toHaveLength(1);
    expect(rows.some((r) => r.key.startsWith('oidc:Session:'))).toBe(true);
    for (const row of rows.filter((r) => /^oidc:(RefreshToken|AccessToken|Session|SessionUid|Grant|AuthorizationCode):/.test(r.key))) {
      expect(row.key).toMatch(/^oidc:[A-Za-z]+:[0-9a-f]{64}(:consumed)?$/);
    }

    // What a copy of the table offers, presented as a refresh token: refused every way.
    const key = stored[0]!.key;
    for (const candidate of [key, key.slice('oidc:'.length), key.slice('oidc:RefreshToken:'.length)]) {
      const answer = await postForm(`${server.issuer}/token`, { grant_type: 'refresh_token', refresh_token: candidate }, { id: 'web', secret: SECRET });
      expect(answer.status, candidate).toBe(400);
      expect(answer.body.error).toBe('invalid_grant');
    }
    // The real one is still good (and rotates).
    const refreshed = await client.refreshTokenGrant(web, refreshToken);
    expect(refreshed.claims()?.preferred_username).toBe('alice');
    await expectNowhere({ refreshed: refreshed.refresh_token! });

    // An interaction in progress refers to the provider session (its cookie): not in clear either,
    // and the interaction still completes.
    const wiki = await relyingParty(server.issuer, 'wiki', SECRET);
    const pending = await authorize(browser, wiki, { stopAt: (location) => location.pathname.startsWith('/oidc/interaction/') });
    expect(pending.response.status).toBe(303);
    expect(browser.jar.get('_session')).toBe(sessionId);
    expect((await oidcRows()).some((r) => r.key.startsWith('oidc:Interaction:'))).toBe(true);
    await expectNowhere({ sessionId });
    const finished = await browser.navigate(pending.response.headers.get('location')!);
    expect(finished.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:9\/callback\?code=/);
  });

  it('keeps no device code in clear, also while the interaction that approves it refers to it', async () => {
    const tv = await relyingParty(server.issuer, 'tv');
    const device = await client.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
    await expectNowhere({ deviceCode: device.device_code });
    const browser = new Browser(server.url);
    const codePage = await browser.navigate(device.verification_uri_complete!, { username: 'bob' });
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(await codePage.text())![1]!;
    const confirm = await expectPage(await browser.post('/oidc/device', { xsrf, user_code: device.user_code }), 200);
    const xsrf2 = /name="xsrf" value="([^"]+)"/.exec(confirm)![1]!;
    let res = await browser.post('/oidc/device', { xsrf: xsrf2, user_code: device.user_code, confirm: 'yes' });
    // The approval's interaction now exists, holding its device code.
    expect(res.status).toBe(303);
    expect((await oidcRows()).some((r) => r.key.startsWith('oidc:Interaction:'))).toBe(true);
    await expectNowhere({ deviceCode: device.device_code });
    for (let i = 0; i < 5 && res.status === 303; i++) res = await browser.fetch(res.headers.get('location')!);
    await expectPage(res, 200, /signed in to tv on your device/);
    const tokens = await client.genericGrantRequest(tv, 'urn:ietf:params:oauth:grant-type:device_code', { device_code: device.device_code });
    expect(tokens.claims()).toMatchObject({ aud: 'tv', preferred_username: 'bob' });
    await expectNowhere({ deviceCode: device.device_code, refreshToken: tokens.refresh_token ?? 'none issued', accessToken: tokens.access_token });
  });
});
