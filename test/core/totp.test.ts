/**
 * The TOTP second factor through the core, on every backend: enrolment and confirmation, one use per
 * code (also under concurrency), clock skew, bad input, recovery codes, encryption at rest, reset,
 * throttling, key rotation and the audit trail. Codes are made by the tests' own RFC 6238
 * implementation (test/unit/mfa/totp-reference.ts), not by the library the service uses.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Throttle } from '../../src/authn/throttle.ts';
import { TOTP_SEED_PURPOSE, TotpError, TotpService, type TotpServiceDeps } from '../../src/mfa/totp.ts';
import { Keyring } from '../../src/secrets/keyring.ts';
import { backends } from '../helpers/backends.ts';
import { TEST_SECRET_KEY } from '../helpers/config.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';
import { totpStep } from '../unit/mfa/totp-reference.ts';

const ctx = { actor: { type: 'anonymous' as const }, sourceIp: '198.51.100.20', protocol: 'oidc' };
const STEP_MS = 30_000;

describe.each(backends)('TOTP second factor ($name)', (backend) => {
  let t: TestCore;
  let totp: TotpService;
  // Ten seconds into a step, so ±1 step is unambiguous.
  let clock = Date.UTC(2031, 0, 15, 9, 0, 10);
  const step = () => Math.floor(clock / STEP_MS);
  const tick = (steps = 1) => {
    clock += steps * STEP_MS;
  };
  let users = 0;

  const service = (over: Partial<TotpServiceDeps> = {}) =>
    new TotpService({ store: t.store, keyring: t.core.keyring, auditor: t.core.audit, config: t.config.mfa.totp, throttle: t.core.throttle, now: () => clock, ...over });

  async function newUser(prefix = 'u'): Promise<{ id: string; username: string }> {
    const username = `${prefix}${++users}`;
    const user = await t.core.directory.users.create(CLI_CTX, { username, status: 'active', sshPublicKeys: [], attributes: {} });
    return { id: user.id, username };
  }

  /** A user with an active factor; the clock is moved past the confirming step. */
  async function enrolled(prefix = 'u') {
    const user = await newUser(prefix);
    const { secret } = await totp.enrol(CLI_CTX, user.id, `${user.username}@example.com`);
    const { recoveryCodes } = await totp.confirm(ctx, user.id, totpStep(secret, step()));
    tick();
    return { ...user, secret, recoveryCodes };
  }

  const rawTotpRow = async (userId: string) => t.store.knex('totp_factors').where({ user_id: userId }).first();
  const events = async (type: string, user: string) => (await t.store.directory.audit.query({ type, user, limit: 1000 })).items;

  beforeAll(async () => {
    t = await coreFor(backend);
    totp = service();
  });
  afterAll(async () => t?.cleanup());

  it('enrols as pending with an otpauth URI and QR code, and activates only with a right first code', async () => {
    const user = await newUser();
    const enrolment = await totp.enrol(CLI_CTX, user.id, 'alice@example.com');
    expect(enrolment.secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
    expect(enrolment.uri).toBe(`otpauth://totp/Gatehouse:alice%40example.com?secret=${enrolment.secret}&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30`);
    expect(enrolment.qrSvg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(enrolment.qrDataUrl).toMatch(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    expect(await totp.status(user.id)).toEqual({ totp: 'pending', recoveryCodesLeft: 0 });
    expect((await events('mfa.totp.enrolled', user.username))[0]).toMatchObject({ outcome: 'success', details: { restarted: false } });

    // Pending is not a factor yet.
    expect(await totp.verify(ctx, user.id, totpStep(enrolment.secret, step()))).toEqual({ ok: false, reason: 'no_factor' });

    const wrong = String((Number(totpStep(enrolment.secret, step())) + 1) % 1_000_000).padStart(6, '0');
    await expect(totp.confirm(ctx, user.id, wrong)).rejects.toMatchObject({ name: 'TotpError', code: 'invalid_code' });
    await expect(totp.confirm(ctx, user.id, '12345')).rejects.toMatchObject({ code: 'invalid_format' });
    expect(await totp.status(user.id)).toEqual({ totp: 'pending', recoveryCodesLeft: 0 });
    expect(await events('mfa.totp.confirmed', user.username)).toMatchObject([
      { outcome: 'failure', reasons: [{ code: 'invalid_format' }] },
      { outcome: 'failure', reasons: [{ code: 'invalid_code' }] },
    ]);

    const { recoveryCodes } = await totp.confirm(ctx, user.id, totpStep(enrolment.secret, step()));
    expect(recoveryCodes).toHaveLength(t.config.mfa.totp.recoveryCodes);
    expect(new Set(recoveryCodes).size).toBe(recoveryCodes.length);
    for (const code of recoveryCodes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    expect(await totp.status(user.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
    expect((await events('mfa.totp.confirmed', user.username))[0]).toMatchObject({ outcome: 'success', actor: { type: 'user', id: user.id }, details: { recoveryCodes: 10, delta: 0 } });

    // The confirming code is spent, a second confirmation has nothing to confirm.
    expect(await totp.verify(ctx, user.id, totpStep(enrolment.secret, step()))).toEqual({ ok: false, reason: 'replayed' });
    await expect(totp.confirm(ctx, user.id, totpStep(enrolment.secret, step() + 1))).rejects.toMatchObject({ code: 'not_pending' });
  });

  it('restarts a pending enrolment with a new seed, but never replaces an active factor', async () => {
    const user = await newUser();
    const first = await totp.enrol(CLI_CTX, user.id, 'bob');
    const second = await totp.enrol(CLI_CTX, user.id, 'bob');
    expect(second.secret).not.toBe(first.secret);
    expect((await events('mfa.totp.enrolled', user.username))[0]).toMatchObject({ details: { restarted: true } });
    await expect(totp.confirm(ctx, user.id, totpStep(first.secret, step()))).rejects.toMatchObject({ code: 'invalid_code' });
    await totp.confirm(ctx, user.id, totpStep(second.secret, step()));

    const before = await rawTotpRow(user.id);
    await expect(totp.enrol(CLI_CTX, user.id, 'bob')).rejects.toMatchObject({ name: 'TotpError', code: 'already_active' });
    expect(await rawTotpRow(user.id)).toEqual(before);
    expect((await events('mfa.totp.enrolled', user.username))[0]).toMatchObject({ outcome: 'denied', reasons: [{ code: 'already_active' }] });
  });

  it('refuses bad labels and unknown users before writing anything', async () => {
    const user = await newUser();
    await expect(totp.enrol(CLI_CTX, user.id, 'a:b')).rejects.toMatchObject({ code: 'invalid_label' });
    await expect(totp.enrol(CLI_CTX, user.id, '')).rejects.toBeInstanceOf(TotpError);
    expect(await totp.status(user.id)).toEqual({ totp: 'none', recoveryCodesLeft: 0 });
    await expect(totp.enrol(CLI_CTX, '00000000-0000-4000-8000-000000000000', 'ghost')).rejects.toMatchObject({ name: 'NotFoundError' });
  });

  it('accepts a code once: the same code again, or an older one, is a replay', async () => {
    const user = await enrolled();
    const code = totpStep(user.secret, step());
    expect(await totp.verify(ctx, user.id, code)).toEqual({ ok: true, method: 'totp' });
    expect(await totp.verify(ctx, user.id, code)).toEqual({ ok: false, reason: 'replayed' });
    // The previous step is still inside the window, but earlier than the code just accepted.
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, step() - 1))).toEqual({ ok: false, reason: 'replayed' });
    tick();
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: true, method: 'totp' });
    expect(Number((await rawTotpRow(user.id)).last_step)).toBe(step());
  });

  it('lets exactly one of several simultaneous uses of one code through', async () => {
    const user = await enrolled();
    const code = totpStep(user.secret, step());
    // Five at once, the throttle's free allowance: each is checked (a sixth would be refused unchecked).
    const results = await Promise.all(Array.from({ length: 5 }, () => totp.verify(ctx, user.id, code)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual(Array(4).fill({ ok: false, reason: 'replayed' }));
    // ...also across two service instances (two processes on one store). Another user: the four
    // replays above count as failed attempts and would soon throttle this one.
    const second = await enrolled();
    const other = service();
    const next = totpStep(second.secret, step());
    const pair = await Promise.all([totp.verify(ctx, second.id, next), other.verify(ctx, second.id, next)]);
    expect(pair.filter((r) => r.ok)).toHaveLength(1);
    expect(pair.filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'replayed' }]);
  });

  it('tolerates clock skew of ±1 step (config window) and no more', async () => {
    const user = await enrolled();
    tick(5);
    const s = step();
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, s - 2))).toEqual({ ok: false, reason: 'invalid_code' });
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, s + 2))).toEqual({ ok: false, reason: 'invalid_code' });
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, s - 1))).toEqual({ ok: true, method: 'totp' });
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, s))).toEqual({ ok: true, method: 'totp' });
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, s + 1))).toEqual({ ok: true, method: 'totp' });
    const deltas = (await events('authn.totp', user.username)).slice(0, 5).reverse().map((e) => e.details.delta);
    expect(deltas).toEqual([undefined, undefined, -1, 0, 1]);

    // Window 0: only the current step.
    const strict = service({ config: { ...t.config.mfa.totp, window: 0 } });
    tick(5);
    expect(await strict.verify(ctx, user.id, totpStep(user.secret, step() - 1))).toEqual({ ok: false, reason: 'invalid_code' });
    expect(await strict.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: true, method: 'totp' });
  });

  it.each([
    ['wrong length (5)', '12345'],
    ['wrong length (7)', '1234567'],
    ['non-digits', '12a45b'],
    ['full-width digits', '１２３４５６'],
    ['empty', ''],
    ['1 MB', '7'.repeat(1024 * 1024)],
    ['not a string', 123456 as unknown as string],
  ])('refuses %s as invalid_format, audited, with nothing written', async (_name, input) => {
    const user = await enrolled();
    const row = await rawTotpRow(user.id);
    const before = (await events('authn.totp', user.username)).length;
    expect(await totp.verify(ctx, user.id, input)).toEqual({ ok: false, reason: 'invalid_format' });
    expect(await rawTotpRow(user.id)).toEqual(row);
    expect(await totp.status(user.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
    expect(await t.store.ttl.counter(`throttle:user:totp:${user.id}`)).toBeUndefined();
    const after = await events('authn.totp', user.username);
    expect(after.length - before).toBe(1);
    expect(after[0]).toMatchObject({ outcome: 'failure', reasons: [{ code: 'invalid_format' }] });
    expect(JSON.stringify(after[0]).length).toBeLessThan(2000);
  });

  it('accepts a code typed with a space in the middle', async () => {
    const user = await enrolled();
    const code = totpStep(user.secret, step());
    expect(await totp.verify(ctx, user.id, `${code.slice(0, 3)} ${code.slice(3)}`)).toEqual({ ok: true, method: 'totp' });
  });

  it('accepts a recovery code once, in any case and spacing, and only for its owner', async () => {
    const alice = await enrolled();
    const bob = await enrolled();
    const [first, second] = alice.recoveryCodes;
    expect(await totp.verify(ctx, bob.id, first!)).toEqual({ ok: false, reason: 'invalid_code' });
    expect(await totp.verify(ctx, alice.id, first!.toUpperCase().replace(/-/g, ' '))).toEqual({ ok: true, method: 'recovery' });
    expect(await totp.verify(ctx, alice.id, first!)).toEqual({ ok: false, reason: 'invalid_code' });
    expect((await events('authn.totp', alice.username))[1]).toMatchObject({ outcome: 'success', details: { method: 'recovery', recoveryCodesLeft: 9 } });
    // Concurrent uses of one recovery code: one wins.
    const results = await Promise.all([totp.verify(ctx, alice.id, second!), totp.verify(ctx, alice.id, second!)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(await totp.status(alice.id)).toEqual({ totp: 'active', recoveryCodesLeft: 8 });
    expect(await totp.status(bob.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
  });

  it('stores the seed encrypted and recovery codes hashed, and never audits either', async () => {
    const user = await enrolled();
    const row = await rawTotpRow(user.id);
    const raw = JSON.stringify(row);
    expect(raw).not.toContain(user.secret);
    expect(raw.toLowerCase()).not.toContain(user.secret.toLowerCase());
    expect(row.seed_encrypted).toMatch(/^v1\.test\.[A-Za-z0-9_-]+$/);
    expect(t.core.keyring.decrypt(row.seed_encrypted, TOTP_SEED_PURPOSE)).toBe(user.secret);
    expect(() => t.core.keyring.decrypt(row.seed_encrypted, 'radius-client-secret')).toThrow();

    const hashes = (await t.store.knex('recovery_codes').where({ user_id: user.id }).select('code_hash')).map((r: { code_hash: string }) => r.code_hash).sort();
    expect(hashes).toEqual(user.recoveryCodes.map((c) => createHash('sha256').update(c.replace(/-/g, '')).digest('hex')).sort());

    await totp.verify(ctx, user.id, user.recoveryCodes[0]!);
    const audit = JSON.stringify(await t.store.directory.audit.query({ user: user.username, limit: 1000 }));
    expect(audit).not.toContain(user.secret);
    for (const code of user.recoveryCodes) expect(audit).not.toContain(code);
  });

  it('reset removes the factor and the recovery codes, audited; the user can enrol again', async () => {
    const user = await enrolled();
    expect(await totp.reset(CLI_CTX, user.id)).toEqual({ removed: true });
    expect(await totp.status(user.id)).toEqual({ totp: 'none', recoveryCodesLeft: 0 });
    expect(await rawTotpRow(user.id)).toBeUndefined();
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: false, reason: 'no_factor' });
    expect(await totp.verify(ctx, user.id, user.recoveryCodes[0]!)).toEqual({ ok: false, reason: 'no_factor' });
    expect((await events('mfa.totp.reset', user.username))[0]).toMatchObject({ outcome: 'success', actor: { type: 'cli' }, details: { totp: true, recoveryCodes: 10 } });
    expect(await totp.reset(CLI_CTX, user.id)).toEqual({ removed: false });
    const again = await totp.enrol(CLI_CTX, user.id, user.username);
    await totp.confirm(ctx, user.id, totpStep(again.secret, step()));
    expect(await totp.status(user.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
  });

  it('regenerates recovery codes only for an active factor; the old ones stop working', async () => {
    const pending = await newUser();
    await totp.enrol(CLI_CTX, pending.id, pending.username);
    await expect(totp.regenerateRecoveryCodes(CLI_CTX, pending.id)).rejects.toMatchObject({ code: 'not_active' });
    expect(await totp.status(pending.id)).toEqual({ totp: 'pending', recoveryCodesLeft: 0 });

    const user = await enrolled();
    const { recoveryCodes } = await totp.regenerateRecoveryCodes(CLI_CTX, user.id);
    expect(recoveryCodes).toHaveLength(10);
    expect(recoveryCodes.filter((c) => user.recoveryCodes.includes(c))).toEqual([]);
    expect(await totp.verify(ctx, user.id, user.recoveryCodes[0]!)).toEqual({ ok: false, reason: 'invalid_code' });
    expect(await totp.verify(ctx, user.id, recoveryCodes[0]!)).toEqual({ ok: true, method: 'recovery' });
    expect((await events('mfa.recovery_codes.regenerated', user.username))[0]).toMatchObject({ outcome: 'success', details: { recoveryCodes: 10 } });
  });

  it('audits every verification once, with who, outcome and reason', async () => {
    const user = await enrolled();
    const code = totpStep(user.secret, step());
    const attempts = [code, code, '000', totpStep(user.secret, step() + 3)];
    for (const attempt of attempts) await totp.verify({ ...ctx, requestId: 'req-1' }, user.id, attempt);
    await totp.verify(ctx, '00000000-0000-4000-8000-000000000000', code);
    const list = (await events('authn.totp', user.username)).slice(0, attempts.length).reverse();
    expect(list.map((e) => [e.outcome, e.reasons[0]!.code])).toEqual([
      ['success', 'totp_ok'],
      ['failure', 'replayed'],
      ['failure', 'invalid_format'],
      ['failure', 'invalid_code'],
    ]);
    for (const e of list) expect(e).toMatchObject({ actor: { type: 'user', id: user.id, name: user.username }, target: { type: 'user', id: user.id }, sourceIp: ctx.sourceIp, protocol: 'oidc', requestId: 'req-1' });
    expect((await events('authn.totp', '00000000-0000-4000-8000-000000000000'))[0]).toMatchObject({ outcome: 'failure', reasons: [{ code: 'no_factor' }], actor: { type: 'anonymous' } });
  });

  it('backs off repeated wrong codes per user, even for the right code, and says when to retry', async () => {
    const throttled = service({ throttle: new Throttle(t.store.ttl, { ...t.config.throttle, freeAttempts: 3, baseDelaySeconds: 30, maxDelaySeconds: 60 }) });
    const user = await enrolled();
    const wrong = (n: number) => String((Number(totpStep(user.secret, step())) + n) % 1_000_000).padStart(6, '0');
    for (let i = 1; i <= 3; i++) expect(await throttled.verify(ctx, user.id, wrong(i * 7919))).toMatchObject({ reason: 'invalid_code' });
    const result = await throttled.verify(ctx, user.id, totpStep(user.secret, step()));
    expect(result).toMatchObject({ ok: false, reason: 'throttled', retryAfterSeconds: expect.any(Number) });
    expect((await events('authn.totp', user.username))[0]).toMatchObject({ outcome: 'failure', reasons: [{ code: 'throttled' }], details: { retryAfterSeconds: expect.any(Number) } });
    // The code was not spent: once the back-off is over (counter cleared here) it still works.
    await t.store.ttl.delete(`throttle:user:totp:${user.id}`);
    expect(await throttled.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: true, method: 'totp' });
  });

  it('checks exactly the free allowance of 100 concurrent wrong codes', async () => {
    const throttled = service({ throttle: new Throttle(t.store.ttl, { ...t.config.throttle, freeAttempts: 3, baseDelaySeconds: 30, maxDelaySeconds: 60 }) });
    const user = await enrolled();
    const wrong = (n: number) => String((Number(totpStep(user.secret, step())) + n) % 1_000_000).padStart(6, '0');
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => throttled.verify(ctx, user.id, wrong((i + 1) * 7919))));
    expect(results.filter((r) => !r.ok && r.reason === 'invalid_code')).toHaveLength(3);
    expect(results.filter((r) => !r.ok && r.reason === 'throttled')).toHaveLength(97);
  });

  it('fails closed, audited as an error, when the seed does not decrypt', async () => {
    const user = await enrolled();
    const wrongKeys = service({ keyring: new Keyring([{ id: 'other', key: randomBytes(32).toString('base64') }]) });
    expect(await wrongKeys.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: false, reason: 'store_unavailable' });
    expect((await events('authn.totp', user.username))[0]).toMatchObject({ outcome: 'error', reasons: [{ code: 'store_unavailable', description: expect.stringContaining("key 'test'") }] });
    // Nothing was spent: the right keyring still accepts the code.
    expect(await totp.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: true, method: 'totp' });
  });

  describe('key rotation', () => {
    const newKey = randomBytes(32).toString('base64');
    const rotatedKeyring = () => new Keyring([{ id: 'next', key: newKey }, { id: 'test', key: TEST_SECRET_KEY }]);

    it('re-encrypts a seed under the primary key after a successful verification', async () => {
      const user = await enrolled();
      const rotating = service({ keyring: rotatedKeyring() });

      expect(await rotating.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: true, method: 'totp' });
      expect((await rawTotpRow(user.id)).seed_encrypted).toMatch(/^v1\.next\./);
      expect((await events('authn.totp', user.username))[0]).toMatchObject({ details: { seedRotated: true } });
      // The old key can go: the seed decrypts under the new one alone, and the factor state is untouched.
      const onlyNew = service({ keyring: new Keyring([{ id: 'next', key: newKey }]) });
      tick();
      expect(await onlyNew.verify(ctx, user.id, totpStep(user.secret, step()))).toEqual({ ok: true, method: 'totp' });
      expect(await totp.status(user.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
      // The bulk pass over every stored secret is `gatehouse keyring reencrypt` (test/cli/keyring.test.ts).
    });
  });
});
