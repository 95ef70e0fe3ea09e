/** An LDAP front-end on port 0 over a fresh core, with a few users and groups, for the LDAP tests. */
import type { AddressInfo } from 'node:net';
import { Client } from 'ldapts';
import { createLdapFrontEnd, type LdapFrontEnd } from '../../protocols/ldap/server.ts';
import { LDAP_DEFAULTS, type LdapOptions } from '../../protocols/ldap/options.ts';
import type { Core } from '../../src/core.ts';
import { GroupInput as GroupInputSchema, UserInput as UserInputSchema, type GroupInput, type UserInput } from '../../src/directory/model.ts';
import type { Backend } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

export const BASE = 'dc=example,dc=com';
export const PASSWORD = 'correct horse battery staple';

export interface LdapFixture extends TestCore {
  ldap: LdapFrontEnd;
  address: AddressInfo;
  url: string;
  client(): Client;
  stop(): Promise<void>;
}

export async function startLdap(backend: Backend, options: Partial<LdapOptions> = {}, overrides: Record<string, unknown> = {}): Promise<LdapFixture> {
  const tc = await coreFor(backend, overrides);
  const ldap = createLdapFrontEnd(tc.core, { ...LDAP_DEFAULTS, port: 0, ...options });
  const address = await ldap.listen();
  const url = `ldap://127.0.0.1:${address.port}`;
  const clients: Client[] = [];
  return {
    ...tc,
    ldap,
    address,
    url,
    client() {
      const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
      await ldap.close();
      await tc.cleanup();
    },
  };
}

/**
 * alice (posix, ssh key) in engineering, which is nested in staff; bob in ldap-readers;
 * carol suspended; dave without groups.
 */
export async function seed(core: Core): Promise<void> {
  const d = core.directory;
  const group = (input: GroupInput) => d.groups.create(CLI_CTX, GroupInputSchema.parse(input));
  const user = (input: UserInput) => d.users.create(CLI_CTX, UserInputSchema.parse(input));
  await group({ name: 'staff', description: 'Everyone employed', gidNumber: 5000 });
  await group({ name: 'engineering', gidNumber: 5001 });
  await group({ name: 'ldap-readers' });
  await d.groups.addMember(CLI_CTX, 'staff', 'group', 'engineering');
  await user({
    username: 'alice', email: 'alice@example.com', displayName: 'Alice Liddell', password: PASSWORD,
    uidNumber: 10001, gidNumber: 5001, loginShell: '/bin/bash', groups: ['engineering'],
    sshPublicKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop'],
  });
  await user({ username: 'bob', email: 'bob@example.com', displayName: 'Bob', password: PASSWORD, uidNumber: 10002, groups: ['ldap-readers'] });
  await user({ username: 'carol', email: 'carol@example.com', password: PASSWORD, status: 'suspended' });
  await user({ username: 'dave', password: PASSWORD, uidNumber: 9000 });
}

/** A seeded front-end and a connection bound as bob, the ldap reader who sees every entry. */
export async function startWithReader(backend: Backend, options: Partial<LdapOptions> = {}): Promise<{ t: LdapFixture; reader: Client }> {
  const t = await startLdap(backend, options);
  await seed(t.core);
  const reader = t.client();
  await reader.bind(dnOf('bob'), PASSWORD);
  return { t, reader };
}

/** The result code of a simple bind on a fresh connection (0 = success), by default the fixture's client. */
export async function bindCode(t: LdapFixture, dn: string, password: string, c: Client = t.client()): Promise<number> {
  try {
    await c.bind(dn, password);
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

export const dnOf = (uid: string) => `uid=${uid},ou=people,${BASE}`;
