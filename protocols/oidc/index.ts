/**
 * The OpenID Connect front-end: oidc-provider mounted at /oidc in the HTTP listener's Koa app, the
 * interaction routes that connect it to the Gatehouse session and the access core, and the logout
 * wiring both ways. This file wires the pieces:
 *
 *   context.ts      what they share (core, section, TTL namespace, keys, the live provider, the session of a request, the decision)
 *   mount.ts        everything under /oidc: origin pinning, browser headers, the device page, dispatch to oidc-provider
 *   interaction.ts  GET /oidc/interaction/:uid and POST …/abort, where Gatehouse decides every authorization request
 *   logout.ts       back-channel logout when a Gatehouse session ends; the Gatehouse session ends after end_session
 *   live.ts         the provider for a key set, rebuilt when the keys change
 *
 * Mounting notes (oidc-provider runs in the parent app's context): the parent's `app.keys` are the
 * provider's cookie keys (`start` keeps them equal, also across key rotation), and every URL the
 * provider builds comes from the configured issuer, never from the request's Host header or
 * forwarded headers (the parent app keeps `proxy` off; see pinOrigin in mount.ts).
 */
import type Koa from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { SYSTEM } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import type { HttpMount, RequestState } from '../../src/http/types.ts';
import type { SigningKeyManager } from '../../src/keys/signing.ts';
import type { OidcConfig } from './config.ts';
import { OidcContext } from './context.ts';
import { build, refresh, reloadEvery } from './live.ts';
import { endWithGatehouseSessions } from './logout.ts';
import { createMount } from './mount.ts';
import { parseSettings } from './settings.ts';

export { lineageOf, MOUNT_PATH } from './context.ts';

export interface OidcFrontEnd {
  readonly mount: HttpMount;
  readonly keys: SigningKeyManager;
  /** The issuer, once started. */
  readonly issuer: string | undefined;
  /** Builds the provider for `issuer` and keeps `app.keys` equal to its cookie keys (also after a rotation). */
  start(app: Koa<RequestState>, issuer: string): Promise<void>;
  /** Reloads the keys if they changed in the store (a timer does this every oidc.keys.reloadSeconds). */
  refresh(): Promise<void>;
  /** Logs every application of type oidc whose settings are invalid (such a client cannot sign in). */
  checkClients(): Promise<void>;
  close(): void;
}

export async function createOidcFrontEnd(core: Core, config: OidcConfig): Promise<OidcFrontEnd> {
  const front = new OidcContext({
    core,
    config,
    kv: core.kv('oidc'),
    keys: core.signingKeys({ algorithms: config.signingAlgorithms, rotationOverlapHours: config.keys.rotationOverlapHours }),
  });
  const keys = front.keys;
  await keys.ensure(SYSTEM);

  let timer: NodeJS.Timeout | undefined;
  const stopListening = endWithGatehouseSessions(front);

  return {
    mount: createMount(front),
    keys,
    get issuer() {
      return front.issuer;
    },
    async start(httpApp, issuerUrl) {
      front.attach(httpApp, issuerUrl.replace(/\/+$/, ''));
      front.install(build(front, await keys.load()));
      timer = reloadEvery(front);
    },
    refresh: () => refresh(front),
    async checkClients() {
      for (const app of await core.directory.applications.all()) {
        if (app.type !== 'oidc') continue;
        const parsed = parseSettings(app.settings);
        if (!parsed.ok) front.invalidClient(app.name, parsed.problems);
      }
    },
    close() {
      stopListening();
      if (timer) clearInterval(timer);
    },
  };
}

export type { KoaContextWithOIDC };
