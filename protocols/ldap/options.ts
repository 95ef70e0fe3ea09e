/**
 * The LDAP front-end's settings: the `ldap` section of the configuration file, defined here with
 * every option's default and description (docs/configuration.md is generated from it).
 */
import { z } from 'zod';
import { GroupName } from '../../src/directory/model.ts';

const port = z.int().min(0).max(65535);

const LdapTls = z.strictObject({
  certFile: z.string().describe('Server certificate chain (PEM)'),
  keyFile: z.string().describe('Server private key (PEM)'),
});

export const LdapConfig = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve the LDAP directory front-end (read-only directory and simple bind for servers, file shares and legacy apps)'),
  host: z.string().default('127.0.0.1').describe("Address the LDAP listeners bind to; '0.0.0.0' or '::' for all interfaces (configure `tls` and set `requireTls` before leaving a trusted network)"),
  port: port.default(3389).describe('LDAP port (0 picks a free port; 389 needs privileges)'),
  baseDn: z.string().trim().regex(/^[A-Za-z][A-Za-z0-9-]*=[^,=+]+(,\s*[A-Za-z][A-Za-z0-9-]*=[^,=+]+)*$/, 'must be a DN such as dc=example,dc=com').default('dc=example,dc=com').describe('Naming context: users are uid=<username>,ou=people,<baseDn>, groups cn=<name>,ou=groups,<baseDn>'),
  loginAttributes: z.array(z.enum(['uid', 'mail'])).default(['uid', 'mail']).describe('How a bind name that is not a DN (a bare username or e-mail address) is looked up, in order'),
  otpSeparator: z.string().max(8).default('').describe("Between the password and an appended 6-digit TOTP code in the bind password, when a policy demands MFA ('' = none: the last 6 digits)"),
  anonymous: z.boolean().default(false).describe('Accept anonymous binds (RFC 4513 §5.1.1); refused with inappropriateAuthentication (48) when false. Anonymous clients see only the root DSE either way'),
  readGroups: z.array(GroupName).default(['ldap-readers']).describe('Members of these groups (nested membership counts) may read the whole tree; other users see only their own entry and their groups'),
  sizeLimit: z.int().min(1).max(1_000_000).default(1000).describe('At most this many entries per search; more gets sizeLimitExceeded'),
  timeLimitSeconds: z.number().min(0.001).max(3600).default(10).describe('At most this many seconds per search, even when the client asks for no limit (the lower of this and the timeLimit of the request applies); more gets timeLimitExceeded (3)'),
  maxFilterDepth: z.int().min(1).max(1000).default(32).describe('Deepest nesting of and/or/not in a search filter; deeper gets unwillingToPerform (53)'),
  maxFilterElements: z.int().min(1).max(100_000).default(1000).describe('Most elements (and/or/not and comparisons) in a search filter; more gets unwillingToPerform (53)'),
  maxEntriesExamined: z.int().min(1).max(10_000_000).default(100_000).describe('At most this many entries examined per search (the candidates an equality index gives, else every entry in scope), however few match; past it the search ends with adminLimitExceeded (11), keeping the entries already sent'),
  refreshSeconds: z.number().min(0).max(3600).default(1).describe('Searches read an in-memory copy of the directory: changes made through this process show at the next search; changes made by another Gatehouse process on the same store show within this many seconds (0: the store is checked before every search)'),
  maxMessageBytesBeforeBind: z.int().min(1024).max(16 * 1024 * 1024).default(16 * 1024).describe('Largest LDAP message accepted before a successful bind; larger closes the connection'),
  maxMessageBytes: z.int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024).describe('Largest LDAP message accepted after a successful bind'),
  idleTimeoutSeconds: z.number().min(0.1).max(86_400).default(300).describe('Connections are closed after this many seconds without any traffic (before the first successful bind, idleTimeoutBeforeBindSeconds applies too)'),
  idleTimeoutBeforeBindSeconds: z.number().min(0.1).max(86_400).default(30).describe('A connection that has not bound successfully yet (as a person or a service account: an anonymous bind does not count) is closed after this many seconds without an operation that succeeded; operations refused with an error do not keep it open. After a successful bind, idleTimeoutSeconds applies'),
  readTimeoutSeconds: z.number().min(0.1).max(3600).default(10).describe('A message must arrive whole within this many seconds of its first byte; a slower client is disconnected (protocolError), however steadily it trickles'),
  writeTimeoutSeconds: z.number().min(0.1).max(3600).default(30).describe('A client that reads none of its responses for this many seconds while the server has more to send is disconnected (what is waiting for it stays bounded meanwhile: the connection is neither read nor searched further)'),
  maxConnections: z.int().min(1).default(1000).describe('Open LDAP connections in all; more are refused'),
  maxConnectionsPerIp: z.int().min(1).default(50).describe('Open LDAP connections from one client address; more are refused'),
  maxUnauthenticatedConnections: z.int().min(1).default(200).describe('Open LDAP connections that have not bound successfully yet (anonymous ones included), in all; more are refused, so clients that hold connections without binding cannot keep out those that bind. A connection leaves this count at its first successful bind'),
  maxUnauthenticatedConnectionsPerIp: z.int().min(1).default(20).describe('Open LDAP connections that have not bound successfully yet, from one client address; more are refused (raise it for a client that opens many connections at once before binding them, such as a connection pool filled in one go)'),
  maxOutstanding: z.int().min(1).max(1000).default(16).describe('Operations one connection may have in progress; more get busy (51)'),
  tls: LdapTls.optional().describe('Certificate for StartTLS (RFC 4511 §4.14) and LDAPS; without it StartTLS answers unavailable (52)'),
  ldapsPort: port.optional().describe('Also serve LDAP over TLS from the first byte (LDAPS) on this port, same host (636 needs privileges; 0 picks a free port); needs `tls`'),
  requireTls: z.boolean().default(false).describe('Refuse binds and searches on a clear connection with confidentialityRequired (13), except the root DSE (clients read it to find StartTLS); needs `tls`'),
}).refine((l) => l.ldapsPort === undefined || l.tls !== undefined, { message: 'ldap.ldapsPort needs ldap.tls', path: ['ldapsPort'] })
  .refine((l) => !l.requireTls || l.tls !== undefined, { message: 'ldap.requireTls needs ldap.tls (otherwise no bind could ever succeed)', path: ['requireTls'] })
  .describe('The LDAP front-end (RFC 4511): simple bind through the access policies (resource `ldap`), read-only search');

export type LdapConfig = z.output<typeof LdapConfig>;
export type LdapOptions = Omit<LdapConfig, 'enabled'>;

/** The defaults, from the schema (tests start from these). */
export const LDAP_DEFAULTS: LdapOptions = LdapConfig.parse({});
