/** Admin API keys: made with a secret shown once (only its SHA-256 is stored), verified, revoked. */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { AuditContext } from '../audit/audit.ts';
import { hashSecret } from '../secrets/digest.ts';
import type { ListQuery, Page, StoredApiKey } from '../store/types.ts';
import { DirectoryPart, findByRef, whenForced, type WriteOptions } from './common.ts';
import type { ApiKey, ApiKeyInput, ApiScope, ManagedBy } from './model.ts';

const API_KEY_PREFIX = 'ghk_';

function withoutHash(key: StoredApiKey): ApiKey {
  const { secretHash: _h, ...rest } = key;
  return rest;
}

export class ApiKeys extends DirectoryPart {
  async list(query: ListQuery = {}): Promise<Page<ApiKey>> {
    const page = await this.dir.apiKeys.list(query);
    return { ...page, items: page.items.map(withoutHash) };
  }

  async byName(name: string): Promise<ApiKey | undefined> {
    const key = await this.dir.apiKeys.findByName(name);
    return key ? withoutHash(key) : undefined;
  }

  /** Creates a key; the secret is returned once and only its SHA-256 is stored. */
  async create(ctx: AuditContext, input: z.output<typeof ApiKeyInput>, secret?: string, managedBy: ManagedBy = 'api'): Promise<{ apiKey: ApiKey; secret: string }> {
    const token = secret ?? `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const apiKey = await this.change(ctx, async (tx, emit) => {
      const created = await tx.apiKeys.create({ name: input.name, scopes: [...new Set(input.scopes)], prefix: token.slice(0, 12), secretHash: hashSecret(token), ...(input.expiresAt ? { expiresAt: new Date(input.expiresAt).toISOString() } : {}) }, managedBy);
      await emit({ type: 'apikey.created', outcome: 'success', target: { type: 'apikey', id: created.id, name: created.name }, details: { scopes: created.scopes } });
      return created;
    });
    return { apiKey: withoutHash(apiKey), secret: token };
  }

  /**
   * A key the environment keeps (GATEHOUSE_ADMIN_KEY, managed by 'config') comes back at the next
   * start: revoking it needs WriteOptions.force. @throws ManagedByConfigError
   */
  async revoke(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<ApiKey> {
    const key = await findByRef(this.dir.apiKeys, ref, 'API key');
    const forced = this.declared.check(ctx, key.managedBy, `API key '${key.name}'`, 'revoke', options, 'environment');
    return this.change(ctx, async (tx, emit) => {
      const gone = await tx.apiKeys.delete(key.id);
      await emit({ type: 'apikey.revoked', outcome: 'success', target: { type: 'apikey', id: gone.id, name: gone.name }, ...whenForced(forced) });
      return withoutHash(gone);
    });
  }

  /** The key a bearer token belongs to, if it is live and has the scope; else why not. */
  async verify(token: string, scope: ApiScope): Promise<{ ok: true; apiKey: ApiKey } | { ok: false; code: 'unknown' | 'expired' | 'scope'; apiKey?: ApiKey }> {
    const hash = hashSecret(token);
    const key = await this.dir.apiKeys.findBySecretHash(hash);
    // The lookup is by hash of a 256-bit secret; the compare is belt and braces.
    if (!key || !timingSafeEqual(Buffer.from(key.secretHash), Buffer.from(hash))) return { ok: false, code: 'unknown' };
    const apiKey = withoutHash(key);
    if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return { ok: false, code: 'expired', apiKey };
    if (!key.scopes.includes(scope)) return { ok: false, code: 'scope', apiKey };
    return { ok: true, apiKey };
  }
}
