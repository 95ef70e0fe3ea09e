/**
 * OpenLDAP's own clients (Debian ldap-utils: ldapwhoami, ldapsearch, ldappasswd) against a real
 * Gatehouse, in clear, over StartTLS (-ZZ) and over LDAPS, output compared with golden files, as
 * glauth does in CI. Volatile values (entryUUID, timestamps) are not requested; records are sorted
 * (a store returns rows in its own order) and comments dropped. A missing ldapsearch fails the
 * suite: .ci/run installs ldap-utils. Regenerate the golden files with GATEHOUSE_UPDATE_GOLDEN=1
 * after checking the difference.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationInput, GroupInput, UserInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { tlsFiles, type TlsFiles } from '../ldap/tls-support.ts';

const run = promisify(execFile);
const BASE = 'dc=example,dc=com';
const PASSWORD = 'correct horse battery staple';
const dnOf = (uid: string) => `uid=${uid},ou=people,${BASE}`;
const UPDATE = process.env.GATEHOUSE_UPDATE_GOLDEN === '1';
const SERVICE_SECRET = 'the-ci-service-secret-0123456789abcdef';
/** The exit code of a failed ldap-utils command (its LDAP result code), or 0. */
const exitCode = (err: unknown) => (err as { code?: number }).code ?? -1;

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
  let ldapsUrl: string;
  let files: TlsFiles;
  /** libldap (GnuTLS) trusts the test CA through the environment; it checks the certificate's name (127.0.0.1). */
  let tlsEnv: NodeJS.ProcessEnv;
  beforeAll(async () => {
    files = await tlsFiles();
    const caFile = join(files.tls.certFile, '..', 'ca.pem');
    writeFileSync(caFile, files.ca);
    tlsEnv = { ...process.env, LDAPTLS_CACERT: caFile, LDAPTLS_REQCERT: 'demand' };
    // Two free failed attempts per account, then a minute's back-off (the ppolicy test backs one off).
    t = await startTestServer(backend, { ldap: { baseDn: BASE, tls: files.tls, ldapsPort: 0 }, throttle: { freeAttempts: 2, baseDelaySeconds: 60 } });
    url = t.gh.listeners.find((l) => l.url.startsWith('ldap://'))!.url;
    ldapsUrl = t.gh.listeners.find((l) => l.url.startsWith('ldaps://'))!.url;
    const d = t.gh.core.directory;
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'staff', description: 'Everyone employed', gidNumber: 5000 }));
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'engineering', gidNumber: 5001 }));
    await d.groups.create(CLI_CTX, GroupInput.parse({ name: 'ldap-readers' }));
    await d.groups.addMember(CLI_CTX, 'staff', 'group', 'engineering');
    await d.users.create(CLI_CTX, UserInput.parse({
      username: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', password: PASSWORD,
      uidNumber: 10001, gidNumber: 5001, loginShell: '/bin/bash', groups: ['engineering'],
    }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'bob', email: 'bob@example.com', displayName: 'Bob Builder', password: PASSWORD, uidNumber: 10002, gidNumber: 5000, groups: ['ldap-readers', 'staff'] }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'carol', displayName: 'Carol Danvers', uidNumber: 10003, gidNumber: 5001, groups: ['engineering'] }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'dave', uidNumber: 9000 }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'erin', email: 'erin@example.com' }));
    await d.users.create(CLI_CTX, UserInput.parse({ username: 'frank', displayName: 'Frank Poole', password: PASSWORD }));
    await d.resources.create(CLI_CTX, 'applications', ApplicationInput.parse({ name: 'ci', description: 'Build server', secret: SERVICE_SECRET, settings: { ldap: { scope: { groups: ['engineering'] } } } }));
  });
  afterAll(async () => {
    await t?.stop();
    files?.remove();
  });

  const ldapsearch = async (as: string, args: string[], options: { tls?: 'starttls' | 'ldaps'; bindDn?: string; password?: string } = {}) => {
    const server = options.tls === 'ldaps' ? ['-H', ldapsUrl] : options.tls === 'starttls' ? ['-H', url, '-ZZ'] : ['-H', url];
    const bind = ['-D', options.bindDn ?? dnOf(as), '-w', options.password ?? PASSWORD];
    return (await run('ldapsearch', ['-x', '-LLL', '-o', 'ldif_wrap=no', ...server, ...bind, ...args], { encoding: 'utf8', env: tlsEnv })).stdout;
  };

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

  it('searches over StartTLS (-ZZ) and over LDAPS, with the server certificate checked', async () => {
    const args = ['-b', `ou=people,${BASE}`, '(uid=bob)', 'uid', 'mail', 'memberOf', 'uidNumber'];
    const starttls = normalize(await ldapsearch('bob', args, { tls: 'starttls' }));
    golden('ldap-starttls.ldif', starttls);
    expect(normalize(await ldapsearch('bob', args, { tls: 'ldaps' }))).toBe(starttls);
    golden('ldap-ldaps-root-dse.ldif', normalize(await ldapsearch('bob', ['-b', '', '-s', 'base', '(objectClass=*)', 'supportedExtension', 'supportedControl'], { tls: 'ldaps' })));
    // Without the CA, libldap refuses the certificate: nothing is sent in clear instead.
    const untrusted = run('ldapsearch', ['-x', '-H', url, '-ZZ', '-D', dnOf('bob'), '-w', PASSWORD, '-b', BASE, '(uid=bob)'], { encoding: 'utf8', env: { ...process.env, LDAPTLS_CACERT: '/dev/null', LDAPTLS_REQCERT: 'demand' } });
    await expect(untrusted).rejects.toMatchObject({ stderr: expect.stringMatching(/TLS|certificate/i) });
  });

  it('changes a password with ldappasswd over StartTLS; the new one binds, the old one no longer does', async () => {
    const next = 'a brand new passphrase, quite long';
    await run('ldappasswd', ['-x', '-ZZ', '-H', url, '-D', dnOf('frank'), '-w', PASSWORD, '-a', PASSWORD, '-s', next], { encoding: 'utf8', env: tlsEnv });
    const { stdout } = await run('ldapwhoami', ['-x', '-ZZ', '-H', url, '-D', dnOf('frank'), '-w', next], { encoding: 'utf8', env: tlsEnv });
    expect(stdout.trim()).toBe(`dn:${dnOf('frank')}`);
    const old = await run('ldapwhoami', ['-x', '-ZZ', '-H', url, '-D', dnOf('frank'), '-w', PASSWORD], { encoding: 'utf8', env: tlsEnv }).catch((err: unknown) => err);
    expect(exitCode(old)).toBe(49);
    // In clear, the server refuses to take a password at all (confidentialityRequired, 13).
    const clear = await run('ldappasswd', ['-x', '-H', url, '-D', dnOf('frank'), '-w', next, '-a', next, '-s', 'yet another passphrase, also long'], { encoding: 'utf8' }).catch((err: unknown) => err);
    expect(exitCode(clear)).not.toBe(0);
    const { stdout: said, stderr } = clear as { stdout: string; stderr: string };
    expect(`${said}${stderr}`).toMatch(/Confidentiality required \(13\)/);
  });

  it('binds a service account and shows it its scope, and evaluates extensible filters from ldapsearch', async () => {
    const service = `cn=ci,ou=services,${BASE}`;
    const { stdout } = await run('ldapwhoami', ['-x', '-H', url, '-D', service, '-w', SERVICE_SECRET], { encoding: 'utf8' });
    expect(stdout.trim()).toBe(`dn:${service}`);
    golden('ldap-service-scope.ldif', normalize(await ldapsearch('', ['-b', BASE, '(|(objectClass=posixAccount)(objectClass=groupOfNames))', 'uid', 'cn', 'memberUid'], { bindDn: service, password: SERVICE_SECRET })));
    golden('ldap-extensible.ldif', normalize(await ldapsearch('bob', ['-b', BASE, `(&(objectClass=posixAccount)(memberOf:distinguishedNameMatch:=CN=Staff,OU=Groups,${BASE.toUpperCase()})(!(cn:caseExactMatch:=Carol Danvers)))`, 'uid', 'cn'])));
  });

  /** A person for one test, removed after it (the other tests count the people). */
  const withUser = async (username: string, test: () => Promise<void>) => {
    const d = t.gh.core.directory;
    await d.users.create(CLI_CTX, UserInput.parse({ username, password: PASSWORD }));
    try {
      await test();
    } finally {
      await d.users.delete(CLI_CTX, username);
    }
  };
  /** An ldap-utils command's exit code and output, whether it failed or not. */
  const attempt = (command: string, args: string[]) =>
    run(command, args, { encoding: 'utf8', env: tlsEnv }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: unknown) => ({ code: exitCode(err), stdout: (err as { stdout: string }).stdout, stderr: (err as { stderr: string }).stderr }),
    );

  it('binds and changes passwords with the password policy control (-e ppolicy, which SSSD sends on every bind)', async () => {
    const { stdout } = await run('ldapwhoami', ['-x', '-e', 'ppolicy', '-H', url, '-D', dnOf('alice'), '-w', PASSWORD], { encoding: 'utf8' });
    expect(stdout.trim()).toBe(`dn:${dnOf('alice')}`);
    await withUser('heidi', async () => {
      const passwd = (next: string) => attempt('ldappasswd', ['-x', '-ZZ', '-e', 'ppolicy', '-H', url, '-D', dnOf('heidi'), '-w', PASSWORD, '-a', PASSWORD, '-s', next]);
      // The policy's objection comes back in the response control, and ldappasswd prints it.
      const short = await passwd('short');
      expect(short.code).not.toBe(0);
      expect(short.stdout).toContain('Result: Constraint violation (19)');
      expect(short.stdout).toContain('ppolicy: error=6 (Password is too short for policy)');
      const next = 'a passphrase worth keeping, truly';
      const changed = await passwd(next);
      expect(changed).toMatchObject({ code: 0 });
      expect(changed.stdout).toContain('Result: Success (0)');
      const { stdout: whoami } = await run('ldapwhoami', ['-x', '-ZZ', '-e', 'ppolicy', '-H', url, '-D', dnOf('heidi'), '-w', next], { encoding: 'utf8', env: tlsEnv });
      expect(whoami.trim()).toBe(`dn:${dnOf('heidi')}`);
    });
  });

  it("takes every control OpenLDAP's clients send (-e manageDSAit, relax, a made-up OID), and refuses a critical one it cannot apply with 12", async () => {
    const whoami = (control: string) => attempt('ldapwhoami', ['-x', '-e', control, '-H', url, '-D', dnOf('alice'), '-w', PASSWORD]);
    for (const control of ['manageDSAit', '!manageDSAit', 'relax', '1.2.3.4.5']) {
      const out = await whoami(control);
      expect(out, control).toMatchObject({ code: 0 });
      expect(out.stdout.trim(), control).toBe(`dn:${dnOf('alice')}`);
    }
    // RFC 4511 §4.1.11: a critical control the server does not recognise (or, Relax, cannot apply).
    for (const [control, oid] of [['!1.2.3.4.5', '1.2.3.4.5'], ['!relax', '1.3.6.1.4.1.4203.666.5.12']] as const) {
      const out = await whoami(control);
      expect(out.code, control).not.toBe(0);
      expect(out.stderr, control).toContain(`ldap_parse_result: Critical extension is unavailable (12)\n\tadditional info: unsupported critical control ${oid}`);
    }
    // ldapsearch sends them on its search (and ppolicy on its bind).
    const args = ['-b', dnOf('alice'), '-s', 'base', '(objectClass=*)', 'uid'];
    expect(await ldapsearch('alice', ['-e', 'ppolicy', '-e', '!manageDSAit', '-e', '1.2.3.4.5', ...args])).toBe(`dn: ${dnOf('alice')}\nuid: alice\n\n`);
    const critical = await attempt('ldapsearch', ['-x', '-LLL', '-H', url, '-D', dnOf('alice'), '-w', PASSWORD, '-e', '!1.2.3.4.5', ...args]);
    expect(critical.code).toBe(12);
    expect(critical.stderr).toContain('Critical extension is unavailable (12)');
  });

  it('says why a backed-off account is refused: ldapwhoami -e ppolicy prints "Account locked"', async () => {
    await withUser('ivan', async () => {
      const whoami = (password: string, ...extra: string[]) => attempt('ldapwhoami', ['-x', ...extra, '-H', url, '-D', dnOf('ivan'), '-w', password]);
      // Two free failures (throttle.freeAttempts here), then the account is backed off for a minute.
      for (let i = 0; i < 2; i++) expect(await whoami('not the password', '-e', 'ppolicy')).toMatchObject({ code: 49, stderr: 'ldap_bind: Invalid credentials (49)\n\tadditional info: invalid credentials\n' });
      const locked = await whoami(PASSWORD, '-e', 'ppolicy');
      expect(locked).toMatchObject({ code: 49, stderr: 'ldap_bind: Invalid credentials (49); Account locked\n\tadditional info: invalid credentials\n' });
      // A client that does not ask is told nothing more than before.
      expect(await whoami(PASSWORD)).toMatchObject({ code: 49, stderr: 'ldap_bind: Invalid credentials (49)\n\tadditional info: invalid credentials\n' });
    });
  });

  it('pages with -E pr=2/noprompt', async () => {
    const out = await ldapsearch('bob', ['-E', 'pr=2/noprompt', '-b', `ou=people,${BASE}`, '-s', 'one', '(objectClass=inetOrgPerson)', 'uid']);
    // Five people in pages of two: three pages, the last with an empty cookie (RFC 2696 §3).
    expect(out.match(/^# pagedresults: cookie=/gm)).toHaveLength(3);
    expect(out).toMatch(/^# pagedresults: cookie=$/m);
    golden('ldap-paged.ldif', normalize(out));
  });
});
