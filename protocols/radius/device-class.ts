/**
 * The device an EAP-TLS sign-in identified, and the certificate it was identified by, carried to
 * the network session through the Class attribute (RFC 2865 §5.25): the Access-Accept carries
 * `gatehouse-device:<device id>;serial=<certificate serial, hex>`, the NAS sends the Class it got
 * back unmodified in every Accounting-Request of the session (RFC 2866 §5.1 refers to it), and
 * accounting.ts records both on the session. The Disconnect worker then judges that device's
 * compliance instead of "any managed device of the person" (PAP names none), and ends the session
 * when that certificate is revoked, while the device's sessions on another certificate stay up.
 * A Class without the serial (`gatehouse-device:<device id>`, from an Access-Accept of an older
 * Gatehouse) still names the device.
 *
 * The value is trusted as far as the accounting record itself: it comes from the NAS, authenticated
 * by the client's shared secret, and only ever names a device id (a UUID) and a serial (at most 64
 * hex digits, as the device CA records them) in a fixed form.
 */
const PREFIX = 'gatehouse-device:';
const PATTERN = /^gatehouse-device:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:;serial=([0-9a-f]{1,64}))?$/;
/** Longer than any value of ours (17 + 36 + 8 + 64 octets). */
const MAX_LENGTH = 128;

/** The Class value for an Access-Accept naming `deviceId` and, when known, the certificate `serial`. */
export function deviceClass(deviceId: string, serial?: string): Buffer {
  return Buffer.from(`${PREFIX}${deviceId}${serial ? `;serial=${serial}` : ''}`, 'utf8');
}

/** The device id (and certificate serial) in the Class values of an Accounting-Request, if one is ours. */
export function deviceFromClass(values: readonly Buffer[]): { deviceId: string; certificateSerial?: string } | undefined {
  for (const value of values) {
    if (value.length > MAX_LENGTH) continue;
    const match = PATTERN.exec(value.toString('latin1'));
    if (match) return { deviceId: match[1]!, ...(match[2] ? { certificateSerial: match[2] } : {}) };
  }
  return undefined;
}
