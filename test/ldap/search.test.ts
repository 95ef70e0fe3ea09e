/** LDAP search: tree, root DSE, filters, scopes, attributes, size limit, access control, writes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Entry } from 'ldapts';
import { Attribute, Change } from 'ldapts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { UserInput } from '../../src/directory/model.ts';
import { BASE, dnOf, PASSWORD, startWithReader, type LdapFixture } from './support.ts';

const PEOPLE = `ou=people,${BASE}`;
const GROUPS = `ou=groups,${BASE}`;
const groupDn = (cn: string) => `cn=${cn},${GROUPS}`;

const uids = (entries: Entry[]) => entries.map((e) => e.uid as string).sort();
const dns = (entries: Entry[]) => entries.map((e) => e.dn).sort();

describe.each(backends)('LDAP search ($name)', (backend) => {
  let t: LdapFixture;
  let reader: Client;
  beforeAll(async () => {
    ({ t, reader } = await startWithReader(backend, { sizeLimit: 5 }));
  });
  afterAll(async () => t?.stop());

  const people = async (filter: string, client: Client = reader) => (await client.search(PEOPLE, { scope: 'one', filter })).searchEntries;

  it('serves the root DSE to anyone', async () => {
    const { searchEntries } = await t.client().search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['+'] });
    expect(searchEntries).toHaveLength(1);
    expect(searchEntries[0]).toMatchObject({ dn: '', namingContexts: BASE, supportedLDAPVersion: '3', supportedControl: ['1.2.840.113556.1.4.319', '1.3.6.1.4.1.42.2.27.8.5.1', '2.16.840.1.113730.3.4.2'], subschemaSubentry: 'cn=Subschema', vendorName: 'Gatehouse' });
    expect(searchEntries[0]!.supportedExtension).toContain('1.3.6.1.4.1.4203.1.11.3');
    // No ldap.tls here: StartTLS (1.3.6.1.4.1.1466.20037) is not offered.
    expect(searchEntries[0]!.supportedExtension).not.toContain('1.3.6.1.4.1.1466.20037');
  });

  it('returns users as inetOrgPerson/posixAccount/ldapPublicKey, without any password', async () => {
    const [alice] = await people('(uid=alice)');
    expect(alice).toMatchObject({
      dn: dnOf('alice'), uid: 'alice', cn: 'Alice Liddell', sn: 'Liddell', givenName: 'Alice', mail: 'alice@example.com', displayName: 'Alice Liddell',
      uidNumber: '10001', gidNumber: '5001', homeDirectory: '/home/alice', loginShell: '/bin/bash',
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'posixAccount', 'ldapPublicKey'],
    });
    expect(alice!.sshPublicKey).toMatch(/^ssh-ed25519 /);
    expect(Object.keys(alice!).map((k) => k.toLowerCase())).not.toContain('userpassword');
    expect(alice!.entryUUID).toBeUndefined();
  });

  it('resolves nested groups in memberOf, and shows groupOfNames/posixGroup', async () => {
    const [alice] = await people('(uid=alice)');
    expect(alice!.memberOf).toEqual([groupDn('engineering'), groupDn('staff')]);
    const { searchEntries } = await reader.search(GROUPS, { scope: 'one', filter: '(cn=staff)' });
    expect(searchEntries[0]).toMatchObject({ cn: 'staff', description: 'Everyone employed', gidNumber: '5000', member: groupDn('engineering'), memberUid: 'alice', objectClass: ['top', 'groupOfNames', 'posixGroup'] });
  });

  it('evaluates every filter operator, case-insensitively, with numeric ordering for uidNumber', async () => {
    expect(uids(await people('(UID=ALICE)'))).toEqual(['alice']);
    expect(uids(await people('(mail=*@EXAMPLE.com)'))).toEqual(['alice', 'bob', 'carol']);
    expect(uids(await people('(cn=a*ce*dell)'))).toEqual(['alice']);
    expect(uids(await people('(uidNumber>=10000)'))).toEqual(['alice', 'bob']);
    expect(uids(await people('(uidNumber<=9999)'))).toEqual(['dave']);
    expect(uids(await people('(&(objectClass=posixAccount)(!(uid=dave)))'))).toEqual(['alice', 'bob']);
    expect(uids(await people('(|(uid=dave)(mail=bob@example.com))'))).toEqual(['bob', 'dave']);
    expect(uids(await people('(displayName~=bob)'))).toEqual(['bob']);
    expect(uids(await people('(sshPublicKey=*)'))).toEqual(['alice']);
    expect(uids(await people(`(memberOf=${groupDn('STAFF')})`))).toEqual(['alice']);
  });

  it('honours the scopes', async () => {
    const base = await reader.search(BASE, { scope: 'base', filter: '(objectClass=*)' });
    expect(dns(base.searchEntries)).toEqual([BASE]);
    expect(base.searchEntries[0]).toMatchObject({ dc: 'example', objectClass: ['top', 'domain'] });
    const one = await reader.search(BASE, { scope: 'one', filter: '(objectClass=*)' });
    expect(dns(one.searchEntries)).toEqual([GROUPS, PEOPLE, `ou=services,${BASE}`]);
    const sub = await reader.search(BASE, { scope: 'sub', filter: '(objectClass=groupOfNames)' });
    expect(dns(sub.searchEntries)).toEqual([groupDn('engineering'), groupDn('ldap-readers'), groupDn('staff')]);
    await expect(reader.search(`ou=nowhere,${BASE}`, { scope: 'sub', filter: '(objectClass=*)' })).rejects.toMatchObject({ code: 32 });
  });

  it('selects attributes: named, *, + and typesOnly', async () => {
    const [named] = await people('(uid=alice)').then(() => reader.search(PEOPLE, { scope: 'one', filter: '(uid=alice)', attributes: ['MAIL', 'uid'] })).then((r) => r.searchEntries);
    expect(Object.keys(named!).sort()).toEqual(['dn', 'mail', 'uid']);
    const [ops] = (await reader.search(PEOPLE, { scope: 'one', filter: '(uid=alice)', attributes: ['+'] })).searchEntries;
    expect(ops).toMatchObject({ entryUUID: expect.any(String), createTimestamp: expect.stringMatching(/^\d{14}Z$/), modifyTimestamp: expect.stringMatching(/^\d{14}Z$/) });
    expect(ops!.uid).toBeUndefined();
    const [both] = (await reader.search(PEOPLE, { scope: 'one', filter: '(uid=alice)', attributes: ['*', 'entryUUID'] })).searchEntries;
    expect(both).toMatchObject({ uid: 'alice', entryUUID: expect.any(String) });
    const [types] = (await reader.search(PEOPLE, { scope: 'one', filter: '(uid=alice)', attributes: ['uid'], returnAttributeValues: false })).searchEntries;
    expect(types).toEqual({ dn: dnOf('alice'), uid: [] });
  });

  it('stops at the server size limit with sizeLimitExceeded (4)', async () => {
    await expect(reader.search(BASE, { scope: 'sub', filter: '(objectClass=*)' })).rejects.toMatchObject({ code: 4 });
    // With a client size limit ldapts takes sizeLimitExceeded as the expected end and returns the entries.
    expect((await reader.search(BASE, { scope: 'sub', filter: '(objectClass=*)', sizeLimit: 2 })).searchEntries).toHaveLength(2);
    expect((await reader.search(BASE, { scope: 'sub', filter: '(objectClass=*)', sizeLimit: 5 })).searchEntries).toHaveLength(5);
  });

  it('shows anonymous nothing', async () => {
    expect((await t.client().search(BASE, { scope: 'sub', filter: '(objectClass=*)' })).searchEntries).toEqual([]);
  });

  it('shows a bound user their own entry and their groups only; a reader everything', async () => {
    const alice = t.client();
    await alice.bind('alice', PASSWORD);
    const { searchEntries } = await alice.search(BASE, { scope: 'sub', filter: '(|(objectClass=person)(objectClass=groupOfNames))' });
    expect(dns(searchEntries)).toEqual([groupDn('engineering'), groupDn('staff'), dnOf('alice')].sort());
    expect(await people('(uid=bob)', alice)).toEqual([]);
    expect(uids(await people('(objectClass=person)'))).toEqual(['alice', 'bob', 'carol', 'dave']);
  });

  it('shows a user created through the admin API at the next search', async () => {
    expect(await people('(uid=erin)')).toEqual([]);
    await t.core.directory.users.create(CLI_CTX, UserInput.parse({ username: 'erin', email: 'erin@example.com' }));
    expect(uids(await people('(uid=erin)'))).toEqual(['erin']);
  });

  it('refuses writes with insufficientAccessRights (50), and unknown extended operations with protocolError (2)', async () => {
    await expect(reader.add(`uid=mallory,${PEOPLE}`, { objectClass: ['inetOrgPerson'], uid: 'mallory', cn: 'm', sn: 'm' })).rejects.toMatchObject({ code: 50 });
    await expect(reader.modify(dnOf('alice'), [new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: ['x@example.com'] }) })])).rejects.toMatchObject({ code: 50 });
    await expect(reader.del(dnOf('alice'))).rejects.toMatchObject({ code: 50 });
    await expect(reader.modifyDN(dnOf('alice'), 'uid=alicia')).rejects.toMatchObject({ code: 50 });
    await expect(reader.exop('1.2.3.4.5')).rejects.toMatchObject({ code: 2 });
    expect(uids(await people('(uid=alice)'))).toEqual(['alice']);
  });
});
