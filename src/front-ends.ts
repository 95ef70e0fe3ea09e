/**
 * The front-ends, listed once. The server start, the reload, the CLI's application checks, the
 * configuration schema and its reference loop over this list; adding a front-end is a folder under
 * protocols/ (see protocols/README.md) and one line here. The order is the order of their HTTP
 * mounts and of the banner.
 */
import type { z } from 'zod';
import { composeConfigSchema, insecureSettings } from './config/schema.ts';
import type { Core } from './core.ts';
import type { FrontEnd } from './frontend.ts';
import { ldapFrontEnd } from '../protocols/ldap/front-end.ts';
import { oidcFrontEnd } from '../protocols/oidc/front-end.ts';
import { radiusFrontEnd } from '../protocols/radius/front-end.ts';
import { webFrontEnd } from '../protocols/web/front-end.ts';

export const FRONT_ENDS = [webFrontEnd, oidcFrontEnd, ldapFrontEnd, radiusFrontEnd] as const;

/** The whole configuration file's schema: the core's sections and each front-end's. */
export const ConfigSchema = composeConfigSchema(FRONT_ENDS);
export type Config = z.output<typeof ConfigSchema>;

/** A front-end's section of the configuration. */
export type Section = never;
export const sectionOf = (config: Config, frontEnd: FrontEnd): Section => (config as unknown as Record<string, Section>)[frontEnd.name]!;

/** Settings that work but deserve a loud warning: the core's, and each enabled front-end's. */
export function configWarnings(config: Config, frontEnds: readonly FrontEnd[] = FRONT_ENDS): string[] {
  const warnings = insecureSettings(config);
  for (const frontEnd of frontEnds) {
    const section = sectionOf(config, frontEnd);
    if (frontEnd.enabled(section)) warnings.push(...(frontEnd.warnings?.(section, config) ?? []));
  }
  return warnings;
}

/** The application-settings checks of the front-ends, registered with the directory (the server and the CLI). */
export function registerSettingsChecks(core: Core, frontEnds: readonly FrontEnd[] = FRONT_ENDS): void {
  for (const frontEnd of frontEnds) {
    if (frontEnd.settingsCheck) core.directory.resources.registerSettingsCheck(frontEnd.settingsCheck);
    if (frontEnd.radiusClientSettingsCheck) core.directory.resources.registerRadiusClientSettingsCheck(frontEnd.radiusClientSettingsCheck);
  }
}
