/**
 * Starts a real Gatehouse (real HTTP port, real store) for a test, with fast argon2 parameters.
 */
import { startGatehouse, type Gatehouse } from '../../src/server/start.ts';
import { createLogger } from '../../src/log.ts';
import type { Backend } from './backends.ts';
import { TEST_ADMIN_KEY, testConfig } from './config.ts';

export { FAST_ARGON2, TEST_ADMIN_KEY, TEST_SECRET_KEY, testConfig } from './config.ts';

export interface TestServer {
  gh: Gatehouse;
  url: string;
  adminKey: string;
  /** fetch against the server with the admin key. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

export async function startTestServer(backend: Backend, overrides: Record<string, unknown> = {}, env: Record<string, string | undefined> = {}): Promise<TestServer> {
  const { url, drop } = await backend.create();
  const gh = await startGatehouse({ config: testConfig(url, overrides), env: { GATEHOUSE_ADMIN_KEY: TEST_ADMIN_KEY, ...env }, logger: createLogger('silent') });
  return {
    gh,
    url: gh.httpUrl,
    adminKey: TEST_ADMIN_KEY,
    api(path, init = {}) {
      const { json, headers, ...rest } = init;
      return fetch(`${gh.httpUrl}${path}`, {
        ...rest,
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(headers as Record<string, string> | undefined) },
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
    async stop() {
      await gh.stop();
      await drop();
    },
  };
}
