/**
 * SP-initiated SAML SSO and Single Logout against a started Gatehouse on both stores, with samlify
 * and @node-saml/node-saml as the service providers: AuthnRequests on HTTP-Redirect and HTTP-POST,
 * signed and unsigned; IsPassive, ForceAuthn; deny → RequestDenied; a refused request; SLO
 * propagated to the other SP of the session and the Gatehouse session ended.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import type { TestServer } from '../helpers/server.ts';
import { acsOf, Browser, PASSWORD, entityOf, metadataCertificates, NodeSaml, readPostForm, samlifyIdp, samlifySp, SP_KEYS, sloOf, startSamlServer } from './helpers.ts';

describe.each(backends)('SAML SP-initiated ($name)', (backend) => {
  let server: TestServer & { metadataUrl: string; metadata: string };
  beforeAll(async () => {
    server = await startSamlServer(backend, { applications: [{ name: 'strict', type: 'saml', groups: ['staff'], settings: { saml: { entityId: entityOf('strict'), acs: [{ url: acsOf('strict'), index: 0 }], signingCertificates: [SP_KEYS.cert], requireSignedRequests: true } } }] });
  }, 60_000);
  afterAll(async () => server?.stop());

  const idp = () => samlifyIdp(server.metadata);
  const responseXml = (form: { fields: Record<string, string> }) => Buffer.from(form.fields.SAMLResponse!, 'base64').toString('utf8');

  it('samlify SP, HTTP-Redirect: sign in, the response answers the request (InResponseTo) with its RelayState', async () => {
    const sp = samlifySp('wiki');
    const { id, context } = sp.createLoginRequest(idp(), 'redirect');
    const url = new URL(context);
    url.searchParams.set('RelayState', 'deep/link?x=1');
    const browser = new Browser(server.url);
    // No session: the request is stored and the sign-in pages come back to it.
    const toLogin = await browser.fetch(url);
    expect(toLogin.status).toBe(303);
    const login = new URL(toLogin.headers.get('location')!, server.url);
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('return_to')).toMatch(/^\/saml\/continue\/[A-Za-z0-9_-]{22}$/);
    const signedIn = await browser.signIn(login, 'alice');
    const res = await browser.navigate(signedIn.headers.get('location')!);
    expect(res.status).toBe(200);
    const form = readPostForm(await res.text());
    expect(form.action).toBe(acsOf('wiki'));
    expect(form.fields.RelayState).toBe('deep/link?x=1');
    const { extract } = await sp.parseLoginResponse(idp(), 'post', { body: form.fields });
    expect(extract.response.inResponseTo).toBe(id);
    expect(extract.nameID).toBe('alice@example.test');

    // The same session serves the next request without a password, in one exchange: the
    // HTTP-Redirect GET carries the session cookie, so nothing waits in the store.
    const next = sp.createLoginRequest(idp(), 'redirect');
    const again = await browser.fetch(next.context);
    expect(again.status).toBe(200);
    const answered = readPostForm(await again.text());
    expect(answered.action).toBe(acsOf('wiki'));
    expect((await sp.parseLoginResponse(idp(), 'post', { body: answered.fields })).extract.response.inResponseTo).toBe(next.id);
    // Its ID is used: the same request again is a replay.
    expect((await browser.fetch(next.context)).status).toBe(400);
  });

  it('samlify SP, HTTP-POST binding (cross-site POST, then a top-level GET that carries the session)', async () => {
    const sp = samlifySp('crm');
    const request = sp.createLoginRequest(idp(), 'post');
    const browser = new Browser(server.url);
    const posted = await browser.post('/saml/sso', { SAMLRequest: request.context, RelayState: 'rs-1' });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toMatch(/^\/saml\/continue\/[A-Za-z0-9_-]{22}$/);
    const res = await browser.navigate(posted.headers.get('location')!, { username: 'bob' });
    const form = readPostForm(await res.text());
    expect(form.fields.RelayState).toBe('rs-1');
    const { extract } = await sp.parseLoginResponse(idp(), 'post', { body: form.fields });
    expect(extract.response.inResponseTo).toBe(request.id);
  });

  it('node-saml SP: signed AuthnRequest on HTTP-Redirect to an SP that requires signatures; the response validates', async () => {
    const nodeSaml = new NodeSaml({ entryPoint: `${server.url}/saml/sso`, issuer: entityOf('strict'), callbackUrl: acsOf('strict'), audience: entityOf('strict'), idpCert: metadataCertificates(server.metadata), privateKey: SP_KEYS.key, signatureAlgorithm: 'sha256', wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: 'never' });
    const url = await nodeSaml.getAuthorizeUrlAsync('', undefined, {});
    const browser = new Browser(server.url);
    const res = await browser.navigate(url, { username: 'carol' });
    const form = readPostForm(await res.text());
    const { profile } = await nodeSaml.validatePostResponseAsync({ SAMLResponse: form.fields.SAMLResponse });
    expect(profile.nameID).toBe('carol@example.test');
    expect(profile.inResponseTo).toMatch(/^_/);

    // Unsigned, the same SP's request is refused (an error page, audited), never answered with an assertion.
    const unsigned = new NodeSaml({ entryPoint: `${server.url}/saml/sso`, issuer: entityOf('strict'), callbackUrl: acsOf('strict'), idpCert: metadataCertificates(server.metadata) });
    const refused = await browser.fetch(await unsigned.getAuthorizeUrlAsync('', undefined, {}));
    expect(refused.status).toBe(400);
    expect(await refused.text()).not.toContain('SAMLResponse');
    const events = await server.gh.core.audit.query({ type: 'saml.request.refused' } as never);
    expect(JSON.stringify(events)).toContain('unsigned');
  });

  it('IsPassive without a session: NoPassive status, no page', async () => {
    const sp = samlifySp('wiki');
    const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_passive${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${server.url}/saml/sso" IsPassive="true"><saml:Issuer>${entityOf('wiki')}</saml:Issuer></samlp:AuthnRequest>`;
    const browser = new Browser(server.url);
    const posted = await browser.post('/saml/sso', { SAMLRequest: Buffer.from(xml).toString('base64') });
    const res = await browser.navigate(posted.headers.get('location')!);
    const form = readPostForm(await res.text());
    const response = responseXml(form);
    expect(response).toContain('urn:oasis:names:tc:SAML:2.0:status:NoPassive');
    expect(response).not.toContain('Assertion');
    await expect(sp.parseLoginResponse(idp(), 'post', { body: form.fields })).rejects.toBeTruthy();
  });

  it('ForceAuthn: the password again even with a live session, then the response', async () => {
    const browser = new Browser(server.url);
    const sp = samlifySp('wiki');
    await browser.navigate(sp.createLoginRequest(idp(), 'redirect').context, { username: 'alice' });
    const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_force${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${server.url}/saml/sso" ForceAuthn="true"><saml:Issuer>${entityOf('wiki')}</saml:Issuer></samlp:AuthnRequest>`;
    const posted = await browser.post('/saml/sso', { SAMLRequest: Buffer.from(xml).toString('base64') });
    const toLogin = await browser.fetch(posted.headers.get('location')!);
    expect(toLogin.status).toBe(303);
    const login = new URL(toLogin.headers.get('location')!, server.url);
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('force')).toBe('1');
    // The re-authentication form (its CSRF token, not the sign-out form's in the header).
    const page = await (await browser.fetch(login)).text();
    const csrf = /<form method="post" action="\/login"[^>]*>[\s\S]*?name="csrf" value="([^"]+)"/.exec(page)?.[1];
    const signedIn = await browser.post('/login', { csrf: csrf!, username: 'alice', password: PASSWORD, return_to: login.searchParams.get('return_to')!, resource: login.searchParams.get('resource')!, force: '1', cancel: login.searchParams.get('cancel')! });
    const res = await browser.navigate(signedIn.headers.get('location')!);
    expect(responseXml(readPostForm(await res.text()))).toContain('status:Success');
  });

  it('denied (not assigned) → RequestDenied to the SP; the sign-in page offers the way back', async () => {
    const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_deny${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${server.url}/saml/sso"><saml:Issuer>${entityOf('locked')}</saml:Issuer></samlp:AuthnRequest>`;
    // Signed in already (for another app): the decision for app:locked is deny → RequestDenied.
    const browser = new Browser(server.url);
    await browser.navigate(samlifySp('wiki').createLoginRequest(idp(), 'redirect').context, { username: 'alice' });
    const posted = await browser.post('/saml/sso', { SAMLRequest: Buffer.from(xml).toString('base64') });
    const res = await browser.navigate(posted.headers.get('location')!);
    const form = readPostForm(await res.text());
    expect(form.action).toBe(acsOf('locked'));
    expect(responseXml(form)).toContain('urn:oasis:names:tc:SAML:2.0:status:RequestDenied');
    expect(responseXml(form)).toContain(`InResponseTo="_deny`);

    // Not signed in: the sign-in page decides, shows the denial, and its button sends RequestDenied.
    const fresh = new Browser(server.url);
    const posted2 = await fresh.post('/saml/sso', { SAMLRequest: Buffer.from(xml.replace('_deny', '_deny2')).toString('base64') });
    const page = await fresh.navigate(posted2.headers.get('location')!, { username: 'bob' });
    expect(page.status).toBe(403);
    const cancel = /action="(\/saml\/continue\/[^"]+\/cancel)"/.exec(await page.text())?.[1];
    expect(cancel).toBeDefined();
    const back = await fresh.post(cancel!, {});
    expect(responseXml(readPostForm(await back.text()))).toContain('status:RequestDenied');
  });

  it('RequestedAuthnContext: a password sign-in satisfies PasswordProtectedTransport (minimum), not REFEDS MFA: NoAuthnContext', async () => {
    const browser = new Browser(server.url);
    await browser.navigate(samlifySp('wiki').createLoginRequest(idp(), 'redirect').context, { username: 'alice' });
    const ask = async (classRef: string, comparison: string) => {
      const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_ctx${Date.now()}${comparison}${classRef.length}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${server.url}/saml/sso"><saml:Issuer>${entityOf('wiki')}</saml:Issuer><samlp:RequestedAuthnContext Comparison="${comparison}"><saml:AuthnContextClassRef>${classRef}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>`;
      const posted = await browser.post('/saml/sso', { SAMLRequest: Buffer.from(xml).toString('base64') });
      return responseXml(readPostForm(await (await browser.navigate(posted.headers.get('location')!)).text()));
    };
    expect(await ask('urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport', 'minimum')).toContain('status:Success');
    const refused = await ask('https://refeds.org/profile/mfa', 'exact');
    expect(refused).toContain('urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext');
    expect(refused).not.toContain('Assertion');
  });

  it('hostile input at /saml/sso and /saml/slo: an error page every time, never a crash; refusals audited at most once a minute per address and check', async () => {
    const form = (body: string, path = '/saml/sso') => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const before = (await server.gh.core.audit.query({ type: 'saml.request.refused' } as never)) as unknown as { items: unknown[] };
    expect((await form(`SAMLRequest=${'A'.repeat(300_000)}`)).status).toBe(400);
    expect((await form('RelayState=x')).status).toBe(400);
    expect((await form('SAMLRequest=%%%')).status).toBe(400);
    expect((await form('SAMLRequest=PHg+&SAMLRequest=PHg+')).status).toBe(400);
    expect((await form('SAMLRequest=not-base64!', '/saml/slo')).status).toBe(400);
    expect((await fetch(`${server.url}/saml/sso?SAMLRequest=${'%FF'.repeat(10)}`)).status).toBe(400);
    expect((await fetch(`${server.url}/saml/sso`, { method: 'PUT' })).status).toBe(405);
    const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_rs${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${server.url}/saml/sso"><saml:Issuer>${entityOf('wiki')}</saml:Issuer></samlp:AuthnRequest>`;
    expect((await form(new URLSearchParams({ SAMLRequest: Buffer.from(xml).toString('base64'), RelayState: 'x'.repeat(81) }).toString())).status).toBe(400);
    // The same failure again from the same address: answered, not audited twice.
    expect((await form('SAMLRequest=%%%')).status).toBe(400);
    const after = (await server.gh.core.audit.query({ type: 'saml.request.refused' } as never)) as unknown as { items: Array<{ details: { check: string } }> };
    const checks = after.items.slice(0, after.items.length - before.items.length).map((e) => e.details.check);
    expect(checks.filter((c) => c === 'malformed_encoding')).toHaveLength(1);
    expect(checks).toEqual(expect.arrayContaining(['too_large', 'missing_message', 'relay_state_too_long']));
    // Still serving.
    expect((await fetch(`${server.url}/saml/metadata`)).status).toBe(200);
  });

  it('an ACS URL that is not registered: an error page, nothing posted anywhere', async () => {
    const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_acs${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${server.url}/saml/sso" AssertionConsumerServiceURL="https://evil.test/acs"><saml:Issuer>${entityOf('wiki')}</saml:Issuer></samlp:AuthnRequest>`;
    const res = await fetch(`${server.url}/saml/sso`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ SAMLRequest: Buffer.from(xml).toString('base64') }) });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('evil.test');
  });

  it('SLO: a LogoutRequest from one SP ends the session, the other SP of the session is told, then the first gets its LogoutResponse', async () => {
    const wiki = samlifySp('wiki');
    const crm = samlifySp('crm');
    const browser = new Browser(server.url);
    const first = readPostForm(await (await browser.navigate(wiki.createLoginRequest(idp(), 'redirect').context, { username: 'alice' })).text());
    const { extract: wikiLogin } = await wiki.parseLoginResponse(idp(), 'post', { body: first.fields });
    readPostForm(await (await browser.navigate(crm.createLoginRequest(idp(), 'redirect').context)).text());

    const logout = wiki.createLogoutRequest(idp(), 'redirect', { logoutNameID: wikiLogin.nameID, sessionIndex: wikiLogin.sessionIndex.sessionIndex });
    const toCrm = await browser.navigate(logout.context, undefined, (location) => location.origin !== new URL(server.url).origin);
    const crmUrl = new URL(toCrm.headers.get('location')!);
    expect(`${crmUrl.origin}${crmUrl.pathname}`).toBe(sloOf('crm'));
    // The session is over already.
    expect((await browser.fetch('/')).status).toBe(303);
    const octetString = crmUrl.search.slice(1).split('&Signature=')[0];
    const { extract: crmRequest } = await crm.parseLogoutRequest(idp(), 'redirect', { query: Object.fromEntries(crmUrl.searchParams), octetString });
    expect(crmRequest.nameID).toMatch(/^[A-Za-z0-9_-]{43}$/); // crm's persistent NameID

    const crmAnswer = crm.createLogoutResponse(idp(), { extract: { request: { id: crmRequest.request.id } } }, 'redirect', crmUrl.searchParams.get('RelayState'));
    const toWiki = await browser.navigate(crmAnswer.context, undefined, (location) => location.origin !== new URL(server.url).origin);
    const wikiUrl = new URL(toWiki.headers.get('location')!);
    expect(`${wikiUrl.origin}${wikiUrl.pathname}`).toBe(sloOf('wiki'));
    const { extract: wikiResponse } = await wiki.parseLogoutResponse(idp(), 'redirect', { query: Object.fromEntries(wikiUrl.searchParams), octetString: wikiUrl.search.slice(1).split('&Signature=')[0] });
    expect(wikiResponse.response.inResponseTo).toBe(logout.id);
    const events = JSON.stringify(await server.gh.core.audit.query({ type: 'saml.logout' } as never));
    expect(events).toContain('"notified":["crm"]');
  });
  it('IdP-initiated SLO: signing out on the sign-in pages tells each SP of the session in turn, then the signed-out page', async () => {
    const wiki = samlifySp('wiki');
    const crm = samlifySp('crm');
    const browser = new Browser(server.url);
    readPostForm(await (await browser.navigate(wiki.createLoginRequest(idp(), 'redirect').context, { username: 'carol' })).text());
    readPostForm(await (await browser.navigate(crm.createLoginRequest(idp(), 'redirect').context)).text());

    const confirm = await (await browser.fetch('/logout')).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm)?.[1];
    expect(csrf).toBeDefined();
    const signedOut = await browser.post('/logout', { csrf: csrf! });
    expect(signedOut.status).toBe(303);
    const chain = signedOut.headers.get('location')!;
    expect(chain).toMatch(/^\/saml\/slo\/next\/[A-Za-z0-9_-]{22}$/);
    // The session is over before any SP is told.
    expect((await browser.fetch('/')).status).toBe(303);

    const told: string[] = [];
    let next = chain;
    for (let hop = 0; hop < 4 && next !== '/logout/done'; hop++) {
      const res = await browser.fetch(next);
      expect(res.status).toBe(303);
      const to = new URL(res.headers.get('location')!, server.url);
      if (to.origin === new URL(server.url).origin) {
        next = `${to.pathname}${to.search}`;
        continue;
      }
      const sp = `${to.origin}${to.pathname}` === sloOf('wiki') ? wiki : crm;
      told.push(`${to.origin}${to.pathname}` === sloOf('wiki') ? 'wiki' : 'crm');
      const { extract } = await sp.parseLogoutRequest(idp(), 'redirect', { query: Object.fromEntries(to.searchParams), octetString: to.search.slice(1).split('&Signature=')[0] });
      const answer = sp.createLogoutResponse(idp(), { extract: { request: { id: extract.request.id } } }, 'redirect', to.searchParams.get('RelayState'));
      const back = await browser.fetch(answer.context);
      expect(back.status).toBe(303);
      next = back.headers.get('location')!;
    }
    expect(next).toBe('/logout/done');
    expect(told.sort()).toEqual(['crm', 'wiki']);
    const events = (await server.gh.core.audit.query({ type: 'saml.logout' } as never)) as unknown as { items: Array<{ details: Record<string, unknown> }> };
    expect(events.items.some((e) => e.details.initiator === 'gatehouse' && e.details.partial === false && (e.details.notified as string[]).length === 2)).toBe(true);

    // Signing out with no SAML application in the session goes straight to the signed-out page.
    const plain = new Browser(server.url);
    await plain.navigate('/', { username: 'bob' });
    const token = /name="csrf" value="([^"]+)"/.exec(await (await plain.fetch('/logout')).text())?.[1];
    expect((await plain.post('/logout', { csrf: token! })).headers.get('location')).toBe('/logout/done');
  });
});
