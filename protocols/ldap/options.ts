/** The LDAP front-end's settings: the `ldap` section of the configuration (src/config/schema.ts documents each). */
import { ConfigSchema, type Config } from '../../src/config/schema.ts';

export type LdapOptions = Omit<Config['ldap'], 'enabled'>;

/** The defaults, from the schema (tests start from these). */
export const LDAP_DEFAULTS: LdapOptions = ConfigSchema.parse({}).ldap;
