/**
 * `gatehouse network`, `device`, `device cert` and `ca` commands, in-process, against both backends:
 * what they print, and what the core then sees (certificates identify the device, tokens work,
 * changes are audited with the CLI actor).
 */
import { createSecureContext } from 'node:tls';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.ts';
import type { Device } from '../../src/directory/model.ts';
import { backends } from '../helpers/backends.ts';
import { makeCsr } from '../helpers/pki.ts';
import { cliFixture, run, type CliFixture } from './helpers.ts';

const ID = '[0-9a-f-]{36}';
const REPORT = { osVersion: '14.5', diskEncrypted: true, firewall: true, screenLock: true };
/** A line of `device show`: the label in a column of 14. */
const row = (label: string, value: string) => `${label.padEnd(14)}${value}\n`;

describe('gatehouse --help for networks, devices and the CA', () => {
  it('lists the commands, and each has its own help', async () => {
    const help = await run(['--help']);
    for (const command of ['network', 'device', 'ca']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const device = await run(['device', '--help']);
    for (const command of ['list', 'add', 'show', 'remove', 'token', 'cert']) expect(device.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const cert = await run(['device', 'cert', '--help']);
    for (const command of ['issue', 'pkcs12', 'revoke']) expect(cert.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect((await run(['device', 'cert', 'pkcs12', '--help'])).stdout).toMatch(/--out <file>[\s\S]*--key-type[\s\S]*--password-stdin/);
    expect((await run(['network', 'add', '--help'])).stdout).toMatch(/--cidr <cidr>[\s\S]*--risky/);
  });
});

describe.each(backends)('gatehouse network, device and ca commands on $name', (backend) => {
  let fx: CliFixture;
  beforeEach(async () => {
    fx = await cliFixture(backend);
    expect((await fx.cli(['migrate'])).code).toBe(0);
  });
  afterEach(async () => {
    await fx.cleanup();
  });

  /** The core with its device CA loaded. */
  const withDevices = <T>(work: (core: Core) => Promise<T>) => fx.withCore(async (core) => {
    await core.devices.init();
    return work(core);
  });
  const events = (type: string) => fx.withCore(async (core) => (await core.audit.query({ type, limit: 100 })).items);
  const addDevice = async (...argv: string[]): Promise<string> => {
    const added = await fx.cli(['device', 'add', ...argv]);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    return new RegExp(`\\((${ID})\\)`).exec(added.stdout)![1]!;
  };
  const certificates = (deviceId: string) => fx.withCore((core) => core.devices.authority.list(deviceId));

  describe('networks', () => {
    it('network add, list and remove; a bad CIDR is refused with the schema message and nothing is created', async () => {
      const office = await fx.cli(['network', 'add', 'office', '--cidr', '10.0.0.0/8', '--cidr', '2001:db8::/32', '--cidr', '192.0.2.7', '--description', 'Head office']);
      expect(office).toMatchObject({ code: 0, stderr: '' });
      expect(office.stdout).toMatch(new RegExp(`^created network 'office' \\(${ID}\\): 10\\.0\\.0\\.0/8, 2001:db8::/32, 192\\.0\\.2\\.7/32\\n$`));
      expect((await fx.cli(['network', 'add', 'tor', '--cidr', '203.0.113.0/24', '--risky'])).stdout).toMatch(/^created network 'tor' .*: 203\.0\.113\.0\/24, risky\n$/);

      const cases: Array<[string[], RegExp]> = [
        [['network', 'add', 'lab', '--cidr', '10.0.0.300/8'], /^gatehouse: cidrs\[0\]: '10\.0\.0\.300\/8' is not an IPv4\/IPv6 address or CIDR\n$/],
        [['network', 'add', 'lab', '--cidr', '10.0.0.0/8', '--cidr', '172.16.0.1/12'], /^gatehouse: cidrs\[1\]: '172\.16\.0\.1\/12' has host bits set \(the network is 172\.16\.0\.0\/12\)\n$/],
        [['network', 'add', 'Lab Net', '--cidr', '10.0.0.0/8'], /^gatehouse: name: .*\n$/],
        [['network', 'add', 'office', '--cidr', '10.0.0.0/8'], /^gatehouse: .*'office' already exists\n$/],
      ];
      for (const [argv, message] of cases) {
        const refused = await fx.cli(argv);
        expect(refused).toMatchObject({ code: 1, stdout: '' });
        expect(refused.stderr).toMatch(message);
      }
      const missing = await fx.cli(['network', 'add', 'lab']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^gatehouse: required option '--cidr <cidr>' not specified/);

      const table = await fx.cli(['network', 'list']);
      expect(table).toMatchObject({ code: 0, stderr: '' });
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+CIDRS\s+RISKY\s+MANAGED BY\s+DESCRIPTION$/);
      expect(lines[1]).toMatch(/^office\s+10\.0\.0\.0\/8, 2001:db8::\/32, 192\.0\.2\.7\/32\s+no\s+api\s+Head office$/);
      expect(lines[2]).toMatch(/^tor\s+203\.0\.113\.0\/24\s+yes\s+api\s+-$/);
      const names = async () => (JSON.parse((await fx.cli(['network', 'list', '--json'])).stdout) as Array<{ name: string }>).map((n) => n.name);
      expect(await names()).toEqual(['office', 'tor']);
      expect((await events('network.created'))[0]).toMatchObject({ actor: { type: 'cli' }, target: { type: 'network', name: 'tor' } });

      expect(await fx.cli(['network', 'remove', 'office'])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`^removed network 'office' \\(${ID}\\)\\n$`)) });
      expect(await names()).toEqual(['tor']);
      expect((await events('network.deleted'))[0]).toMatchObject({ actor: { type: 'cli' }, target: { name: 'office' } });
      expect(await fx.cli(['network', 'remove', 'office'])).toMatchObject({ code: 1, stdout: '', stderr: "gatehouse: network 'office' not found\n" });
    });
  });

  describe('devices', () => {
    it('device add, list (by owner) and show with the compliance verdict, its reasons and the certificates', async () => {
      expect((await fx.cli(['user', 'add', 'alice'])).code).toBe(0);
      const added = await fx.cli(['device', 'add', 'laptop', '--owner', 'Alice', '--platform', 'macos', '--serial', 'C02XYZ', '--managed']);
      expect(added).toMatchObject({ code: 0, stderr: '' });
      expect(added.stdout).toMatch(new RegExp(`^created device 'laptop' \\(${ID}\\), owned by alice\\n$`));
      const laptop = new RegExp(`\\((${ID})\\)`).exec(added.stdout)![1]!;
      const phone = await addDevice('phone', '--platform', 'ios');
      expect((await events('device.created'))[0]).toMatchObject({ actor: { type: 'cli' }, target: { type: 'device', id: phone } });

      // Refusals: one line, nothing created.
      const unknownOwner = await fx.cli(['device', 'add', 'tablet', '--owner', 'nobody']);
      expect(unknownOwner).toMatchObject({ code: 1, stdout: '' });
      expect(unknownOwner.stderr).toMatch(/^gatehouse: .*nobody.*\n$/);
      expect((await fx.cli(['device', 'add', 'tablet', '--platform', 'beos'])).code).toBe(2);
      expect((await fx.cli(['device', 'add', ' '])).stderr).toMatch(/^gatehouse: name: .*\n$/);

      const table = await fx.cli(['device', 'list']);
      expect(table).toMatchObject({ code: 0, stderr: '' });
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+PLATFORM\s+OWNERS\s+MANAGED\s+COMPLIANT\s+LAST SEEN\s+ID$/);
      expect(lines.slice(1)).toEqual([
        expect.stringMatching(new RegExp(`^laptop\\s+macos\\s+alice\\s+yes\\s+no\\s+-\\s+${laptop}$`)),
        expect.stringMatching(new RegExp(`^phone\\s+ios\\s+-\\s+no\\s+no\\s+-\\s+${phone}$`)),
      ]);
      const listed = async (...args: string[]) => (JSON.parse((await fx.cli(['device', 'list', '--json', ...args])).stdout) as Device[]).map((d) => d.name);
      expect(await listed()).toEqual(['laptop', 'phone']);
      expect(await listed('--owner', 'alice')).toEqual(['laptop']);
      expect(await fx.cli(['device', 'list', '--owner', 'nobody'])).toMatchObject({ code: 1, stderr: "gatehouse: user 'nobody' not found\n" });

      const before = await fx.cli(['device', 'show', 'laptop']);
      expect(before).toMatchObject({ code: 0, stderr: '' });
      expect(before.stdout).toContain(row('id', laptop));
      expect(before.stdout).toContain(row('serial', 'C02XYZ'));
      expect(before.stdout).toContain(row('owners', 'alice'));
      expect(before.stdout).toContain(row('posture', 'never reported'));
      expect(before.stdout).toContain(`${row('compliant', 'no')}  - no_posture: the device has never reported its posture\n`);
      expect(before.stdout).toMatch(/\ncertificates  none\n$/);

      // After a good check-in and a certificate, by id.
      await withDevices(async (core) => {
        await core.devices.checkIn({ actor: { type: 'device', id: laptop } }, laptop, REPORT, 'token');
        await core.devices.authority.issueFromCsr({ actor: { type: 'cli' } }, laptop, (await makeCsr('ec-p256', 'CN=laptop')).csrPem);
      });
      const after = await fx.cli(['device', 'show', laptop]);
      expect(after.stdout).toMatch(/\nposture {7}OS 14\.5, disk encrypted, firewall on, screen lock set, reported \S+\n/);
      expect(after.stdout).toContain(row('compliant', 'yes'));
      expect(after.stdout).toMatch(/certificates\nSERIAL\s+STATUS\s+NOT AFTER\s+REVOKED\n[0-9a-f]{32}\s+valid\s+\S+\s+-\n$/);
      const json = JSON.parse((await fx.cli(['device', 'show', 'phone', '--json'])).stdout) as { id: string; compliance: { compliant: boolean; reasons: Array<{ code: string }> }; certificates: unknown[] };
      expect(json).toMatchObject({ id: phone, compliance: { compliant: false }, certificates: [] });
      expect(json.compliance.reasons.map((r) => r.code)).toEqual(['unmanaged', 'no_posture', 'disk_not_encrypted', 'no_screen_lock']);

      expect(await fx.cli(['device', 'show', 'nope'])).toMatchObject({ code: 1, stdout: '', stderr: "gatehouse: device 'nope' not found\n" });
    });

    it('a name shared by two devices must be given as an id; device remove deletes one', async () => {
      const first = await addDevice('kiosk');
      const second = await addDevice('kiosk');
      const ambiguous = await fx.cli(['device', 'show', 'kiosk']);
      expect(ambiguous).toMatchObject({ code: 1, stdout: '' });
      expect(ambiguous.stderr).toBe(`gatehouse: 2 devices are named 'kiosk': give the id (${[first, second].sort().join(', ')})\n`);
      expect((await fx.cli(['device', 'remove', 'kiosk'])).code).toBe(1);

      expect(await fx.cli(['device', 'remove', first])).toMatchObject({ code: 0, stderr: '', stdout: `removed device 'kiosk' (${first})\n` });
      expect((await events('device.deleted'))[0]).toMatchObject({ actor: { type: 'cli' }, target: { id: first } });
      expect((await fx.cli(['device', 'show', 'kiosk'])).stdout).toContain(row('id', second));
      expect(await fx.cli(['device', 'remove', first])).toMatchObject({ code: 1, stderr: `gatehouse: device '${first}' not found\n` });
    });
  });

  describe('certificates', () => {
    it('cert issue from a CSR file: the certificate identifies the device; revoke makes it refused', async () => {
      const laptop = await addDevice('laptop', '--managed');
      const csrFile = join(fx.dir, 'laptop.csr');
      writeFileSync(csrFile, (await makeCsr('ec-p256', 'CN=laptop')).csrPem);

      const issued = await fx.cli(['device', 'cert', 'issue', 'laptop', '--csr', csrFile]);
      expect(issued).toMatchObject({ code: 0, stderr: '' });
      expect(issued.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
      const identified = await withDevices((core) => core.devices.authority.identify(issued.stdout));
      expect(identified).toMatchObject({ ok: true, device: { id: laptop } });
      const serial = identified.ok ? identified.certificate.serial : '';
      expect((await events('device.certificate.issued'))[0]).toMatchObject({ actor: { type: 'cli' }, target: { id: laptop }, details: { serial, format: 'csr' } });

      // To a new file; from standard input.
      const out = join(fx.dir, 'laptop.pem');
      const written = await fx.cli(['device', 'cert', 'issue', laptop, '--csr', '-', '--out', out], { stdin: (await makeCsr('ec-p384', '')).csrPem });
      expect(written).toMatchObject({ code: 0, stderr: '' });
      expect(written.stdout).toMatch(new RegExp(`^issued certificate [0-9a-f]{32} to device 'laptop' \\(${laptop}\\), valid until \\S+; wrote ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n$`));
      expect(await withDevices((core) => core.devices.authority.identify(readFileSync(out, 'utf8')))).toMatchObject({ ok: true, device: { id: laptop } });
      expect(await certificates(laptop)).toHaveLength(2);

      // Refusals: one line each, no certificate issued, no file left behind.
      const refusals: Array<[string[], string | undefined, RegExp]> = [
        [['device', 'cert', 'issue', 'laptop', '--csr', csrFile, '--out', out], undefined, /^gatehouse: cannot write .*laptop\.pem: the file exists already \(remove it or choose another name\)\n$/],
        [['device', 'cert', 'issue', 'laptop', '--csr', join(fx.dir, 'none.csr')], undefined, /^gatehouse: cannot read .*none\.csr: no such file or directory\n$/],
        [['device', 'cert', 'issue', 'laptop', '--csr', '-', '--out', join(fx.dir, 'other.pem')], (await makeCsr('ec-p256', 'CN=phone')).csrPem, /^gatehouse: csr: the CSR asks for CN="phone", which is not this device .*\n$/],
        [['device', 'cert', 'issue', 'laptop', '--csr', '-'], 'not a csr', /^gatehouse: csr: the CSR is not PEM.*\n$/],
        [['device', 'cert', 'issue', 'phone', '--csr', csrFile], undefined, /^gatehouse: device 'phone' not found\n$/],
      ];
      for (const [argv, stdin, message] of refusals) {
        const refused = await fx.cli(argv, stdin === undefined ? {} : { stdin });
        expect(refused).toMatchObject({ code: 1, stdout: '' });
        expect(refused.stderr).toMatch(message);
      }
      expect(existsSync(join(fx.dir, 'other.pem'))).toBe(false);
      expect(await certificates(laptop)).toHaveLength(2);
      expect((await fx.cli(['device', 'cert', 'issue', 'laptop'])).code).toBe(2); // no --csr

      // Revoked (the serial as openssl prints it): refused at once.
      const colons = serial.toUpperCase().match(/../g)!.join(':');
      expect(await fx.cli(['device', 'cert', 'revoke', colons])).toMatchObject({ code: 0, stderr: '', stdout: `revoked certificate ${serial} of device 'laptop' (${laptop})\n` });
      expect(await withDevices((core) => core.devices.authority.identify(issued.stdout))).toMatchObject({ ok: false, reason: 'revoked' });
      expect((await events('device.certificate.revoked'))[0]).toMatchObject({ actor: { type: 'cli' }, details: { serial } });
      const again = await fx.cli(['device', 'cert', 'revoke', serial]);
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toMatch(new RegExp(`^gatehouse: certificate ${serial} was revoked already .*\\n$`));
      expect(await fx.cli(['device', 'cert', 'revoke', 'abcdef'])).toMatchObject({ code: 1, stderr: "gatehouse: certificate 'abcdef' not found\n" });
      expect((await fx.cli(['device', 'show', 'laptop'])).stdout).toMatch(new RegExp(`\\n${serial}\\s+revoked\\s+\\S+\\s+\\S+\\n`));
    });

    it('cert pkcs12 writes a password-protected file with mode 0600; a weak password leaves nothing behind', async () => {
      const phone = await addDevice('phone', '--platform', 'ios');
      const out = join(fx.dir, 'phone.p12');
      const written = await fx.cli(['device', 'cert', 'pkcs12', 'phone', '--out', out], { stdin: 'correct horse 42\n' });
      expect(written).toMatchObject({ code: 0, stderr: '' });
      expect(written.stdout).toMatch(new RegExp(`^issued certificate [0-9a-f]{32} to device 'phone' \\(${phone}\\), valid until \\S+; wrote .*phone\\.p12 \\(the key, the certificate and the CA certificate\\)\\n$`));
      expect(statSync(out).mode & 0o777).toBe(0o600);
      // Node's TLS stack opens it with the password, and only with it.
      const pfx = readFileSync(out);
      expect(() => createSecureContext({ pfx, passphrase: 'correct horse 42' })).not.toThrow();
      expect(() => createSecureContext({ pfx, passphrase: 'wrong password' })).toThrow(/mac verify failure/i);
      const [record] = await certificates(phone);
      expect(record).toMatchObject({ deviceId: phone });
      expect(await withDevices((core) => core.devices.authority.identify(record!.certificatePem))).toMatchObject({ ok: true, device: { id: phone } });
      expect((await events('device.certificate.issued'))[0]).toMatchObject({ actor: { type: 'cli' }, details: { format: 'pkcs12', keyType: 'ec-p256' } });

      const other = join(fx.dir, 'other.p12');
      const weak = await fx.cli(['device', 'cert', 'pkcs12', 'phone', '--out', other, '--password-stdin'], { stdin: 'short\n' });
      expect(weak).toMatchObject({ code: 1, stdout: '', stderr: 'gatehouse: password: the PKCS#12 password must be at least 8 characters\n' });
      expect(existsSync(other)).toBe(false);
      const exists = await fx.cli(['device', 'cert', 'pkcs12', 'phone', '--out', out], { stdin: 'correct horse 42\n' });
      expect(exists).toMatchObject({ code: 1, stdout: '' });
      expect(exists.stderr).toMatch(/the file exists already/);
      expect(readFileSync(out).equals(pfx)).toBe(true);
      expect(await certificates(phone)).toHaveLength(1);
      expect((await fx.cli(['device', 'cert', 'pkcs12', 'phone', '--out', other, '--key-type', 'dsa'], { stdin: 'correct horse 42' })).code).toBe(2);
      expect((await fx.cli(['device', 'cert', 'pkcs12', 'phone'], { stdin: 'correct horse 42' })).code).toBe(2); // no --out
    });
  });

  it('device token prints a new token once, and it identifies the device', async () => {
    const laptop = await addDevice('laptop');
    const issued = await fx.cli(['device', 'token', 'laptop']);
    expect(issued).toMatchObject({ code: 0, stderr: '' });
    const tokens = issued.stdout.match(/ghd_[A-Za-z0-9_-]+/g)!;
    expect(tokens).toHaveLength(1);
    expect(issued.stdout).toContain(`issued a device token for device 'laptop' (${laptop})`);
    expect(issued.stdout).toContain('shown only this once');
    expect((await fx.withCore((core) => core.devices.deviceForToken(tokens[0]!)))?.id).toBe(laptop);
    expect((await events('device.token.issued'))[0]).toMatchObject({ actor: { type: 'cli' }, target: { id: laptop } });

    const json = JSON.parse((await fx.cli(['device', 'token', laptop, '--json'])).stdout) as { deviceId: string; token: string };
    expect(json.deviceId).toBe(laptop);
    expect(json.token).not.toBe(tokens[0]);
    expect((await fx.withCore((core) => core.devices.deviceForToken(json.token)))?.id).toBe(laptop);
    expect(await fx.cli(['device', 'token', 'nope'])).toMatchObject({ code: 1, stderr: "gatehouse: device 'nope' not found\n" });
  });

  it('ca show prints the device CA certificate (PEM), the same on every run; --crl the CRL', async () => {
    const shown = await fx.cli(['ca', 'show']);
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
    expect((await fx.cli(['ca', 'show'])).stdout).toBe(shown.stdout);
    expect(await withDevices(async (core) => core.devices.authority.certificatePem.trimEnd())).toBe(shown.stdout.trimEnd());
    expect((await events('device.ca.created'))).toHaveLength(1);
    const crl = await fx.cli(['ca', 'show', '--crl']);
    expect(crl).toMatchObject({ code: 0, stderr: '' });
    expect(crl.stdout).toMatch(/^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
  });
});
