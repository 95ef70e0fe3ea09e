/**
 * The EAP settings (`radius.eap` in the configuration file): the TLS server certificate the
 * TLS-based methods present (`radius.eap.tls`), fragment size and reassembly cap, and the limits on
 * conversations (RFC 3579 §2.6.1 leaves them to the server; issue 14 asks for caps on rounds,
 * lifetime, half-open conversations in all and per RADIUS client).
 */
import { z } from 'zod';

export const EapConfig = z.strictObject({
  tls: z.strictObject({
    cert: z.string().min(1).describe('PEM file with the server certificate (and its chain) that EAP-TTLS, PEAP and EAP-TLS present; supplicants must be told its CA and name'),
    key: z.string().min(1).describe('PEM file with the private key of `cert`'),
    ca: z.string().min(1).optional().describe('EAP-TLS: PEM file with the CA(s) client certificates must chain to in the handshake. Leave it unset: the Gatehouse device CA is used, and the sign-in accepts only device certificates it issued whatever this says'),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Lowest TLS version accepted (1.0 and 1.1 never are)'),
    maxVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3').describe('Highest TLS version offered (RFC 9190 for EAP-TLS 1.3, RFC 9427 for TTLS and PEAP)'),
  }).optional().describe('The TLS server certificate of the TLS-based EAP methods; without it every EAP request is rejected'),
  fragmentSize: z.int().min(256).max(4000).default(1024).describe('Largest EAP packet carrying TLS data sent to a supplicant (a smaller Framed-MTU from the NAS wins), as FreeRADIUS\'s fragment_size'),
  maxTlsMessage: z.int().min(16_384).max(1_048_576).default(65_536).describe('Largest TLS message a supplicant may send in fragments (its declared TLS Message Length)'),
  conversation: z.strictObject({
    ttlSeconds: z.int().min(5).max(300).default(60).describe('Longest an EAP conversation may take from its first message'),
    maxRounds: z.int().min(4).max(200).default(50).describe('Most Access-Challenge rounds in one conversation (a TLS handshake with a large certificate chain takes about 10)'),
    maxOpen: z.int().min(10).max(100_000).default(4000).describe('Conversations in progress in this process; when full, the oldest is dropped for a new one'),
    maxOpenPerClient: z.int().min(10).max(100_000).default(2000).describe('Conversations in progress per RADIUS client; when full, that client\'s oldest is dropped'),
  }).prefault({}).describe('Limits on EAP conversations (each holds a TLS session in this process\'s memory)'),
}).describe('EAP over RADIUS (RFC 3579) for WPA2/WPA3-Enterprise: EAP-TTLS with inner PAP, PEAPv0 with inner EAP-MSCHAPv2 (the person\'s network password), EAP-TLS with Gatehouse device certificates');

export type EapConfig = z.output<typeof EapConfig>;
export const EAP_DEFAULTS: EapConfig = EapConfig.parse({});
