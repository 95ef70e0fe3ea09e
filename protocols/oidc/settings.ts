/**
 * What an application of type `oidc` declares in its `settings`: the client metadata of RFC 7591 /
 * OpenID Connect Registration, in Gatehouse's spelling, validated here and turned into the metadata
 * oidc-provider takes. The client_id is the application's name; the client secret is the
 * application's secret (stored hashed, see provider.ts for how it is checked).
 *
 *   redirectUris            exact match only (RFC 9700 §4.1.3): https, or http on a loopback host, or
 *                           a private-use scheme for native apps; no fragment, no userinfo
 *   postLogoutRedirectUris  where RP-initiated logout may return to (same rules)
 *   public                  a client without a secret (SPA, native app): PKCE only, auth method none
 *   grantTypes              authorization_code, refresh_token, client_credentials, device_code
 *   scopes                  the scopes it may ask for (default: all of openid profile email groups offline_access)
 *   tokenEndpointAuthMethod client_secret_basic (default for confidential clients), client_secret_post,
 *                           private_key_jwt (with jwksUri), none (public clients)
 *   initiateLoginUri        the portal's launch link (OpenID Connect Core §4, third-party-initiated login)
 *   backchannelLogoutUri    receives logout tokens when the person's Gatehouse session ends
 *   url                     the application's home page (the portal's launch link when there is no initiateLoginUri)
 */
import { z } from 'zod';
import { SIGNING_ALGORITHMS } from '../../src/keys/signing.ts';
import type { Application } from '../../src/directory/model.ts';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT] as const;
/** The scopes Gatehouse knows; `groups` carries the person's (nested) group names. */
export const SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A redirect target as RFC 9700 §2.1 and RFC 8252 §7 allow it; the URL is kept exactly as written. */
const RedirectUri = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `'${value}' is not an absolute URL` });
      return;
    }
    if (url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: `'${value}' has a fragment, which redirect URIs must not have (RFC 6749 §3.1.2)` });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: `'${value}' carries userinfo (user@host), which only hides where it really goes` });
    if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) {
      ctx.addIssue({ code: 'custom', message: `'${value}' uses http on a host that is not the loopback interface: use https (RFC 9700 §2.1)` });
    }
    if (['javascript:', 'data:', 'file:', 'vbscript:'].includes(url.protocol)) ctx.addIssue({ code: 'custom', message: `'${value}' uses a scheme that cannot be a redirect target` });
  });

const WebUrl = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .refine((v) => !new URL(v).username && !new URL(v).password, 'must not carry userinfo');

export const OidcClientSettings = z
  .strictObject({
    redirectUris: z.array(RedirectUri).max(100).default([]).describe('Where authorization responses may go; compared exactly'),
    postLogoutRedirectUris: z.array(RedirectUri).max(100).default([]).describe('Where RP-initiated logout may return to'),
    public: z.boolean().default(false).describe('A client that cannot keep a secret (SPA, native app): no secret, PKCE only'),
    applicationType: z.enum(['web', 'native']).default('web').describe("'native' for desktop and mobile apps (private-use scheme and loopback redirect URIs)"),
    grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).max(GRANT_TYPES.length).default(['authorization_code', 'refresh_token']),
    scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).default([...SCOPES]).describe('Scopes the client may ask for'),
    tokenEndpointAuthMethod: z.enum(AUTH_METHODS).optional().describe('How the client authenticates at the token, introspection, revocation and PAR endpoints'),
    jwksUri: WebUrl.optional().describe("The client's public keys, for private_key_jwt"),
    initiateLoginUri: z.url({ protocol: /^https$/ }).max(2048).optional().describe('Starts a sign-in at the client (the portal links here)'),
    backchannelLogoutUri: WebUrl.optional().describe('Receives a logout token (OpenID Connect Back-Channel Logout) when the Gatehouse session ends'),
    backchannelLogoutSessionRequired: z.boolean().default(true).describe('Put the session id (sid) in logout tokens'),
    idTokenSignedResponseAlg: z.enum(SIGNING_ALGORITHMS).optional().describe('ID token algorithm for this client (default: the first of oidc.signingAlgorithms)'),
    introspectAnyToken: z.boolean().default(false).describe('A resource server (API): may introspect tokens issued to any client, not only its own'),
    url: WebUrl.optional().describe("The application's home page (the portal's launch link when there is no initiateLoginUri)"),
  })
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const grants = new Set(s.grantTypes);
    if (new Set(s.grantTypes).size !== s.grantTypes.length) issue('grantTypes', 'lists a grant type twice');
    // Incomplete rather than wrong: the application may be created first and its redirect URIs added
    // later (the client does not work until then; start and reload warn). The directory accepts it.
    if (grants.has('authorization_code') && s.redirectUris.length === 0) ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'the authorization_code grant needs at least one redirect URI', params: { incomplete: true } });
    if (grants.has('refresh_token') && !grants.has('authorization_code') && !grants.has(DEVICE_CODE_GRANT)) issue('grantTypes', 'refresh_token needs authorization_code or device_code: refresh tokens come from one of them');
    if (s.public) {
      if (s.tokenEndpointAuthMethod !== undefined && s.tokenEndpointAuthMethod !== 'none') issue('tokenEndpointAuthMethod', "a public client has no credential: its method is 'none'");
      if (grants.has('client_credentials')) issue('grantTypes', 'a public client cannot use client_credentials (it has no credential to prove)');
    } else if (s.tokenEndpointAuthMethod === 'none') {
      issue('tokenEndpointAuthMethod', "'none' is for public clients: set public: true");
    }
    if (s.tokenEndpointAuthMethod === 'private_key_jwt' && !s.jwksUri) issue('jwksUri', 'private_key_jwt needs the jwksUri the client publishes its keys at');
    if (s.applicationType === 'web') {
      for (const [i, uri] of s.redirectUris.entries()) {
        const url = URL.parse(uri);
        if (url && url.protocol !== 'https:' && url.protocol !== 'http:') ctx.addIssue({ code: 'custom', path: ['redirectUris', i], message: `a private-use scheme is for native apps: set applicationType: native` });
      }
    }
  });

