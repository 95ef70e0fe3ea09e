/**
 * A RADIUS client's options (protocols/radius/config.ts `clientOptions`), asked for at every packet:
 * resolved once per settings object and section, and a new settings object (the client re-read
 * after a change) or a reloaded section gives the new values.
 */
import { describe, expect, it } from 'vitest';
import { RadiusConfig, clientOptions } from '../../../protocols/radius/config.ts';

describe('clientOptions', () => {
  const options = RadiusConfig.parse({});
  it('the defaults under the client\'s own settings, the same frozen object while neither changes', () => {
    const settings = { radius: { requireMessageAuthenticator: false } };
    const first = clientOptions(options, settings);
    expect(first.requireMessageAuthenticator).toBe(false);
    expect(first.mfa).toBe(options.clientDefaults.mfa);
    expect(clientOptions(options, settings)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('a changed client (a new settings object) or a reloaded section: the new values', () => {
    const settings = { radius: { requireMessageAuthenticator: false } };
    const before = clientOptions(options, settings);
    expect(clientOptions(options, { radius: { requireMessageAuthenticator: true } }).requireMessageAuthenticator).toBe(true);
    const reloaded = RadiusConfig.parse({ clientDefaults: { mfa: 'appended-otp' } });
    const after = clientOptions(reloaded, settings);
    expect(after).not.toBe(before);
    expect(after.mfa).toBe('appended-otp');
    expect(after.requireMessageAuthenticator).toBe(false);
  });

  it('settings that do not parse: the defaults', () => {
    expect(clientOptions(options, { radius: { requireMessageAuthenticator: 'maybe' } }).requireMessageAuthenticator).toBe(options.clientDefaults.requireMessageAuthenticator);
  });
});
