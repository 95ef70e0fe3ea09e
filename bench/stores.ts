/**
 * The stores a benchmark runs on: a fresh SQLite file, or a fresh database on the PostgreSQL the
 * tests use (GATEHOUSE_TEST_PG_URL, else 127.0.0.1:5432), each dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger } from '../src/log.ts';
import { startGatehouse, type Gatehouse } from '../src/server/start.ts';

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

/**
 * A Gatehouse on a fresh store of the target, started by start() and dropped with its store by
 * stop(): loopback, no LDAP listener, silent, production argon2 parameters (the schema's defaults),
 * no throttling in the way; `config` adds to that (e.g. a `directory` to declare).
 */
export function benchServer(target: StoreTarget, config: Record<string, unknown> = {}) {
  let gh: Gatehouse | undefined;
  let drop: () => Promise<void> = async () => undefined;
  const adminKey = randomBytes(32).toString('base64url');
  return {
    /** The admin API key (Authorization: Bearer). */
    adminKey,
    get gh(): Gatehouse {
      if (!gh) throw new Error('the benchmark server is not started');
      return gh;
    },
    async start(): Promise<void> {
      const created = await target.url();
      drop = created.drop;
      gh = await startGatehouse({
        config: {
          server: { http: { host: '127.0.0.1', port: 0 } },
          ldap: { enabled: false },
          storage: { url: created.url },
          secrets: { keys: [{ id: 'b', key: randomBytes(32).toString('base64') }] },
          log: { level: 'silent' },
          throttle: { freeAttempts: 1000, freeAttemptsPerIp: 100_000 },
          ...config,
        },
        env: { GATEHOUSE_ADMIN_KEY: adminKey },
        logger: createLogger('silent'),
      });
    },
    async stop(): Promise<void> {
      await gh?.stop();
      await drop();
    },
  };
}
