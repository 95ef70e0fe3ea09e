/**
 * The application-settings checks of the front-ends, registered with the directory by each
 * composition root (the server at start, the CLI), so an application is refused at creation when
 * its OIDC client settings or LDAP service-account settings are wrong, not when it is first used.
 */
import type { Core } from '../core.ts';
import { ldapSettingsProblems } from '../../protocols/ldap/services.ts';
import { oidcSettingsProblems } from '../../protocols/oidc/settings.ts';

export function registerSettingsChecks(core: Core): void {
  core.directory.resources.registerSettingsCheck(oidcSettingsProblems);
  core.directory.resources.registerSettingsCheck(ldapSettingsProblems);
}
