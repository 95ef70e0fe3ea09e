/**
 * The one rule for which protocol a request for a resource is made through, when the front-end
 * does not carry it in a protocol of its own: the sign-in pages (a person signing in for an
 * application) and `policy explain` without `--protocol` both use it, so what explain evaluates is
 * what a real sign-in gets. Policies scope by protocol (conditions.protocols).
 *
 *   ldap, portal, admin    → itself
 *   radius:<client>        → radius
 *   app:<name>             → the application's type: oidc or saml; a generic application (a link
 *                            launched from the portal) and an unknown one → portal
 */
import type { Application, Protocol } from '../directory/model.ts';

export async function protocolFor(resource: string, application: (name: string) => Promise<Application | undefined>): Promise<Protocol> {
  if (resource === 'ldap' || resource === 'portal' || resource === 'admin') return resource;
  if (resource.startsWith('radius:')) return 'radius';
  if (resource.startsWith('app:')) {
    const app = await application(resource.slice(4));
    return app?.type === 'oidc' || app?.type === 'saml' ? app.type : 'portal';
  }
  return 'portal';
}
