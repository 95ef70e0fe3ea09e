/**
 * OpenLDAP's own clients (Debian ldap-utils: ldapwhoami, ldapsearch) against a real Gatehouse,
 * output compared with golden files, as glauth does in CI. Volatile values (entryUUID, timestamps)
 * are not requested; records are sorted (a store returns rows in its own order) and comments
 * dropped. A missing ldapsearch fails the suite: .ci/run installs ldap-utils.
 * Regenerate the golden files with GATEHOUSE_UPDATE_GOLDEN=1 after checking the difference.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroupInput, UserInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const run = promisify(execFile);
const BASE = 'dc=example,dc=com';
const PASSWORD = 'correct horse battery staple';
const dnOf = (uid: string) => `uid=${uid},ou=people,${BASE}`;
const UPDATE = process.env.GATEHOUSE_UPDATE_GOLDEN === '1';
/** Whether the transport hands request controls to search (README.md, "Paged results"). */

/** Sorted LDIF records without comments, so the store's row order and ldapsearch's notes do not matter. */
function normalize(ldif: string): string {
  const lines: string[] = [];
  let comment = false;
  for (const line of ldif.split('\n')) {
    // A comment ends at the next line that is not its LDIF continuation (RFC 2849: leading space).
    comment = line.startsWith('#') || (comment && line.startsWith(' '));
    if (!comment) lines.push(line);
  }
  const records = lines
    .join('\n')
    .split(/\n{2,}/)
    .map((r) => r.trim())
    .filter(Boolean);
  return `${records.sort().join('\n\n')}\n`;
}

function golden(name: string, actual: string): void {
  const file = new URL(`golden/${name}`, import.meta.url);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe.each(backends)('ldap-utils against Gatehouse ($name)', (backend) => {
  let t: TestServer;
  let url: string;
  beforeAll(async () => {
    t = await startTestServer(backend, { ldap: { baseDn: BASE } });
    url = t.gh.listeners.find((l) => l.url.startsWith('ldap://'))!.url;
    const d = t.gh.core.directory;
    await d.createGroup(CLI_CTX, GroupInput.parse({ name: 'staff', description: 'Everyone employed', gidNumber: 5000 }));
    await d.createGroup(CLI_CTX, GroupInput.parse({ name: 'engineering', gidNumber: 5001 }));
    await d.createGroup(CLI_CTX, GroupInput.parse({ name: 'ldap-readers' }));
    await d.addMember(CLI_CTX, 'staff', 'group', 'engineering');
    await d.createUser(CLI_CTX, UserInput.parse({
      username: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', password: PASSWORD,
      uidNumber: 10001, gidNumber: 5001, loginShell: '/bin/bash', groups: ['engineering'],
    }));
    await d.createUser(CLI_CTX, UserInput.parse({ username: 'bob', email: 'bob@example.com', displayName: 'Bob Builder', password: PASSWORD, uidNumber: 10002, gidNumber: 5000, groups: ['ldap-readers', 'staff'] }));
    await d.createUser(CLI_CTX, UserInput.parse({ username: 'carol', displayName: 'Carol Danvers', uidNumber: 10003, gidNumber: 5001, groups: ['engineering'] }));
    await d.createUser(CLI_CTX, UserInput.parse({ username: 'dave', uidNumber: 9000 }));
    await d.createUser(CLI_CTX, UserInput.parse({ username: 'erin', email: 'erin@example.com' }));
  });
  afterAll(async () => t?.stop());

  const ldapsearch = async (as: string, args: string[]) =>
    (await run('ldapsearch', ['-x', '-LLL', '-o', 'ldif_wrap=no', '-H', url, '-D', dnOf(as), '-w', PASSWORD, ...args], { encoding: 'utf8' })).stdout;

  it('ldapwhoami', async () => {
    const { stdout } = await run('ldapwhoami', ['-x', '-H', url, '-D', dnOf('alice'), '-w', PASSWORD], { encoding: 'utf8' });
    expect(stdout.trim()).toBe(`dn:${dnOf('alice')}`);
  });

  it('reads its own entry', async () => {
    golden('ldap-own-entry.ldif', normalize(await ldapsearch('alice', ['-b', dnOf('alice'), '-s', 'base', '(objectClass=*)', '*', 'subschemaSubentry'])));
  });

  it('finds groups by filter', async () => {
    golden('ldap-groups.ldif', normalize(await ldapsearch('bob', ['-b', `ou=groups,${BASE}`, '(|(memberUid=alice)(cn=ldap-*))', 'cn', 'gidNumber', 'member', 'memberUid', 'objectClass'])));
  });

  it('finds POSIX accounts by uidNumber range', async () => {
    golden('ldap-posix-accounts.ldif', normalize(await ldapsearch('bob', ['-b', BASE, '(&(objectClass=posixAccount)(uidNumber>=10000))', 'uid', 'uidNumber', 'gidNumber', 'homeDirectory', 'memberOf'])));
  });

  it('reads the root DSE and the subschema subentry', async () => {
    golden('ldap-root-dse.ldif', normalize(await ldapsearch('alice', ['-b', '', '-s', 'base', '(objectClass=*)', 'namingContexts', 'supportedControl', 'supportedLDAPVersion', 'subschemaSubentry', 'vendorName'])));
    golden('ldap-subschema.ldif', normalize(await ldapsearch('alice', ['-b', 'cn=Subschema', '-s', 'base', '(objectClass=subschema)', 'objectClasses', 'attributeTypes'])));
  });

  it('pages with -E pr=2/noprompt', async () => {
    const out = await ldapsearch('bob', ['-E', 'pr=2/noprompt', '-b', `ou=people,${BASE}`, '-s', 'one', '(objectClass=inetOrgPerson)', 'uid']);
    // Five people in pages of two: three pages, the last with an empty cookie (RFC 2696 §3).
    expect(out.match(/^# pagedresults: cookie=/gm)).toHaveLength(3);
    expect(out).toMatch(/^# pagedresults: cookie=$/m);
    golden('ldap-paged.ldif', normalize(out));
  });
});
