/**
 * The ordered list of migrations. Listing them here (instead of letting knex scan the folder) keeps
 * the order explicit and works wherever the code is loaded from.
 */
import type { Knex } from 'knex';
import * as directory from './20261123_001_directory.ts';
import * as access from './20261123_002_access.ts';
import * as oidc from './20261123_003_oidc.ts';
import * as auditRequest from './20261123_004_audit_request.ts';
import * as oidcHashedIds from './20261124_005_oidc_hashed_ids.ts';
import * as networkSessions from './20261203_006_network_sessions.ts';
import * as networkPasswords from './20261203_007_network_passwords.ts';
import * as networkSessionCertificate from './20261203_008_network_session_certificate.ts';
import * as networkSessionDeviceIndex from './20261203_009_network_session_device_index.ts';
import * as auditIndexes from './20261204_010_audit_indexes.ts';
import * as kvPartialIndexes from './20261204_011_kv_partial_indexes.ts';

export const migrations: ReadonlyArray<{ name: string; migration: Knex.Migration }> = [
  { name: '20261123_001_directory', migration: directory },
  { name: '20261123_002_access', migration: access },
  { name: '20261123_003_oidc', migration: oidc },
  { name: '20261123_004_audit_request', migration: auditRequest },
  { name: '20261124_005_oidc_hashed_ids', migration: oidcHashedIds },
  { name: '20261203_006_network_sessions', migration: networkSessions },
  { name: '20261203_007_network_passwords', migration: networkPasswords },
  { name: '20261203_008_network_session_certificate', migration: networkSessionCertificate },
  { name: '20261203_009_network_session_device_index', migration: networkSessionDeviceIndex },
  { name: '20261204_010_audit_indexes', migration: auditIndexes },
  { name: '20261204_011_kv_partial_indexes', migration: kvPartialIndexes },
];
