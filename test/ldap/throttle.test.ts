/**
 * The throttle as LDAP clients meet it, on every backend, with clients on different loopback
 * addresses (any 127/8 address is this machine's on Linux): wrong binds from elsewhere do not keep
 * a person out at their usual place, and an LDAP client host binding for many people (SSSD, a NAS)
 * gets the allowance configured for its network.
 */
import { connect } from 'node:net';
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { bindCode, dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';

describe.each(backends)('LDAP bind throttling ($name)', (backend) => {
  let t: LdapFixture;
  beforeAll(async () => {
    t = await startLdap(backend, {}, { throttle: { freeAttempts: 3, freeAttemptsPerIp: 10, baseDelaySeconds: 60, networks: [{ network: 'nas', freeAttemptsPerIp: 1000 }] } });
    await seed(t.core);
    await t.core.directory.resources.create(CLI_CTX, 'networks', { name: 'nas', cidrs: ['127.0.2.0/24'], risky: false } as never);
  });
  afterAll(async () => t?.stop());

  /** The result code of a simple bind from the loopback address `from`. */
  function bindFrom(from: string, dn: string, password: string): Promise<number> {
    return bindCode(t, dn, password, new Client({ url: t.url, timeout: 5000, connectTimeout: 5000, createConnection: ((port: number, host: string) => connect({ port, host, localAddress: from })) as typeof connect }));
  }

  it('keeps wrong binds from elsewhere from locking a person out where they bind from every day', async () => {
    // Alice's workstation, 127.0.0.1: she has bound from there before.
    expect(await bindFrom('127.0.0.1', dnOf('alice'), PASSWORD)).toBe(0);
    // Someone on another network guesses, then even the right password waits there.
    for (let i = 0; i < 3; i++) expect(await bindFrom('127.0.1.2', dnOf('alice'), `guess number ${i}`)).toBe(49);
    expect(await bindFrom('127.0.1.2', dnOf('alice'), PASSWORD)).toBe(49);
    // Alice binds at once from her workstation's network.
    expect(await bindFrom('127.0.0.7', dnOf('alice'), PASSWORD)).toBe(0);
    expect(await bindFrom('127.0.1.2', dnOf('alice'), PASSWORD)).toBe(49);

    const throttled = (await t.core.audit.query({ type: 'authn.password', user: 'alice', limit: 10 })).items.filter((e) => e.reasons[0]?.code === 'throttled');
    expect(throttled).toHaveLength(2);
    expect(throttled[0]).toMatchObject({ sourceIp: '127.0.1.2', details: { familiar: false, retryAfterSeconds: expect.any(Number) } });
  });

  it('gives an LDAP client host in a listed network its own allowance: failed binds of some do not lock out the others', async () => {
    for (let i = 0; i < 15; i++) expect(await bindFrom('127.0.2.1', dnOf(`former${i}`), 'an old password')).toBe(49);
    expect(await bindFrom('127.0.2.1', dnOf('bob'), PASSWORD)).toBe(0);
    // Any other address stops at throttle.freeAttemptsPerIp.
    for (let i = 0; i < 10; i++) await bindFrom('127.0.3.1', dnOf(`former${i}`), 'an old password');
    expect(await bindFrom('127.0.3.1', dnOf('bob'), PASSWORD)).toBe(49);
  });
});
