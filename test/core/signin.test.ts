/**
 * The core's sign-in pipeline (src/authn/attempt.ts) as every front-end calls it: the protocol a
 * resource is reached through is decided by one rule, shared with `policy explain`, so what
 * explain evaluates is what a real sign-in gets, for every kind of resource; a device certificate
 * of the person's own device counts as a factor; one attempt is one audit event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainAccess } from '../../src/admin/explain.ts';
import { AccessEvaluationInput } from '../../src/admin/schemas.ts';
import { PolicyInput, type Device } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const PASSWORD = 'correct horse battery staple, twice over';

describe.each(backends)('sign-in pipeline ($name)', (backend) => {
  let t: TestCore;
  let laptop: Device;

  beforeAll(async () => {
    t = await coreFor(backend);
    const d = t.core.directory;
    await d.groups.create(CLI_CTX, { name: 'staff', attributes: {} });
    await d.users.create(CLI_CTX, { username: 'alice', password: PASSWORD, status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'] });
    for (const type of ['oidc', 'saml', 'generic'] as const) await d.resources.create(CLI_CTX, 'applications', { name: `${type}-app`, type, groups: ['staff'], settings: {} });
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'vpn', address: '192.0.2.1/32', secret: 'a shared secret of some length', groups: ['staff'], settings: {} });
    laptop = await d.resources.create(CLI_CTX, 'devices', { name: 'alice-mac', owners: ['alice'], platform: 'macos', managed: true, posture: {}, attributes: {} });
    // One policy per protocol, so a decision names the protocol it was made for.
    for (const protocol of ['oidc', 'saml', 'ldap', 'radius', 'portal', 'admin'] as const) {
      await d.resources.create(CLI_CTX, 'policies', PolicyInput.parse({ name: `via-${protocol}`, description: `allowed through ${protocol}`, resources: { protocols: [protocol] }, action: 'allow' }));
    }
  });
  afterAll(async () => t?.cleanup());

  const resources = ['portal', 'ldap', 'admin', 'app:oidc-app', 'app:saml-app', 'app:generic-app', 'app:no-such-app', 'radius:vpn'];

  it.each(resources)('explain and a real sign-in agree on the protocol of %s', async (resource) => {
    const explained = await explainAccess(t.core, AccessEvaluationInput.parse({ user: 'alice', resource }));
    const signedIn = await t.core.signIn.attempt({ presented: { kind: 'password', login: 'alice', password: PASSWORD }, resource, requestId: `agree-${resource}` });
    expect(signedIn.ok).toBe(true);
    if (!signedIn.ok) return;
    expect(signedIn.protocol).toBe(explained.request.protocol);
    expect(signedIn.decision.action).toBe(explained.decision);
    expect(signedIn.decision.reasons.map((r) => r.policy).filter(Boolean)).toEqual(explained.reasons.map((r) => r.policy).filter(Boolean));
    const [event] = (await t.core.audit.query({ requestId: `agree-${resource}` })).items;
    expect(event).toMatchObject({ type: 'access.decision', protocol: explained.request.protocol, details: { checks: [{ type: 'authn.password' }] } });
  });

  it('a generic application is reached through the portal, an OIDC or SAML one through its own protocol', async () => {
    const protocols = await Promise.all(['app:generic-app', 'app:oidc-app', 'app:saml-app', 'app:no-such-app', 'radius:vpn', 'ldap'].map((r) => t.core.signIn.protocolFor(r)));
    expect(protocols).toEqual(['portal', 'oidc', 'saml', 'portal', 'radius', 'ldap']);
  });

  it("counts a certificate of the person's own device as a factor, for this request only", async () => {
    const result = await t.core.signIn.attempt({
      presented: { kind: 'password', login: 'alice', password: PASSWORD },
      resource: 'portal',
      device: async () => ({ device: laptop, certificate: true }),
    });
    expect(result).toMatchObject({ ok: true, authn: [{ method: 'password' }, { method: 'certificate' }], proven: [{ method: 'password' }] });
    // Someone else's device: identified, but no factor.
    const other = { ...laptop, owners: ['bob'] };
    const borrowed = await t.core.signIn.attempt({ presented: { kind: 'password', login: 'alice', password: PASSWORD }, resource: 'portal', device: async () => ({ device: other, certificate: true }) });
    expect(borrowed).toMatchObject({ ok: true, authn: [{ method: 'password' }] });
  });

  it('finds a RADIUS client by the source address of a packet, the most specific first, with its secret', async () => {
    await t.core.directory.resources.create(CLI_CTX, 'radiusClients', { name: 'wifi', address: '192.0.2.0/24', secret: 'the controllers share this one', groups: ['staff'], settings: {} });
    expect(await t.core.directory.radiusClients.bySource('192.0.2.1')).toMatchObject({ client: { name: 'vpn' }, secret: 'a shared secret of some length' });
    expect(await t.core.directory.radiusClients.bySource('192.0.2.77')).toMatchObject({ client: { name: 'wifi' }, secret: 'the controllers share this one' });
    expect(await t.core.directory.radiusClients.bySource('198.51.100.1')).toBeUndefined();
    // What interfaces show never carries it.
    expect(JSON.stringify(await t.core.directory.resources.find('radiusClients', 'wifi'))).not.toContain('controllers');
  });

  it('refuses a wrong password with the catalogue reason and one failure event, and no decision', async () => {
    const result = await t.core.signIn.attempt({ presented: { kind: 'password', login: 'alice', password: 'not the password at all' }, resource: 'portal', requestId: 'wrong-1' });
    expect(result).toMatchObject({ ok: false, reason: { code: 'bad_credentials' } });
    const events = (await t.core.audit.query({ requestId: 'wrong-1' })).items;
    expect(events.map((e) => [e.type, e.outcome])).toEqual([['authn.password', 'failure']]);
  });

  it('records how an EAP method carried the attempt on its one event, bounded, and nothing it does not know', async () => {
    const attempt = (requestId: string, eap: unknown, password = PASSWORD) =>
      t.core.signIn.attempt({ presented: { kind: 'password', login: 'alice', password }, resource: 'radius:vpn', protocol: 'radius', requestId, eap: eap as never });
    const eventsOf = async (requestId: string) => (await t.core.audit.query({ requestId })).items;
    await attempt('eap-ok', { method: 'ttls', outerIdentity: 'anonymous@corp.example' });
    expect(await eventsOf('eap-ok')).toEqual([expect.objectContaining({ type: 'access.decision', outcome: 'success', actor: expect.objectContaining({ name: 'alice' }), details: expect.objectContaining({ eap: { method: 'ttls', outerIdentity: 'anonymous@corp.example' } }) })]);
    await attempt('eap-wrong', { method: 'peap' }, 'wrong');
    expect(await eventsOf('eap-wrong')).toEqual([expect.objectContaining({ type: 'authn.password', outcome: 'failure', details: expect.objectContaining({ username: 'alice', eap: { method: 'peap' } }) })]);
    // An unknown method, a value that is not an object, an outer identity that is not text: left out.
    for (const [i, eap] of [{ method: 'md5', outerIdentity: 'x' }, 'ttls', null, { method: 'tls', outerIdentity: { toString: () => 'x' } }].entries()) {
      await attempt(`eap-odd-${i}`, eap);
      const [event] = await eventsOf(`eap-odd-${i}`);
      expect(event!.type).toBe('access.decision');
      if (i === 3) expect(event!.details.eap).toEqual({ method: 'tls' });
      else expect(event!.details).not.toHaveProperty('eap');
    }
    // 100,000 characters from the peer: 128 kept.
    await attempt('eap-long', { method: 'ttls', outerIdentity: 'a'.repeat(100_000) });
    const [long] = await eventsOf('eap-long');
    expect(long!.details.eap).toEqual({ method: 'ttls', outerIdentity: 'a'.repeat(128), truncated: true });
  });
});

describe.each(backends)('sign-in pipeline with the store gone ($name)', (backend) => {
  it('refuses every kind of attempt (fail closed), and an LDAP bind answers unavailable', async () => {
    const t = await coreFor(backend);
    try {
      await t.core.directory.users.create(CLI_CTX, { username: 'alice', password: PASSWORD, status: 'active', sshPublicKeys: [], attributes: {} });
      await t.store.close();
      for (const presented of [
        { kind: 'password', login: 'alice', password: PASSWORD },
        { kind: 'password', login: 'alice@example.com', password: PASSWORD, loginAttributes: ['mail'] },
        { kind: 'session', userId: '00000000-0000-4000-8000-000000000000' },
      ] as const) {
        expect(await t.core.signIn.attempt({ presented, resource: 'portal' })).toMatchObject({ ok: false, reason: { code: 'store_unavailable' } });
      }
      const { simpleBind } = await import('../../protocols/ldap/bind.ts');
      const { LDAP_DEFAULTS } = await import('../../protocols/ldap/options.ts');
      expect(await simpleBind(t.core, LDAP_DEFAULTS, 'alice', PASSWORD)).toMatchObject({ status: 52 });
    } finally {
      await t.cleanup().catch(() => undefined);
    }
  });
});
