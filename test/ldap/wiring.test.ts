/** The LDAP front-end as `gatehouse start` wires it: a listener next to HTTP, fed by the admin API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'ldapts';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const BASE = 'dc=corp,dc=test';
const PASSWORD = 'correct horse battery staple';

describe.each(backends)('LDAP front-end in a running Gatehouse ($name)', (backend) => {
  let s: TestServer;
  let url: string;
  beforeAll(async () => {
    s = await startTestServer(backend, { ldap: { baseDn: BASE, readGroups: ['directory-readers'] } });
    url = s.gh.listeners.find((l) => l.name.startsWith('ldap'))!.url;
  });
  afterAll(async () => s?.stop());

  it('lists the LDAP listener', () => {
    expect(url).toMatch(/^ldap:\/\/127\.0\.0\.1:\d+$/);
  });

  it('shows a user created through the admin API in the next search, to a reader bound by mail', async () => {
    expect((await s.api('/api/v1/groups', { method: 'POST', json: { name: 'directory-readers' } })).status).toBe(201);
    expect((await s.api('/api/v1/users', { method: 'POST', json: { username: 'reader', email: 'reader@corp.test', password: PASSWORD, groups: ['directory-readers'] } })).status).toBe(201);
    const client = new Client({ url });
    try {
      await client.bind('reader@corp.test', PASSWORD);
      const before = await client.search(`ou=people,${BASE}`, { scope: 'one', filter: '(uid=newcomer)' });
      expect(before.searchEntries).toEqual([]);
      expect((await s.api('/api/v1/users', { method: 'POST', json: { username: 'newcomer', displayName: 'New Comer' } })).status).toBe(201);
      const after = await client.search(`ou=people,${BASE}`, { scope: 'one', filter: '(uid=newcomer)' });
      expect(after.searchEntries).toMatchObject([{ dn: `uid=newcomer,ou=people,${BASE}`, cn: 'New Comer', sn: 'Comer', givenName: 'New' }]);
    } finally {
      await client.unbind();
    }
  });

  it('refuses a suspended user at once, even on a connection bound before', async () => {
    const client = new Client({ url });
    try {
      await client.bind(`uid=reader,ou=people,${BASE}`, PASSWORD);
      expect((await s.api('/api/v1/users/reader/suspend', { method: 'POST' })).status).toBeLessThan(300);
      expect((await client.search(BASE, { scope: 'sub', filter: '(objectClass=*)' })).searchEntries).toEqual([]);
      await expect(new Client({ url }).bind(`uid=reader,ou=people,${BASE}`, PASSWORD)).rejects.toMatchObject({ code: 49 });
    } finally {
      await client.unbind();
    }
  });
});
