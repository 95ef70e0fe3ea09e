/**
 * The sign-in pages' and portal's settings: the `web` section of the configuration file, defined
 * here with every option's default and description (docs/configuration.md is generated from it).
 */
import { z } from 'zod';

export const WebConfig = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve the sign-in pages (/login, /logout) and the user portal (/, /account) on the HTTP listener; OIDC and SAML sign in through them'),
  signInMinutes: z.int().min(1).max(30).default(5).describe('How long a sign-in may wait between the password and the second factor before it starts over'),
  mfaAttempts: z.int().min(1).max(20).default(5).describe('Wrong second-factor answers allowed in one sign-in before it starts over (codes are also throttled per user and per client IP)'),
  reauthMinutes: z.int().min(1).max(1440).default(15).describe('Adding or removing sign-in methods in the portal needs a sign-in at most this old; older sessions are asked to sign in again'),
  maxFormBytes: z.int().min(1024).max(1024 * 1024).default(16 * 1024).describe('Largest form body the sign-in pages and portal accept; bigger ones get 413'),
}).describe('The sign-in pages and the user portal (protocols/web)');

export type WebConfig = z.output<typeof WebConfig>;
