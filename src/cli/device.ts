/**
 * `gatehouse device list|add|show|remove|token` and `gatehouse device cert issue|pkcs12|revoke`:
 * devices, their compliance, their client certificates from the device CA, and agent tokens.
 */
import { open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import type { Core } from '../core.ts';
import type { Device } from '../directory/model.ts';
import { DEVICE_PLATFORMS } from '../directory/names.ts';
import type { Compliance } from '../devices/posture.ts';
import type { DeviceCertificateRecord } from '../store/types.ts';
import { collect, defined, listAll } from './args.ts';
import { configFileOf, withCore } from './context.ts';
import { CliError, formatTable, printJson, readNewPassword, readStdin, type CliIo } from './io.ts';

interface AddOptions {
  owner?: string[];
  platform?: string;
  serial?: string;
  managed?: boolean;
}

interface IssueOptions {
  csr: string;
  out?: string;
}

interface Pkcs12Options {
  out: string;
  keyType: 'ec-p256' | 'rsa';
  passwordStdin?: boolean;
}

export function registerDeviceCommands(program: Command, io: CliIo): void {
  const device = program.command('device').description('Manage devices, their client certificates and agent tokens');

  device
    .command('list')
    .description('List devices with their compliance')
    .option('--owner <user>', 'only devices this user owns (username or id)')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { owner?: string; json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const owner = options.owner !== undefined ? (await core.directory.users.find(options.owner)).username : undefined;
        const devices = (await listAll((after) => core.directory.resources.list('devices', defined({ limit: 1000, after })))).filter((d) => owner === undefined || d.owners.includes(owner));
        if (options.json) return printJson(io, devices);
        io.stdout.write(formatTable(
          ['NAME', 'PLATFORM', 'OWNERS', 'MANAGED', 'COMPLIANT', 'LAST SEEN', 'ID'],
          devices.map((d) => [d.name, d.platform, d.owners.join(', '), d.managed ? 'yes' : 'no', core.devices.compliance(d).compliant ? 'yes' : 'no', d.lastSeenAt, d.id]),
        ));
      });
    });

  device
    .command('add')
    .description('Register a device')
    .argument('<name>', 'device name, e.g. the host name (need not be unique: the id printed is)')
    .option('--owner <user>', 'username of a person who uses the device (repeatable)', collect)
    .addOption(new Option('--platform <platform>', 'operating system (default other)').choices(DEVICE_PLATFORMS))
    .option('--serial <serial>', 'hardware serial number (a CSR may then name it as its CN)')
    .option('--managed', 'the device is enrolled in device management; only managed devices can be compliant')
    .action(async (name: string, options: AddOptions, command: Command) => {
      const { DeviceInput } = await import('../directory/model.ts');
      const input = DeviceInput.parse(defined({ name, owners: options.owner, platform: options.platform, serial: options.serial, managed: options.managed }));
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const created = await core.directory.resources.create(audit, 'devices', input);
        const owners = created.owners.length ? `, owned by ${created.owners.join(', ')}` : '';
        io.stdout.write(`created device '${created.name}' (${created.id})${owners}\n`);
      });
    });

  device
    .command('show')
    .description('Show a device: its posture, its compliance verdict with every reason, and its certificates')
    .argument('<device>', 'device id or name')
    .option('--json', 'print JSON')
    .action(async (ref: string, options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        const found = await findDevice(core, ref);
        const compliance = core.devices.compliance(found);
        const certificates = (await core.devices.authority.list(found.id)).map((c) => ({ ...c, status: certificateStatus(c) }));
        if (options.json) return printJson(io, { ...found, compliance, certificates });
        io.stdout.write(renderDevice(found, compliance, certificates));
      });
    });

  device
    .command('remove')
    .description('Delete a device: its certificates and tokens stop identifying it at once')
    .argument('<device>', 'device id or name')
    .action(async (ref: string, _options: unknown, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const target = await findDevice(core, ref);
        const gone = await core.directory.resources.delete(audit, 'devices', target.id);
        io.stdout.write(`removed device '${gone.name}' (${gone.id})\n`);
      });
    });

  device
    .command('token')
    .description('Issue a token for a posture agent on a device without a certificate; printed once, stored only as a hash')
    .argument('<device>', 'device id or name')
    .option('--json', 'print {deviceId, token} as JSON')
    .action(async (ref: string, options: { json?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const found = await findDevice(core, ref);
        const token = await core.devices.issueDeviceToken(audit, found.id);
        if (options.json) return printJson(io, { deviceId: found.id, token });
        io.stdout.write(
          `issued a device token for device '${found.name}' (${found.id}).\n` +
            `The token is shown only this once; store it now:\n\n  ${token}\n\n` +
            `The agent sends it to /device/v1/posture as: Authorization: Device <token>\n`,
        );
      });
    });

  const cert = device.command('cert').description("Issue and revoke devices' client certificates (signed by the device CA: `gatehouse ca show`)");

  cert
    .command('issue')
    .description("Issue a client certificate for the key in a device's certificate request (CSR); prints the certificate (PEM) or writes it to --out")
    .argument('<device>', 'device id or name')
    .requiredOption('--csr <file>', "PKCS#10 certificate request, PEM ('-' reads standard input)")
    .option('--out <file>', 'write the certificate to this new file instead of printing it')
    .addHelpText('after', [
      '',
      'Only the key is taken from the request: Gatehouse sets the subject (CN=<device id>), the name',
      'urn:gatehouse:device:<id> and the extensions. A CN in the request must name this device (its id,',
      'name or serial). Keys: EC P-256 or P-384, RSA of 2048 bits or more. For example:',
      '',
      '  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device.key -subj /CN=laptop -out device.csr',
      '  gatehouse device cert issue laptop --csr device.csr --out device.pem',
    ].join('\n'))
    .action(async (ref: string, options: IssueOptions, command: Command) => {
      const csrPem = options.csr === '-' ? await readStdin(io.stdin) : await readTextFile(options.csr);
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const found = await findDevice(core, ref);
        await core.devices.init();
        if (options.out === undefined) {
          const issued = await core.devices.authority.issueFromCsr(audit, found.id, csrPem);
          io.stdout.write(issued.certificatePem.endsWith('\n') ? issued.certificatePem : `${issued.certificatePem}\n`);
          return;
        }
        const issued = await writeNewFile(options.out, 'public', async () => {
          const result = await core.devices.authority.issueFromCsr(audit, found.id, csrPem);
          return { result, content: result.certificatePem };
        });
        io.stdout.write(`issued certificate ${issued.record.serial} to device '${found.name}' (${found.id}), valid until ${issued.record.notAfter}; wrote ${options.out}\n`);
      });
    });

  cert
    .command('pkcs12')
    .description('Generate a key for a device and issue its certificate, written with the CA certificate to a password-protected PKCS#12 file')
    .argument('<device>', 'device id or name')
    .requiredOption('--out <file>', 'the new .p12 file (mode 0600): the key exists nowhere else')
    .addOption(new Option('--key-type <type>', "'rsa' is 3072 bits, for older supplicants").choices(['ec-p256', 'rsa']).default('ec-p256'))
    .option('--password-stdin', 'read the password from standard input even on a terminal')
    .addHelpText('after', '\nThe password (8-128 printable ASCII characters) is prompted twice on a terminal, else read from\nstandard input. It is never stored.')
    .action(async (ref: string, options: Pkcs12Options, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const found = await findDevice(core, ref); // before asking for a password
        await core.devices.init();
        const issued = await writeNewFile(options.out, 'secret', async () => {
          const password = await readNewPassword(io, options.passwordStdin === true, 'Password for the PKCS#12 file: ');
          const result = await core.devices.authority.issuePkcs12(audit, found.id, password, options.keyType);
          return { result, content: result.pkcs12 };
        });
        io.stdout.write(
          `issued certificate ${issued.record.serial} to device '${found.name}' (${found.id}), valid until ${issued.record.notAfter}; ` +
            `wrote ${options.out} (the key, the certificate and the CA certificate)\n`,
        );
      });
    });

  cert
    .command('revoke')
    .description('Revoke a device certificate: it stops identifying its device at once, everywhere (mTLS, proxy header, EAP-TLS)')
    .argument('<serial>', 'serial number in hex (colons allowed, as openssl prints it)')
    .action(async (serial: string, _options: unknown, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core, audit }) => {
        const revoked = await core.devices.authority.revoke(audit, serial);
        const owner = await core.directory.resources.find('devices', revoked.deviceId);
        io.stdout.write(`revoked certificate ${revoked.serial} of device '${owner.name}' (${owner.id})\n`);
      });
    });
}

