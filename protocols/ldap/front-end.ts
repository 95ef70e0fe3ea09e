/**
 * The LDAP directory as a front-end (src/frontend.ts): its own TCP listener (and LDAPS when
 * configured), simple bind through the core's sign-in pipeline, read-only search over a snapshot
 * of the directory, and service accounts defined by applications' `settings.ldap` (services.ts).
 */
import { defineFrontEnd } from '../../src/frontend.ts';
import type { Binding } from '../../src/net/listen.ts';
import { urlOf } from '../../src/net/listen.ts';
import { LdapConfig } from './options.ts';
import { ldapSettingsProblems } from './services.ts';

const LOOPBACK = ['127.0.0.1', 'localhost', '::1'];

export const ldapFrontEnd = defineFrontEnd({
  name: 'ldap',
  configSchema: LdapConfig,
  enabled: (section) => section.enabled,
  settingsCheck: ldapSettingsProblems,
  warnings(section) {
    if (LOOPBACK.includes(section.host) || section.requireTls) return [];
    return [
      section.tls
        ? `the LDAP listener binds to ${section.host} and accepts binds without TLS: set ldap.requireTls so bind passwords never cross the network in clear`
        : `the LDAP listener binds to ${section.host} without TLS: bind passwords cross the network in clear (configure ldap.tls and ldap.requireTls)`,
    ];
  },
  bindings(section) {
    const bindings: Binding[] = [{ label: 'LDAP', transport: 'tcp', host: section.host, port: section.port, setting: 'ldap.port' }];
    if (section.ldapsPort !== undefined) bindings.push({ label: 'LDAPS', transport: 'tcp', host: section.host, port: section.ldapsPort, setting: 'ldap.ldapsPort' });
    return bindings;
  },
  async start({ core }, section) {
    const { createLdapFrontEnd } = await import('./server.ts');
    const { enabled: _, ...options } = section;
    const ldap = createLdapFrontEnd(core, options);
    const address = await ldap.listen();
    const startTls = section.tls ? (section.requireTls ? 'StartTLS required' : 'StartTLS offered') : 'no TLS configured';
    const listeners = [{ name: `ldap (directory: simple bind, search, password modify; ${startTls})`, url: urlOf('ldap', address) }];
    if (ldap.ldapsAddress) listeners.push({ name: 'ldaps (the same directory over TLS)', url: urlOf('ldaps', ldap.ldapsAddress) });
    return Object.assign(ldap, { listeners });
  },
});
