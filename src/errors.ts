/**
 * The core's typed errors. The store raises exactly these (they are part of its contract, and every
 * backend passes the same conformance suite), the core passes them on, and each front-end maps them
 * to its protocol in one place (the admin API: 404, 409, 412).
 */

export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

export class NotFoundError extends StoreError {
  override readonly name = 'NotFoundError';
  readonly kind: string;
  readonly key: string;
  constructor(kind: string, key: string) {
    super(`${kind} '${key}' not found`);
    this.kind = kind;
    this.key = key;
  }
}

export class AlreadyExistsError extends StoreError {
  override readonly name = 'AlreadyExistsError';
  readonly kind: string;
  readonly key: string;
  constructor(kind: string, key: string, detail?: string) {
    super(detail ?? `${kind} '${key}' already exists`);
    this.kind = kind;
    this.key = key;
  }
}

/** An optimistic-concurrency check failed (the caller's version is stale) or a change would break an invariant. */
export class ConflictError extends StoreError {
  override readonly name: string = 'ConflictError';
  readonly reason: 'stale' | 'invariant';
  constructor(message: string, reason: 'stale' | 'invariant' = 'invariant') {
    super(message);
    this.reason = reason;
  }
}

/**
 * A change through the admin API, the CLI or a front-end to what the configuration file declares
 * (or the environment: the GATEHOUSE_ADMIN_KEY API key). The reconciler would undo it without a word
 * at the next reload or start, so it is refused unless the caller forces it; the message says where
 * to make the change instead.
 */
export class ManagedByConfigError extends ConflictError {
  override readonly name = 'ManagedByConfigError';
  /** What is declared, as the message names it: "user 'alice'", "the membership of …". */
  readonly object: string;
  /** Where it is declared: the configuration file, or the environment variable. */
  readonly source: string;
  constructor(object: string, source: string, message: string) {
    super(message);
    this.object = object;
    this.source = source;
  }
}

/** The store cannot be reached or answered with something other than a contract error. */
export class StoreUnavailableError extends StoreError {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
