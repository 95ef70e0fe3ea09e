/**
 * The SAML 2.0 identity provider: the endpoints under /saml on the HTTP listener, over the core's
 * sign-in pipeline and the shared Gatehouse session. This file wires the pieces:
 *
 *   config.ts        the `saml` section
 *   settings.ts      an SP's registration (settings.saml of an application of type saml), from metadata or fields
 *   keys.ts          the signing keys (the core's RSA key) and their derived certificates
 *   context.ts       what the pieces share: SPs, the session, the decision, the identity an SP gets
 *   messages.ts      the messages sent (Response, LogoutRequest, LogoutResponse) and the two bindings
 *   xml-sign.ts      their enveloped signatures (libxml2's exclusive c14n, Node's RSA)
 *   metadata.ts      the IdP metadata
 *   sso.ts           a request waiting for the sign-in, the decision, the response; IdP-initiated SSO
 *   participants.ts  the SPs of a session, for Single Logout
 *   slo.ts           Single Logout: a LogoutRequest from an SP, propagated to the others, the session ended
 *   inbound.ts       strict validation of what SPs send (inbound-*.ts, xml-schema.ts: its parts)
 *   inbound-http.ts  the form reader, the validation options, a refusal audited and answered
 *   mount.ts         the routes
 */
import type { Core } from '../../src/core.ts';
import type { HttpMount } from '../../src/http/types.ts';
import type { SamlConfig } from './config.ts';
import { SamlContext } from './context.ts';
import { loadSamlKeys, samlKeyManager } from './keys.ts';
import { createMount } from './mount.ts';
import { forgetParticipants } from './participants.ts';
import { sloNextRoute, sloRoute, SLO_NEXT, startSignOut } from './slo.ts';
import { ssoRoute } from './sso.ts';
import { createSchemaValidator } from './xml-schema.ts';
import { loadXmlSigner } from './xml-sign.ts';

export interface SamlFrontEnd {
  readonly mount: HttpMount;
  readonly context: SamlContext;
  /** Logs every application of type saml whose settings are invalid (such an SP cannot sign in). */
  checkServiceProviders(): Promise<void>;
  close(): void;
}

export async function createSamlFrontEnd(core: Core, config: SamlConfig, publicUrl: string): Promise<SamlFrontEnd> {
  await loadXmlSigner();
  // The overlap is the OpenID Connect section's (one rotation moves both); SAML only reads the keys.
  const keyManager = samlKeyManager(core, 24);
  const keys = await loadSamlKeys(keyManager);
  const front = new SamlContext({ core, config, publicUrl: publicUrl.replace(/\/+$/, ''), keyManager, keys });
  const timer = setInterval(() => void front.refreshKeys().catch((err: unknown) => core.logger.warn({ err }, 'SAML keys could not be reloaded')), config.keysReloadSeconds * 1000);
  timer.unref();
  // Inbound messages are validated against the SAML 2.0 protocol schema in a worker (xml-schema.ts).
  const schema = createSchemaValidator();
  const stopListening = core.sessions.onEnded((session) => forgetParticipants(front.kv, session));
  const stopSignOut = core.sessions.onSignOut((session) => startSignOut(front, session));
  return {
    mount: createMount(front, { '/sso': (f, ctx) => ssoRoute(f, ctx, schema), '/slo': (f, ctx) => sloRoute(f, ctx, schema) }, [[SLO_NEXT, (f, ctx, id) => sloNextRoute(f, ctx, id)]]),
    context: front,
    async checkServiceProviders() {
      const sps = await front.serviceProviders();
      const seen = new Map<string, string>();
      for (const { app, sp } of sps) {
        const other = seen.get(sp.entityId);
        if (other) front.invalid(app.name, [`settings.saml: entityId '${sp.entityId}' is also application '${other}''s; no request from it is accepted until one of them changes`]);
        seen.set(sp.entityId, app.name);
      }
    },
    close() {
      clearInterval(timer);
      stopListening();
      stopSignOut();
      void schema.close();
      front.close();
    },
  };
}
