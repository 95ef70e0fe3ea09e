/**
 * The stores a benchmark runs on: a fresh SQLite file, or a fresh database on the PostgreSQL the
 * tests use (GATEHOUSE_TEST_PG_URL, else 127.0.0.1:5432), each dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface StoreTarget {
  label: 'sqlite' | 'postgres';
  url(): Promise<{ url: string; drop: () => Promise<void> }>;
}

const PG_ADMIN = process.env.GATEHOUSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** `prefix` names the temporary directory or database, so a leftover says which benchmark made it. */
export function sqliteTarget(prefix: string): StoreTarget {
  return {
    label: 'sqlite',
    async url() {
      const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
      return { url: `sqlite:${join(dir, 'bench.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  };
}

export function postgresTarget(prefix: string): StoreTarget {
  return {
    label: 'postgres',
    async url() {
      const name = `${prefix.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`;
      const run = async (sql: string) => {
        const c = new pg.Client({ connectionString: PG_ADMIN });
        await c.connect();
        try {
          await c.query(sql);
        } finally {
          await c.end();
        }
      };
      await run(`create database ${name}`);
      const u = new URL(PG_ADMIN);
      u.pathname = `/${name}`;
      return { url: u.toString(), drop: () => run(`drop database if exists ${name} with (force)`) };
    },
  };
}

/** Whether that PostgreSQL answers (the PostgreSQL half of a benchmark is left out otherwise). */
export async function postgresAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}
