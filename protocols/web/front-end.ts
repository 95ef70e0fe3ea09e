/**
 * The sign-in pages and the user portal as a front-end (src/frontend.ts): a mount on the HTTP
 * listener. OpenID Connect (and SAML) send people here to sign in; they share the Gatehouse session.
 */
import { defineFrontEnd } from '../../src/frontend.ts';
import { WebConfig } from './config.ts';

export const webFrontEnd = defineFrontEnd({
  name: 'web',
  configSchema: WebConfig,
  enabled: (section) => section.enabled,
  async start({ core, publicUrl }, section) {
    const { createWebFrontEnd } = await import('./index.ts');
    return {
      // People reach the pages at the public URL (passkeys are bound to its host name), not necessarily at the socket's address.
      listeners: [{ name: 'portal (sign in here; the user portal)', url: `${publicUrl}/` }],
      mount: createWebFrontEnd(core, section),
      httpPaths: 'sign-in and portal /',
      close: async () => undefined,
    };
  },
});