export type OidcClientSettings = z.output<typeof OidcClientSettings>;

/** Settings as oidc-provider's client metadata (snake_case, RFC 7591 names). */
export interface ClientMetadataOut {
  client_id: string;
  client_secret?: string;
  client_name: string;
  application_type: 'web' | 'native';
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: (typeof AUTH_METHODS)[number];
  scope: string;
  jwks_uri?: string;
  initiate_login_uri?: string;
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  id_token_signed_response_alg?: string;
  [key: string]: unknown;
}

/**
 * The metadata oidc-provider sees for an application. `secretPlaceholder` stands in for the client
 * secret oidc-provider insists a confidential client has; it is never compared (the hash is) and,
 * with every HS* algorithm disabled, never used as a key.
 */
export function clientMetadata(app: Pick<Application, 'name' | 'displayName'>, settings: OidcClientSettings, secretPlaceholder: string): ClientMetadataOut {
  const method = settings.tokenEndpointAuthMethod ?? (settings.public ? 'none' : 'client_secret_basic');
  const grants = [...settings.grantTypes];
  return {
    client_id: app.name,
    ...(method === 'client_secret_basic' || method === 'client_secret_post' ? { client_secret: secretPlaceholder } : {}),
    client_name: app.displayName ?? app.name,
    application_type: settings.applicationType,
    redirect_uris: settings.redirectUris,
    post_logout_redirect_uris: settings.postLogoutRedirectUris,
    grant_types: grants,
    response_types: grants.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: method,
    scope: settings.scopes.join(' '),
    ...(settings.jwksUri ? { jwks_uri: settings.jwksUri } : {}),
    ...(settings.initiateLoginUri ? { initiate_login_uri: settings.initiateLoginUri } : {}),
    ...(settings.backchannelLogoutUri ? { backchannel_logout_uri: settings.backchannelLogoutUri, backchannel_logout_session_required: settings.backchannelLogoutSessionRequired } : {}),
    ...(settings.idTokenSignedResponseAlg ? { id_token_signed_response_alg: settings.idTokenSignedResponseAlg } : {}),
  };
}

/** Keys of `settings` other front-ends own (an application may also be an LDAP service account). */
const OTHER_FRONT_ENDS = ['ldap'];

function ownSettings(settings: unknown): unknown {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) return settings;
  return Object.fromEntries(Object.entries(settings).filter(([key]) => !OTHER_FRONT_ENDS.includes(key)));
}

/** The directory's check of an oidc application's settings (registered by the server and the CLI). */
export function oidcSettingsProblems(app: { type: string; settings: Record<string, unknown> }): Array<{ path: string; message: string }> {
  if (app.type !== 'oidc') return [];
  const parsed = OidcClientSettings.safeParse(ownSettings(app.settings));
  if (parsed.success) return [];
  return parsed.error.issues
    .filter((i) => !(i.code === 'custom' && (i.params as { incomplete?: boolean } | undefined)?.incomplete))
    .map((i) => ({ path: ['settings', ...i.path].map(String).join('.'), message: i.message }));
}

/** The settings, or the problems with them as `path: message` lines. */
export function parseSettings(settings: unknown): { ok: true; settings: OidcClientSettings } | { ok: false; problems: string[] } {
  const parsed = OidcClientSettings.safeParse(ownSettings(settings));
  if (parsed.success) return { ok: true, settings: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((i) => `${i.path.length ? `settings.${i.path.join('.')}: ` : ''}${i.message}`) };
}
