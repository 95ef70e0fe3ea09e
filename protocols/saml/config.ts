/**
 * The SAML 2.0 front-end's settings: the `saml` section of the configuration file, defined here with
 * every option's default and description (docs/configuration.md is generated from it).
 */
import { z } from 'zod';

/** XML Signature algorithms Gatehouse signs with (RFC 6931 §2.3); SHA-1 is never produced. */
export const SIGNATURE_ALGORITHMS = ['rsa-sha256', 'rsa-sha384', 'rsa-sha512'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

/** Their URIs (RFC 6931 §2.3.2–2.3.4) and the matching digest URIs (RFC 6931 §2.1.2, xmlenc §5.7.2). */
export const SIGNATURE_URI: Record<SignatureAlgorithm, string> = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'rsa-sha384': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  'rsa-sha512': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
};
export const HASH_OF: Record<SignatureAlgorithm, 'sha256' | 'sha384' | 'sha512'> = { 'rsa-sha256': 'sha256', 'rsa-sha384': 'sha384', 'rsa-sha512': 'sha512' };

export const SamlConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Serve the SAML 2.0 identity provider under <publicUrl>/saml (metadata at /saml/metadata), for single sign-on into applications of type saml'),
    entityId: z.url().max(1024).optional().describe("The identity provider's entityID, as service providers know it. Default: <publicUrl>/saml/metadata. Changing it breaks every registered service provider"),
    clockSkewSeconds: z.int().min(0).max(600).default(120).describe("How far a request's IssueInstant may be from this server's clock, either way"),
    requestLifetimeSeconds: z.int().min(30).max(3600).default(600).describe('How long a request may take, from the service provider sending it to the person finishing signing in (also how long its ID is remembered as used)'),
    assertionLifetimeSeconds: z.int().min(30).max(3600).default(300).describe('How long an assertion is valid after it is issued (Conditions NotOnOrAfter, SubjectConfirmationData NotOnOrAfter)'),
    signatureAlgorithm: z.enum(SIGNATURE_ALGORITHMS).default('rsa-sha256').describe('The default XML signature algorithm of responses, logout messages and metadata (a service provider may set its own); SHA-1 is never used'),
    maxMessageBytes: z.int().min(4096).max(1_048_576).default(65_536).describe('Largest SAML message accepted, after base64 decoding and (HTTP-Redirect) inflating'),
    keysReloadSeconds: z.number().min(1).max(3600).default(30).describe('How often each process checks the store for rotated keys (gatehouse keys rotate)'),
  })
  .describe('The SAML 2.0 identity provider: service providers are the applications of type saml');

export type SamlConfig = z.output<typeof SamlConfig>;
