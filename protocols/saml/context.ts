/**
 * What the pieces of the SAML front-end share: the core, the `saml` section, the entityID and base
 * URL, the TTL namespace, the keys (reloaded when `gatehouse keys rotate` changes them), the samlify
 * entities cache, and the questions every piece asks: the registered service providers, the
 * Gatehouse session of a request, the access decision, the identity an SP gets.
 */
import { createHmac } from 'node:crypto';
import type Koa from 'koa';
import type { AuditContext } from '../../src/audit/audit.ts';
import type { Decision } from '../../src/access/types.ts';
import type { AuthnFactor } from '../../src/authn/attempt.ts';
import type { Core, TtlStore } from '../../src/core.ts';
import { decideForSession } from '../../src/http/sign-in.ts';
import type { Application, Group, User } from '../../src/directory/model.ts';
import type { DirectoryWatch } from '../../src/directory/service.ts';
import { currentSession } from '../../src/http/session-cookie.ts';
import type { RequestState } from '../../src/http/types.ts';
import type { SigningKeyManager } from '../../src/keys/signing.ts';
import type { Session } from '../../src/sessions/service.ts';
import type { SamlConfig, SignatureAlgorithm } from './config.ts';
import { loadSamlKeys, type SamlKeys } from './keys.ts';
import { AUTHN_CONTEXT, Entities, newId, type Identity } from './messages.ts';
import { parseSp, type ServiceProvider } from './settings.ts';

export const MOUNT_PATH = '/saml';
export type Ctx = Koa.ParameterizedContext<RequestState>;

/** A registered SP: its application and its checked settings. */
export interface Registered {
  app: Application;
  sp: ServiceProvider;
}

/** What identifies a Gatehouse session across its token rotations (as OIDC's lineageOf). */
export const lineageOf = (session: Pick<Session, 'userId' | 'createdAt'>) => `${session.userId}.${session.createdAt}`;

export class SamlContext {
  readonly core: Core;
  readonly config: SamlConfig;
  readonly entityId: string;
  /** `<publicUrl>/saml`: where the endpoints are. */
  readonly baseUrl: string;
  readonly kv: TtlStore;
  readonly keyManager: SigningKeyManager;
  readonly entities = new Entities();
  #keys: SamlKeys;
  #keysCheckedAt = Number.NEGATIVE_INFINITY;
  readonly #warned = new Map<string, string>();
  #registered: { generation: number; list: Registered[] } | undefined;
  readonly #watch: DirectoryWatch;
  readonly #persistentKey: Buffer;
  readonly #sessionIndexKey: Buffer;

  constructor(options: { core: Core; config: SamlConfig; publicUrl: string; keyManager: SigningKeyManager; keys: SamlKeys }) {
    this.core = options.core;
    this.config = options.config;
    this.baseUrl = `${options.publicUrl}${MOUNT_PATH}`;
    this.entityId = options.config.entityId ?? `${this.baseUrl}/metadata`;
    this.kv = options.core.kv('saml');
    this.keyManager = options.keyManager;
    this.#keys = options.keys;
    this.#persistentKey = options.core.keyring.derive('saml-persistent-nameid');
    this.#sessionIndexKey = options.core.keyring.derive('saml-session-index');
    this.#watch = options.core.directory.changes.watch();
  }

  close(): void {
    this.#watch.close();
  }

  get keys(): SamlKeys {
    return this.#keys;
  }

