/**
 * WebAuthn through the core, on every backend, with real responses from a software authenticator
 * (test/helpers/authenticator.ts): registration of several named authenticators, second-factor and
 * passkey sign-in, single-use and expiring challenges, origin / RP ID / signature / user-verification
 * checks, signature-counter clone detection, suspended users, malformed input, rename and remove.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { User } from '../../src/directory/model.ts';
import { ValidationError } from '../../src/directory/service.ts';
import { userHandleOf, WebAuthnRegistrationError, WebAuthnService, type WebAuthnAuthentication } from '../../src/mfa/webauthn.ts';
import { AlreadyExistsError, NotFoundError } from '../../src/errors.ts';
import { SoftwareAuthenticator, type AuthenticatorOptions, type Tamper } from '../helpers/authenticator.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

const RP_ID = 'example.test';
const ORIGIN = 'https://login.example.test';
const OTHER_ORIGIN = 'https://portal.example.test';
const WEBAUTHN = { rpId: RP_ID, rpName: 'Example', origins: [ORIGIN, OTHER_ORIGIN], userVerification: 'preferred', challengeTimeoutSeconds: 60 };

const ctx = (user?: User): AuditContext => ({
  actor: user ? { type: 'user', id: user.id, name: user.username } : { type: 'anonymous' },
  sourceIp: '198.51.100.20',
  protocol: 'portal',
});

describe.each(backends)('WebAuthn ($name)', (backend) => {
  let t: TestCore;
  let webauthn: WebAuthnService;
  beforeAll(async () => {
    t = await coreFor(backend, { mfa: { webauthn: WEBAUTHN } });
    webauthn = new WebAuthnService({ store: t.store, auditor: t.core.audit, config: t.config.mfa.webauthn });
  });
  afterAll(async () => t?.cleanup());

  const newUser = (username: string) => t.core.directory.users.create(CLI_CTX, { username, status: 'active', sshPublicKeys: [], attributes: {} });
  const key = (options: Partial<AuthenticatorOptions> = {}) => new SoftwareAuthenticator({ origin: ORIGIN, ...options });

  async function register(user: User, authenticator: SoftwareAuthenticator, name?: string, tamper: Tamper = {}, service = webauthn) {
    const { challengeId, options } = await service.registrationOptions(ctx(user), user);
    return service.verifyRegistration(ctx(user), user, challengeId, authenticator.register(options, tamper), name);
  }

  /** One sign-in: options (bound to `user`, or a passkey sign-in without), an assertion, its verification. */
  async function signIn(user: User | undefined, authenticator: SoftwareAuthenticator, tamper: Tamper = {}, service = webauthn): Promise<WebAuthnAuthentication> {
    const { challengeId, options } = await service.authenticationOptions(ctx(user), user);
    return service.verifyAuthentication(ctx(user), challengeId, authenticator.authenticate(options, tamper));
  }

  const credential = async (id: string) => t.store.directory.factors.getWebAuthn(id);
  const lastEvent = async (type: string, user?: string) => (await t.store.directory.audit.query({ type, ...(user ? { user } : {}), limit: 1 })).items[0];
  const countEvents = async (type: string) => (await t.store.directory.audit.query({ type, limit: 1000 })).items.length;

  describe('registration and sign-in', () => {
    let alice: User;
    const yubikey = key({ discoverable: false, transports: ['usb', 'nfc'] });
    const passkey = key({ backupEligible: true, backedUp: true, transports: ['internal', 'hybrid'], origin: OTHER_ORIGIN });
    beforeAll(async () => {
      alice = await newUser('alice');
    });

    it('offers registration options from the config, with an opaque user handle and the existing credentials excluded', async () => {
      const { challengeId, options } = await webauthn.registrationOptions(ctx(alice), alice);
      expect(challengeId).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(options).toMatchObject({
        rp: { id: RP_ID, name: 'Example' },
        user: { id: Buffer.from(userHandleOf(alice.id)).toString('base64url'), name: 'alice' },
        attestation: 'none',
        excludeCredentials: [],
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
        timeout: 60_000,
      });
      expect(Buffer.from(options.user.id, 'base64url').toString('utf8')).not.toContain('alice');
      expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual([-7, -8, -257]);
    });

    it('registers two named authenticators for one user, each audited', async () => {
      const first = await register(alice, yubikey, '  YubiKey 5 NFC ');
      expect(first).toMatchObject({ id: yubikey.credentialId, userId: alice.id, name: 'YubiKey 5 NFC', counter: 0, transports: ['usb', 'nfc'], deviceType: 'singleDevice', backedUp: false, discoverable: false });
      expect(await lastEvent('mfa.webauthn.registered', 'alice')).toMatchObject({ outcome: 'success', target: { id: alice.id }, details: { credentialId: yubikey.credentialId, name: 'YubiKey 5 NFC', discoverable: false } });

      // The second ceremony excludes the first credential, and a second origin of the RP is fine.
      const { options } = await webauthn.registrationOptions(ctx(alice), alice);
      expect(options.excludeCredentials).toEqual([{ id: yubikey.credentialId, type: 'public-key', transports: ['usb', 'nfc'] }]);
      const second = await register(alice, passkey, 'Laptop passkey');
      expect(second).toMatchObject({ name: 'Laptop passkey', deviceType: 'multiDevice', backedUp: true, discoverable: true, transports: ['internal', 'hybrid'] });

      expect((await webauthn.list(alice.id)).map((c) => c.name)).toEqual(['YubiKey 5 NFC', 'Laptop passkey']);
    });

    it('names an unnamed authenticator and refuses a bad name', async () => {
      const bob = await newUser('bob-names');
      expect((await register(bob, key())).name).toBe('Security key');
      await expect(register(bob, key(), 'x'.repeat(65))).rejects.toThrow(ValidationError);
      await expect(register(bob, key(), 'tab\there')).rejects.toThrow(/control characters/);
      expect(await webauthn.list(bob.id)).toHaveLength(1);
    });

    it('signs in with each authenticator as a second factor, the counter moving up each time', async () => {
      for (const [authenticator, expected] of [[yubikey, 1], [passkey, 1], [yubikey, 2], [yubikey, 3]] as const) {
        const result = await signIn(alice, authenticator);
        expect(result).toMatchObject({ ok: true, user: { id: alice.id }, userVerified: true, credential: { id: authenticator.credentialId, counter: expected } });
        expect((await credential(authenticator.credentialId))!.counter).toBe(expected);
      }
      expect((await credential(yubikey.credentialId))!.lastUsedAt).toBeDefined();
      expect(await lastEvent('authn.webauthn', 'alice')).toMatchObject({
        outcome: 'success', actor: { type: 'user', name: 'alice' }, target: { id: alice.id }, sourceIp: '198.51.100.20', protocol: 'portal',
        reasons: [{ code: 'webauthn_ok' }], details: { passkey: false, credentialId: yubikey.credentialId, credentialName: 'YubiKey 5 NFC', counter: 3, storedCounter: 2, userVerified: true },
      });
    });

    it('allows only the user\'s credentials in second-factor options', async () => {
      const { options } = await webauthn.authenticationOptions(ctx(alice), alice);
      expect(options.allowCredentials?.map((c) => c.id).sort()).toEqual([yubikey.credentialId, passkey.credentialId].sort());
      expect(options).toMatchObject({ rpId: RP_ID, userVerification: 'preferred', timeout: 60_000 });
    });

    it('signs in with a passkey and no username: the user handle names the user', async () => {
      const { challengeId, options } = await webauthn.authenticationOptions(ctx());
      expect(options.allowCredentials ?? []).toEqual([]);
      const result = await webauthn.verifyAuthentication(ctx(), challengeId, passkey.authenticate(options));
      expect(result).toMatchObject({ ok: true, user: { username: 'alice' }, credential: { id: passkey.credentialId, counter: 2 } });
      expect(await lastEvent('authn.webauthn', 'alice')).toMatchObject({ outcome: 'success', actor: { type: 'user', name: 'alice' }, details: { passkey: true } });
    });

    it('refuses a passkey sign-in with a non-discoverable credential (no user handle)', async () => {
      const before = await credential(yubikey.credentialId);
      const { options } = await webauthn.authenticationOptions(ctx());
      expect(() => yubikey.authenticate(options)).toThrow(/NotAllowedError/);
      expect(await signIn(undefined, yubikey, { ignoreAllowCredentials: true })).toEqual({ ok: false, reason: 'invalid_response' });
      expect(await credential(yubikey.credentialId)).toEqual(before);
    });

    it('refuses a replayed challenge, and a replayed assertion under a new challenge', async () => {
      const { challengeId, options } = await webauthn.authenticationOptions(ctx(alice), alice);
      const assertion = yubikey.authenticate(options);
      expect((await webauthn.verifyAuthentication(ctx(alice), challengeId, assertion)).ok).toBe(true);
      const after = await credential(yubikey.credentialId);
      expect(await webauthn.verifyAuthentication(ctx(alice), challengeId, assertion)).toEqual({ ok: false, reason: 'challenge_unknown' });
      expect(await lastEvent('authn.webauthn', 'alice')).toMatchObject({ outcome: 'failure', reasons: [{ code: 'challenge_unknown' }] });
      const fresh = await webauthn.authenticationOptions(ctx(alice), alice);
      expect(await webauthn.verifyAuthentication(ctx(alice), fresh.challengeId, assertion)).toEqual({ ok: false, reason: 'invalid_response' });
      expect(await credential(yubikey.credentialId)).toEqual(after);
    });

    it('spends a challenge on a failed attempt: the right answer afterwards is refused', async () => {
      const { challengeId, options } = await webauthn.authenticationOptions(ctx(alice), alice);
      expect(await webauthn.verifyAuthentication(ctx(alice), challengeId, yubikey.authenticate(options, { flipSignature: true }))).toEqual({ ok: false, reason: 'invalid_signature' });
      expect(await webauthn.verifyAuthentication(ctx(alice), challengeId, yubikey.authenticate(options))).toEqual({ ok: false, reason: 'challenge_unknown' });
    });

    it('refuses an expired challenge', async () => {
      // challengeTimeoutSeconds cannot go below 30, so the clock moves instead: only Date is faked,
      // and the TTL store compares expiry with Date.now() on both backends.
      const { challengeId, options } = await webauthn.authenticationOptions(ctx(alice), alice);
      const assertion = yubikey.authenticate(options);
      const before = await credential(yubikey.credentialId);
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        vi.setSystemTime(Date.now() + 61_000);
        expect(await webauthn.verifyAuthentication(ctx(alice), challengeId, assertion)).toEqual({ ok: false, reason: 'challenge_unknown' });
      } finally {
        vi.useRealTimers();
      }
      expect(await credential(yubikey.credentialId)).toEqual(before);

      const registration = await webauthn.registrationOptions(ctx(alice), alice);
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        vi.setSystemTime(Date.now() + 61_000);
        await expect(webauthn.verifyRegistration(ctx(alice), alice, registration.challengeId, key().register(registration.options))).rejects.toMatchObject({ code: 'challenge_unknown' });
      } finally {
        vi.useRealTimers();
      }
    });

    it.each([
      ['a wrong origin (phishing site)', { origin: 'https://login.example.test.evil.example' }, 'invalid_response'],
      ['a wrong RP ID hash', { rpId: 'evil.example' }, 'invalid_response'],
      ['a registration-type client data', { type: 'webauthn.create' }, 'invalid_response'],
      ['a flipped signature bit', { flipSignature: true }, 'invalid_signature'],
      ['no user presence', { up: false }, 'invalid_response'],
      ['another user\'s handle', { userHandle: Buffer.from(userHandleOf('someone-else')).toString('base64url') }, 'user_mismatch'],
    ] as const)('refuses an assertion with %s and leaves the credential as it was', async (_label, tamper, reason) => {
      const before = await credential(passkey.credentialId);
      const result = await signIn(alice, passkey, tamper);
      expect(result).toEqual({ ok: false, reason });
      expect(await credential(passkey.credentialId)).toEqual(before);
      expect(await lastEvent('authn.webauthn', 'alice')).toMatchObject({ outcome: 'failure', reasons: [{ code: reason }], details: { credentialId: passkey.credentialId } });
    });

    it('refuses a forged assertion for a credential ID that is not registered', async () => {
      const stranger = key();
      expect(await signIn(alice, stranger, { ignoreAllowCredentials: true })).toEqual({ ok: false, reason: 'credential_unknown' });
      expect(await signIn(undefined, stranger)).toEqual({ ok: false, reason: 'credential_unknown' });
      // Our credential ID, but signed by another key.
      expect(await signIn(alice, stranger, { ignoreAllowCredentials: true, credentialId: yubikey.credentialId })).toEqual({ ok: false, reason: 'invalid_signature' });
    });

    it('refuses a counter regression (a cloned authenticator), audits it as such, and leaves the credential alone', async () => {
      const clone = yubikey.clone();
      expect((await signIn(alice, yubikey)).ok).toBe(true);
      expect((await signIn(alice, yubikey)).ok).toBe(true);
      const before = (await credential(yubikey.credentialId))!;
      expect(clone.counter).toBeLessThan(before.counter);

      // The clone's counter is behind: it answers with a value the original has used already.
      const result = await signIn(alice, clone);
      expect(result).toEqual({ ok: false, reason: 'counter_regression' });
      expect(await credential(yubikey.credentialId)).toEqual(before);
      expect(await lastEvent('authn.webauthn', 'alice')).toMatchObject({
        outcome: 'denied', reasons: [{ code: 'counter_regression' }], details: { credentialId: yubikey.credentialId, counter: clone.counter, storedCounter: before.counter },
      });

      // The same counter again, and a zero after counting, are regressions too.
      expect(await signIn(alice, yubikey, { counter: before.counter })).toEqual({ ok: false, reason: 'counter_regression' });
      expect(await signIn(alice, yubikey, { counter: 0 })).toEqual({ ok: false, reason: 'counter_regression' });
      expect(await credential(yubikey.credentialId)).toEqual(before);
      // The genuine authenticator goes on (its counter is ahead of the stored one).
      expect(await signIn(alice, yubikey)).toMatchObject({ ok: true });
    });

    it('lets exactly one of two concurrent assertions with the same counter through', async () => {
      const twin = yubikey.clone();
      const [a, b] = await Promise.all([signIn(alice, yubikey), signIn(alice, twin)]);
      expect([a.ok, b.ok].sort()).toEqual([false, true]);
      expect([a, b].find((r) => !r.ok)).toEqual({ ok: false, reason: 'counter_regression' });
    });

    it('accepts authenticators without a counter (always zero)', async () => {
      const noCounter = key({ counterStep: 0 });
      await register(alice, noCounter, 'Phone');
      expect(await signIn(alice, noCounter)).toMatchObject({ ok: true, credential: { counter: 0 } });
      expect(await signIn(alice, noCounter)).toMatchObject({ ok: true, credential: { counter: 0 } });
      // Starting to count is fine, and then it must keep going up.
      expect(await signIn(alice, noCounter, { counter: 5 })).toMatchObject({ ok: true, credential: { counter: 5 } });
      expect(await signIn(alice, noCounter)).toEqual({ ok: false, reason: 'counter_regression' });
    });

    it('refuses a credential of another user for a user-bound challenge', async () => {
      const bob = await newUser('bob');
      const bobKey = key();
      await register(bob, bobKey, 'Bob key');
      const before = await credential(yubikey.credentialId);
      expect(await signIn(bob, yubikey, { ignoreAllowCredentials: true })).toEqual({ ok: false, reason: 'user_mismatch' });
      expect(await lastEvent('authn.webauthn', 'bob')).toMatchObject({ outcome: 'failure', reasons: [{ code: 'user_mismatch' }], actor: { name: 'bob' } });
      expect(await credential(yubikey.credentialId)).toEqual(before);
      // A passkey claiming bob's user handle for alice's credential.
      expect(await signIn(undefined, passkey, { userHandle: Buffer.from(userHandleOf(bob.id)).toString('base64url') })).toEqual({ ok: false, reason: 'user_mismatch' });
      // A registration challenge is not an authentication challenge, nor is a challenge of bob's alice's.
      const reg = await webauthn.registrationOptions(ctx(bob), bob);
      expect(await webauthn.verifyAuthentication(ctx(bob), reg.challengeId, bobKey.authenticate({ challenge: reg.options.challenge, rpId: RP_ID }))).toEqual({ ok: false, reason: 'challenge_unknown' });
      const bobs = await webauthn.registrationOptions(ctx(bob), bob);
      await expect(webauthn.verifyRegistration(ctx(alice), alice, bobs.challengeId, key().register(bobs.options))).rejects.toMatchObject({ code: 'challenge_unknown' });
    });

    it('refuses a second registration of the same authenticator, for the same or another user', async () => {
      const before = await credential(yubikey.credentialId);
      const { options } = await webauthn.registrationOptions(ctx(alice), alice);
      expect(() => yubikey.register(options)).toThrow(/InvalidStateError/);
      await expect(register(alice, yubikey, 'again', { ignoreExcludeCredentials: true })).rejects.toThrow(AlreadyExistsError);
      await expect(register(alice, yubikey, 'again', { ignoreExcludeCredentials: true })).rejects.toThrow(/registered already/);
      expect(await lastEvent('mfa.webauthn.registered', 'alice')).toMatchObject({ outcome: 'failure', reasons: [{ code: 'already_registered' }] });
      const carl = await newUser('carl');
      await expect(register(carl, yubikey, 'stolen')).rejects.toThrow(AlreadyExistsError);
      expect(await credential(yubikey.credentialId)).toEqual(before);
      expect(await webauthn.list(carl.id)).toEqual([]);
    });

    it('refuses registration responses from a wrong origin or RP, or for a spent challenge', async () => {
      const dave = await newUser('dave');
      await expect(register(dave, key(), 'k', { origin: 'https://evil.example' })).rejects.toThrow(WebAuthnRegistrationError);
      await expect(register(dave, key(), 'k', { rpId: 'evil.example' })).rejects.toMatchObject({ code: 'invalid_response' });
      await expect(register(dave, key(), 'k', { type: 'webauthn.get' })).rejects.toMatchObject({ code: 'invalid_response' });
      const { challengeId, options } = await webauthn.registrationOptions(ctx(dave), dave);
      const k = key();
      await expect(webauthn.verifyRegistration(ctx(dave), dave, challengeId, k.register(options, { origin: 'https://evil.example' }), 'k')).rejects.toThrow(/origin/);
      await expect(webauthn.verifyRegistration(ctx(dave), dave, challengeId, k.register(options), 'k')).rejects.toMatchObject({ code: 'challenge_unknown' });
      expect(await webauthn.list(dave.id)).toEqual([]);
      expect(await lastEvent('mfa.webauthn.registered', 'dave')).toMatchObject({ outcome: 'failure', reasons: [{ code: 'challenge_unknown' }] });
    });
  });

  describe('user verification required', () => {
    let strict: WebAuthnService;
    let erin: User;
    const withUv = key();
    beforeAll(async () => {
      strict = new WebAuthnService({ store: t.store, auditor: t.core.audit, config: { ...t.config.mfa.webauthn, userVerification: 'required' } });
      erin = await newUser('erin');
    });

    it('asks for user verification, and refuses registration without it', async () => {
      const { options } = await strict.registrationOptions(ctx(erin), erin);
      expect(options.authenticatorSelection).toMatchObject({ userVerification: 'required' });
      await expect(register(erin, key({ userVerification: false }), 'no uv', {}, strict)).rejects.toThrow(/verif/);
      await register(erin, withUv, 'with uv', {}, strict);
    });

    it('refuses an assertion without the UV flag, and accepts one with it', async () => {
      const before = await credential(withUv.credentialId);
      expect(await signIn(erin, withUv, { uv: false }, strict)).toEqual({ ok: false, reason: 'invalid_response' });
      expect(await lastEvent('authn.webauthn', 'erin')).toMatchObject({ reasons: [{ code: 'invalid_response', description: expect.stringMatching(/verif/) }] });
      expect(await credential(withUv.credentialId)).toEqual(before);
      expect(await signIn(erin, withUv, {}, strict)).toMatchObject({ ok: true, userVerified: true });
      // Under 'preferred' the same assertion passes and says the user was not verified.
      expect(await signIn(erin, withUv, { uv: false })).toMatchObject({ ok: true, userVerified: false });
    });
  });

  describe('suspended users', () => {
    it('refuses a suspended user, revokes their pending challenges, and lets them back after activation', async () => {
      const frank = await newUser('frank');
      const frankKey = key();
      await register(frank, frankKey, 'Frank key');
      const pending = await webauthn.authenticationOptions(ctx(frank), frank);
      const assertion = frankKey.authenticate(pending.options);
      await t.core.directory.users.suspend(CLI_CTX, 'frank');
      const suspended = await t.core.directory.users.find('frank');
      const before = await credential(frankKey.credentialId);

      expect(await webauthn.verifyAuthentication(ctx(frank), pending.challengeId, assertion)).toEqual({ ok: false, reason: 'challenge_unknown' });
      expect(await signIn(suspended, frankKey)).toEqual({ ok: false, reason: 'suspended' });
      expect(await signIn(undefined, frankKey)).toEqual({ ok: false, reason: 'suspended' });
      expect(await lastEvent('authn.webauthn', 'frank')).toMatchObject({ outcome: 'denied', reasons: [{ code: 'suspended' }], details: { passkey: true } });
      expect(await credential(frankKey.credentialId)).toEqual(before);
      await expect(webauthn.registrationOptions(ctx(suspended), suspended)).rejects.toMatchObject({ code: 'suspended' });

      await t.core.directory.users.activate(CLI_CTX, 'frank');
      expect(await signIn(await t.core.directory.users.find('frank'), frankKey)).toMatchObject({ ok: true });
    });
  });

  describe('malformed input', () => {
    let gina: User;
    const ginaKey = key();
    let valid: ReturnType<SoftwareAuthenticator['authenticate']>;
    beforeAll(async () => {
      gina = await newUser('gina');
      await register(gina, ginaKey, 'Gina key');
      valid = ginaKey.authenticate((await webauthn.authenticationOptions(ctx(gina), gina)).options);
    });

    const MB = 'A'.repeat(1024 * 1024);
    const withResponse = (change: Record<string, unknown>) => ({ ...valid, response: { ...valid.response, ...change } });
    const without = (field: string) => {
      const response: Record<string, unknown> = { ...valid.response };
      delete response[field];
      return { ...valid, response };
    };

    it.each([
      ['undefined', () => undefined],
      ['null', () => null],
      ['a string', () => 'not an object'],
      ['a number', () => 42],
      ['an array', () => [valid]],
      ['an empty object', () => ({})],
      ['no response', () => ({ id: valid.id, rawId: valid.rawId, type: 'public-key' })],
      ['no signature', () => without('signature')],
      ['no authenticatorData', () => without('authenticatorData')],
      ['no clientDataJSON', () => without('clientDataJSON')],
      ['a wrong type', () => ({ ...valid, type: 'password' })],
      ['id and rawId differing', () => ({ ...valid, rawId: `${valid.rawId}AA` })],
      ['garbage base64 in the signature', () => withResponse({ signature: '!!not*base64!!' })],
      ['garbage base64 in the id', () => ({ ...valid, id: 'a+b/c==', rawId: 'a+b/c==' })],
      ['a signature of the wrong type', () => withResponse({ signature: 12345 })],
      ['clientDataJSON that is not JSON', () => withResponse({ clientDataJSON: Buffer.from('{{{not json').toString('base64url') })],
      ['clientDataJSON that is JSON but not client data', () => withResponse({ clientDataJSON: Buffer.from('[1,2,3]').toString('base64url') })],
      ['authenticatorData too short', () => withResponse({ authenticatorData: 'AAAA' })],
      ['a signature that is not DER', () => withResponse({ signature: Buffer.from('not a DER signature').toString('base64url') })],
      ['a 1 MB signature', () => withResponse({ signature: MB })],
      ['a 1 MB clientDataJSON', () => withResponse({ clientDataJSON: MB })],
      ['a 1 MB authenticatorData', () => withResponse({ authenticatorData: MB })],
      ['a 1 MB credential ID', () => ({ ...valid, id: MB, rawId: MB })],
      ['a 1 MB user handle', () => withResponse({ userHandle: MB })],
    ])('answers invalid_response to %s, audits it once, and writes nothing', async (_label, make) => {
      const before = await webauthn.list(gina.id);
      const events = await countEvents('authn.webauthn');
      const { challengeId } = await webauthn.authenticationOptions(ctx(gina), gina);
      expect(await webauthn.verifyAuthentication(ctx(gina), challengeId, make())).toEqual({ ok: false, reason: 'invalid_response' });
      expect(await webauthn.list(gina.id)).toEqual(before);
      expect(await countEvents('authn.webauthn')).toBe(events + 1);
      const event = (await lastEvent('authn.webauthn', 'gina'))!;
      expect(event).toMatchObject({ outcome: 'failure', reasons: [{ code: 'invalid_response' }] });
      expect(JSON.stringify(event).length).toBeLessThan(4096);
    });

    it.each([
      ['unknown', 'x'.repeat(24)],
      ['too long (1 MB)', MB],
      ['not a string', 42 as unknown as string],
      ['empty', ''],
    ])('answers challenge_unknown to a challenge ID that is %s', async (_label, challengeId) => {
      expect(await webauthn.verifyAuthentication(ctx(gina), challengeId, valid)).toEqual({ ok: false, reason: 'challenge_unknown' });
    });

    it.each([
      ['null', () => null],
      ['an empty object', () => ({})],
      ['no attestationObject', (r: ReturnType<SoftwareAuthenticator['register']>) => ({ ...r, response: { clientDataJSON: r.response.clientDataJSON } })],
      ['garbage base64', (r: ReturnType<SoftwareAuthenticator['register']>) => ({ ...r, response: { ...r.response, attestationObject: '***' } })],
      ['an attestationObject that is not CBOR', (r: ReturnType<SoftwareAuthenticator['register']>) => ({ ...r, response: { ...r.response, attestationObject: Buffer.from('plain text, not CBOR').toString('base64url') } })],
      ['a 1 MB attestationObject', (r: ReturnType<SoftwareAuthenticator['register']>) => ({ ...r, response: { ...r.response, attestationObject: MB } })],
      ['a claimed ID unlike the attested one', (r: ReturnType<SoftwareAuthenticator['register']>) => ({ ...r, id: 'AAAAAAAAAAAAAAAAAAAAAA', rawId: 'AAAAAAAAAAAAAAAAAAAAAA' })],
    ])('refuses a registration response that is %s, writing no credential', async (_label, make) => {
      const before = await webauthn.list(gina.id);
      const { challengeId, options } = await webauthn.registrationOptions(ctx(gina), gina);
      const response = make(key().register(options));
      await expect(webauthn.verifyRegistration(ctx(gina), gina, challengeId, response, 'k')).rejects.toMatchObject({ code: 'invalid_response' });
      expect(await webauthn.list(gina.id)).toEqual(before);
      expect(await lastEvent('mfa.webauthn.registered', 'gina')).toMatchObject({ outcome: 'failure', reasons: [{ code: 'invalid_response' }] });
    });
  });

  describe('rename and remove', () => {
    it('renames and removes a user\'s own credentials only, audited', async () => {
      const hana = await newUser('hana');
      const ivan = await newUser('ivan');
      const hanaKey = key();
      const ivanKey = key();
      await register(hana, hanaKey, 'Old name');
      await register(ivan, ivanKey, 'Ivan key');

      expect(await webauthn.rename(ctx(hana), hana.id, hanaKey.credentialId, ' Backup key ')).toMatchObject({ name: 'Backup key' });
      expect((await webauthn.list(hana.id))[0]!.name).toBe('Backup key');
      expect(await lastEvent('mfa.webauthn.renamed', 'hana')).toMatchObject({ outcome: 'success', details: { credentialId: hanaKey.credentialId, name: 'Backup key', previousName: 'Old name' } });
      await expect(webauthn.rename(ctx(hana), hana.id, hanaKey.credentialId, 'y'.repeat(65))).rejects.toThrow(ValidationError);
      await expect(webauthn.rename(ctx(hana), hana.id, hanaKey.credentialId, '   ')).rejects.toThrow(ValidationError);
      await expect(webauthn.rename(ctx(hana), hana.id, ivanKey.credentialId, 'mine now')).rejects.toThrow(NotFoundError);
      await expect(webauthn.remove(ctx(hana), hana.id, ivanKey.credentialId)).rejects.toThrow(NotFoundError);
      await expect(webauthn.remove(ctx(hana), hana.id, 'no-such-credential')).rejects.toThrow(NotFoundError);
      expect((await webauthn.list(ivan.id)).map((c) => c.name)).toEqual(['Ivan key']);

      const removed = await webauthn.remove(ctx(hana), hana.id, hanaKey.credentialId);
      expect(removed.id).toBe(hanaKey.credentialId);
      expect(await webauthn.list(hana.id)).toEqual([]);
      expect(await lastEvent('mfa.webauthn.deleted', 'hana')).toMatchObject({ outcome: 'success', details: { credentialId: hanaKey.credentialId, name: 'Backup key' } });
      expect(await signIn(hana, hanaKey, { ignoreAllowCredentials: true })).toEqual({ ok: false, reason: 'credential_unknown' });
      expect(await signIn(undefined, hanaKey)).toEqual({ ok: false, reason: 'credential_unknown' });
    });
  });
});
