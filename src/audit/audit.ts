/**
 * Recording audit events: written to the store (inside the caller's transaction, so a change and
 * its event commit together) and, once committed, one JSON log line each.
 *
 * One authentication attempt is one event (DESIGN.md). A front-end that checks factors and then
 * asks for the access decision in the same request (a sign-in step, an LDAP bind) gives the audit
 * context an AttemptAudit: the factor checks that succeed are held there, and the decision's event
 * (access.decision) carries them in details.checks. A check that fails is recorded at once, as
 * its own event (no decision follows it); checks no decision took are recorded when the front-end
 * settles the attempt at the end of the request.
 */
import type { AuditEvent, NewAuditEvent, Outcome, Principal, Reason, Target } from '../directory/model.ts';
import type { AuditQuery, DirectoryStore, Page } from '../store/types.ts';
import type { Logger } from '../log.ts';
import { isKnownEventType } from './catalogue.ts';

/** Who is acting and from where: carried from the edge (HTTP request, CLI, config reload) to the core. */
export interface AuditContext {
  actor: Principal;
  sourceIp?: string;
  protocol?: string;
  requestId?: string;
  /** The authentication attempt this request is (see above); absent, every event is recorded as it comes. */
  attempt?: AttemptAudit;
}

/** A factor check as the decision that concludes the attempt carries it (access.decision details.checks). */
export interface HeldCheck {
  type: string;
  reasons?: Reason[];
  details?: Record<string, unknown>;
}

/** The successful factor checks of one authentication attempt, held for the access decision that concludes it. */
export class AttemptAudit {
  private held: Array<{ ctx: AuditContext; draft: EventDraft; at: string }> = [];
  /**
   * What the front-end said about how the credential came (SignInRequest.eap: `{ eap: { method,
   * outerIdentity } }`), already bounded: added to the details of the attempt's own events (its
   * factor checks and its decision), so whichever event concludes the attempt carries it.
   */
  private readonly context: Record<string, unknown> | undefined;
  constructor(context?: Record<string, unknown>) {
    this.context = context && Object.keys(context).length ? context : undefined;
  }

  /** `draft` with the attempt's context in its details, if it is one of the attempt's own events. */
  stamp(draft: EventDraft): EventDraft {
    if (!this.context || !(draft.type.startsWith('authn.') || draft.type === 'access.decision')) return draft;
    return { ...draft, details: { ...draft.details, ...this.context } };
  }

  /** Whether `draft` waits for the decision: a factor check (authn.*) that succeeded. */
  static holds(draft: EventDraft): boolean {
    return draft.outcome === 'success' && draft.type.startsWith('authn.');
  }

  hold(ctx: AuditContext, draft: EventDraft): void {
    this.held.push({ ctx, draft, at: new Date().toISOString() });
  }

  /** The held checks, for the decision's event; they are the decision's from now on. */
  take(): HeldCheck[] {
    const checks = this.held.map(({ draft }) => ({
      type: draft.type,
      ...(draft.reasons?.length ? { reasons: draft.reasons } : {}),
      ...(draft.details && Object.keys(draft.details).length ? { details: draft.details } : {}),
    }));
    this.held = [];
    return checks;
  }

  /** The held checks as they would be recorded on their own (when no decision takes them), with the time each was made. */
  release(): Array<{ ctx: AuditContext; draft: EventDraft; at: string }> {
    const held = this.held;
    this.held = [];
    return held;
  }
}

export interface EventDraft {
  type: string;
  outcome: Outcome;
  target?: Target;
  reasons?: Reason[];
  details?: Record<string, unknown>;
  /** Overrides the context's actor (e.g. an authentication attempt is made by the user it names). */
  actor?: Principal;
}

/**
 * The log level of a committed event: a failure is worth an operator's attention (warn), a success
 * is info; except the changes the configuration reconciler makes (actor 'config'), which the
 * reconciler sums up in one line per run ('configuration reconciled') so a start is not a page of
 * them; they stay in the audit log (the store) and reach the process log at debug.
 */
function logLevel(event: AuditEvent): 'debug' | 'info' | 'warn' {
  if (event.outcome !== 'success') return 'warn';
  return event.actor.type === 'config' ? 'debug' : 'info';
}

