/** A core over a fresh, migrated store, without any listener (for core-level tests). */
import { ConfigSchema, type Config } from '../../src/front-ends.ts';
import { createCore, type Core } from '../../src/core.ts';
import { createLogger } from '../../src/log.ts';
import { Keyring } from '../../src/secrets/keyring.ts';
import type { KnexStore } from '../../src/store/open.ts';
import { freshStore, type Backend } from './backends.ts';
import { TEST_SECRET_KEY, testConfig } from './config.ts';

export interface TestCore {
  core: Core;
  store: KnexStore;
  config: Config;
  cleanup: () => Promise<void>;
}

export async function coreFor(backend: Backend, overrides: Record<string, unknown> = {}): Promise<TestCore> {
  const { store, url, cleanup } = await freshStore(backend);
  const config = ConfigSchema.parse(testConfig(url, overrides));
  const core = createCore(config, store, new Keyring([{ id: 'test', key: TEST_SECRET_KEY }]), createLogger('silent'));
  return { core, store, config, cleanup };
}

export const CLI_CTX = { actor: { type: 'cli' as const, name: 'tester' } };
