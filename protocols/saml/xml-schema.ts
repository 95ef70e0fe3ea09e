/**
 * XML Schema validation of SAML messages and metadata (issue 12, item 6): libxml2 compiled to
 * WebAssembly (libxml2-wasm), in long-lived worker threads (one per core), against the OASIS SAML
 * 2.0, xmldsig and xenc schemas kept in `schemas/` (no network: every import is served from memory).
 *
 * Why not the usual validators: `@authenio/samlify-node-xmllint` blocks the event loop and is
 * reported to leak about 16 MB per login; xmllint-wasm runs the xmllint program once per
 * validation, reading and compiling every schema each time (several milliseconds of CPU per
 * message). Here each worker compiles a schema once and keeps it; a validation is a parse and a
 * walk of the tree (tens of microseconds for an AuthnRequest), its document freed at once.
 *
 * Each worker runs one validation at a time, in order (a queue, bounded: a flood is refused, not
 * buffered); a validator keeps `workers` of them (default: one per core, at most 4) and gives each
 * validation to the one with the least work waiting, so one large document does not hold up the
 * messages behind it.
 * Each has a timeout: a validation past it terminates the worker (WebAssembly cannot be interrupted
 * any other way), is refused with kind `timeout`, and the next one starts a new worker; a worker
 * that crashes, or whose WebAssembly memory a large document grew past its cap, is replaced the same
 * way. The worker is unreferenced while idle, so it never keeps a process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

export type SchemaKind = 'protocol' | 'metadata';

export interface SchemaValidator {
  /**
   * Resolves when `xml` is valid against the schema of `kind`; rejects with SchemaValidationError.
   * `timeoutMs` overrides the validator's time limit for this one validation.
   */
  validate(xml: string, kind: SchemaKind, options?: { timeoutMs?: number }): Promise<void>;
  /** Ends the worker; later validations are refused. */
  close(): Promise<void>;
  /** Workers started so far: the first ones and every replacement (timeout, crash, memory). */
  started(): number;
}

/** Why a document was not validated: `invalid` (the first errors), `timeout` or `unavailable`. */
export class SchemaValidationError extends Error {
  readonly kind: 'invalid' | 'timeout' | 'unavailable';
  readonly errors: string[];
  constructor(kind: 'invalid' | 'timeout' | 'unavailable', message: string, errors: string[] = []) {
    super(message);
    this.name = 'SchemaValidationError';
    this.kind = kind;
    this.errors = errors;
  }
}

export interface SchemaValidatorOptions {
  /** One validation's time limit, ms (default 5,000). */
  timeoutMs?: number;
  /** Validations waiting at most (default 256); more are refused as `unavailable`. */
  maxQueue?: number;
  /**
   * A document's size at most, bytes (default 4 MiB); larger ones are refused as `invalid` without
   * reaching the worker. The worker's heap is capped, and V8 does not always end only the worker
   * when one allocation is far past the cap: a 40 MB document aborted the whole process.
   */
  maxBytes?: number;
  /** Worker threads, each with its own queue (default: the cores, at most 4). */
  workers?: number;
  /**
   * A worker's WebAssembly memory at most, bytes (default 64 MiB): that memory only grows, so a
   * worker a large document took past it is replaced after answering.
   */
  maxMemoryBytes?: number;
}

/** The folder of the XSDs. */
export const SCHEMA_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));
const WORKER_URL = new URL('./xml-schema-worker.ts', import.meta.url);

/** What the worker answers for one validation (xml-schema-worker.ts). */
export interface WorkerAnswer {
  seq: number;
  /** `failed`: the schema itself did not compile. */
  outcome: 'valid' | 'invalid' | 'failed';
  errors: string[];
  /** The worker's memory is past its cap: it is replaced after this answer. */
  recycle: boolean;
}

interface Job {
  seq: number;
  xml: string;
  kind: SchemaKind;
  timeoutMs: number;
  resolve: () => void;
  reject: (err: SchemaValidationError) => void;
}

/** A validator with its own workers (start it once, share it: one per process is plenty). */
export function createSchemaValidator(options: SchemaValidatorOptions = {}): SchemaValidator {
  const count = Math.max(1, Math.min(options.workers ?? Math.min(4, availableParallelism()), 16));
  if (count === 1) return singleWorker(options).validator;
  const perWorkerQueue = Math.max(1, Math.ceil((options.maxQueue ?? 256) / count));
  const pool = Array.from({ length: count }, () => singleWorker({ ...options, maxQueue: perWorkerQueue }));
  return {
    validate(xml, kind, validateOptions) {
      let best = pool[0]!;
      for (const w of pool) if (w.load() < best.load()) best = w;
      return best.validator.validate(xml, kind, validateOptions);
    },
    async close() {
      await Promise.all(pool.map((w) => w.validator.close()));
    },
    started: () => pool.reduce((n, w) => n + w.validator.started(), 0),
  };
}

