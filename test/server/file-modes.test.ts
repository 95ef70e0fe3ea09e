/**
 * The files of a SQLite store and the generated secret key are the server user's alone: the
 * directories Gatehouse creates are 0700, the database with its -wal and -shm files and the key file
 * 0600 — set explicitly, so it holds with a umask of 0 (the tests run with one). Directories that
 * exist already keep their mode; files that exist already (an earlier version's) are made private.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startGatehouse } from '../../src/server/start.ts';
import { openStore } from '../../src/store/open.ts';
import { TEST_ADMIN_KEY, testConfig } from '../helpers/config.ts';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('file modes of the SQLite store and the generated key', () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-modes-'));
    umask = process.umask(0);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it('openStore: the directories it creates 0700; the database, -wal and -shm 0600', async () => {
    const file = join(dir, 'data', 'nested', 'gatehouse.db');
    const store = await openStore(`sqlite:${file}`);
    try {
      await store.migrate();
      await store.ttl.put('written', 1, 60);
      expect(modeOf(join(dir, 'data'))).toBe('700');
      expect(modeOf(join(dir, 'data', 'nested'))).toBe('700');
      for (const path of [file, `${file}-wal`, `${file}-shm`]) expect(modeOf(path), path).toBe('600');
    } finally {
      await store.close();
    }
  });

  it('openStore: an existing directory keeps its mode; existing files are made 0600', async () => {
    const shared = join(dir, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    const file = join(shared, 'gatehouse.db');
    // What an earlier version left: a database and empty -wal and -shm files readable by everyone.
    const first = await openStore(`sqlite:${file}`);
    await first.migrate();
    await first.close();
    for (const path of [`${file}-wal`, `${file}-shm`]) writeFileSync(path, '');
    for (const path of [file, `${file}-wal`, `${file}-shm`]) chmodSync(path, 0o644);

    const store = await openStore(`sqlite:${file}`);
    try {
      await store.ttl.put('written', 1, 60);
      expect(modeOf(shared)).toBe('755');
      for (const path of [file, `${file}-wal`, `${file}-shm`]) expect(modeOf(path), path).toBe('600');
    } finally {
      await store.close();
    }
  });

  it('gatehouse start with no configured key: data and key directories 0700, key file and database 0600', async () => {
    const data = join(dir, 'data');
    const keys = join(dir, 'keys');
    const config = testConfig(`sqlite:${join(data, 'gatehouse.db')}`, { secrets: { keys: [], keyFile: join(keys, 'secret.key') } });
    const gh = await startGatehouse({ config, env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY }, logger: createLogger('silent') });
    try {
      expect((await fetch(`${gh.httpUrl}/readyz`)).status).toBe(200);
      expect(modeOf(data)).toBe('700');
      expect(modeOf(keys)).toBe('700');
      expect(modeOf(join(keys, 'secret.key'))).toBe('600');
      for (const name of ['gatehouse.db', 'gatehouse.db-wal', 'gatehouse.db-shm']) expect(modeOf(join(data, name)), name).toBe('600');
    } finally {
      await gh.stop();
    }
  });
});
