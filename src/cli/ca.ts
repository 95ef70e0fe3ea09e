/** `gatehouse ca show`: the device certificate authority that signs device certificates. */
import type { Command } from 'commander';
import { configFileOf, withCore } from './context.ts';
import type { CliIo } from './io.ts';

export function registerCaCommands(program: Command, io: CliIo): void {
  const ca = program.command('ca').description('The device certificate authority');

  ca
    .command('show')
    .description('Print the device CA certificate (PEM): what TLS listeners, RADIUS servers and clients trust for device certificates')
    .option('--crl', 'print the current CRL of revoked device certificates (PEM, valid for a day) instead')
    .addHelpText('after', '\nThe CA is created on the first start (or by this command on a new store), its key encrypted with secrets.keys.')
    .action(async (options: { crl?: boolean }, command: Command) => {
      await withCore(io, configFileOf(command), async ({ core }) => {
        await core.devices.init();
        const pem = options.crl ? await core.devices.authority.crlPem() : core.devices.authority.certificatePem;
        io.stdout.write(pem.endsWith('\n') ? pem : `${pem}\n`);
      });
    });
}
