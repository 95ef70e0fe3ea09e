/**
 * The oidc-provider configuration, in one place: what is on and off, lifetimes, claims, keys, the
 * interaction policy that sends every authorization request through Gatehouse, the account lookup
 * that re-checks the person at every issuance, and the pages.
 *
 * Client secrets. Applications' secrets are stored as SHA-256 hashes and shown once, but
 * oidc-provider compares a presented secret with `client.clientSecret` itself. Its maintainer's
 * answer to hashed secrets (panva/node-oidc-provider#631) is to replace the Client prototype's
 * `compareClientSecret`, which client authentication awaits (lib/shared/client_auth.js) on every
 * endpoint that authenticates clients — token, introspection, revocation, PAR, device authorization.
 * We do that: the presented secret is checked against the hash with
 * `DirectoryService.verifyApplicationSecret` (constant time). The metadata carries a per-process
 * random placeholder only because oidc-provider requires a `client_secret` on confidential clients;
 * it is never compared, and since every HS* algorithm and symmetric encryption are disabled, it is
 * never used as a key either. (The alternative, keeping the presented secret in an
 * AsyncLocalStorage for the adapter to hand back, would mean parsing credentials before
 * oidc-provider does, duplicating its rules for Basic decoding and body parameters.)
 */
import { randomBytes } from 'node:crypto';
import Provider, { errors, interactionPolicy, type AdapterPayload, type AsymmetricSigningAlgorithm, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { CoreConfig } from '../../src/config/schema.ts';
import type { OidcConfig } from './config.ts';
import type { Core } from '../../src/core.ts';
import type { TtlStore } from '../../src/core.ts';
import { ACR, auditRefusal, checkAccount, claimsOf } from './account.ts';
import { TtlAdapter, type AdapterHooks } from './adapter.ts';
import type { KeySet } from '../../src/keys/signing.ts';
import * as pages from './pages.ts';
import { clientMetadata, parseSettings } from './settings.ts';

/** Asymmetric JWS algorithms oidc-provider may accept from clients (private_key_jwt, DPoP): never HS*. */
const ASYMMETRIC: AsymmetricSigningAlgorithm[] = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA', 'Ed25519'];

/** Claims per scope. Listing `claims` replaces oidc-provider's defaults, so acr, amr, auth_time, sid and iss are listed again. */
export const CLAIMS = {
  acr: null,
  amr: null,
  auth_time: null,
  sid: null,
  iss: null,
  // Every ID token says how and when the person authenticated, whether or not the client asked.
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  profile: ['name', 'preferred_username', 'given_name', 'family_name', 'updated_at'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

export const INTERACTION_PATH = '/interaction';

export interface ProviderHooks {
  adapter: Omit<AdapterHooks, 'client'>;
  /**
   * prompt=none: decide without showing anything. Resolves when the request may proceed silently;
   * throws the OAuth error to send back otherwise.
   */
  silent(ctx: KoaContextWithOIDC): Promise<boolean>;
  /**
   * A client failed to authenticate (wrong secret, unknown client) on some endpoint, or was refused
   * before its secret was checked (too many failures: `retryAfterSeconds`).
   */
  clientAuthFailed(ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string; retryAfterSeconds?: number; per?: string }): void;
  /** oidc-provider revoked a grant (reuse of a code or refresh token at the token endpoint, logout, revocation). */
  grantRevoked(ctx: KoaContextWithOIDC, grantId: string): void;
  /** RP-initiated logout finished for this provider session. */
  endSession(ctx: KoaContextWithOIDC): void;
  /** An unexpected error inside oidc-provider (a 500). */
  serverError(ctx: KoaContextWithOIDC, err: unknown): void;
}

export interface ProviderOptions {
  core: Core;
  config: OidcConfig;
  sessions: CoreConfig['sessions'];
  issuer: string;
  keys: KeySet;
  kv: TtlStore;
  hooks: ProviderHooks;
  /** Logs a client whose settings are invalid (once per change). */
  invalidClient(name: string, problems: string[]): void;
}

export function buildProvider(options: ProviderOptions): Provider {
  const { core, config, hooks } = options;
  const algorithms: AsymmetricSigningAlgorithm[] = [...config.signingAlgorithms];
  const secretPlaceholder = randomBytes(48).toString('base64url');

  const adapterHooks: AdapterHooks = {
    ...hooks.adapter,
    async client(id) {
      const app = await core.directory.applications.byName(id);
      if (!app || app.type !== 'oidc') return undefined;
      const parsed = parseSettings(app.settings);
      if (!parsed.ok) {
        options.invalidClient(app.name, parsed.problems);
        return undefined;
      }
      return clientMetadata(app, parsed.settings, secretPlaceholder) as unknown as AdapterPayload;
    },
  };

  const policy = interactionPolicy.base();
  // Every authorization request goes to /oidc/interaction/<uid>, where the Gatehouse session and the
  // access decision for the client's application settle it — also when oidc-provider has a session
  // of its own and a grant already (that is how a policy change or a step-up reaches SSO).
  policy.get('login')!.checks.add(
    new interactionPolicy.Check('gatehouse_access', 'every authorization is decided by Gatehouse: its session and the access policies', 'login_required', async (ctx) => {
      if (ctx.oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT; // decided in the interaction just finished
      if (ctx.oidc.prompts.has('none')) return !(await hooks.silent(ctx));
      return interactionPolicy.Check.REQUEST_PROMPT;
    }),
    0,
  );

  const ttl = config.ttl;
  const configuration: Configuration = {
    adapter: (name: string) => new TtlAdapter(name, options.kv, adapterHooks, core.keyring),
    clients: [],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: algorithms[0]!,
    },
    // client_secret_jwt is left out: it would make the client secret an HMAC key.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      clientAuthSigningAlgValues: ASYMMETRIC,
      requestObjectSigningAlgValues: ASYMMETRIC,
      idTokenSigningAlgValues: algorithms,
      userinfoSigningAlgValues: algorithms,
      introspectionSigningAlgValues: algorithms,
      authorizationSigningAlgValues: algorithms,
    },
    jwks: options.keys.jwks as Configuration['jwks'],
    cookies: {
      keys: options.keys.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    // Authorization code only: implicit and hybrid are off (RFC 9700 §2.1.2); there is no password grant.
    responseTypes: ['code'],
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: CLAIMS,
    // Profile, e-mail and group claims go into the ID token too, not only to userinfo.
    conformIdTokenClaims: false,
    acrValues: Object.values(ACR),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client introspects its own tokens; a resource server (settings.introspectAnyToken) any.
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          const app = await core.directory.applications.byName(client.clientId);
          return app?.settings.introspectAnyToken === true;
        },
      },
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId !== client.clientId) {
            if (client.clientAuthMethod === 'none') return false;
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: { enabled: false },
      registration: { enabled: false },
      claimsParameter: { enabled: false },
      requestObjects: { enabled: false },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      dPoP: { enabled: true },
      deviceFlow: {
        enabled: config.deviceFlow,
        charset: 'base-20',
        mask: '****-****',
        deviceInfo: (ctx) => ({ ip: (ctx.state as { clientIp?: string }).clientIp, ua: ctx.get('user-agent').slice(0, 256) }),
        async userCodeInputSource(ctx, form, _out, err) {
          // A user code that is unknown, expired or used: the mount counts it against the throttle.
          const name = (err as { name?: string } | undefined)?.name;
          if (name === 'NotFoundError' || name === 'ExpiredError' || name === 'AlreadyUsedError') (ctx.state as { oidcWrongUserCode?: boolean }).oidcWrongUserCode = true;
          ctx.type = 'html';
          ctx.body = pages.userCodePage({ form, error: err as { name?: string; userCode?: unknown } | undefined });
        },
        async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
          ctx.type = 'html';
          const info = deviceInfo as { ip?: string; ua?: string } | undefined;
          ctx.body = pages.userCodeConfirmPage({ form, appName: client.clientName ?? client.clientId, userCode, ip: info?.ip, userAgent: info?.ua });
        },
        async successSource(ctx) {
          ctx.type = 'html';
          ctx.body = pages.deviceDonePage(ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId);
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = pages.logoutPage({ form, appName: ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = pages.signedOutPage(ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId);
        },
      },
    },
    // Public clients (SPAs) may call the token and userinfo endpoints from their redirect origins.
    clientBasedCORS(_ctx, origin, client) {
      if (origin === 'null') return false;
      return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${new URL(options.issuer).pathname.replace(/\/$/, '')}${INTERACTION_PATH}/${interaction.uid}`,
    },
    async findAccount(ctx, sub, token) {
      // At issuance after the interaction (code redemption, refresh, device code) and at userinfo,
      // the user must still be active and assigned; elsewhere existing and active is enough (the
      // interaction decides the rest, with a page the person can read).
      const route = ctx.oidc?.route;
      const issuing = route === 'token' || route === 'userinfo';
      const clientId = ctx.oidc?.client?.clientId ?? (token as { clientId?: string } | undefined)?.clientId;
      const check = await checkAccount(core, sub, issuing ? clientId : undefined);
      if (!check.ok) {
        if (issuing) {
          const grantType = ctx.oidc?.params?.grant_type;
          await auditRefusal(core, auditContext(ctx), check, { client: clientId, endpoint: route, ...(typeof grantType === 'string' ? { grantType } : {}) });
        }
        return undefined;
      }
      const { user } = check;
      return { accountId: user.id, claims: (_use: string, scope: string) => claimsOf(core, user, scope) };
    },
    // Refresh tokens for every client allowed the refresh_token grant; without offline_access they
    // end with the session (expiresWithSession), with it they outlive it.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => config.refreshTokens.rotate,
    ttl: {
      AccessToken: ttl.accessTokenSeconds,
      AuthorizationCode: ttl.authorizationCodeSeconds,
      ClientCredentials: ttl.clientCredentialsSeconds,
      DeviceCode: ttl.deviceCodeSeconds,
      IdToken: ttl.idTokenSeconds,
      Interaction: ttl.interactionSeconds,
      RefreshToken: ttl.refreshTokenSeconds,
      Grant: ttl.grantSeconds,
      // The provider's own session (and the tokens that expire with it: no offline_access) ends
      // when a Gatehouse session started at the same sign-in must end at the latest.
      Session: (_ctx, session) => {
        const since = Math.floor(Date.now() / 1000) - (session.loginTs ?? Math.floor(Date.now() / 1000));
        return Math.max(60, options.sessions.maxHours * 3600 - since);
      },
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
    async renderError(ctx, out, error) {
      ctx.type = 'html';
      const status = (error as { statusCode?: number }).statusCode ?? ctx.status ?? 500;
      ctx.body = pages.errorPage({ status, error: out.error, description: out.error_description, requestId: (ctx.state as { requestId?: string }).requestId });
    },
    // Back-channel logout and private_key_jwt keys reach the URLs administrators registered, which are
    // often on the internal network: oidc-provider's guard against special-use addresses is meant for
    // clients that register themselves, which Gatehouse does not allow.
    fetch: (url, init) => {
      const { dispatcher: _, ...rest } = init as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
  };

  const provider = new Provider(options.issuer, configuration);
  provider.proxy = false;

  // The hashed-secret bridge (see the top of this file), throttled: RFC 6749 §2.3.1 asks that
  // endpoints taking client passwords be protected against brute force. Guesses are counted per
  // client and address and per address (the shared throttle, client secrets apart from other
  // kinds), each reserved before the secret is checked; a refusal is invalid_client with 429 and
  // Retry-After. Not per client alone: anyone could then hold a client back.
  (provider.Client.prototype as { compareClientSecret: (secret: string) => Promise<boolean> }).compareClientSecret = async function compareClientSecret(this: { clientId: string }, secret: string) {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512) return false;
    const ctx = Provider.ctx;
    const ip = (ctx?.state as { clientIp?: string } | undefined)?.clientIp;
    const reserved = await core.throttle.reserve({ kind: 'client-secret', user: `client:${this.clientId}${ip ? `@${ip}` : ''}`, ...(ip ? { ip } : {}) });
    if (!reserved.allowed) {
      ctx?.set('Retry-After', String(reserved.retryAfterSeconds));
      throw new ClientAuthThrottled(reserved.retryAfterSeconds, reserved.scope === 'ip' ? 'address' : 'client and address');
    }
    const app = await core.directory.applications.verifySecret(this.clientId, secret);
    const ok = app?.type === 'oidc' && app.name === this.clientId;
    // A wrong secret: the reservation stands as the failure.
    if (ok) await reserved.reservation.success();
    return ok;
  };

  // Events by name; their payloads are (ctx, …) as documented in oidc-provider's docs/events.md.
  const on = provider.on.bind(provider) as (event: string, listener: (ctx: KoaContextWithOIDC, arg: never) => void) => Provider;
  for (const event of ['grant.error', 'introspection.error', 'revocation.error', 'pushed_authorization_request.error', 'device_authorization.error', 'userinfo.error']) {
    on(event, (ctx, err: { error?: string; error_description?: string }) => {
      if (err instanceof errors.InvalidClientAuth || err instanceof errors.InvalidClient) hooks.clientAuthFailed(ctx, err);
    });
  }
  on('grant.revoked', (ctx, grantId: string) => hooks.grantRevoked(ctx, grantId));
  on('end_session.success', (ctx) => hooks.endSession(ctx));
  on('server_error', (ctx, err: unknown) => hooks.serverError(ctx, err));
  return provider;
}

/** Too many wrong secrets for this client from this address (or from this address): refused before the secret is checked. */
class ClientAuthThrottled extends errors.InvalidClientAuth {
  override error_description = 'too many failed client authentication attempts: retry later';
  override statusCode = 429;
  override status = 429;
  readonly retryAfterSeconds: number;
  /** Which counter refused: 'client and address', or 'address' (wrong secrets for any client). */
  readonly per: string;
  constructor(retryAfterSeconds: number, per: string) {
    super(`throttled per ${per} for ${retryAfterSeconds} s`);
    this.retryAfterSeconds = retryAfterSeconds;
    this.per = per;
  }
}

/** Who and where, for audit events recorded during an oidc-provider request. */
export function auditContext(ctx: { state?: unknown }) {
  const state = (ctx.state ?? {}) as { requestId?: string; clientIp?: string };
  return {
    actor: { type: 'anonymous' as const },
    protocol: 'oidc',
    ...(state.requestId ? { requestId: state.requestId } : {}),
    ...(state.clientIp ? { sourceIp: state.clientIp } : {}),
  };
}
