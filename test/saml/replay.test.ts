/**
 * A request ID is single-use across processes: two Gatehouse processes on one PostgreSQL database
 * (behind one public URL, as behind a load balancer) — an AuthnRequest accepted by one is refused as
 * a replay by the other, and audited. The IDs live in the shared TTL store (core.kv), not in memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { postgres } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';
import { entityOf, samlOverrides } from './helpers.ts';

const PUBLIC = 'http://idp.test';

describe('SAML request IDs across two processes (postgres)', () => {
  let one: Gatehouse;
  let two: Gatehouse;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await postgres.create();
    drop = db.drop;
    const config = testConfig(db.url, { ...samlOverrides(), server: { http: { host: '127.0.0.1', port: 0, publicUrl: PUBLIC } } });
    one = await startGatehouse({ config, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') });
    two = await startGatehouse({ config, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') });
  }, 60_000);
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await drop?.();
  });

  it('accepted by one process, refused as a replay by the other', async () => {
    const xml = `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_replay${Date.now()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${PUBLIC}/saml/sso"><saml:Issuer>${entityOf('wiki')}</saml:Issuer></samlp:AuthnRequest>`;
    const post = (gh: Gatehouse) => fetch(`${gh.httpUrl}/saml/sso`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ SAMLRequest: Buffer.from(xml).toString('base64') }) });
    const first = await post(one);
    expect(first.status).toBe(303);
    const again = await post(two);
    expect(again.status).toBe(400);
    expect(await again.text()).not.toContain('SAMLResponse');
    const events = await two.core.audit.query({ type: 'saml.request.refused' } as never);
    expect(JSON.stringify(events)).toContain('replayed_id');
  });
});