/** A device by id, or by name when exactly one device has it (device names need not be unique). */
async function findDevice(core: Core, ref: string): Promise<Device> {
  const named = (await core.directory.resources.all('devices', { q: ref })).filter((d) => d.name === ref);
  if (named.length > 1) throw new CliError(`${named.length} devices are named '${ref}': give the id (${named.map((d) => d.id).join(', ')})`);
  return core.directory.resources.find('devices', ref);
}

function certificateStatus(record: DeviceCertificateRecord, now: Date = new Date()): 'valid' | 'revoked' | 'expired' {
  return record.revokedAt ? 'revoked' : Date.parse(record.notAfter) < now.getTime() ? 'expired' : 'valid';
}

function renderDevice(d: Device, compliance: Compliance, certificates: Array<DeviceCertificateRecord & { status: string }>): string {
  const rows: Array<[string, string]> = [
    ['device', d.name],
    ['id', d.id],
    ['platform', d.platform],
    ['serial', d.serial ?? '-'],
    ['owners', d.owners.length ? d.owners.join(', ') : '-'],
    ['managed', d.managed ? 'yes' : 'no'],
    ['last seen', d.lastSeenAt ?? 'never'],
    ['posture', postureText(d.posture)],
    ['compliant', compliance.compliant ? 'yes' : 'no'],
  ];
  const width = 'certificates'.length + 2;
  const lines = rows.map(([label, value]) => `${label.padEnd(width)}${value}`);
  for (const reason of compliance.reasons) lines.push(`  - ${reason.code}: ${reason.description}`);
  if (!certificates.length) return `${lines.join('\n')}\n${'certificates'.padEnd(width)}none\n`;
  lines.push('', 'certificates');
  return `${lines.join('\n')}\n${formatTable(['SERIAL', 'STATUS', 'NOT AFTER', 'REVOKED'], certificates.map((c) => [c.serial, c.status, c.notAfter, c.revokedAt]))}`;
}

