/**
 * WiFi authentication through RADIUS with hostapd's own supplicant test tool (Debian eapoltest,
 * /usr/bin/eapol_test) against a real Gatehouse on both stores: EAP-TTLS with inner PAP over TLS 1.2
 * and TLS 1.3 ends in SUCCESS and eapol_test finds the MS-MPPE keys Gatehouse sent equal to the MSK
 * it derived itself ("MPPE keys OK: 1  mismatch: 0"); the outer identity is anonymous and the inner
 * one decides; a wrong password, a person outside the client's groups, a TLS 1.0/1.1-only
 * supplicant (TTLS and PEAP) and an untrusted server certificate end in FAILURE, each one audit
 * event (the last two authn.tls: the TLS failed before any credential). PEAPv0 with inner EAP-MSCHAPv2 and
 * the person's generated network password: SUCCESS with MPPE keys OK (TLS 1.2, TLS 1.3, small fragments); a
 * wrong network password and the main password: FAILURE (MSCHAPv2 Failure, Result TLV failure).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupInput, UserInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { makeCa } from '../helpers/pki.ts';
import type { TestServer } from '../helpers/server.ts';
import { lastAttempt, startEapServer, type EapServer, type Outcome } from './eap-support.ts';

const PASSWORD = 'correct horse battery staple';
const SECRET = 'eapol-test-shared-secret-0123';

describe.each(backends)('eapol_test against Gatehouse ($name)', (backend) => {
  let eap: EapServer;
  let t: TestServer;
  let dir: string;
  let foreignCaFile: string;
  let networkPassword: string;
  let bobNetworkPassword: string;

  beforeAll(async () => {
    eap = await startEapServer(backend, { prefix: 'gatehouse-eap-', secret: SECRET, defaults: { eap: 'TTLS', anonymous_identity: '"anonymous"', phase2: '"auth=PAP"' } });
    ({ t, dir } = eap);
    foreignCaFile = join(dir, 'foreign-ca.pem');
    writeFileSync(foreignCaFile, (await makeCa('CN=WiFi Test CA')).pem);
    const d = t.gh.core.directory;
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'wifi', attributes: { radiusVlan: 20 } }));
    const alice = await d.users.create(CLI_CTX, UserInput.parse({ username: 'alice', password: PASSWORD, groups: ['wifi'] }));
    networkPassword = (await t.gh.core.networkPasswords.generate(CLI_CTX, alice.id)).password;
    const bob = await d.users.create(CLI_CTX, UserInput.parse({ username: 'bob', password: PASSWORD }));
    bobNetworkPassword = (await t.gh.core.networkPasswords.generate(CLI_CTX, bob.id)).password;
    await d.resources.create(CLI_CTX, 'radiusClients', { name: 'ap', address: '127.0.0.1/32', secret: SECRET, groups: ['wifi'], settings: {} });
  });
  afterAll(async () => eap?.stop());

  const eapolTest = (name: string, network: Record<string, string>, extra: string[] = []): Promise<Outcome> => eap.eapolTest(name, network, extra);
  const peap = (password: string) => ({ eap: 'PEAP', phase1: '"peapver=0"', phase2: '"auth=MSCHAPV2"', identity: '"alice"', password: `"${password}"` });

  for (const [label, phase1] of [['TLS 1.2', '"tls_disable_tlsv1_3=1"'], ['TLS 1.3', '"tls_disable_tlsv1_3=0"']] as const) {
    it(`EAP-TTLS/PAP over ${label}: SUCCESS, MPPE keys equal to the supplicant's MSK, the VLAN of the group`, async () => {
      const { code, output } = await eapolTest(`ok-${label.replace(/\W/g, '')}`, { identity: '"alice"', password: `"${PASSWORD}"`, phase1 });
      expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
      expect(output).toContain(`SSL: Using TLS version ${label === 'TLS 1.3' ? 'TLSv1.3' : 'TLSv1.2'}`);
      expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
      expect(code).toBe(0);
      // The Access-Accept names the inner identity and carries the group's VLAN (Tunnel-Private-Group-Id "20").
      expect(output).toMatch(/Attribute 1 \(User-Name\) length=7\s+Value: 'alice'/);
      expect(output).toMatch(/Attribute 81 \(Tunnel-Private-Group-Id\) length=5\s+Value: 013230/); // tag 1, "20"
      expect(output).toMatch(/MS-MPPE-Send-Key \(sign\) - hexdump\(len=32\)/);
      // One audit event for the attempt: the decision, naming the method, the outer and the inner identity.
      const events = await lastAttempt(t);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'access.decision', outcome: 'success', protocol: 'radius', actor: { type: 'user', name: 'alice' }, target: { name: 'radius:ap' },
        details: { eap: { method: 'ttls', outerIdentity: 'anonymous' }, checks: [{ type: 'authn.password' }] },
      });
    });
  }

  it('small fragments both ways (Framed-MTU 300 from the NAS, a supplicant fragmenting at 100): SUCCESS, MPPE keys OK', async () => {
    const { code, output } = await eapolTest('fragments', { identity: '"alice"', password: `"${PASSWORD}"`, fragment_size: '100' }, ['-N12:d:300']);
    // Our flights came in several fragments the supplicant ACKed, and it sent its own in fragments we ACKed.
    expect(output).toMatch(/SSL: Need \d+ bytes more input data/);
    expect(output).toMatch(/SSL: sending \d+ bytes, more fragments will follow/);
    expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
    expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
    expect(code).toBe(0);
  });

  it('a wrong password: FAILURE, one audit event naming the method, the outer and the inner identity', async () => {
    const { code, output } = await eapolTest('wrong', { identity: '"alice"', password: '"not the password"', anonymous_identity: '"guest@wifi.example"' });
    expect(output).toContain('EAP: Received EAP-Failure');
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.password', outcome: 'failure', protocol: 'radius', reasons: [{ code: 'bad_credentials' }],
      details: { username: 'alice', eap: { method: 'ttls', outerIdentity: 'guest@wifi.example' } },
    });
  });

  it('a person outside the client\'s groups: FAILURE', async () => {
    const { code, output } = await eapolTest('bob', { identity: '"bob"', password: `"${PASSWORD}"` });
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
  });

  it('a supplicant limited to TLS 1.0/1.1: FAILURE, one audit event (authn.tls, tls_version), the sign-in never runs', async () => {
    const { code, output } = await eapolTest('tls11', { identity: '"alice"', password: `"${PASSWORD}"`, phase1: '"tls_disable_tlsv1_2=1 tls_disable_tlsv1_3=1"' });
    expect(output).toContain('EAP: Received EAP-Failure');
    expect(output).not.toContain('MS-MPPE-Send-Key');
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.tls', outcome: 'failure', protocol: 'radius', actor: { type: 'anonymous' }, target: { type: 'radius_client', name: 'ap' },
      reasons: [{ code: 'tls_version' }], details: { client: 'ap', tls: { error: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }, eap: { method: 'ttls', outerIdentity: 'anonymous' } },
    });
  });

  it('counts the conversations on /metrics', async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    const value = (event: string) => Number(new RegExp(`^gatehouse_radius_eap_total\\{event="${event}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    expect(value('accepted')).toBe(3);
    expect(value('refused')).toBe(2);
    expect(value('started')).toBeGreaterThanOrEqual(6);
    expect(value('failed')).toBeGreaterThanOrEqual(1);
    // The outer identity is the peer's choice: in the audit log, never in a label.
    expect(text).not.toContain('wifi.example');
    expect(text).not.toContain('anonymous');
  });

  it('a supplicant that does not trust the server certificate gives up: FAILURE, one audit event naming its alert', async () => {
    const { code, output } = await eapolTest('foreign', { identity: '"alice"', password: `"${PASSWORD}"`, ca_cert: `"${foreignCaFile}"` });
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'authn.tls', outcome: 'failure', reasons: [{ code: 'tls_alert' }],
      details: { client: 'ap', tls: { alert: 'unknown_ca' }, eap: { method: 'ttls', outerIdentity: 'anonymous' } },
    });
  });

  it('PEAP with a supplicant limited to TLS 1.0/1.1: FAILURE, one audit event (authn.tls, tls_version)', async () => {
    const { code, output } = await eapolTest('peap-tls11', { ...peap(networkPassword), phase1: '"peapver=0 tls_disable_tlsv1_2=1 tls_disable_tlsv1_3=1"' });
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'authn.tls', reasons: [{ code: 'tls_version' }], details: { eap: { method: 'peap', outerIdentity: 'anonymous' } } });
  });


  it('PEAPv0/MSCHAPv2 with the network password: SUCCESS, MPPE keys OK, the inner identity and the VLAN', async () => {
    const { code, output } = await eapolTest('peap-ok', { ...peap(networkPassword), anonymous_identity: '"anon@wifi.example"' });
    expect(output).toContain('EAP-MSCHAPV2: Authentication succeeded');
    expect(output).toContain('EAP-TLV: TLV Result - Success');
    expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
    expect(output).toMatch(/Attribute 1 \(User-Name\) length=7\s+Value: 'alice'/);
    expect(output).toMatch(/Attribute 81 \(Tunnel-Private-Group-Id\) length=5\s+Value: 013230/);
    expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
    expect(code).toBe(0);
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'access.decision', outcome: 'success', actor: { type: 'user', name: 'alice' },
      details: { eap: { method: 'peap', outerIdentity: 'anon@wifi.example' }, checks: [{ type: 'authn.network_password' }] },
    });
  });

  it('PEAPv0/MSCHAPv2 over TLS 1.3 (RFC 9427): SUCCESS, MPPE keys OK', async () => {
    const { code, output } = await eapolTest('peap-tls13', { ...peap(networkPassword), phase1: '"peapver=0 tls_disable_tlsv1_3=0"' });
    expect(output).toContain('SSL: Using TLS version TLSv1.3');
    expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
    expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
    expect(code).toBe(0);
  });

  it('PEAPv0/MSCHAPv2 with small fragments (Framed-MTU 300): SUCCESS', async () => {
    const { code, output } = await eapolTest('peap-fragments', { ...peap(networkPassword), fragment_size: '100' }, ['-N12:d:300']);
    expect(output).toMatch(/MPPE keys OK: 1 +mismatch: 0/);
    expect(output.trim().split('\n').at(-1)).toBe('SUCCESS');
    expect(code).toBe(0);
  });

  it('PEAPv0/MSCHAPv2 with a wrong network password, or the main password: FAILURE', async () => {
    for (const [name, password] of [['peap-wrong', 'abcd-efgh-jkmn-pqrs-tuvw'], ['peap-main', PASSWORD]] as const) {
      const { code, output } = await eapolTest(name, peap(password));
      // The whole PEAPv0 failure path: MSCHAPv2 Failure E=691 R=0, then the Result TLV failure, then EAP-Failure.
      expect(output).toContain("EAP-MSCHAPV2: failure message: 'Authentication failed' (retry not allowed, error 691)");
      expect(output).toContain('EAP-TLV: TLV Result - Failure');
      expect(output).toContain('EAP: Received EAP-Failure');
      expect(output).not.toContain('MS-MPPE-Send-Key');
      expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
      expect(code).not.toBe(0);
      const events = await lastAttempt(t);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'authn.network_password', outcome: 'failure', reasons: [{ code: 'bad_credentials' }], target: { name: 'alice' },
        details: { username: 'alice', method: 'mschapv2', eap: { method: 'peap', outerIdentity: 'anonymous' } },
      });
    }
  });

  it('PEAPv0/MSCHAPv2: a person outside the client\'s groups, with the right network password, is refused (FAILURE)', async () => {
    const { code, output } = await eapolTest('peap-bob', { ...peap(bobNetworkPassword), identity: '"bob"' });
    expect(output).toContain('EAP-TLV: TLV Result - Failure');
    expect(output.trim().split('\n').at(-1)).toBe('FAILURE');
    expect(code).not.toBe(0);
    const events = await lastAttempt(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'access.decision', outcome: 'denied', actor: { name: 'bob' }, target: { name: 'radius:ap' },
      details: { checks: [{ type: 'authn.network_password' }], eap: { method: 'peap', outerIdentity: 'anonymous' } },
    });
  });
});
