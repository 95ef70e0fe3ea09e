/**
 * The storage backends every storage-touching test runs against: SQLite (a fresh file) and
 * PostgreSQL (a fresh database on the server the global setup found or started).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openStore, type KnexStore } from '../../src/store/open.ts';

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A URL for a fresh, empty store; `drop()` removes it. */
  create(): Promise<{ url: string; drop: () => Promise<void> }>;
}

export const sqlite: Backend = {
  name: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
    return { url: `sqlite:${join(dir, 'gatehouse.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  },
};

export const postgres: Backend = {
  name: 'postgres',
  async create() {
    const admin = inject('pgAdminUrl');
    const name = `gatehouse_test_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`create database ${name}`);
    await client.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      drop: async () => {
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      },
    };
  },
};

export const backends: Backend[] = [sqlite, postgres];

/** A migrated store on a fresh database, and its cleanup. */
export async function freshStore(backend: Backend): Promise<{ store: KnexStore; url: string; cleanup: () => Promise<void> }> {
  const { url, drop } = await backend.create();
  const store = await openStore(url);
  await store.migrate();
  return {
    store,
    url,
    cleanup: async () => {
      await store.close();
      await drop();
    },
  };
}
