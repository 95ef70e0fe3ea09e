/** The caps on Access-Challenge (radius.challenge): open challenges per client, and code rounds per sign-in; both stores. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODE } from '../../protocols/radius/codec.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { dict, PASSWORD, seed, startRadius, TestNas, totpNow, type RadiusFixture } from './support.ts';

describe.each(backends)('RADIUS challenge caps ($name)', (backend) => {
  let t: RadiusFixture;
  let nas: TestNas;
  let secret: string;
  beforeAll(async () => {
    t = await startRadius(backend, { challenge: { maxOpenPerClient: 2, maxRounds: 2 } });
    await seed(t);
    const core = t.server.gh.core;
    const alice = await core.directory.users.find('alice');
    ({ secret } = await core.totp.enrol(CLI_CTX, alice.id, 'alice'));
    await core.totp.confirm(CLI_CTX, alice.id, totpNow(secret, -1));
    await core.directory.resources.create(CLI_CTX, 'policies', { name: 'vpn-mfa', enabled: true, users: { exclude: [] }, resources: { include: ['radius:vpn'] }, conditions: {}, action: 'mfa' });
    nas = await new TestNas().open();
  });
  afterAll(async () => {
    nas?.close();
    await t?.stop();
  });

  it('a wrong code gets another round until maxRounds, then Access-Reject', async () => {
    const first = await nas.access(t.authPort, { user: 'alice', password: PASSWORD });
    expect(first.reply?.code).toBe(CODE.AccessChallenge);
    const second = await nas.access(t.authPort, { user: 'alice', password: '000000', attributes: [dict.encode('State', dict.first(first.reply!, 'State')!)] });
    expect(second.reply?.code).toBe(CODE.AccessChallenge);
    const third = await nas.access(t.authPort, { user: 'alice', password: '000001', attributes: [dict.encode('State', dict.first(second.reply!, 'State')!)] });
    expect(third.reply?.code).toBe(CODE.AccessReject);
  });

  it('no more than maxOpenPerClient challenges wait at once', async () => {
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await nas.access(t.authPort, { user: 'alice', password: PASSWORD })).reply?.code);
    expect(codes).toEqual([CODE.AccessChallenge, CODE.AccessChallenge, CODE.AccessReject]);
  });
});
