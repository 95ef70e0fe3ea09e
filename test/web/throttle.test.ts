/**
 * The throttle as people meet it on the sign-in pages, over real HTTP on every backend (client
 * addresses through X-Forwarded-For from the trusted proxy 127.0.0.1): an attacker elsewhere cannot
 * keep a person out, and failed sign-ins from an address do not hold back the admin API from it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awayFromStepEdge, Client, expectPage, expectSeeOther, PASSWORD, postCode, postPassword, signIn, totpCode } from './support.ts';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };

describe.each(backends)('sign-in throttling ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend, {
      server: { http: { host: '127.0.0.1', port: 0 }, trustedProxies: ['127.0.0.1/32'] },
      throttle: { freeAttempts: 3, freeAttemptsPerIp: 5, baseDelaySeconds: 60 },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('an attacker address keeps the account backed off while the owner, from a familiar address, signs in at once', async () => {
    await server.gh.core.directory.users.create(CLI, { username: 'hana', status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
    await signIn(new Client(server.url, '198.51.100.5'), 'hana');

    const attacker = new Client(server.url, '203.0.113.9');
    for (let i = 0; i < 3; i++) await expectPage(await postPassword(attacker, 'hana', `not-the-password-${i}`), 401, 'Wrong username or password.');
    const refused = await postPassword(attacker, 'hana', PASSWORD);
    await expectPage(refused, 429, /Too many failed attempts/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    // Hana, the next morning, from another address of her usual range: signed in at once.
    await signIn(new Client(server.url, '198.51.100.6'), 'hana');
    await expectPage(await postPassword(attacker, 'hana', PASSWORD), 429);
  });

  it('failed sign-ins from an address do not make the admin API refuse a valid key from it', async () => {
    const here = new Client(server.url);
    for (let i = 0; i < 5; i++) await expectPage(await postPassword(here, `nobody-${i}`, PASSWORD), 401);
    await expectPage(await postPassword(here, 'nobody-5', PASSWORD), 429);
    const res = await server.api('/api/v1/users');
    expect(res.status).toBe(200);
  });
});

describe.each(backends)('second-factor step limits per address ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend, {
      server: { http: { host: '127.0.0.1', port: 0 }, trustedProxies: ['127.0.0.1/32'] },
      // Per account the code check allows plenty; per address the step allows 3, but a listed NAT 100.
      throttle: { freeAttempts: 50, freeAttemptsPerIp: 3, baseDelaySeconds: 60, networks: [{ network: 'office-nat', freeAttemptsPerIp: 100 }] },
      directory: { networks: [{ name: 'office-nat', cidrs: ['192.0.2.0/24'] }], policies: [{ name: 'everyone-mfa', action: 'mfa' }] },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A person with TOTP, past the password step from `ip`, on the code page. */
  async function atCodeStep(ip: string): Promise<Client> {
    const username = `m${Math.random().toString(36).slice(2, 8)}`;
    const user = await server.gh.core.directory.users.create(CLI, { username, status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
    await awayFromStepEdge();
    const { secret } = await server.gh.core.totp.enrol(CLI, user.id, username);
    await server.gh.core.totp.confirm(CLI, user.id, totpCode(secret, -1));
    const c = new Client(server.url, ip);
    await expectSeeOther(await postPassword(c, username, PASSWORD), '/login/mfa');
    return c;
  }

  it("gives a listed network's addresses its allowance on the code step, and the rest the default", async () => {
    // Wrong codes from people behind the office NAT: more than the default allowance, all answered.
    for (let i = 0; i < 3; i++) {
      const c = await atCodeStep('192.0.2.40');
      for (let j = 0; j < 2; j++) await expectPage(await postCode(c, '000000'), 401, 'did not work');
    }
    // Elsewhere, the fourth wrong code from one address is one too many.
    for (let i = 0; i < 2; i++) {
      const c = await atCodeStep('203.0.113.40');
      for (let j = 0; j < 2 - i; j++) await expectPage(await postCode(c, '000000'), 401, 'did not work');
    }
    const c = await atCodeStep('203.0.113.40');
    await expectPage(await postCode(c, '000000'), 429, /Too many attempts from your network/);
  });
});
