/**
 * XML Schema validation of SAML messages and metadata (issue 12, item 6): libxml2's xmllint, as
 * WebAssembly (xmllint-wasm), in long-lived worker threads (one per core), against the OASIS SAML 2.0,
 * xmldsig and xenc schemas kept in `schemas/` (no network: every import is a local file and
 * xmllint runs with --nonet).
 *
 * Why not the usual validators: `@authenio/samlify-node-xmllint` blocks the event loop and is
 * reported to leak about 16 MB per login; xmllint-wasm's own `validateXML` starts a new worker and
 * compiles the WebAssembly module for every call. Here the worker compiles the module once, and each
 * validation is a fresh instance of it (libxml2's xmllint is a program, run once per instance; a new
 * instance also means no state from one message leaks into the next) over one linear memory, zeroed
 * in between, and the worker's heap is capped: RSS stays flat (bench/saml-schema-rss.ts).
 *
 * Each worker runs one validation at a time, in order (a queue, bounded: a flood is refused, not
 * buffered); a validator keeps `workers` of them (default: one per core, at most 4) and gives each
 * validation to the one with the least work waiting, since a validation (libxml2 reading the
 * schemas, then the document) costs several milliseconds of CPU and one worker would be the
 * ceiling of the whole SSO rate.
 * Each has a timeout: a validation past it terminates the worker (WebAssembly cannot be interrupted
 * any other way), is refused with kind `timeout`, and the next one starts a new worker; a worker
 * that crashes is replaced the same way. The worker is unreferenced while idle, so it never keeps a
 * process alive.
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
}

/** The folder of the XSDs. */
export const SCHEMA_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));
const WORKER_URL = new URL('./xml-schema-worker.ts', import.meta.url);

/** What the worker answers for one validation. */
export interface WorkerAnswer {
  seq: number;
  exitCode: number;
  errors: string[];
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

  const stopWorker = (w: Worker) => {
    w.removeAllListeners();
    w.on('error', () => {});
    void w.terminate();
  };

  const startWorker = (): Worker => {
    // A small heap: each validation leaves its instance's JavaScript side (the in-memory file system
    // with a copy of the schemas) to the collector, and a worker with the default heap limits lets
    // it pile up to about 100 MB before collecting. A worker that runs out is replaced, like a crash.
    const w = new Worker(WORKER_URL, { workerData: { schemaDir: SCHEMA_DIR }, resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } });
    w.on('message', (answer: WorkerAnswer) => {
      if (!current || answer.seq !== current.job.seq) return;
      const { job, timer } = current;
      clearTimeout(timer);
      current = undefined;
      // xmllint's exit codes: 0 valid; 1 not well-formed, 3 and 4 invalid; 5 the schema itself did
      // not compile; -1 the instance aborted (out of its memory cap).
      if (answer.exitCode === 0) job.resolve();
      else if (answer.exitCode === 1 || answer.exitCode === 3 || answer.exitCode === 4 || answer.exitCode === -1) {
        job.reject(new SchemaValidationError('invalid', `not valid against the SAML ${job.kind} schema: ${answer.errors.slice(0, 3).join('; ').slice(0, 500)}`, answer.errors.slice(0, 10)));
      } else job.reject(new SchemaValidationError('unavailable', `schema validation failed (xmllint exit ${answer.exitCode}): ${answer.errors.slice(0, 2).join('; ').slice(0, 300)}`));
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
