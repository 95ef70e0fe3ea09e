/**
 * Request controls on every operation (RFC 4511 §4.1.11), over raw sockets so that any control can
 * be sent and every response byte checked: a control with no value (SSSD's password policy request
 * on every bind) never costs the connection; a critical control that does not apply gets
 * unavailableCriticalExtension (12) and nothing else happens; a non-critical one is ignored; the
 * password policy response control (draft-behera-ldap-password-policy-10 §6.2) on binds and on
 * Password Modify.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeControls, DecodeError, splitRequest } from '../../protocols/ldap/decode.ts';
import { ApplicationInput } from '../../src/directory/model.ts';
import { backends, sqlite } from '../helpers/backends.ts';
import { CLI_CTX } from '../helpers/core.ts';
import { bindOp, compareOp, controls, deleteOp, extendedOp, passwdModifyValue, RawClient, request, searchOp, tlv, type Control } from './raw.ts';
import { BASE, dnOf, PASSWORD, seed, startLdap, type LdapFixture } from './support.ts';
import { tlsFiles, type TlsFiles } from './tls-support.ts';

const PPOLICY = '1.3.6.1.4.1.42.2.27.8.5.1';
const MANAGE_DSA_IT = '2.16.840.1.113730.3.4.2';
const RELAX = '1.3.6.1.4.1.4203.666.5.12';
const PAGED = '1.2.840.113556.1.4.319';
const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';
const PASSWORD_MODIFY = '1.3.6.1.4.1.4203.1.11.1';
const START_TLS = '1.3.6.1.4.1.1466.20037';
const MADE_UP = '1.2.3.4.5';

/** The `[0] Controls` of a response holding one password policy response control with `value` (hex). */
function ppolicyControls(valueHex: string): string {
  const value = Buffer.from(valueHex, 'hex');
  return controls([{ type: PPOLICY, value }]).toString('hex');
}
/** PasswordPolicyResponseValue: an empty SEQUENCE, or with `error [1] ENUMERATED` (draft-behera §6.2). */
const NO_ERROR = '3000';
const error = (code: number) => `30038101${code.toString(16).padStart(2, '0')}`;

describe('decoding controls', () => {
  it('reads controls with and without criticality and value, and keeps the rest of the message for the codec', () => {
    const bind = bindOp(dnOf('alice'), PASSWORD);
    const frame = request(7, bind, [{ type: PPOLICY }, { type: MADE_UP, critical: true, value: Buffer.from('xyz') }]);
    const split = splitRequest(frame);
    expect(split).toMatchObject({ messageId: 7, op: 0x60 });
    expect(split.controls).toEqual([{ type: PPOLICY, criticality: false }, { type: MADE_UP, criticality: true, value: Buffer.from('xyz') }]);
    expect(split.message.toString('hex')).toBe(request(7, bind).toString('hex'));
    // Without controls the frame goes to the codec as it is.
    expect(splitRequest(request(7, bind)).message.toString('hex')).toBe(request(7, bind).toString('hex'));
  });

  it('refuses malformed controls: a criticality that is not one octet, trailing bytes, a value that is not an OCTET STRING', () => {
    const control = (...parts: Buffer[]) => tlv(0xa0, tlv(0x30, tlv(0x04, Buffer.from(MADE_UP)), ...parts));
    expect(() => decodeControls(control(tlv(0x01)), 0, control(tlv(0x01)).length)).toThrow(DecodeError);
    expect(() => decodeControls(control(tlv(0x04), tlv(0x04)), 0, control(tlv(0x04), tlv(0x04)).length)).toThrow(DecodeError);
    expect(() => decodeControls(control(tlv(0x02, Buffer.from([1]))), 0, control(tlv(0x02, Buffer.from([1]))).length)).toThrow(DecodeError);
  });
});

