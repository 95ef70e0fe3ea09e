/**
 * Hashes made by OpenLDAP's own `slappasswd` (Debian package slapd), imported the way an admin
 * migrating from OpenLDAP would (declared `passwordHash` in the config file), sign in through the
 * core and are upgraded to argon2id. A missing slappasswd fails the suite: .ci/run installs it.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { reconcile } from '../../src/config/reconcile.ts';
import { ConfigSchema } from '../../src/front-ends.ts';
import { backends } from '../helpers/backends.ts';
import { coreFor, type TestCore } from '../helpers/core.ts';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Debian installs it in /usr/sbin, which is not on every PATH.
const SLAPPASSWD = ['/usr/sbin/slappasswd', '/usr/local/sbin/slappasswd'].find((p) => existsSync(p)) ?? 'slappasswd';
const slappasswd = (scheme: string, secret: string) =>
  execFileSync(SLAPPASSWD, [...(scheme === '{SSHA512}' ? ['-o', 'module-load=pw-sha2'] : []), '-h', scheme, '-s', secret], { encoding: 'utf8' }).trim();

describe.each(backends)('OpenLDAP password hashes ($name)', (backend) => {
  let t: TestCore;
  beforeAll(async () => {
    t = await coreFor(backend);
  });
  afterAll(async () => t?.cleanup());

  it.each(['{SSHA}', '{SSHA512}'])('imports a %s hash from slappasswd and upgrades it at sign-in', async (scheme) => {
    const password = `migrated from openldap ${scheme}`;
    const hash = slappasswd(scheme, password);
    expect(hash.startsWith(scheme)).toBe(true);
    const username = `ldap-${scheme.replace(/\W/g, '').toLowerCase()}`;
    const file = join(mkdtempSync(join(tmpdir(), 'gh-interop-')), 'gatehouse.yaml');
    writeFileSync(file, `directory:\n  users:\n    - username: ${username}\n      passwordHash: "${hash}"\n`);
    const declared = await loadConfigFile(file, ConfigSchema, {});
    await reconcile(t.core, t.store, { ...t.config, directory: declared.directory }, { actor: { type: 'config', name: file } }, file);

    const ctx = { actor: { type: 'anonymous' as const }, protocol: 'ldap' };
    expect((await t.core.passwords.authenticate({ username, password: 'not it', context: ctx })).outcome).toBe('failure');
    expect((await t.core.passwords.authenticate({ username, password, context: ctx })).outcome).toBe('success');
    const user = await t.core.directory.users.find(username);
    expect((await t.store.directory.passwords.get(user.id))?.hash).toMatch(/^\$argon2id\$/);
    expect((await t.core.passwords.authenticate({ username, password, context: ctx })).outcome).toBe('success');
  });
});