  /**
   * Reloads the keys if they changed in the store (a rotation by another process or the CLI), asking
   * the store at most once every `maxAgeMs` (0: now). A response signed within that second of a
   * rotation with the previous key still verifies: its certificate stays in the metadata through the
   * rotation's overlap.
   */
  async refreshKeys(maxAgeMs = 0): Promise<void> {
    const now = performance.now();
    if (now - this.#keysCheckedAt < maxAgeMs) return;
    this.#keysCheckedAt = now;
    if (await this.keyManager.changedSince(this.#keys.fingerprint)) this.#keys = await loadSamlKeys(this.keyManager);
  }

  algorithmFor(sp: ServiceProvider): SignatureAlgorithm {
    return sp.signatureAlgorithm ?? this.config.signatureAlgorithm;
  }

  /**
   * Every application of type saml with valid settings; read again when the directory's generation
   * moves (at once for a change in this process, within a second for one in another).
   */
  async serviceProviders(): Promise<Registered[]> {
    const generation = await this.#watch.generation(1000);
    if (this.#registered && this.#registered.generation === generation) return this.#registered.list;
    const list = await this.readServiceProviders();
    this.#registered = { generation, list };
    return list;
  }

  private async readServiceProviders(): Promise<Registered[]> {
    const out: Registered[] = [];
    for (const app of await this.core.directory.applications.all()) {
      if (app.type !== 'saml') continue;
      const parsed = parseSp(app.settings);
      if (parsed.ok) out.push({ app, sp: parsed.sp });
      else this.invalid(app.name, parsed.problems.map((p) => `${p.path}: ${p.message}`));
    }
    return out;
  }

  async byName(name: string): Promise<Registered | undefined> {
    return (await this.serviceProviders()).find((r) => r.app.name === name);
  }

  /** The SP with this entityID; none when two applications claim it (start and reload warn about it). */
  async byEntityId(entityId: string): Promise<Registered | undefined> {
    const found = (await this.serviceProviders()).filter((r) => r.sp.entityId === entityId);
    return found.length === 1 ? found[0] : undefined;
  }

  /** Logs an SP whose settings are invalid (once per change). */
  invalid(name: string, problems: string[]): void {
    const text = problems.join('; ');
    if (this.#warned.get(name) === text) return;
    this.#warned.set(name, text);
    this.core.logger.warn({ application: name, problems }, `application '${name}' has no valid SAML service provider settings and cannot sign anyone in`);
  }

  sessionOf(ctx: Ctx): Promise<{ token: string; session: Session } | undefined> {
    return currentSession(this.core, ctx);
  }

  auditContext(ctx: Ctx, session?: Pick<Session, 'userId' | 'username'>): AuditContext {
    return {
      actor: session ? { type: 'user', id: session.userId, name: session.username } : { type: 'anonymous' },
      protocol: 'saml',
      ...(ctx.state.requestId ? { requestId: ctx.state.requestId } : {}),
      ...(ctx.state.clientIp ? { sourceIp: ctx.state.clientIp } : {}),
    };
  }

  /** The core's decision for the signed-in person and this SP, with the session's factors (as OIDC's). */
  /** The decision for the session's person at the SP, and the groups it was made with (the assertion's `groups` come from them). */
  async decide(ctx: Ctx, session: Session, appName: string): Promise<{ decision: Decision; authn: AuthnFactor[]; groups?: Group[] }> {
    const result = await decideForSession(this.core, ctx, session, `app:${appName}`, 'saml');
    return result.ok ? { decision: result.decision, authn: result.authn, ...(result.groups ? { groups: result.groups } : {}) } : { decision: { action: 'deny', reasons: [result.reason] }, authn: session.authn };
  }

  async userOf(session: Session): Promise<User | undefined> {
    const user = await this.core.directory.users.byId(session.userId);
    return user?.status === 'active' ? user : undefined;
  }

  /** The session's index, the same for every SP of one Gatehouse session and opaque (SAML Core §2.7.2). */
  sessionIndex(session: Session): string {
    return `_${createHmac('sha256', this.#sessionIndexKey).update(lineageOf(session)).digest('hex').slice(0, 40)}`;
  }

  /**
   * A persistent NameID (SAML Core §8.3.7): stable for the person and the SP, opaque, and different
   * for every SP (so two SPs cannot correlate their users through it).
   */
  persistentId(userId: string, spEntityId: string): string {
    return createHmac('sha256', this.#persistentKey).update(`${userId}\u0000${spEntityId}`).digest('base64url');
  }

  /**
   * The NameID and attributes an SP gets for a person, or undefined when the person has no value for
   * its NameID. `groups`: the person's groups as the decision read them (else read here).
   */
  async identity(user: User, sp: ServiceProvider, groups?: readonly Group[]): Promise<Identity | undefined> {
    const attrs = user.attributes as Record<string, unknown>;
    const groupNames = Object.values(sp.attributes).includes('groups') ? (groups ?? (await this.core.directory.users.groupsOf(user.id))).map((g) => g.name).sort() : [];
    const field = (source: string): string[] => {
      const value =
        source === 'email' ? user.email
        : source === 'username' ? user.username
        : source === 'displayName' ? user.displayName
        : source === 'id' ? user.id
        : source === 'givenName' || source === 'familyName' ? attrs[source]
        : source === 'groups' ? groupNames
        : source.startsWith('attributes.') ? attrs[source.slice('attributes.'.length)]
        : undefined;
      if (value === undefined || value === null || value === '') return [];
      return Array.isArray(value) ? value.map(String) : [String(value)];
    };
    let nameId: string | undefined;
    if (sp.nameIdFormat === 'persistent') nameId = this.persistentId(user.id, sp.entityId);
    else if (sp.nameIdFormat === 'transient') nameId = newId();
    else nameId = field(sp.nameIdSource)[0];
    if (!nameId) return undefined;
    return { nameId, nameIdFormat: sp.nameIdFormat, attributes: Object.entries(sp.attributes).map(([name, source]) => [name, field(source)] as [string, string[]]) };
  }
}

/**
 * The AuthnContext classes the factors of a session provide, strongest first (SAML AuthnContext
 * §3.4; REFEDS MFA): a password and a second factor provide REFEDS MFA and also
 * PasswordProtectedTransport (the password was one of them, over TLS).
 */
export function authnContextClasses(authn: readonly AuthnFactor[]): string[] {
  const methods = new Set(authn.map((a) => a.method));
  const classes: string[] = [];
  if (methods.size >= 2) classes.push(AUTHN_CONTEXT.mfa);
  if (methods.has('password')) classes.push(AUTHN_CONTEXT.password);
  if (methods.has('certificate')) classes.push(AUTHN_CONTEXT.x509);
  classes.push(AUTHN_CONTEXT.unspecified);
  return classes;
}

/** The AuthnContextClassRef for the factors of a session when the SP asked for none: the strongest. */
export function authnContextClass(authn: readonly AuthnFactor[]): string {
  return authnContextClasses(authn)[0]!;
}

/** When the person last authenticated (ms). */
export function authnInstant(authn: readonly AuthnFactor[], fallback: number): number {
  const times = authn.map((a) => Date.parse(a.at)).filter(Number.isFinite);
  return times.length ? Math.max(...times) : fallback;
}
