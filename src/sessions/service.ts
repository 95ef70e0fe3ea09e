/**
 * Gatehouse sessions: one sign-in shared by the portal, OIDC and SAML. A session lives in the TTL
 * store (so every process sees it), keyed by the SHA-256 of the cookie's token: reading the store
 * never yields a usable cookie. The hash doubles as the session's public handle, for listing and
 * revoking. Sessions end on an idle timeout and at an absolute lifetime, on logout, on revocation
 * by the user or an admin, and all at once when the user is suspended (tagged with the user's id).
 */
import { randomBytes } from 'node:crypto';
import { hashSecret } from '../secrets/digest.ts';
import type { AuthMethod } from '../access/types.ts';
import type { Auditor, AuditContext } from '../audit/audit.ts';
import type { User } from '../directory/model.ts';
import type { Store } from '../store/types.ts';

const PREFIX = 'session:';

export interface SessionsConfig {
  idleMinutes: number;
  maxHours: number;
}

export interface Session {
  /** SHA-256 (hex) of the token: the stored key and the public id. */
  handle: string;
  userId: string;
  username: string;
  /** ms since the epoch. */
  createdAt: number;
  /** The factors proven in this session and when (ISO 8601), as the access core takes them. */
  authn: Array<{ method: AuthMethod; at: string }>;
  /** The device identified at sign-in (device certificate), if any. */
  deviceId?: string;
  ip?: string;
  userAgent?: string;
  lastSeenAt: number;
  /** The absolute end (ms), whatever the activity. */
  expiresAt: number;
}

export type SessionEndReason = 'logout' | 'revoked' | 'password_changed' | 'admin' | 'suspended' | 'deleted';

export interface NewSession {
  user: Pick<User, 'id' | 'username'>;
  authn: Session['authn'];
  deviceId?: string;
  ip?: string;
  userAgent?: string;
}

type EndListener = (session: Session, reason: SessionEndReason) => void | Promise<void>;
/** A front-end's front-channel step when a person signs out: the path to send the browser to, or undefined. */
export type SignOutStep = (session: Session) => Promise<string | undefined>;

export class SessionService {
  private readonly listeners: EndListener[] = [];
  private readonly signOutSteps: SignOutStep[] = [];
  private readonly store: Store;
  private readonly auditor: Auditor;
  private readonly config: SessionsConfig;

  constructor(deps: { store: Store; auditor: Auditor; config: SessionsConfig }) {
    this.store = deps.store;
    this.auditor = deps.auditor;
    this.config = deps.config;
  }

  static handleOf(token: string): string {
    return hashSecret(token);
  }

  /** Starts a session; the token (for the cookie) is returned this once. */
  async create(input: NewSession): Promise<{ token: string; session: Session }> {
    const now = Date.now();
    const token = randomBytes(32).toString('base64url');
    const session: Session = {
      handle: SessionService.handleOf(token),
      userId: input.user.id,
      username: input.user.username,
      createdAt: now,
      authn: input.authn,
      ...(input.deviceId ? { deviceId: input.deviceId } : {}),
      ...(input.ip ? { ip: input.ip } : {}),
      ...(input.userAgent ? { userAgent: input.userAgent.slice(0, 256) } : {}),
      lastSeenAt: now,
      expiresAt: now + this.config.maxHours * 3_600_000,
    };
    await this.save(session, now);
    return { token, session };
  }