export const SYSTEM: AuditContext = { actor: { type: 'system', name: 'gatehouse' } };

/**
 * The audit log: events written to the store the auditor was made with, logged once committed.
 * Front-ends call `record(ctx, draft)`; core services also `change` (a change and its events in
 * one transaction).
 */
export class Auditor {
  private readonly logger: Logger;
  private readonly dir: DirectoryStore;
  private readonly listeners: Array<(event: AuditEvent) => void> = [];
  constructor(logger: Logger, dir: DirectoryStore) {
    this.logger = logger;
    this.dir = dir;
  }

  /** Events matching the query, newest first (the admin API, the LDAP snapshot feed, tests). */
  query(query: AuditQuery): Promise<Page<AuditEvent>> {
    return this.dir.audit.query(query);
  }

  /** Called with every committed event (metrics). */
  onEvent(listener: (event: AuditEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  /** Appends the event in `dir` (a transaction, usually); call `log` with the result after commit. */
  async append(dir: DirectoryStore, ctx: AuditContext, draft: EventDraft): Promise<AuditEvent> {
    return dir.audit.append(this.toEvent(ctx, draft));
  }

  log(event: AuditEvent): void {
    this.logger[logLevel(event)]({ audit: event }, 'audit');
    for (const listener of this.listeners) listener(event);
  }

  /**
   * Runs a change and its audit events in one transaction of `dir`; the events are logged once
   * committed (a rolled-back change leaves neither the change nor its events).
   */
  async change<R>(ctx: AuditContext, work: (tx: DirectoryStore, emit: (draft: EventDraft) => Promise<void>) => Promise<R>): Promise<R> {
    const events: AuditEvent[] = [];
    const result = await this.dir.transaction(async (tx) =>
      work(tx, async (draft) => {
        events.push(await this.append(tx, ctx, draft));
      }),
    );
    for (const event of events) this.log(event);
    return result;
  }

  /** A problem worth an operator's attention that is not an audit event. */
  warn(message: string, err?: unknown): void {
    this.logger.warn({ err }, message);
  }

  /**
   * Appends and logs an event that is not part of a larger change (an authentication attempt). In
   * an attempt (ctx.attempt), a successful factor check is held for the decision instead; another
   * factor check records the held ones first, so the log keeps the order they happened in.
   */
  async record(ctx: AuditContext, draft: EventDraft): Promise<AuditEvent | undefined> {
    if (ctx.attempt) {
      if (AttemptAudit.holds(draft)) {
        ctx.attempt.hold(ctx, draft);
        return undefined;
      }
      if (draft.type.startsWith('authn.')) await this.settle(ctx.attempt);
    }
    return this.write(ctx, draft);
  }

  /** Records the checks of an attempt that no decision took (the request ended before one). */
  async settle(attempt: AttemptAudit): Promise<void> {
    for (const { ctx, draft, at } of attempt.release()) await this.write(ctx, draft, at);
  }

  private async write(ctx: AuditContext, given: EventDraft, at?: string): Promise<AuditEvent | undefined> {
    const draft = ctx.attempt ? ctx.attempt.stamp(given) : given;
    try {
      const event = await this.dir.audit.append({ ...this.toEvent(ctx, draft), ...(at ? { time: at } : {}) });
      this.log(event);
      return event;
    } catch (err) {
      // The store is failing: the event still reaches the log, marked as not persisted.
      this.logger.error({ audit: { ...this.toEvent(ctx, draft), persisted: false }, err }, 'audit');
      return undefined;
    }
  }

  private toEvent(ctx: AuditContext, draft: EventDraft): NewAuditEvent {
    if (!isKnownEventType(draft.type)) throw new Error(`audit event type '${draft.type}' is not in the catalogue`);
    return {
      type: draft.type,
      actor: draft.actor ?? ctx.actor,
      outcome: draft.outcome,
      reasons: draft.reasons ?? [],
      details: draft.details ?? {},
      ...(draft.target ? { target: draft.target } : {}),
      ...(ctx.sourceIp ? { sourceIp: ctx.sourceIp } : {}),
      ...(ctx.protocol ? { protocol: ctx.protocol } : {}),
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    };
  }
}
