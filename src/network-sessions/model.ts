/**
 * A network session: a person's VPN or WiFi session as RADIUS accounting (RFC 2866) reports it, and
 * the state of the Disconnect / CoA request (RFC 5176) Gatehouse sent to end it. One schema serves
 * the store's records, the admin API and the portal.
 */
import { z } from 'zod';

export const DisconnectState = z.enum(['pending', 'sending', 'acked', 'nak', 'timeout', 'failed']).describe(
  'pending: waiting for a process running the RADIUS front-end; sending: claimed by one; acked: the NAS ended the session (Disconnect-ACK / CoA-ACK); ' +
    'nak: the NAS refused (details.errorCause); timeout: no answer after every retransmission; failed: it could not be sent (the RADIUS client is gone, no address)',
);
export type DisconnectState = z.infer<typeof DisconnectState>;

/** Why Gatehouse asked a NAS to end a session. */
export const DisconnectReason = z.enum(['admin', 'user_suspended', 'user_deleted', 'not_assigned', 'device_noncompliant', 'certificate_revoked', 'device_deleted', 'certificate_expired']);
export type DisconnectReason = z.infer<typeof DisconnectReason>;

export const NetworkSession = z.object({
  id: z.string().describe('Gatehouse id of the session (UUID)'),
  client: z.string().describe('The RADIUS client (NAS) that reported it, by name'),
  nasIdentifier: z.string().optional().describe('NAS-Identifier'),
  nasIpAddress: z.string().optional().describe('NAS-IP-Address (or NAS-IPv6-Address)'),
  acctSessionId: z.string().describe('Acct-Session-Id: unique per NAS'),
  acctMultiSessionId: z.string().optional().describe('Acct-Multi-Session-Id: links the sessions of one multilink connection'),
  username: z.string().describe('User-Name as the NAS sent it'),
  userId: z.string().optional().describe('The user that name belonged to when the session was recorded'),
  deviceId: z.string().optional().describe('The device the sign-in identified, if any'),
  certificateSerial: z.string().optional().describe('The serial of the device certificate the sign-in presented (EAP-TLS): its revocation ends the session'),
  nasPort: z.number().optional().describe('NAS-Port'),
  nasPortId: z.string().optional().describe('NAS-Port-Id'),
  framedIpAddress: z.string().optional().describe('Framed-IP-Address: the address the person got'),
  callingStationId: z.string().optional().describe('Calling-Station-Id: where the person connects from (a MAC or phone number)'),
  calledStationId: z.string().optional().describe('Called-Station-Id: what they connected to (an SSID, a number)'),
  inputOctets: z.number().describe('Bytes from the person (Acct-Input-Octets with Acct-Input-Gigawords)'),
  outputOctets: z.number().describe('Bytes to the person (Acct-Output-Octets with Acct-Output-Gigawords)'),
  inputPackets: z.number(),
  outputPackets: z.number(),
  sessionTime: z.number().describe('Acct-Session-Time, seconds'),
  startedAt: z.string(),
  updatedAt: z.string().describe('The last accounting record'),
  stoppedAt: z.string().optional(),
  terminateCause: z.string().optional().describe("Acct-Terminate-Cause as named in RFC 2866 §5.10, or 'NAS-Reboot' (Accounting-On/Off) or 'Stale' (no accounting for too long)"),
  live: z.boolean(),
  disconnect: z
    .object({
      state: DisconnectState,
      reason: DisconnectReason,
      requestedBy: z.string().optional(),
      requestedAt: z.string(),
      attempts: z.number(),
      completedAt: z.string().optional(),
      detail: z.string().optional().describe('Error-Cause of a NAK, or why it failed'),
    })
    .optional()
    .describe('The last request to end the session'),
});
export type NetworkSession = z.infer<typeof NetworkSession>;

/** The values an Accounting-Request carries, parsed and checked at the edge (protocols/radius/accounting.ts). */
export interface AccountingValues {
  username: string;
  acctMultiSessionId?: string | undefined;
  nasPort?: number | undefined;
  nasPortId?: string | undefined;
  framedIpAddress?: string | undefined;
  callingStationId?: string | undefined;
  calledStationId?: string | undefined;
  inputOctets?: number | undefined;
  outputOctets?: number | undefined;
  inputPackets?: number | undefined;
  outputPackets?: number | undefined;
  sessionTime?: number | undefined;
  terminateCause?: string | undefined;
}
