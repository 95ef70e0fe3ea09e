/**
 * The SAML identity provider over real HTTP (SQLite store, one process): SP-initiated SSO on the
 * HTTP-Redirect binding from an existing Gatehouse session, 20 clients at once — each round trip is
 * GET /saml/sso?SAMLRequest=… (inbound validation, schema validation in a libxml2 worker, the ID
 * marked used, the session, the access decision through core.signIn, the signed assertion, the
 * auto-post page: a person already signed in is answered in that one exchange). The reference is
 * the raw RSA-SHA256 signature with the same key over a SignedInfo of the same size, in the same
 * run (one signature per response: the SP wants the Assertion signed, not the Response). Goal: at
 * least 0.5x the signing rate (ratio <= 2).
 *
 * The floor (bench/saml-floor.ts, in this process too, the same client): what no identity provider
 * can skip for this round trip — HTTP, inflate, parse, one signed assertion — so Gatehouse's gap to
 * the signing rate reads as the floor's plus its own work.
 *
 * After the rounds, RSS is measured before and after 10,000 more round trips (goal: growth < 10 %),
 * each after a full garbage collection (V8 sizes its heap to the allocation rate: without one, RSS
 * says how far the collector let the heap grow, not what is kept); set SAML_BENCH_TRIPS for a
 * shorter run.
 */
import { createSign, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Benchmark } from './run.ts';
import { benchServer, sqliteTarget } from './stores.ts';
import { startSamlFloor } from './saml-floor.ts';
import type { SamlKey } from '../protocols/saml/keys.ts';

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
/** Gatehouse's SAML signing key (the floor signs with it too). */
let samlKey: SamlKey | undefined;
const samlKeyOf = (gh: typeof bench.gh) => (gh.frontEnd('saml') as unknown as { context: { keys: { current: SamlKey } } }).context.keys.current;

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
  const page = await fetch(`${base}/saml/sso?SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`, { redirect: 'manual', headers: { cookie } });
  const text = await page.text();
  if (page.status !== 200 || !text.includes('SAMLResponse')) throw new Error(`/saml/sso answered ${page.status}: ${text.slice(0, 200)}`);
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

async function signatures(n: number): Promise<void> {
  for (let i = 0; i < n; i++) createSign('RSA-SHA256').update(SIGNED_INFO).sign(samlKey!.privateKey, 'base64');
}

const rss = () => process.memoryUsage().rss;

/** A full collection, with or without --expose-gc (the flag set at run time reaches a new context's gc). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export const benchmarks: Benchmark[] = [
  {
    name: `SAML SSO, SP-initiated HTTP-Redirect, existing session, ${CONCURRENCY} concurrent (sqlite)`,
    reference: 'one RSA-SHA256 signature (same key)',
    batch: 200,
    goal: { maxRatio: 2, text: 'responses/s >= 0.5 x signatures/s' },
    async setup() {
      await bench.start();
      cookie = await signIn(bench.gh.httpUrl);
      samlKey = samlKeyOf(bench.gh);
    },
    subject: (n) => concurrently(n, bench.gh.httpUrl),
    baseline: signatures,
    async teardown() {
      try {
        collect();
        const before = rss();
        await concurrently(TRIPS, bench.gh.httpUrl);
        collect();
        const after = rss();
        const growth = (after - before) / before;
        process.stderr.write(`  SAML RSS: ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after ${TRIPS} round trips (${(growth * 100).toFixed(1)} %; goal < 10 %: ${growth < 0.1 ? 'met' : 'NOT met'})\n`);
      } finally {
        await bench.stop();
      }
    },
  },
  (() => {
    let floor: { url: string; close(): Promise<void> } | undefined;
    return {
      name: `SAML SSO, floor: HTTP + inflate + parse + one signed assertion, ${CONCURRENCY} concurrent`,
      reference: 'one RSA-SHA256 signature (same key)',
      batch: 200,
      async setup() {
        if (!samlKey) {
          // Run alone (a name filter): Gatehouse only to make its key.
          await bench.start();
          samlKey = samlKeyOf(bench.gh);
          await bench.stop();
        }
        floor = await startSamlFloor(samlKey, 'https://floor.test/saml/metadata');
      },
      subject: (n) => concurrently(n, floor!.url),
      baseline: signatures,
      teardown: async () => floor?.close(),
    } satisfies Benchmark;
  })(),
];
