/**
 * The device an EAP-TLS sign-in identified, carried to the network session through the Class
 * attribute (RFC 2865 §5.25): the Access-Accept carries `gatehouse-device:<device id>`, the NAS
 * sends the Class it got back unmodified in every Accounting-Request of the session (RFC 2866 §5.1
 * refers to it), and accounting.ts records the device on the session. The Disconnect worker then
 * judges that device's compliance instead of "any managed device of the person" (PAP names none).
 *
 * The value is trusted as far as the accounting record itself: it comes from the NAS, authenticated
 * by the client's shared secret, and only ever names a device id (a UUID) in a fixed form.
 */
const PREFIX = 'gatehouse-device:';
const PATTERN = /^gatehouse-device:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** The Class value for an Access-Accept naming `deviceId`. */
export function deviceClass(deviceId: string): Buffer {
  return Buffer.from(`${PREFIX}${deviceId}`, 'utf8');
}

/** The device id in the Class values of an Accounting-Request, if one is ours. */
export function deviceFromClass(values: readonly Buffer[]): string | undefined {
  for (const value of values) {
    if (value.length > 64) continue;
    const match = PATTERN.exec(value.toString('latin1'));
    if (match) return match[1];
  }
  return undefined;
}