describe.each(backends)('LDAP request controls ($name)', (backend) => {
  let t: LdapFixture;
  let port: number;
  beforeAll(async () => {
    t = await startLdap(backend);
    port = t.address.port;
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  const whoAmI = async (c: RawClient, id: number, list: Control[] = []) => c.exchange(id, extendedOp(WHO_AM_I), list);

  it('binds with the password policy request control (no value, as SSSD sends it) and answers with its response control', async () => {
    const c = await RawClient.open(port);
    const bound = await c.exchange(1, bindOp(dnOf('alice'), PASSWORD), [{ type: PPOLICY }]);
    expect(bound).toMatchObject({ type: 'BindResponse', status: 0 });
    // The whole response: LDAPResult success, then [0] Controls { { controlType, controlValue 30 00 } },
    // criticality left out (RFC 4511 §5.1: its DEFAULT FALSE).
    expect(bound!.bytes.toString('hex')).toBe(`302f020101` + `61070a010004000400` + ppolicyControls(NO_ERROR));
    // The connection goes on: the control cost nothing.
    expect(await whoAmI(c, 2, [{ type: PPOLICY }])).toMatchObject({ status: 0, responseValue: `dn:${dnOf('alice')}` });
    // Not asked for, no response control, whatever the outcome.
    const plain = await c.exchange(3, bindOp(dnOf('alice'), PASSWORD));
    expect(plain).toMatchObject({ status: 0 });
    expect(plain!.controls).toBeUndefined();
    const wrong = await c.exchange(4, bindOp(dnOf('alice'), 'not the password'));
    expect(wrong).toMatchObject({ status: 49 });
    expect(wrong!.controls).toBeUndefined();
    c.close();
  });

  it('says no error to a wrong password, and accountLocked to a suspended account with the right one', async () => {
    const c = await RawClient.open(port);
    const right = await c.exchange(1, bindOp(dnOf('carol'), PASSWORD), [{ type: PPOLICY }]);
    expect(right).toMatchObject({ status: 49, diagnosticMessage: 'invalid credentials' });
    expect(right!.controls!.toString('hex')).toBe(ppolicyControls(error(1)));
    // Only the right password learns the account is locked.
    const wrong = await c.exchange(2, bindOp(dnOf('carol'), 'not the password'), [{ type: PPOLICY }]);
    expect(wrong).toMatchObject({ status: 49, diagnosticMessage: 'invalid credentials' });
    expect(wrong!.controls!.toString('hex')).toBe(ppolicyControls(NO_ERROR));
    c.close();
  });

  it('refuses a critical control it does not know with 12, without performing the operation; ignores it when not critical', async () => {
    const c = await RawClient.open(port);
    expect(await c.exchange(1, bindOp(dnOf('alice'), PASSWORD))).toMatchObject({ status: 0 });
    // A bind with an unknown critical control is not performed: alice stays bound (RFC 4511 §4.1.11).
    const refused = await c.exchange(2, bindOp(dnOf('bob'), PASSWORD), [{ type: MADE_UP, critical: true }]);
    expect(refused).toMatchObject({ type: 'BindResponse', status: 12, diagnosticMessage: `unsupported critical control ${MADE_UP}` });
    expect(await whoAmI(c, 3)).toMatchObject({ responseValue: `dn:${dnOf('alice')}` });
    expect(await c.exchange(4, bindOp(dnOf('bob'), PASSWORD), [{ type: MADE_UP, value: Buffer.from('anything') }])).toMatchObject({ status: 0 });
    expect(await whoAmI(c, 5)).toMatchObject({ responseValue: `dn:${dnOf('bob')}` });
    // Every other operation: search, extended, compare, a write.
    const search = await c.exchange(6, searchOp(''), [{ type: MADE_UP, critical: true }]);
    expect(search).toMatchObject({ type: 'SearchResultDone', status: 12 });
    expect(await whoAmI(c, 7, [{ type: MADE_UP, critical: true }])).toMatchObject({ type: 'ExtensionResponse', status: 12 });
    expect(await c.exchange(8, compareOp(dnOf('bob'), 'uid', 'bob'), [{ type: MADE_UP, critical: true }])).toMatchObject({ type: 'CompareResponse', status: 12 });
    expect(await c.exchange(9, deleteOp(dnOf('bob')), [{ type: MADE_UP, critical: true }])).toMatchObject({ type: 'DeleteResponse', status: 12 });
    // Not critical, the same operations are answered as usual.
    expect(await c.exchange(10, searchOp(''), [{ type: MADE_UP }])).toMatchObject({ type: 'SearchResultEntry' });
    expect(await c.response(10)).toMatchObject({ type: 'SearchResultDone', status: 0 });
    expect(await c.exchange(11, compareOp(dnOf('bob'), 'uid', 'bob'), [{ type: MADE_UP }])).toMatchObject({ status: 53 });
    expect(await c.exchange(12, deleteOp(dnOf('bob')), [{ type: MADE_UP }])).toMatchObject({ status: 50 });
    expect(c.closed).toBe(false);
    c.close();
  });

  it('accepts ManageDsaIT on every operation, even critical (no referrals here: nothing to do, RFC 3296)', async () => {
    const c = await RawClient.open(port);
    const critical = [{ type: MANAGE_DSA_IT, critical: true }];
    expect(await c.exchange(1, bindOp(dnOf('alice'), PASSWORD), critical)).toMatchObject({ status: 0 });
    expect(await whoAmI(c, 2, critical)).toMatchObject({ status: 0, responseValue: `dn:${dnOf('alice')}` });
    expect(await c.exchange(3, searchOp(dnOf('alice')), critical)).toMatchObject({ type: 'SearchResultEntry' });
    expect(await c.response(3)).toMatchObject({ status: 0 });
    c.close();
  });

  it('refuses Relax critical (it applies to updates, which LDAP does not take here), and ignores it otherwise', async () => {
    const c = await RawClient.open(port);
    expect(await c.exchange(1, bindOp(dnOf('alice'), PASSWORD), [{ type: RELAX, critical: true }])).toMatchObject({ status: 12 });
    expect(await whoAmI(c, 2, [{ type: RELAX, critical: true }])).toMatchObject({ status: 12 });
    expect(await c.exchange(3, bindOp(dnOf('alice'), PASSWORD), [{ type: RELAX }])).toMatchObject({ status: 0 });
    expect(await whoAmI(c, 4, [{ type: RELAX }])).toMatchObject({ status: 0, responseValue: `dn:${dnOf('alice')}` });
    c.close();
  });

  it('refuses a known control critical on an operation it does not apply to', async () => {
    const c = await RawClient.open(port);
    const bound = await c.exchange(1, bindOp(dnOf('alice'), PASSWORD), [{ type: PAGED, critical: true, value: tlv(0x30, tlv(0x02, Buffer.from([5])), tlv(0x04)) }]);
    expect(bound).toMatchObject({ status: 12, diagnosticMessage: `critical control ${PAGED} does not apply to this operation` });
    expect(await c.exchange(2, searchOp(''), [{ type: PPOLICY, critical: true }])).toMatchObject({ type: 'SearchResultDone', status: 12 });
    expect(await whoAmI(c, 3, [{ type: PPOLICY, critical: true }])).toMatchObject({ status: 12 });
    c.close();
  });

  it('ignores controls the codec knows with values it would not take (paged results, sorting, VLV, persistent search)', async () => {
    const c = await RawClient.open(port);
    const odd: Control[] = [
      { type: PAGED },
      { type: '1.2.840.113556.1.4.473' },
      { type: '2.16.840.1.113730.3.4.9', value: Buffer.from('not BER') },
      { type: '2.16.840.1.113730.3.4.3' },
    ];
    expect(await c.exchange(1, bindOp(dnOf('alice'), PASSWORD), odd)).toMatchObject({ status: 0 });
    expect(await whoAmI(c, 2, odd)).toMatchObject({ status: 0, responseValue: `dn:${dnOf('alice')}` });
    c.close();
  });

  it('refuses StartTLS with a critical control it does not know (12), before anything else', async () => {
    const c = await RawClient.open(port);
    expect(await c.exchange(1, extendedOp(START_TLS), [{ type: MADE_UP, critical: true }])).toMatchObject({ status: 12 });
    // No ldap.tls here: without the control, unavailable (52).
    expect(await c.exchange(2, extendedOp(START_TLS), [{ type: MADE_UP }])).toMatchObject({ status: 52 });
    c.close();
  });

  it('closes the connection (protocolError) on malformed controls: a criticality that is not one octet', async () => {
    const c = await RawClient.open(port);
    const bad = Buffer.concat([tlv(0x02, Buffer.from([1])), bindOp(dnOf('alice'), PASSWORD), tlv(0xa0, tlv(0x30, tlv(0x04, Buffer.from(MADE_UP)), tlv(0x01)))]);
    c.send(tlv(0x30, bad));
    expect(await c.response(0)).toMatchObject({ type: 'ExtensionResponse', status: 2 });
    expect(await c.closedWithin(2000)).toBe(true);
  });
});

describe.each(backends)('LDAP password policy response: backed off ($name)', (backend) => {
  let t: LdapFixture;
  beforeAll(async () => {
    // One free failure, then a minute's back-off.
    t = await startLdap(backend, {}, { throttle: { freeAttempts: 1, baseDelaySeconds: 60 } });
    await seed(t.core);
  });
  afterAll(async () => t?.stop());

  it('says accountLocked while the account is backed off, even to the right password', async () => {
    const c = await RawClient.open(t.address.port);
    const wrong = await c.exchange(1, bindOp(dnOf('dave'), 'not the password'), [{ type: PPOLICY }]);
    expect(wrong).toMatchObject({ status: 49 });
    expect(wrong!.controls!.toString('hex')).toBe(ppolicyControls(NO_ERROR));
    const locked = await c.exchange(2, bindOp(dnOf('dave'), PASSWORD), [{ type: PPOLICY }]);
    expect(locked).toMatchObject({ status: 49, diagnosticMessage: 'invalid credentials' });
    expect(locked!.controls!.toString('hex')).toBe(ppolicyControls(error(1)));
    // Without the request control, the refusal looks as it always did.
    const plain = await c.exchange(3, bindOp(dnOf('dave'), PASSWORD));
    expect(plain).toMatchObject({ status: 49, diagnosticMessage: 'invalid credentials' });
    expect(plain!.controls).toBeUndefined();
    c.close();
  });
});

describe('LDAP password policy response on Password Modify (sqlite)', () => {
  let t: LdapFixture;
  let files: TlsFiles;
  const SECRET = 'the-service-secret-0123456789abcdefghij';
  beforeAll(async () => {
    files = await tlsFiles();
    t = await startLdap(sqlite, { tls: files.tls, ldapsPort: 0 }, { passwords: { policy: { history: 2 } } });
    await seed(t.core);
    await t.core.directory.resources.create(CLI_CTX, 'applications', ApplicationInput.parse({ name: 'nas', secret: SECRET, settings: { ldap: { scope: { subtree: true } } } }));
  });
  afterAll(async () => {
    await t?.stop();
    files?.remove();
  });

  const passwd = (c: RawClient, id: number, value: { oldPasswd?: string; newPasswd?: string }, list: Control[] = [{ type: PPOLICY }]) =>
    c.exchange(id, extendedOp(PASSWORD_MODIFY, passwdModifyValue(value)), list);

  it("answers the policy's objection: too short, in history, insufficient quality, old password missing; and no error on success", async () => {
    const c = await RawClient.openTls(t.ldap.ldapsAddress!.port, files.ca);
    expect(await c.exchange(1, bindOp(dnOf('alice'), PASSWORD), [{ type: PPOLICY }])).toMatchObject({ status: 0 });
    const short = await passwd(c, 2, { oldPasswd: PASSWORD, newPasswd: 'short' });
    expect(short).toMatchObject({ type: 'ExtensionResponse', status: 19 });
    expect(short!.controls!.toString('hex')).toBe(ppolicyControls(error(6)));
    const quality = await passwd(c, 3, { oldPasswd: PASSWORD, newPasswd: 'alice in wonderland, forever' });
    expect(quality).toMatchObject({ status: 19 });
    expect(quality!.controls!.toString('hex')).toBe(ppolicyControls(error(5)));
    const missing = await passwd(c, 4, { newPasswd: 'a perfectly fine new passphrase' });
    expect(missing).toMatchObject({ status: 53 });
    expect(missing!.controls!.toString('hex')).toBe(ppolicyControls(error(4)));
    const next = 'a perfectly fine new passphrase';
    const changed = await passwd(c, 5, { oldPasswd: PASSWORD, newPasswd: next });
    expect(changed).toMatchObject({ status: 0 });
    // The whole response: ExtendedResponse success with no responseName or value (RFC 3062), then the control.
    expect(changed!.bytes.toString('hex')).toBe(`302f020105` + `78070a010004000400` + ppolicyControls(NO_ERROR));
    const reused = await passwd(c, 6, { oldPasswd: next, newPasswd: PASSWORD });
    expect(reused).toMatchObject({ status: 19 });
    expect(reused!.controls!.toString('hex')).toBe(ppolicyControls(error(8)));
    // Not asked for, no control.
    const plain = await passwd(c, 7, { oldPasswd: next, newPasswd: 'short' }, []);
    expect(plain).toMatchObject({ status: 19 });
    expect(plain!.controls).toBeUndefined();
    c.close();
  });

  it('says passwordModNotAllowed to a service account', async () => {
    const c = await RawClient.openTls(t.ldap.ldapsAddress!.port, files.ca);
    expect(await c.exchange(1, bindOp(`cn=nas,ou=services,${BASE}`, SECRET))).toMatchObject({ status: 0 });
    const refused = await passwd(c, 2, { oldPasswd: SECRET, newPasswd: 'a perfectly fine new passphrase' });
    expect(refused).toMatchObject({ status: 53 });
    expect(refused!.controls!.toString('hex')).toBe(ppolicyControls(error(3)));
    c.close();
  });
});