/** One worker and its queue; `load` is the validations it holds (waiting and running). */
function singleWorker(options: SchemaValidatorOptions): { validator: SchemaValidator; load: () => number } {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxQueue = options.maxQueue ?? 256;
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const queue: Job[] = [];
  let worker: Worker | undefined;
  let current: { job: Job; timer: NodeJS.Timeout } | undefined;
  let seq = 0;
  let closed = false;
  let started = 0;

  const stopWorker = (w: Worker) => {
    w.removeAllListeners();
    w.on('error', () => {});
    void w.terminate();
  };

  const startWorker = (): Worker => {
    // A small heap: the worker's JavaScript side is a queue and a few strings per message (the
    // documents live in libxml2's WebAssembly memory, capped separately). A worker that runs out is
    // replaced, like a crash.
    started++;
    const w = new Worker(WORKER_URL, { workerData: { schemaDir: SCHEMA_DIR, maxMemoryBytes: options.maxMemoryBytes ?? 64 * 1024 * 1024 }, resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } });
    w.on('message', (answer: WorkerAnswer) => {
      if (!current || answer.seq !== current.job.seq) return;
      const { job, timer } = current;
      clearTimeout(timer);
      current = undefined;
      if (answer.outcome === 'valid') job.resolve();
      else if (answer.outcome === 'invalid') {
        job.reject(new SchemaValidationError('invalid', `not valid against the SAML ${job.kind} schema: ${answer.errors.slice(0, 3).join('; ').slice(0, 500)}`, answer.errors.slice(0, 10)));
      } else job.reject(new SchemaValidationError('unavailable', `schema validation failed: ${answer.errors.slice(0, 2).join('; ').slice(0, 300)}`));
      if (answer.recycle && worker === w) {
        worker = undefined;
        stopWorker(w);
      }
      next();
    });
    const lost = (why: string) => {
      if (worker !== w) return;
      worker = undefined;
      stopWorker(w);
      if (current) {
        clearTimeout(current.timer);
        const { job } = current;
        current = undefined;
        job.reject(new SchemaValidationError('unavailable', `the schema validation worker ${why}`));
      }
      next();
    };
    w.on('error', (err) => lost(`failed: ${err.message}`));
    w.on('exit', (code) => lost(`exited (${code})`));
    w.unref();
    return w;
  };

  const next = () => {
    if (current || closed) return;
    const job = queue.shift();
    if (!job) {
      worker?.unref();
      return;
    }
    worker ??= startWorker();
    worker.ref();
    const w = worker;
    const timer = setTimeout(() => {
      if (current?.job !== job) return;
      current = undefined;
      if (worker === w) worker = undefined;
      stopWorker(w);
      job.reject(new SchemaValidationError('timeout', `schema validation took over ${job.timeoutMs} ms`));
      next();
    }, job.timeoutMs);
    current = { job, timer };
    w.postMessage({ seq: job.seq, xml: job.xml, kind: job.kind });
  };

  const validator: SchemaValidator = {
    validate(xml, kind, validateOptions) {
      if (closed) return Promise.reject(new SchemaValidationError('unavailable', 'the schema validator is closed'));
      if (xml.length > maxBytes || Buffer.byteLength(xml, 'utf8') > maxBytes) return Promise.reject(new SchemaValidationError('invalid', `the document is over ${maxBytes} bytes`));
      if (queue.length >= maxQueue) return Promise.reject(new SchemaValidationError('unavailable', 'too many schema validations waiting'));
      return new Promise<void>((resolve, reject) => {
        queue.push({ seq: ++seq, xml, kind, timeoutMs: validateOptions?.timeoutMs ?? timeoutMs, resolve, reject });
        next();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new SchemaValidationError('unavailable', 'the schema validator is closed'));
      if (current) {
        clearTimeout(current.timer);
        current.job.reject(new SchemaValidationError('unavailable', 'the schema validator is closed'));
        current = undefined;
      }
      const w = worker;
      worker = undefined;
      if (w) {
        w.removeAllListeners();
        await w.terminate();
      }
    },
    started: () => started,
  };
  return { validator, load: () => queue.length + (current ? 1 : 0) };
}

/**
 * The validator in samlify's shape (`samlify.setSchemaValidator(...)`): resolves on a valid
 * protocol message, rejects otherwise.
 */
export function samlifySchemaValidator(validator: SchemaValidator): { validate(xml: string): Promise<string> } {
  return {
    validate: async (xml: string) => {
      await validator.validate(xml, 'protocol');
      return 'SUCCESS_VALIDATE_XML';
    },
  };
}
