/**
 * RADIUS accounting from FreeRADIUS's radclient (Debian freeradius-utils) recorded as network
 * sessions, on both stores: Start, Interim-Update with Gigawords and Stop as one session (with a
 * Message-Authenticator on the Interim-Update), and Accounting-On clearing the NAS's sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { radclient, SECRET, seed, startRadius, type RadiusFixture } from '../radius/support.ts';

describe.each(backends)('RADIUS accounting from radclient ($name)', (backend) => {
  let t: RadiusFixture;
  let acct: string;
  beforeAll(async () => {
    t = await startRadius(backend);
    await seed(t);
    acct = `127.0.0.1:${t.acctPort}`;
  });
  afterAll(async () => t?.stop());

  const send = async (attributes: string) => {
    const { stdout } = await radclient([acct, 'acct', SECRET], `${attributes}\n`);
    expect(stdout).toMatch(/Received Accounting-Response/);
  };

  it('records Start, Interim-Update and Stop as one session', async () => {
    const nas = 'NAS-Identifier = "fr-nas", NAS-IP-Address = 127.0.0.1, Acct-Session-Id = "fr-1", User-Name = alice';
    await send(`Acct-Status-Type = Start, ${nas}, NAS-Port = 4, Framed-IP-Address = 10.8.0.9, Calling-Station-Id = "02-00-5e-00-53-01", Called-Station-Id = "office-vpn"`);
    await send(`Acct-Status-Type = Interim-Update, ${nas}, Acct-Session-Time = 600, Acct-Input-Octets = 100, Acct-Input-Gigawords = 1, Acct-Output-Octets = 2000, Message-Authenticator = 0x00`);
    const [live] = (await t.server.gh.core.networkSessions.list({ user: 'alice', live: true })).items;
    expect(live).toMatchObject({ client: 'vpn', nasIdentifier: 'fr-nas', nasIpAddress: '127.0.0.1', nasPort: 4, framedIpAddress: '10.8.0.9', callingStationId: '02-00-5e-00-53-01', calledStationId: 'office-vpn', sessionTime: 600, inputOctets: 2 ** 32 + 100, outputOctets: 2000 });
    await send(`Acct-Status-Type = Stop, ${nas}, Acct-Session-Time = 700, Acct-Input-Octets = 200, Acct-Input-Gigawords = 1, Acct-Output-Octets = 3000, Acct-Terminate-Cause = Idle-Timeout`);
    expect(await t.server.gh.core.networkSessions.get(live!.id)).toMatchObject({ live: false, sessionTime: 700, terminateCause: 'Idle-Timeout', outputOctets: 3000 });
  });

  it('clears the NAS on Accounting-On', async () => {
    await send('Acct-Status-Type = Start, NAS-Identifier = "fr-reboot", Acct-Session-Id = "fr-2", User-Name = bob');
    await send('Acct-Status-Type = Accounting-On, NAS-Identifier = "fr-reboot"');
    const [session] = (await t.server.gh.core.networkSessions.list({ user: 'bob' })).items;
    expect(session).toMatchObject({ acctSessionId: 'fr-2', live: false, terminateCause: 'NAS-Reboot' });
  });
});
