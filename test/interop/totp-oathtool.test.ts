/**
 * Codes made by OATH Toolkit's `oathtool` (Debian package oathtool), an implementation no one here
 * wrote, verified by the TOTP service: at the current time, with clock skew (`-N`, ±30 s and ±60 s),
 * and replayed. A missing oathtool fails the suite: .ci/run installs it.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpService } from '../../src/mfa/totp.ts';
import { backends } from '../helpers/backends.ts';
import { CLI_CTX, coreFor, type TestCore } from '../helpers/core.ts';

/** `oathtool --totp -b <secret>` at `at` (seconds since the epoch), or now. */
function oathtool(secret: string, at?: number): string {
  const args = ['--totp', '-b', ...(at !== undefined ? ['-N', `@${at}`] : []), secret];
  return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
}

const ctx = { actor: { type: 'anonymous' as const }, protocol: 'radius' };

describe.each(backends)('TOTP codes from oathtool ($name)', (backend) => {
  let t: TestCore;
  let users = 0;
  // A fixed instant ten seconds into a step, for the skew cases.
  let clock = Date.UTC(2032, 5, 1, 8, 30, 10);

  const service = (window = 1, now: () => number = () => clock) =>
    new TotpService({ store: t.store, keyring: t.core.keyring, auditor: t.core.audit, config: { ...t.config.mfa.totp, window }, now });

  /** A user with a confirmed factor whose seed came from the service, confirmed with the oathtool code of `at` (the service's now, in seconds). */
  async function enrolled(totp: TotpService, at: number) {
    const user = await t.core.directory.users.create(CLI_CTX, { username: `oath${++users}`, status: 'active', sshPublicKeys: [], attributes: {} });
    const { secret, uri } = await totp.enrol(CLI_CTX, user.id, user.username);
    expect(new URL(uri).searchParams.get('secret')).toBe(secret);
    await totp.confirm(ctx, user.id, oathtool(secret, at));
    return { id: user.id, secret };
  }

  beforeAll(async () => {
    expect(() => execFileSync('oathtool', ['--version'], { encoding: 'utf8' }), 'oathtool is missing: apt-get install oathtool').not.toThrow();
    t = await coreFor(backend);
  });
  afterAll(async () => t?.cleanup());

  it('accepts the current oathtool code once, on the real clock', async () => {
    const totp = service(1, Date.now);
    const confirmedAt = Math.floor(Date.now() / 1000) - 30;
    const user = await enrolled(service(1, () => confirmedAt * 1000), confirmedAt);
    const code = oathtool(user.secret);
    expect(code).toMatch(/^\d{6}$/);
    expect(await totp.verify(ctx, user.id, code)).toEqual({ ok: true, method: 'totp' });
    expect(await totp.verify(ctx, user.id, code)).toEqual({ ok: false, reason: 'replayed' });
  });

  it.each([
    ['30 s behind', -30, { ok: true, method: 'totp' }],
    ['30 s ahead', 30, { ok: true, method: 'totp' }],
    ['60 s behind', -60, { ok: false, reason: 'invalid_code' }],
    ['60 s ahead', 60, { ok: false, reason: 'invalid_code' }],
  ])('with a window of 1 step, a device clock %s is %o', async (_name, skew, expected) => {
    const totp = service(1);
    const user = await enrolled(totp, clock / 1000);
    clock += 10 * 60_000;
    expect(await totp.verify(ctx, user.id, oathtool(user.secret, clock / 1000 + skew))).toEqual(expected);
  });

  it('with a window of 2 steps accepts ±60 s, and never the same code twice', async () => {
    const totp = service(2);
    const user = await enrolled(totp, clock / 1000);
    clock += 10 * 60_000;
    const behind = oathtool(user.secret, clock / 1000 - 60);
    expect(await totp.verify(ctx, user.id, behind)).toEqual({ ok: true, method: 'totp' });
    expect(await totp.verify(ctx, user.id, behind)).toEqual({ ok: false, reason: 'replayed' });
    const ahead = oathtool(user.secret, clock / 1000 + 60);
    expect(await totp.verify(ctx, user.id, ahead)).toEqual({ ok: true, method: 'totp' });
    // Accepting a code from the future spends every earlier step, the current one included.
    expect(await totp.verify(ctx, user.id, oathtool(user.secret, clock / 1000))).toEqual({ ok: false, reason: 'replayed' });
    expect(await totp.verify(ctx, user.id, oathtool(user.secret, clock / 1000 + 90))).toEqual({ ok: false, reason: 'invalid_code' });
  });

  it('confirms enrolment with an oathtool code and refuses one made from another seed', async () => {
    const totp = service(1);
    clock += 10 * 60_000;
    const user = await t.core.directory.users.create(CLI_CTX, { username: `oath${++users}`, status: 'active', sshPublicKeys: [], attributes: {} });
    await totp.enrol(CLI_CTX, user.id, user.username);
    await expect(totp.confirm(ctx, user.id, oathtool('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', clock / 1000))).rejects.toMatchObject({ code: 'invalid_code' });
    const { secret } = await totp.enrol(CLI_CTX, user.id, user.username);
    expect((await totp.confirm(ctx, user.id, oathtool(secret, clock / 1000))).recoveryCodes).toHaveLength(10);
    expect(await totp.status(user.id)).toEqual({ totp: 'active', recoveryCodesLeft: 10 });
  });
});
