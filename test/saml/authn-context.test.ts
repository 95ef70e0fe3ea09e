/**
 * Which AuthnContextClassRef an assertion carries (protocols/saml/sso.ts chooseAuthnContext), for
 * the RequestedAuthnContext an SP may send (SAML Core §3.3.2.2.1). node-saml asks for
 * PasswordProtectedTransport, exact, by default: a sign-in with a password and a second factor
 * provides it too, and must not be refused with NoAuthnContext.
 */
import { describe, expect, it } from 'vitest';
import { authnContextClasses } from '../../protocols/saml/context.ts';
import { AUTHN_CONTEXT } from '../../protocols/saml/messages.ts';
import { chooseAuthnContext } from '../../protocols/saml/sso.ts';

const at = new Date().toISOString();
const passwordOnly = authnContextClasses([{ method: 'password', at }]);
const withTotp = authnContextClasses([{ method: 'password', at }, { method: 'totp', at }]);
const PPT = AUTHN_CONTEXT.password;
const MFA = AUTHN_CONTEXT.mfa;

describe('SAML AuthnContext', () => {
  it('without a request: the strongest class the sign-in provides', () => {
    expect(chooseAuthnContext(passwordOnly, undefined)).toBe(PPT);
    expect(chooseAuthnContext(withTotp, undefined)).toBe(MFA);
  });

  it('exact: the first requested class the sign-in provides, in the SP order of preference', () => {
    expect(chooseAuthnContext(withTotp, { comparison: 'exact', classRefs: [PPT] })).toBe(PPT);
    expect(chooseAuthnContext(withTotp, { comparison: 'exact', classRefs: [MFA, PPT] })).toBe(MFA);
    expect(chooseAuthnContext(withTotp, { comparison: 'exact', classRefs: ['urn:example:unknown', PPT] })).toBe(PPT);
    expect(chooseAuthnContext(passwordOnly, { comparison: 'exact', classRefs: [MFA] })).toBeUndefined();
    expect(chooseAuthnContext(passwordOnly, { comparison: 'exact', classRefs: [AUTHN_CONTEXT.x509] })).toBeUndefined();
  });

  it('minimum, better, maximum: the strongest provided class that satisfies the comparison', () => {
    expect(chooseAuthnContext(withTotp, { comparison: 'minimum', classRefs: [PPT] })).toBe(MFA);
    expect(chooseAuthnContext(passwordOnly, { comparison: 'minimum', classRefs: [PPT] })).toBe(PPT);
    expect(chooseAuthnContext(passwordOnly, { comparison: 'minimum', classRefs: [MFA] })).toBeUndefined();
    expect(chooseAuthnContext(withTotp, { comparison: 'better', classRefs: [PPT] })).toBe(MFA);
    expect(chooseAuthnContext(passwordOnly, { comparison: 'better', classRefs: [PPT] })).toBeUndefined();
    expect(chooseAuthnContext(withTotp, { comparison: 'maximum', classRefs: [PPT] })).toBe(PPT);
  });
});
