/** Password Modify (RFC 3062) as self-service over TLS, with ldapts. */
import { BerWriter, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD_MODIFY } from '../../protocols/ldap/codes.ts';
import { SUPPORTED_EXTENSIONS } from '../../protocols/ldap/extended.ts';
import { UserInput } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';
import { tlsFiles, type TlsFiles } from './tls-support.ts';

/** PasswdModifyRequestValue (RFC 3062 §2): SEQUENCE { [0] userIdentity, [1] oldPasswd, [2] newPasswd }, each optional. */
function passwdModify(value: { userIdentity?: string; oldPasswd?: string; newPasswd?: string }): Buffer {
  const w = new BerWriter();
  w.startSequence();
  if (value.userIdentity !== undefined) w.writeString(value.userIdentity, 0x80);
  if (value.oldPasswd !== undefined) w.writeString(value.oldPasswd, 0x81);
  if (value.newPasswd !== undefined) w.writeString(value.newPasswd, 0x82);
  w.endSequence();
  return w.buffer;
}

async function outcome(promise: Promise<unknown>): Promise<{ code: number; message?: string }> {
  try {
    await promise;
    return { code: 0 };
  } catch (err) {
    return { code: (err as { code?: number }).code ?? -1, message: (err as Error).message };
  }
}

const NEW_PASSWORD = 'a much newer passphrase for the mailroom';

describe.each(backends)('LDAP Password Modify ($name)', (backend) => {
  let t: LdapFixture;
  let files: TlsFiles;
  beforeAll(async () => {
    files = await tlsFiles();
    t = await startLdap(backend, { tls: files.tls });
    await seed(t.core);
  });
  afterAll(async () => {
    await t?.stop();
    files?.remove();
  });

  const secureClient = async (dn?: string, password = PASSWORD): Promise<Client> => {
    const c = t.client();
    await c.startTLS({ ca: [files.ca] });
    if (dn) await c.bind(dn, password);
    return c;
  };
  const bindCode = async (dn: string, password: string) => {
    const c = await secureClient();
    return (await outcome(c.bind(dn, password))).code;
  };

  it('is listed for the root DSE', () => {
    expect(SUPPORTED_EXTENSIONS).toContain(PASSWORD_MODIFY);
  });

  it('needs TLS: confidentialityRequired (13) in clear', async () => {
    const c = t.client();
    await c.bind(dnOf('dave'), PASSWORD);
    expect((await outcome(c.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD })))).code).toBe(13);
  });

  it('refuses anonymous users, other users, a missing oldPasswd or newPasswd, and a wrong oldPasswd', async () => {
    const anonymous = await secureClient();
    expect((await outcome(anonymous.exop(PASSWORD_MODIFY, passwdModify({ userIdentity: dnOf('dave'), oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD })))).code).toBe(53);
    const c = await secureClient(dnOf('dave'));
    expect((await outcome(c.exop(PASSWORD_MODIFY, passwdModify({ userIdentity: dnOf('alice'), oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD })))).code).toBe(50);
    expect((await outcome(c.exop(PASSWORD_MODIFY, passwdModify({ newPasswd: NEW_PASSWORD })))).code).toBe(53);
    // RFC 3062 §3.2 allows the server to generate one; Gatehouse does not.
    expect((await outcome(c.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: PASSWORD })))).code).toBe(53);
    expect((await outcome(c.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: 'not the password at all', newPasswd: NEW_PASSWORD })))).code).toBe(49);
    expect(await bindCode(dnOf('dave'), PASSWORD)).toBe(0);
  });

  it('enforces the password policy: constraintViolation (19) with its message', async () => {
    const c = await secureClient(dnOf('dave'));
    const refused = await outcome(c.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: PASSWORD, newPasswd: 'short' })));
    expect(refused.code).toBe(19);
    expect(refused.message).toMatch(/password/i);
    expect(await bindCode(dnOf('dave'), PASSWORD)).toBe(0);
  });

  it("ends the person's Gatehouse sessions elsewhere (the portal's, OpenID Connect's), as a change in the portal does", async () => {
    const bob = await t.core.directory.users.find('bob');
    const { token } = await t.core.sessions.create({ user: bob, authn: [{ method: 'password', at: new Date().toISOString() }] });
    expect(await t.core.sessions.resolve(token)).toBeDefined();
    const c = await secureClient(dnOf('bob'));
    await c.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD }));
    expect(await t.core.sessions.resolve(token)).toBeUndefined();
    const [ended] = (await t.core.audit.query({ type: 'session.ended', user: 'bob', limit: 1 })).items;
    expect(ended).toMatchObject({ protocol: 'ldap', details: { reason: 'password_changed' } });
  });

  it('refuses a password the configuration file sets: unwillingToPerform (53) saying who changes it; one it does not set changes', async () => {
    const declared = { managedBy: 'config' as const };
    await t.core.directory.users.create(CLI_CTX, UserInput.parse({ username: 'erin', password: PASSWORD }), declared);
    await t.core.directory.users.create(CLI_CTX, UserInput.parse({ username: 'fay', password: PASSWORD }), declared);
    // The file sets erin's password, not fay's (fay's was set before, or by fay).
    t.core.directory.declare({ file: 'gatehouse.yaml', passwords: new Set(['erin']), secrets: new Set() });
    const erin = await secureClient(dnOf('erin'));
    const refused = await outcome(erin.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD })));
    expect(refused.code).toBe(53);
    expect(refused.message).toMatch(/^the password is set in the configuration file: an administrator changes it there\b/);
    expect(await bindCode(dnOf('erin'), PASSWORD)).toBe(0);
    expect(await bindCode(dnOf('erin'), NEW_PASSWORD)).toBe(49);
    const fay = await secureClient(dnOf('fay'));
    await fay.exop(PASSWORD_MODIFY, passwdModify({ oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD }));
    expect(await bindCode(dnOf('fay'), NEW_PASSWORD)).toBe(0);
  });

  it('changes the bound user\'s password: the new one binds, the old one does not', async () => {
    const c = await secureClient(dnOf('dave'));
    await c.exop(PASSWORD_MODIFY, passwdModify({ userIdentity: dnOf('dave'), oldPasswd: PASSWORD, newPasswd: NEW_PASSWORD }));
    expect(await bindCode(dnOf('dave'), NEW_PASSWORD)).toBe(0);
    expect(await bindCode(dnOf('dave'), PASSWORD)).toBe(49);
    // userIdentity may also be absent or an authzId ("u:" form).
    const again = await secureClient(dnOf('dave'), NEW_PASSWORD);
    await again.exop(PASSWORD_MODIFY, passwdModify({ userIdentity: 'u:dave', oldPasswd: NEW_PASSWORD, newPasswd: PASSWORD + ' again' }));
    expect(await bindCode(dnOf('dave'), PASSWORD + ' again')).toBe(0);
  });
});
