/**
 * The OpenID Connect provider over real HTTP, on each store, one request at a time in one process
 * (one core):
 *  - client-credentials grants (client authentication against the hashed secret, token issued and
 *    stored), against the raw cost of signing one token with the configured algorithm (RS256,
 *    node:crypto, the same JWS a provider signs);
 *  - the full sign-in (authorize → /login with the password → interaction and access decision →
 *    code → token endpoint), against the raw argon2id verify with the same (production) parameters.
 */
import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { DEFAULT_ARGON2 } from '../src/credentials/password.ts';
import type { Benchmark } from './run.ts';
import { benchServer, postgresAvailable, postgresTarget, sqliteTarget, type StoreTarget } from './stores.ts';

const PASSWORD = 'violet-harbour-lantern-91';
const SECRET = randomBytes(32).toString('base64url');
const CALLBACK = 'http://127.0.0.1:9/callback';
const ARGON2ID = 2 as never;
const argon2Options = { algorithm: ARGON2ID, memoryCost: DEFAULT_ARGON2.memoryKiB, timeCost: DEFAULT_ARGON2.iterations, parallelism: DEFAULT_ARGON2.parallelism };

const targets: StoreTarget[] = [sqliteTarget('gatehouse-bench-oidc'), postgresTarget('gatehouse_bench_oidc')];

function server(target: StoreTarget) {
  const bench = benchServer(target, {
    directory: {
      groups: [{ name: 'staff' }],
      users: [{ username: 'bench', email: 'bench@example.test', password: PASSWORD, groups: ['staff'] }],
      applications: [
        { name: 'service', type: 'oidc', secret: SECRET, settings: { grantTypes: ['client_credentials'] } },
        { name: 'web', type: 'oidc', secret: SECRET, groups: ['staff'], settings: { redirectUris: [CALLBACK], grantTypes: ['authorization_code', 'refresh_token'] } },
      ],
    },
  });
  return {
    start: () => bench.start(),
    stop: () => bench.stop(),
    get gh() {
      return bench.gh;
    },
    get issuer(): string {
      return bench.gh.oidc!.issuer!;
    },
  };
}

const basic = `Basic ${Buffer.from(`service:${SECRET}`).toString('base64')}`;

/** The JWS signing input of a typical access token, signed as a provider signs it (RS256). */
function signingReference(): (n: number) => void {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: 'k' })}.${b64({ iss: 'http://127.0.0.1/oidc', sub: 'service', aud: 'api', client_id: 'service', iat: 1, exp: 2, jti: randomBytes(16).toString('base64url') })}`;
  return (n) => {
    for (let i = 0; i < n; i++) createSign('RSA-SHA256').update(input).sign(privateKey, 'base64url');
  };
}

/** One browser's sign-in: authorize, the real /login form, the interaction, the code, the token request. */
async function signInOnce(base: string, issuer: string): Promise<void> {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(new URL(url, base), { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const value = pair!.slice(eq + 1).trim();
      if (value) jar.set(pair!.slice(0, eq).trim(), value);
      else jar.delete(pair!.slice(0, eq).trim());
    }
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let res = await go(`${issuer}/auth?${new URLSearchParams({ client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: CALLBACK, code_challenge: challenge, code_challenge_method: 'S256', state: 'st' })}`);
  let location = res.headers.get('location')!;
  for (let hops = 0; !location.startsWith(CALLBACK); hops++) {
    if (hops > 10) throw new Error(`sign-in did not come back: ${res.status} ${location}`);
    await res.body?.cancel();
    if (location.startsWith('/login?')) {
      const page = await (await go(location)).text();
      const query = new URL(location, base).searchParams;
      const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
      res = await go('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, username: 'bench', password: PASSWORD, return_to: query.get('return_to')!, resource: query.get('resource')! }).toString() });
    } else {
      res = await go(location);
    }
    location = res.headers.get('location') ?? '';
  }
  const code = new URL(location).searchParams.get('code')!;
  const token = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`web:${SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }).toString(),
  });
  if (token.status !== 200) throw new Error(`token endpoint answered ${token.status}: ${await token.text()}`);
  await token.body?.cancel();
}

function benchmarksFor(target: StoreTarget): Benchmark[] {
  const ccServer = server(target);
  const flowServer = server(target);
  const sign = signingReference();
  let reference = '';
  return [
    {
      name: `OIDC client-credentials grant, HTTP (${target.label})`,
      reference: 'one RS256 signature',
      batch: 50,
      setup: () => ccServer.start(),
      async subject(n) {
        for (let i = 0; i < n; i++) {
          const res = await fetch(`${ccServer.issuer}/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
          if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`);
          await res.body?.cancel();
        }
      },
      async baseline(n) {
        sign(n);
      },
      teardown: () => ccServer.stop(),
    },
    {
      name: `OIDC sign-in (authorize, password, code, token), HTTP (${target.label})`,
      reference: 'one argon2id verify',
      batch: 4,
      async setup() {
        await flowServer.start();
        reference = await argon2Hash(PASSWORD, argon2Options);
      },
      subject: async (n) => {
        for (let i = 0; i < n; i++) await signInOnce(flowServer.gh.httpUrl, flowServer.issuer);
      },
      async baseline(n) {
        for (let i = 0; i < n; i++) if (!(await argon2Verify(reference, PASSWORD))) throw new Error('reference verify failed');
      },
      teardown: () => flowServer.stop(),
    },
  ];
}

const withPostgres = await postgresAvailable();
export const benchmarks: Benchmark[] = targets.filter((t) => t.label === 'sqlite' || withPostgres).flatMap(benchmarksFor);
