/** ldap.tls and ldap.ldapsPort as `gatehouse start` wires them: both listeners, and the schema's checks. */
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema, configWarnings } from '../../src/front-ends.ts';
import { sqlite } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { tlsFiles, type TlsFiles } from './tls-support.ts';

const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';

describe('LDAPS and StartTLS in a running Gatehouse', () => {
  let s: TestServer;
  let files: TlsFiles;
  beforeAll(async () => {
    files = await tlsFiles();
    s = await startTestServer(sqlite, { ldap: { tls: files.tls, ldapsPort: 0, requireTls: true } });
  });
  afterAll(async () => {
    await s?.stop();
    files?.remove();
  });

  it('lists an ldap:// and an ldaps:// listener', () => {
    const names = s.gh.listeners.map((l) => l.url);
    expect(names).toEqual(expect.arrayContaining([expect.stringMatching(/^ldap:\/\/127\.0\.0\.1:\d+$/), expect.stringMatching(/^ldaps:\/\/127\.0\.0\.1:\d+$/)]));
    expect(s.gh.listeners.find((l) => l.url.startsWith('ldap://'))!.name).toContain('StartTLS required');
  });

  it('answers over LDAPS', async () => {
    const url = s.gh.listeners.find((l) => l.url.startsWith('ldaps://'))!.url;
    const c = new Client({ url, tlsOptions: { ca: [files.ca] } });
    try {
      expect((await c.exop(WHO_AM_I)).value ?? '').toBe('');
    } finally {
      await c.unbind().catch(() => undefined);
    }
  });
});

describe('ldap TLS settings', () => {
  it('refuses ldapsPort or requireTls without tls', () => {
    expect(ConfigSchema.safeParse({ ldap: { ldapsPort: 636 } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ ldap: { requireTls: true } }).success).toBe(false);
    expect(ConfigSchema.safeParse({ ldap: { tls: { certFile: 'c', keyFile: 'k' }, ldapsPort: 636, requireTls: true } }).success).toBe(true);
  });

  it('warns about clear binds on a non-local listener unless TLS is required', () => {
    const warn = (ldap: Record<string, unknown>) => configWarnings(ConfigSchema.parse({ ldap: { host: '0.0.0.0', ...ldap } })).filter((w) => w.includes('LDAP'));
    expect(warn({})).toHaveLength(1);
    expect(warn({ tls: { certFile: 'c', keyFile: 'k' } })[0]).toContain('requireTls');
    expect(warn({ tls: { certFile: 'c', keyFile: 'k' }, requireTls: true })).toEqual([]);
  });
});
