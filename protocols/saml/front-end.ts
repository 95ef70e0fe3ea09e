/**
 * The SAML 2.0 identity provider as a front-end (src/frontend.ts): mounted at /saml on the HTTP
 * listener, its entityID built from the public URL unless configured, its service providers the
 * applications of type saml (their `settings.saml` checked by settings.ts on every create and update).
 */
import { defineFrontEnd } from '../../src/frontend.ts';
import { SamlConfig } from './config.ts';
import { samlSettingsProblems } from './settings.ts';

export const samlFrontEnd = defineFrontEnd({
  name: 'saml',
  configSchema: SamlConfig,
  enabled: (section) => section.enabled,
  settingsCheck: samlSettingsProblems,
  async start({ core, publicUrl }, section) {
    const { createSamlFrontEnd } = await import('./index.ts');
    const saml = await createSamlFrontEnd(core, section, publicUrl);
    await saml.checkServiceProviders();
    return {
      context: saml.context,
      listeners: [{ name: 'saml (SAML 2.0 identity provider; metadata)', url: `${publicUrl}/saml/metadata` }],
      mount: saml.mount,
      reloaded: () => saml.checkServiceProviders(),
      close: async () => saml.close(),
    };
  },
});
