/**
 * Password verification through the core (throttle check, user lookup, verify, audit event) and user
 * creation through the admin API over HTTP (validation, policy, hash, transaction, audit), each
 * against the raw cost of one argon2id operation with the same parameters, on each store.
 */
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { DEFAULT_ARGON2 } from '../src/credentials/password.ts';
import type { Benchmark } from './run.ts';
import { benchServer, postgresAvailable, postgresTarget, sqliteTarget, type StoreTarget } from './stores.ts';

const PASSWORD = 'violet-harbour-lantern-91';
const ARGON2ID = 2 as never;
const argon2Options = { algorithm: ARGON2ID, memoryCost: DEFAULT_ARGON2.memoryKiB, timeCost: DEFAULT_ARGON2.iterations, parallelism: DEFAULT_ARGON2.parallelism };

const sqlite = sqliteTarget('gatehouse-bench');
const postgres = postgresTarget('gatehouse_bench');

const server = (target: StoreTarget) => benchServer(target);

function benchmarksFor(target: StoreTarget): Benchmark[] {
  const verifyServer = server(target);
  let reference = '';
  const createServer = server(target);
  let counter = 0;
  return [
    {
      name: `password verification, core (${target.label})`,
      reference: 'one argon2id verify',
      batch: 8,
      async setup() {
        await verifyServer.start();
        await verifyServer.gh.core.directory.users.create({ actor: { type: 'system' } }, { username: 'verifier', status: 'active', sshPublicKeys: [], attributes: {}, password: PASSWORD });
        reference = await argon2Hash(PASSWORD, argon2Options);
      },
      async subject(n) {
        for (let i = 0; i < n; i++) {
          const result = await verifyServer.gh.core.passwords.authenticate({ username: 'verifier', password: PASSWORD, context: { actor: { type: 'anonymous' }, sourceIp: '127.0.0.1', protocol: 'bench' } });
          if (result.outcome !== 'success') throw new Error(`verification failed: ${JSON.stringify(result.reasons)}`);
        }
      },
      async baseline(n) {
        for (let i = 0; i < n; i++) if (!(await argon2Verify(reference, PASSWORD))) throw new Error('reference verify failed');
      },
      teardown: () => verifyServer.stop(),
    },
    {
      name: `admin API user creation, HTTP (${target.label})`,
      reference: 'one argon2id hash',
      batch: 8,
      setup: () => createServer.start(),
      async subject(n) {
        for (let i = 0; i < n; i++) {
          const response = await fetch(`${createServer.gh.httpUrl}/api/v1/users`, {
            method: 'POST',
            headers: { authorization: `Bearer ${createServer.adminKey}`, 'content-type': 'application/json' },
            body: JSON.stringify({ username: `user${counter++}`, email: `user${counter}@bench.example`, password: PASSWORD, groups: [] }),
          });
          if (response.status !== 201) throw new Error(`POST /users answered ${response.status}: ${await response.text()}`);
        }
      },
      async baseline(n) {
        for (let i = 0; i < n; i++) await argon2Hash(PASSWORD, argon2Options);
      },
      teardown: () => createServer.stop(),
    },
  ];
}

const withPostgres = await postgresAvailable();
if (!withPostgres) process.stderr.write('no PostgreSQL answers on 127.0.0.1:5432 (or GATEHOUSE_TEST_PG_URL): the PostgreSQL rows are left out\n');
export const benchmarks: Benchmark[] = [...benchmarksFor(sqlite), ...(withPostgres ? benchmarksFor(postgres) : [])];
