/**
 * The RADIUS front-end against FreeRADIUS's own clients (Debian freeradius-utils: radtest,
 * radclient), on both stores: PAP with Message-Authenticator required (radtest sends one; radclient
 * when told `Message-Authenticator = 0x00`), a radclient request without one dropped, the
 * Access-Challenge flow answered with the State radclient printed, reply attributes decoded by
 * radclient's dictionary, and accounting.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_CTX } from '../helpers/core.ts';
import { backends } from '../helpers/backends.ts';
import { PASSWORD, radclient, SECRET, seed, startRadius, totpNow, type RadiusFixture } from '../radius/support.ts';

const run = promisify(execFile);

describe.each(backends)('RADIUS with radtest and radclient ($name)', (backend) => {
  let t: RadiusFixture;
  let server: string;
  beforeAll(async () => {
    t = await startRadius(backend);
    await seed(t, { replyMessages: true });
    server = `127.0.0.1:${t.authPort}`;
  });
  afterAll(async () => t?.stop());

  it('radtest: Access-Accept with the VLAN and vendor attributes; Access-Reject for a wrong password', async () => {
    const { stdout } = await run('radtest', ['alice', PASSWORD, server, '0', SECRET]);
    expect(stdout).toMatch(/Received Access-Accept/);
    expect(stdout).toMatch(/Tunnel-Type:1 = VLAN/);
    expect(stdout).toMatch(/Tunnel-Private-Group-Id:1 = "20"/);
    expect(stdout).toMatch(/Cisco-AVPair = "shell:priv-lvl=15"/);
    expect(stdout).toMatch(/Fortinet-Group-Name = "eng-vpn"/);
    const rejected = await run('radtest', ['alice', 'wrong password', server, '0', SECRET]).catch((e: { stdout: string; code: number }) => e);
    expect(rejected.stdout).toMatch(/Received Access-Reject/);
    expect(rejected.stdout).toMatch(/Reply-Message = "Authentication failed"/);
  });

  it('radclient: with Message-Authenticator accepted, without it or with the wrong secret dropped', async () => {
    const withMac = await radclient([server, 'auth', SECRET], `User-Name = bob, User-Password = "${PASSWORD}", Message-Authenticator = 0x00\n`);
    expect(withMac.stdout).toMatch(/Received Access-Accept/);
    expect(withMac.stdout).toMatch(/Class = 0x7374616666/);
    // A wrong secret: no answer at all (the Message-Authenticator does not verify).
    const wrongSecret = await radclient([server, 'auth', 'not-the-secret-0123456789'], `User-Name = bob, User-Password = "${PASSWORD}", Message-Authenticator = 0x00\n`);
    expect(wrongSecret.stdout).not.toMatch(/Received/);
    const without = await radclient([server, 'auth', SECRET], `User-Name = bob, User-Password = "${PASSWORD}"\n`);
    expect(without.stdout).not.toMatch(/Received/);
    expect(without.code).not.toBe(0);
  });

  it('radclient: Access-Challenge, then the code with the State it printed', async () => {
    const core = t.server.gh.core;
    const alice = await core.directory.users.find('alice');
    const { secret } = await core.totp.enrol(CLI_CTX, alice.id, 'alice');
    await core.totp.confirm(CLI_CTX, alice.id, totpNow(secret, -1));
    const policy = await core.directory.resources.create(CLI_CTX, 'policies', { name: 'vpn-mfa', enabled: true, users: { exclude: [] }, resources: { include: ['radius:vpn'] }, conditions: {}, action: 'mfa' });
    try {
      const first = await radclient([server, 'auth', SECRET], `User-Name = alice, User-Password = "${PASSWORD}", Message-Authenticator = 0x00\n`);
      expect(first.stdout).toMatch(/Received Access-Challenge/);
      expect(first.stdout).toMatch(/Reply-Message = "Enter the 6-digit code from your authenticator app"/);
      const state = /State = (0x[0-9a-f]{32})/.exec(first.stdout)?.[1];
      expect(state).toBeDefined();
      const second = await radclient([server, 'auth', SECRET], `User-Name = alice, User-Password = "${totpNow(secret)}", State = ${state}, Message-Authenticator = 0x00\n`);
      expect(second.stdout).toMatch(/Received Access-Accept/);
      expect(second.stdout).toMatch(/Tunnel-Private-Group-Id:1 = "20"/);
      // The State is single-use.
      const again = await radclient([server, 'auth', SECRET], `User-Name = alice, User-Password = "${totpNow(secret, 1)}", State = ${state}, Message-Authenticator = 0x00\n`);
      expect(again.stdout).toMatch(/Received Access-Reject/);
    } finally {
      await core.directory.resources.delete(CLI_CTX, 'policies', policy.id);
    }
  });

  it('radclient: accounting Start and Stop are acknowledged', async () => {
    const acct = `127.0.0.1:${t.acctPort}`;
    for (const status of ['Start', 'Stop']) {
      const { stdout, code } = await radclient([acct, 'acct', SECRET], `Acct-Status-Type = ${status}, Acct-Session-Id = "s-42", User-Name = alice, NAS-IP-Address = 127.0.0.1, Framed-IP-Address = 10.8.0.9\n`);
      expect(stdout).toMatch(/Received Accounting-Response/);
      expect(code).toBe(0);
    }
    // The wrong secret: the Request Authenticator does not verify, no answer.
    const forged = await radclient([acct, 'acct', 'not-the-secret-0123456789'], 'Acct-Status-Type = Start, Acct-Session-Id = "s-43"\n');
    expect(forged.stdout).not.toMatch(/Received/);
  });
});
