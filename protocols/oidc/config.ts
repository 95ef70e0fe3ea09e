/**
 * The OpenID Connect front-end's settings: the `oidc` section of the configuration file, defined
 * here with every option's default and description (docs/configuration.md is generated from it).
 */
import { z } from 'zod';
import { SIGNING_ALGORITHMS } from '../../src/keys/signing.ts';

export const OidcConfig = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve the OpenID Connect provider at <publicUrl>/oidc (issuer), for single sign-on into applications of type oidc'),
  signingAlgorithms: z
    .array(z.enum(SIGNING_ALGORITHMS))
    .min(1)
    .default(['RS256', 'ES256'])
    .refine((a) => a.includes('RS256'), 'must include RS256 (OpenID Connect Core §15.1: every provider supports it)')
    .refine((a) => new Set(a).size === a.length, 'lists an algorithm twice')
    .describe('Algorithms ID tokens, logout tokens and JWT responses are signed with; one key each. The first is the default for clients that do not ask for another'),
  ttl: z
    .strictObject({
      authorizationCodeSeconds: z.int().min(10).max(600).default(60).describe('Lifetime of an authorization code (single use)'),
      accessTokenSeconds: z.int().min(60).max(86_400).default(900).describe('Lifetime of access tokens (opaque; check them with introspection)'),
      idTokenSeconds: z.int().min(60).max(86_400).default(3600).describe('Lifetime of ID tokens'),
      clientCredentialsSeconds: z.int().min(60).max(86_400).default(900).describe('Lifetime of client-credentials access tokens'),
      refreshTokenSeconds: z.int().min(300).max(366 * 86_400).default(14 * 86_400).describe('A refresh token unused this long expires; with rotation each use starts a new one'),
      grantSeconds: z.int().min(300).max(366 * 86_400).default(30 * 86_400).describe('Absolute lifetime of what one sign-in grants an application: after it, refresh tokens stop working and the person signs in again'),
      deviceCodeSeconds: z.int().min(60).max(3600).default(600).describe('How long a device code (RFC 8628) waits for the person to approve it'),
      interactionSeconds: z.int().min(60).max(3600).default(900).describe('How long a person has to finish signing in for an authorization request'),
    })
    .prefault({}),
  refreshTokens: z
    .strictObject({
      rotate: z.boolean().default(true).describe('Replace the refresh token at every use; presenting a used one again revokes the whole grant (reuse detection, RFC 9700 §4.14.2). Off: refresh tokens are reusable until they expire, and reuse cannot be detected'),
    })
    .prefault({}),
  deviceFlow: z.boolean().default(true).describe('Offer the device authorization grant (RFC 8628) for TVs and command-line tools, with its verification page at /oidc/device'),
  keys: z
    .strictObject({
      rotationOverlapHours: z.number().min(0).max(24 * 90).default(24).describe('After `gatehouse keys rotate`, the previous keys stay published (JWKS) and accepted this long, so tokens signed just before keep verifying'),
      reloadSeconds: z.number().min(1).max(3600).default(30).describe('How often each process checks the store for rotated keys'),
    })
    .prefault({}),
}).describe('The OpenID Connect provider (oidc-provider): clients are the applications of type oidc');

export type OidcConfig = z.output<typeof OidcConfig>;
