/**
 * What the pieces of the OpenID Connect front-end share: the core, the `oidc` section, the TTL
 * namespace, the signing keys, the live provider (and its key set) with the issuer and the Koa app it
 * is mounted in, and the few questions every piece asks (the Gatehouse session of a request, the
 * access decision, the audit record). Typed fields and methods; only `attach` and `install` change it.
 */
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { Core } from '../../src/core.ts';
import { decideForSession } from '../../src/http/sign-in.ts';
import type { Decision } from '../../src/access/types.ts';
import type { AuthnFactor } from '../../src/authn/attempt.ts';
import type { User } from '../../src/directory/model.ts';
import type { RequestState } from '../../src/http/types.ts';
import type { Session } from '../../src/sessions/service.ts';
import { currentSession } from '../../src/http/session-cookie.ts';
import type { TtlStore } from '../../src/core.ts';
import type { KeySet, SigningKeyManager } from '../../src/keys/signing.ts';
import type { OidcConfig } from './config.ts';

export const MOUNT_PATH = '/oidc';

export type Ctx = Koa.ParameterizedContext<RequestState>;

/** The provider built for one key set, and its middleware as one function. */
export interface Live {
  provider: Provider;
  keys: KeySet;
  dispatch: (ctx: Koa.Context, next: () => Promise<void>) => Promise<void>;
}

/** What identifies a Gatehouse session across its token rotations (step-up keeps it, a new sign-in does not). */
export function lineageOf(session: Pick<Session, 'userId' | 'createdAt'>): string {
  return `${session.userId}.${session.createdAt}`;
}

export class OidcContext {
  readonly core: Core;
  readonly config: OidcConfig;
  readonly kv: TtlStore;
  readonly keys: SigningKeyManager;
  #live: Live | undefined;
  #issuer: string | undefined;
  #app: Koa<RequestState> | undefined;
  readonly #warned = new Map<string, string>();
  /** The Gatehouse session of a request, read once. */
  readonly #sessions = new WeakMap<object, Promise<{ token: string; session: Session } | undefined>>();

  constructor(options: { core: Core; config: OidcConfig; kv: TtlStore; keys: SigningKeyManager }) {
    this.core = options.core;
    this.config = options.config;
    this.kv = options.kv;
    this.keys = options.keys;
  }

  /** The provider serving requests, once started. */
  get live(): Live | undefined {
    return this.#live;
  }

  /** The issuer, once started. */
  get issuer(): string | undefined {
    return this.#issuer;
  }

  /** Where the provider is mounted and which URL it is (set by `start`). */
  attach(app: Koa<RequestState>, issuer: string): void {
    this.#app = app;
    this.#issuer = issuer;
  }

  /** Puts a provider in service; the parent app's keys follow its cookie keys (also after a rotation). */
  install(live: Live): void {
    this.#live = live;
    if (this.#app) this.#app.keys = live.keys.cookieKeys;
  }

  /** The Gatehouse session of a request, read once. */
  sessionOf(ctx: Koa.Context): Promise<{ token: string; session: Session } | undefined> {
    let found = this.#sessions.get(ctx);
    if (!found) {
      found = currentSession(this.core, ctx);
      this.#sessions.set(ctx, found);
    }
    return found;
  }

  /** Logs a client whose settings are invalid (once per change). */
  invalidClient(name: string, problems: string[]): void {
    const text = problems.join('; ');
    if (this.#warned.get(name) === text) return;
    this.#warned.set(name, text);
    this.core.logger.warn({ application: name, problems }, `application '${name}' has invalid OpenID Connect settings and cannot sign anyone in`);
  }

  record(ctx: AuditContext, draft: Parameters<Core['audit']['record']>[1]): ReturnType<Core['audit']['record']> {
    return this.core.audit.record(ctx, draft);
  }

  // The access decision, as the interaction and prompt=none take it

  /**
   * The core's decision for the signed-in person and this client, with the session's factors (and
   * a certificate of one of the person's own devices, as at sign-in). A person who is gone or
   * suspended is denied.
   */
  async decide(ctx: Ctx, session: Session, clientId: string): Promise<{ decision: Decision; authn: AuthnFactor[] }> {
    const result = await decideForSession(this.core, ctx, session, `app:${clientId}`, 'oidc');
    return result.ok ? { decision: result.decision, authn: result.authn } : { decision: { action: 'deny', reasons: [result.reason] }, authn: session.authn };
  }

  async userOf(session: Session): Promise<User | undefined> {
    const user = await this.core.directory.users.byId(session.userId);
    return user?.status === 'active' ? user : undefined;
  }
}
