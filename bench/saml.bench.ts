/**
 * The SAML identity provider over real HTTP (SQLite store, one process): SP-initiated SSO on the
 * HTTP-Redirect binding from an existing Gatehouse session, 20 clients at once — each round trip is
 * GET /saml/sso?SAMLRequest=… (inbound validation, schema validation in the xmllint worker, the ID
 * marked used, the request stored) → 303 → GET /saml/continue/:id (the session, the access decision
 * through core.signIn, the signed assertion, the auto-post page). The reference is the raw
 * RSA-SHA256 signature with the same key over a SignedInfo of the same size, in the same run (one
 * signature per response: the SP wants the Assertion signed, not the Response). Goal: at least
 * 0.5x the signing rate (ratio <= 2).
 *
 * After the rounds, RSS is measured before and after 10,000 more round trips (goal: growth < 10 %);
 * set SAML_BENCH_TRIPS for a shorter run.
 */
import { createSign, randomBytes, type KeyObject } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import type { Benchmark } from './run.ts';
import { benchServer, sqliteTarget } from './stores.ts';

const PASSWORD = 'violet-harbour-lantern-91';
const CONCURRENCY = 20;
const SP = 'https://bench.sp.test/saml';
const ACS = 'http://127.0.0.1:9/acs';
const TRIPS = Number(process.env.SAML_BENCH_TRIPS ?? 10_000);

const bench = benchServer(sqliteTarget('gatehouse-bench-saml'), {
  directory: {
    groups: [{ name: 'staff' }],
    users: [{ username: 'bench', email: 'bench@example.test', password: PASSWORD, groups: ['staff'] }],
    applications: [{ name: 'sp', type: 'saml', groups: ['staff'], settings: { saml: { entityId: SP, acs: [{ url: ACS, index: 0 }], wantAssertionsSigned: true, wantResponseSigned: false, attributes: { mail: 'email', groups: 'groups' } } } }],
  },
});

let cookie = '';
let key: KeyObject | undefined;

async function signIn(base: string): Promise<string> {
  const page = await fetch(`${base}/login`);
  const csrfCookie = page.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, username: 'bench', password: PASSWORD, return_to: '/', resource: 'portal' }).toString() });
  const session = res.headers.getSetCookie().find((c) => c.startsWith('__Host-gatehouse_session='));
  if (!session) throw new Error(`sign-in failed: ${res.status}`);
  return session.split(';')[0]!;
}

/** One SP-initiated round trip, HTTP-Redirect, to the auto-post page. */
async function roundTrip(base: string): Promise<void> {
  const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_${randomBytes(16).toString('hex')}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${base}/saml/sso" AssertionConsumerServiceURL="${ACS}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>${SP}</saml:Issuer></samlp:AuthnRequest>`;
  const first = await fetch(`${base}/saml/sso?SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`, { redirect: 'manual', headers: { cookie } });
  await first.body?.cancel();
  if (first.status !== 303) throw new Error(`/saml/sso answered ${first.status}`);
  const page = await fetch(`${base}${first.headers.get('location')}`, { redirect: 'manual', headers: { cookie } });
  const text = await page.text();
  if (page.status !== 200 || !text.includes('SAMLResponse')) throw new Error(`/saml/continue answered ${page.status}: ${text.slice(0, 200)}`);
}

async function concurrently(n: number, base: string): Promise<void> {
  let left = n;
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
    while (left > 0) {
      left--;
      await roundTrip(base);
    }
  }));
}

/** A SignedInfo as the assertion's signature has it (the same bytes to sign, the same key). */
const SIGNED_INFO = `<ds:SignedInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_${'0'.repeat(40)}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>${'A'.repeat(43)}=</ds:DigestValue></ds:Reference></ds:SignedInfo>`;

const rss = () => process.memoryUsage().rss;

export const benchmarks: Benchmark[] = [
  {
    name: `SAML SSO, SP-initiated HTTP-Redirect, existing session, ${CONCURRENCY} concurrent (sqlite)`,
    reference: 'one RSA-SHA256 signature (same key)',
    batch: 200,
    goal: { maxRatio: 2, text: 'responses/s >= 0.5 x signatures/s' },
    async setup() {
      await bench.start();
      cookie = await signIn(bench.gh.httpUrl);
      key = (bench.gh.frontEnd('saml') as unknown as { context: { keys: { current: { privateKey: KeyObject } } } }).context.keys.current.privateKey;
    },
    subject: (n) => concurrently(n, bench.gh.httpUrl),
    async baseline(n) {
      for (let i = 0; i < n; i++) createSign('RSA-SHA256').update(SIGNED_INFO).sign(key!, 'base64');
    },
    async teardown() {
      try {
        global.gc?.();
        const before = rss();
        await concurrently(TRIPS, bench.gh.httpUrl);
        global.gc?.();
        const after = rss();
        const growth = (after - before) / before;
        process.stderr.write(`  SAML RSS: ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after ${TRIPS} round trips (${(growth * 100).toFixed(1)} %; goal < 10 %: ${growth < 0.1 ? 'met' : 'NOT met'})\n`);
      } finally {
        await bench.stop();
      }
    },
  },
];
