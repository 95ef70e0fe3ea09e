/**
 * The audit event catalogue: every event type Gatehouse writes, listed once, so operators can build
 * alerts from it. docs/events.md is generated from this list (`npm run docs`) and a test keeps the
 * two in step. Every event has: id, time, type, actor {type, id, name}, target {type, id, name},
 * sourceIp, protocol, outcome (success | failure | denied | error), reasons [{code, description,
 * policy}], details, requestId.
 */

export interface EventType {
  type: string;
  description: string;
  /** Keys that may appear in `details`. */
  details?: string[];
}

const crud = (kind: string, label: string, extra: EventType[] = []): EventType[] => [
  { type: `${kind}.created`, description: `A ${label} was created.`, details: ['object'] },
  { type: `${kind}.updated`, description: `A ${label} was changed.`, details: ['changed'] },
  { type: `${kind}.deleted`, description: `A ${label} was deleted.` },
  ...extra,
];

export const EVENT_CATALOGUE: readonly EventType[] = [
  {
    type: 'authn.password',
    description: 'A password was checked, on any protocol. outcome success: the password matched an active user; failure: unknown user or wrong password (reason bad_credentials), throttled (reason throttled, details.retryAfterSeconds) or invalid input; denied: the password matched but the user is suspended; error: the store failed and the attempt was refused (fail closed).',
    details: ['username', 'rehashed', 'retryAfterSeconds'],
  },
  {
    type: 'access.decision',
    description: 'The access core decided a request: outcome success (allow) or denied (deny, or a second factor is required: details.decision mfa with details.methods). reasons lists every policy that applied (with its name), the default when none did, least-privilege refusals (not_assigned, unknown_resource) and the risk signals.',
    details: ['decision', 'methods', 'risk', 'networks', 'groups', 'authn', 'device'],
  },
  { type: 'authn.apikey', description: 'A request to the admin API presented a missing, unknown, expired or revoked API key, or one without the scope the request needs (outcome failure or denied). Successful key use is not an event of its own: every change it makes is.', details: ['scope'] },
  ...crud('user', 'user', [
    { type: 'user.password.set', description: 'An administrator set or reset a user\'s password.' },
    { type: 'user.password.rehashed', description: 'A password hash in an old scheme (bcrypt, PBKDF2, {SSHA}) or with old argon2 parameters was upgraded to argon2id at sign-in.', details: ['from'] },
    { type: 'user.suspended', description: 'A user was suspended: every front-end refuses them from then on, and their sessions and tokens are revoked as soon as the change commits.' },
    { type: 'user.activated', description: 'A suspended user was reactivated.' },
  ]),
  ...crud('group', 'group', [
    { type: 'group.member.added', description: 'A user or group became a direct member of a group.', details: ['member', 'memberKind'] },
    { type: 'group.member.removed', description: 'A user or group stopped being a direct member of a group.', details: ['member', 'memberKind'] },
  ]),
  ...crud('application', 'application'),
  ...crud('radius_client', 'RADIUS client'),
  ...crud('network', 'named network'),
  ...crud('device', 'device'),
  ...crud('policy', 'conditional-access policy'),
  { type: 'apikey.created', description: 'An admin API key was created (the secret is shown once and never stored).', details: ['scopes'] },
  { type: 'apikey.revoked', description: 'An admin API key was revoked.' },
  { type: 'config.reconciled', description: 'The objects declared in the configuration file were reconciled into the store, at start or on reload (SIGHUP). Each change is an event of its own as well.', details: ['file', 'created', 'updated', 'deleted'] },
  { type: 'config.rejected', description: 'A configuration reload was refused (invalid file or a conflict with API-managed objects); the last good configuration stays in force.', details: ['file', 'errors'] },
];

const TYPES = new Set(EVENT_CATALOGUE.map((e) => e.type));

export function isKnownEventType(type: string): boolean {
  return TYPES.has(type);
}

/** docs/events.md, generated. */
export function renderEventCatalogue(): string {
  const lines = [
    '# Audit event catalogue',
    '',
    '<!-- Generated from src/audit/catalogue.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every authentication attempt and every administrative change writes exactly one audit event to the',
    'store (in the same transaction as the change) and one JSON log line (`"msg":"audit"`) to standard output.',
    'Query them with `GET /api/v1/audit?user=&type=&outcome=&since=&until=`.',
    '',
    'Fields of every event: `id`, `time` (ISO 8601), `type`, `actor` `{type, id, name}` (type: user, apikey, cli,',
    'config, system, anonymous), `target` `{type, id, name}`, `sourceIp`, `protocol`, `outcome`',
    '(`success`, `failure`, `denied`, `error`), `reasons` `[{code, description, policy}]`, `details`, `requestId`.',
    '',
    '| type | when | details |',
    '|---|---|---|',
    ...EVENT_CATALOGUE.map((e) => `| \`${e.type}\` | ${e.description} | ${(e.details ?? []).map((d) => `\`${d}\``).join(', ')} |`),
    '',
  ];
  return lines.join('\n');
}
