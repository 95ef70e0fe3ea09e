/**
 * Signing keys: made once when several processes start together, rotated with an overlap during
 * which tokens signed with the previous key keep verifying (and interactions started before keep
 * working), then dropped from the JWKS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SigningKeyManager } from '../../src/keys/signing.ts';
import { backends } from '../helpers/backends.ts';
import { coreFor } from '../helpers/core.ts';
import type { TestServer } from '../helpers/server.ts';
import { Browser, CALLBACK, jwksOf, relyingParty, SECRET, signInTo, startOidcServer, verifyJws } from './helpers.ts';
import * as client from 'openid-client';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(backends)('OpenID Connect signing keys ($name)', (backend) => {
  let server: TestServer & { issuer: string };
  beforeAll(async () => {
    server = await startOidcServer(backend);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('makes one generation of keys when two processes start at once, encrypted at rest', async () => {
    const { core, store, cleanup } = await coreFor(backend);
    try {
      const options = { algorithms: ['RS256', 'ES256'] as const, rotationOverlapHours: 24 };
      const deps = { store, keyring: core.keyring, auditor: core.audit };
      const [a, b] = [new SigningKeyManager(deps, { ...options, algorithms: [...options.algorithms] }), new SigningKeyManager(deps, { ...options, algorithms: [...options.algorithms] })];
      await Promise.all([a.ensure(CLI), b.ensure(CLI)]);
      const keys = await a.list();
      expect(keys.map((k) => `${k.use}/${k.alg}/${k.generation}`).sort()).toEqual(['cookie/HS256/1', 'sig/ES256/1', 'sig/RS256/1']);
      expect((await a.load()).fingerprint).toBe((await b.load()).fingerprint);
      expect(keys.every((k) => k.privateEncrypted.startsWith('v1.test.'))).toBe(true);
      const created = (await store.directory.audit.query({ type: 'oidc.keys.created' })).items;
      expect(created).toHaveLength(1);
    } finally {
      await cleanup();
    }
  });

  it('rotates: the new key signs, the old one verifies until it retires, interactions survive the change', async () => {
    const web = await relyingParty(server.issuer, 'web', SECRET);
    const browser = new Browser(server.url);
    const before = await signInTo(browser, web, 'alice');
    const oldKid = verifyJws(before.id_token!, await jwksOf(server.issuer)).header.kid;
    // An authorization request under way while the keys change (its cookies are signed with the old cookie key).
    const verifier = client.randomPKCECodeVerifier();
    const pending = await browser.fetch(client.buildAuthorizationUrl(web, { redirect_uri: CALLBACK, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }));
    expect(pending.headers.get('location')).toMatch(/^\/oidc\/interaction\//);

    // As `gatehouse keys rotate` does, with an overlap of one second so the test sees the end of it.
    const rotated = await new SigningKeyManager({ store: server.gh.store, keyring: server.gh.core.keyring, auditor: server.gh.core.audit }, { algorithms: ['RS256', 'ES256'], rotationOverlapHours: 1 / 3600 }).rotate(CLI);
    expect(rotated.generation).toBe(2);
    await server.gh.oidc!.refresh();
    const during = await jwksOf(server.issuer);
    expect(during.keys).toHaveLength(4);
    expect(during.keys.find((k) => k.kid === oldKid)?.key_ops).toEqual(['verify']);
    expect(verifyJws(before.id_token!, during).payload.sub).toBe(before.claims()!.sub);

    const finished = await browser.navigate(pending.headers.get('location')!);
    expect(finished.headers.get('location')).toMatch(/\/callback\?code=/);
    const after = await signInTo(browser, web);
    const newKid = verifyJws(after.id_token!, during).header.kid;
    expect(newKid).not.toBe(oldKid);
    expect(rotated.keys.map((k) => k.kid)).toContain(newKid);

    await sleep(1100);
    await server.gh.oidc!.refresh();
    const later = await jwksOf(server.issuer);
    expect(later.keys.map((k) => k.kid)).not.toContain(oldKid);
    expect(later.keys).toHaveLength(2);
    expect(() => verifyJws(before.id_token!, later)).toThrow(/no key/);
    expect(verifyJws(after.id_token!, later).header.kid).toBe(newKid);
    const [event] = (await server.gh.core.audit.query({ type: 'oidc.keys.rotated' })).items;
    expect(event).toMatchObject({ outcome: 'success', actor: { type: 'cli' }, details: { generation: 2, retiring: expect.arrayContaining([oldKid]) } });
  });
});
