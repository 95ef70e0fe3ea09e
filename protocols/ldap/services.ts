/**
 * Service accounts: applications (Jenkins, a NAS, SSSD) that bind with their own credential,
 * search, then bind their users. A service account is an application of the directory with a
 * secret and an `ldap` entry in its settings, which this front-end defines and validates:
 *
 *   settings: { ldap: { scope: { groups: [staff, engineering] } } }   # those groups and their (nested) members
 *   settings: { ldap: { scope: { subtree: true } } }                  # every user and group
 *
 * It appears as cn=<name>,ou=services,<baseDn> and simple-binds there with the application's secret.
 */
import { z } from 'zod';
import { GroupName } from '../../src/directory/model.ts';

export const LdapServiceSettings = z.strictObject({
  scope: z.union([
    z.strictObject({ groups: z.array(GroupName).min(1, 'name at least one group').max(1000).describe('Members of these groups (nested membership counts) and the groups themselves') }),
    z.strictObject({ subtree: z.literal(true).describe('Every user and group (ou=people and ou=groups)') }),
  ], { error: 'scope must be { groups: [<group>, ...] } or { subtree: true }' }).describe('What the service account may read'),
}).describe("An application's LDAP service account (settings.ldap): it binds as cn=<name>,ou=services,<baseDn> with the application's secret");
export type LdapServiceSettings = z.output<typeof LdapServiceSettings>;

/** The directory's check of `settings.ldap`, on any application (registered by the server and the CLI). */
export function ldapSettingsProblems(app: { settings: Record<string, unknown> }): Array<{ path: string; message: string }> {
  if (app.settings.ldap === undefined) return [];
  const parsed = LdapServiceSettings.safeParse(app.settings.ldap);
  return parsed.success ? [] : parsed.error.issues.map((i) => ({ path: ['settings', 'ldap', ...i.path].map(String).join('.'), message: i.message }));
}

/** A service account as the tree and the bind know it. */
export interface ServiceAccount {
  id: string;
  name: string;
  scope: LdapServiceSettings['scope'];
}

/**
 * The service account an application declares, or why its `settings.ldap` is refused (undefined
 * when it declares none). An application without a secret cannot bind, so it is not one.
 */
export function serviceAccountOf(app: { id: string; name: string; settings: Record<string, unknown>; hasSecret: boolean }): ServiceAccount | { problem: string } | undefined {
  if (app.settings.ldap === undefined) return undefined;
  const parsed = LdapServiceSettings.safeParse(app.settings.ldap);
  if (!parsed.success) return { problem: parsed.error.issues.map((i) => `settings.ldap${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`).join('; ') };
  if (!app.hasSecret) return { problem: 'it has no secret (set one with `gatehouse app secret` or a `secret` in its declaration)' };
  return { id: app.id, name: app.name, scope: parsed.data.scope };
}