  /**
   * The live session a token belongs to, its idle timer extended (at most once a minute, to keep
   * reads cheap); undefined for an unknown, ended or expired one, or a malformed token.
   */
  async resolve(token: string | undefined): Promise<Session | undefined> {
    if (!token || token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
    const session = await this.get(SessionService.handleOf(token));
    if (!session) return undefined;
    const now = Date.now();
    if (now - session.lastSeenAt > 60_000) {
      session.lastSeenAt = now;
      await this.save(session, now);
    }
    return session;
  }

  async get(handle: string): Promise<Session | undefined> {
    if (!/^[0-9a-f]{64}$/.test(handle)) return undefined;
    const session = await this.store.ttl.get<Session>(PREFIX + handle);
    if (!session) return undefined;
    if (session.expiresAt <= Date.now()) {
      await this.store.ttl.delete(PREFIX + handle);
      return undefined;
    }
    return session;
  }

  /**
   * Adds proven factors (a step-up) and rotates the token, since the session is worth more now:
   * the old token stops working. Undefined when the session has ended meanwhile.
   */
  async elevate(token: string, authn: Session['authn']): Promise<{ token: string; session: Session } | undefined> {
    const current = await this.resolve(token);
    if (!current || !(await this.store.ttl.consume(PREFIX + current.handle))) return undefined;
    const methods = new Map(current.authn.map((a) => [a.method, a] as const));
    for (const a of authn) methods.set(a.method, a);
    const next = randomBytes(32).toString('base64url');
    const session: Session = { ...current, handle: SessionService.handleOf(next), authn: [...methods.values()], lastSeenAt: Date.now() };
    await this.save(session, session.lastSeenAt);
    return { token: next, session };
  }

  /** The user's live sessions, most recently started first. */
  async list(userId: string): Promise<Session[]> {
    const entries = await this.store.ttl.listTagged<Session>({ subject: userId }, PREFIX);
    const now = Date.now();
    return entries.map((e) => e.value).filter((s) => s.expiresAt > now).sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Ends one session (logout or revocation); audited. @returns whether it was live */
  async end(ctx: AuditContext, handle: string, reason: SessionEndReason): Promise<boolean> {
    if (!/^[0-9a-f]{64}$/.test(handle)) return false;
    const session = await this.store.ttl.consume<Session>(PREFIX + handle);
    if (!session) return false;
    await this.ended(ctx, [session], reason);
    return true;
  }

  /** Ends every session of a user but `keep` (e.g. the one changing the password). @returns how many */
  async endAll(ctx: AuditContext, userId: string, reason: SessionEndReason, keep?: string): Promise<number> {
    const gone: Session[] = [];
    for (const session of await this.list(userId)) {
      if (session.handle === keep) continue;
      const taken = await this.store.ttl.consume<Session>(PREFIX + session.handle);
      if (taken) gone.push(taken);
    }
    if (gone.length) await this.ended(ctx, gone, reason);
    return gone.length;
  }

  /**
   * A front-end whose applications keep their own sessions in the browser and must be told in it
   * when the person signs out (SAML Single Logout, front-channel) registers a step here. When the
   * person signs out on the sign-in pages, each step is asked, before the session ends, where the
   * browser should go next: a path on this server, or undefined when it has nothing to do for this
   * session. Returns the unregister function.
   */
  onSignOut(step: SignOutStep): () => void {
    this.signOutSteps.push(step);
    return () => {
      const at = this.signOutSteps.indexOf(step);
      if (at >= 0) this.signOutSteps.splice(at, 1);
    };
  }

  /**
   * Where the browser goes after signing out of `session` (asked before it ends): the first
   * registered step's path (a local path: `/` and not `//`), or undefined. A step that fails is
   * logged and skipped: signing out never fails because an application cannot be told.
   */
  async signOutPath(session: Session): Promise<string | undefined> {
    for (const step of [...this.signOutSteps]) {
      try {
        const path = await step(session);
        if (path !== undefined && /^\/(?![/\\])/.test(path)) return path;
      } catch (err) {
        this.auditor.warn('a sign-out step failed; signing out without it', err);
      }
    }
    return undefined;
  }

  /**
   * Called after a session ends in this process (logout, revocation), e.g. to send OIDC
   * back-channel logout. Listeners must not throw; their failures are logged.
   */
  onEnded(listener: EndListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  private async ended(ctx: AuditContext, sessions: Session[], reason: SessionEndReason): Promise<void> {
    for (const session of sessions) {
      await this.auditor.record(ctx, {
        type: 'session.ended',
        outcome: 'success',
        target: { type: 'user', id: session.userId, name: session.username },
        details: { reason, session: session.handle.slice(0, 16), startedAt: new Date(session.createdAt).toISOString() },
      });
      for (const listener of this.listeners) {
        try {
          await listener(session, reason);
        } catch (err) {
          this.auditor.warn('a session-end listener failed', err);
        }
      }
    }
  }

  private async save(session: Session, now: number): Promise<void> {
    const idle = this.config.idleMinutes * 60;
    const left = (session.expiresAt - now) / 1000;
    await this.store.ttl.put(PREFIX + session.handle, session, Math.max(0.05, Math.min(idle, left)), { subject: session.userId, group: session.handle });
  }
}