function postureText(p: Device['posture']): string {
  if (p.reportedAt === undefined) return 'never reported';
  const parts: string[] = [];
  if (p.osVersion !== undefined) parts.push(`OS ${p.osVersion}`);
  const flag = (value: boolean | undefined, yes: string, no: string) => value !== undefined && parts.push(value ? yes : no);
  flag(p.diskEncrypted, 'disk encrypted', 'disk not encrypted');
  flag(p.firewall, 'firewall on', 'firewall off');
  flag(p.screenLock, 'screen lock set', 'no screen lock');
  parts.push(`reported ${p.reportedAt}`);
  return parts.join(', ');
}

async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${fileProblem(err)}`);
  }
}

/**
 * Creates `path` (never overwriting a file: a .p12 may hold the only copy of a key) before `make`
 * runs, so a path that cannot be written fails before anything is issued; removes it again if
 * `make` fails. A secret file is readable by its owner only (0600), whatever the umask.
 */
async function writeNewFile<T>(path: string, kind: 'secret' | 'public', make: () => Promise<{ result: T; content: string | Buffer }>): Promise<T> {
  let file: FileHandle;
  try {
    file = await open(path, 'wx', kind === 'secret' ? 0o600 : 0o666);
  } catch (err) {
    throw new CliError(`cannot write ${path}: ${fileProblem(err)}`);
  }
  let written = false;
  try {
    if (kind === 'secret') await file.chmod(0o600);
    const { result, content } = await make();
    await file.writeFile(content);
    written = true;
    return result;
  } finally {
    await file.close();
    if (!written) await unlink(path).catch(() => undefined);
  }
}

function fileProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return 'the file exists already (remove it or choose another name)';
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}
