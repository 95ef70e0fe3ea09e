/**
 * Two Gatehouse servers on one PostgreSQL, as behind a load balancer: nothing of a sign-in lives in
 * one server's memory. The login form comes from one and is posted to the other (the CSRF key is
 * shared through the store), the second factor is asked by one and answered on the other (the
 * pending sign-in is in the store), the session works on both, and signing out on one ends it on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { postgres } from '../helpers/backends.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';
import { awayFromStepEdge, Client, csrfOf, expectPage, expectSeeOther, PASSWORD, totpCode } from './support.ts';

const CLI = { actor: { type: 'cli' as const, name: 'test' } };

describe('sign-in across two processes on one PostgreSQL', () => {
  let a: Gatehouse;
  let b: Gatehouse;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await postgres.create();
    drop = db.drop;
    const config = testConfig(db.url, {
      directory: { groups: [{ name: 'staff' }], policies: [{ name: 'everyone-mfa', action: 'mfa', methods: ['totp'] }] },
    });
    const start = () => startGatehouse({ config, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') });
    a = await start();
    b = await start();
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await drop?.();
  });

  it('starts on one server, finishes on the other, and the session is one session', async () => {
    const user = await a.core.directory.users.create(CLI, { username: 'roamer', status: 'active', sshPublicKeys: [], attributes: {}, groups: ['staff'], password: PASSWORD });
    await awayFromStepEdge();
    const { secret } = await b.core.totp.enrol(CLI, user.id, 'roamer');
    await b.core.totp.confirm(CLI, user.id, totpCode(secret, -1));

    const onA = new Client(a.httpUrl);
    const csrf = csrfOf(await (await onA.get('/login?return_to=/account')).text());
    const onB = new Client(b.httpUrl);
    for (const [name, value] of onA.jar) onB.jar.set(name, value);
    await expectSeeOther(await onB.post('/login', { csrf, username: 'roamer', password: PASSWORD, return_to: '/account', resource: 'portal' }), '/login/mfa');

    for (const [name, value] of onB.jar) onA.jar.set(name, value);
    const mfa = csrfOf(await (await onA.get('/login/mfa')).text());
    for (const [name, value] of onA.jar) onB.jar.set(name, value);
    await expectSeeOther(await onB.post('/login/mfa', { csrf: mfa, code: totpCode(secret) }), '/account');

    const token = onB.jar.get('__Host-gatehouse_session')!;
    onA.jar.set('__Host-gatehouse_session', token);
    await expectPage(await onA.get('/account'), 200, 'roamer');
    await expectPage(await onB.get('/account/sessions'), 200, 'This session');

    const { csrf: logout } = await onA.page('/logout');
    await expectSeeOther(await onA.post('/logout', { csrf: logout }), '/logout/done');
    expect(await b.core.sessions.resolve(token)).toBeUndefined();
    await expectSeeOther(await onB.get('/account'), /^\/login\?/);
  });
});
