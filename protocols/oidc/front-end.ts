/**
 * The OpenID Connect provider as a front-end (src/frontend.ts): mounted at /oidc on the HTTP
 * listener, its issuer built from the public URL, its clients the applications of type oidc (their
 * settings checked by settings.ts on every create and update).
 */
import { defineFrontEnd } from '../../src/frontend.ts';
import { OidcConfig } from './config.ts';
import { oidcSettingsProblems } from './settings.ts';

export const oidcFrontEnd = defineFrontEnd({
  name: 'oidc',
  configSchema: OidcConfig,
  enabled: (section) => section.enabled,
  settingsCheck: oidcSettingsProblems,
  async start({ core, http, publicUrl }, section) {
    const { createOidcFrontEnd } = await import('./index.ts');
    // Signing keys are made on the first start, before anything is served.
    const oidc = await createOidcFrontEnd(core, section);
    const issuer = `${publicUrl}/oidc`;
    await oidc.start(http, issuer);
    await oidc.checkClients();
    const stop = oidc.close;
    return Object.assign(oidc, {
      listeners: [{ name: 'oidc (OpenID Connect provider; discovery at /.well-known/openid-configuration under the issuer)', url: issuer }],
      reloaded: () => oidc.checkClients(),
      close: async () => stop(),
    });
  },
});
