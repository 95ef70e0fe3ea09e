/**
 * The schema validation worker (xml-schema.ts starts it): libxml2 compiled to WebAssembly
 * (libxml2-wasm). The worker reads the XSDs of `schemas/` into memory once, compiles each schema
 * the first time it is asked for (the protocol schema: about 20 ms) and keeps it: a validation is
 * then a parse of the message and a walk of its tree, tens of microseconds for an AuthnRequest.
 * Loaded as TypeScript by Node's type stripping, both from the server and under vitest (a worker
 * is a plain Node module either way).
 *
 * Offline by construction: the only input provider registered serves the files of `schemas/` from
 * memory (the schemas' imports resolve there), messages are parsed with no network, no DTD loading
 * and no external entities, and libxml2-wasm has no network code. Each message's document is freed
 * right after its validation (libxml2 memory is not garbage collected). WebAssembly memory only
 * grows: after a message that took it past `maxMemoryBytes` (64 MiB) the worker asks to be replaced, so
 * one large document does not keep its high-water mark for the life of the process.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerAnswer as Answer } from './xml-schema.ts';

interface Request {
  seq: number;
  xml: string;
  kind: 'protocol' | 'metadata';
}


// libxml2-wasm instantiates its module when it is first imported and does not expose the memory;
// catch the instance to read the memory's size (the worker's own global, so only this module sees it).
type WasmMemory = { readonly buffer: ArrayBuffer };
type WasmApi = { instantiate(...args: unknown[]): Promise<unknown>; Memory: new (...args: never[]) => WasmMemory };
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
let memory: WasmMemory | undefined;
const instantiate = wasm.instantiate.bind(wasm);
wasm.instantiate = async (...args: unknown[]) => {
  const result = await instantiate(...args);
  const instance = ((result as { instance?: unknown }).instance ?? result) as { exports: Record<string, unknown> };
  memory ??= Object.values(instance.exports).find((v): v is WasmMemory => v instanceof wasm.Memory);
  return result;
};
const { ParseOption, XmlBufferInputProvider, XmlDocument, XmlLibError, XsdValidator, xmlRegisterInputProvider } = await import('libxml2-wasm');
wasm.instantiate = instantiate;

const { schemaDir, maxMemoryBytes } = workerData as { schemaDir: string; maxMemoryBytes: number };
const files: Record<string, Uint8Array> = {};
for (const name of readdirSync(schemaDir)) if (name.endsWith('.xsd') || name.endsWith('.dtd')) files[name] = readFileSync(join(schemaDir, name));
xmlRegisterInputProvider(new XmlBufferInputProvider(files));
const MAIN_SCHEMA = { protocol: 'saml-schema-protocol-2.0.xsd', metadata: 'saml-schema-metadata-2.0.xsd' } as const;

// No network, no DTD loading or external entities (DOCTYPE is refused before any message gets
// here; this is the second lock), no entity substitution.
const PARSE = ParseOption.XML_PARSE_NONET | ParseOption.XML_PARSE_NO_XXE;

const compiled = new Map<Request['kind'], InstanceType<typeof XsdValidator>>();
function schemaFor(kind: Request['kind']): InstanceType<typeof XsdValidator> {
  let validator = compiled.get(kind);
  if (!validator) {
    const doc = XmlDocument.fromBuffer(files[MAIN_SCHEMA[kind]]!, { url: MAIN_SCHEMA[kind] });
    try {
      validator = XsdValidator.fromDoc(doc);
    } finally {
      doc.dispose();
    }
    compiled.set(kind, validator);
  }
  return validator;
}

const messages = (err: unknown): string[] =>
  err instanceof XmlLibError && err.details.length
    ? err.details.slice(0, 10).map((d) => `line ${d.line}: ${d.message.trim()}`.slice(0, 500))
    : [String(err instanceof Error ? err.message : err).trim().slice(0, 500)];

function validate(req: Request): Answer {
  let schema;
  try {
    schema = schemaFor(req.kind);
  } catch (err) {
    return { seq: req.seq, outcome: 'failed', errors: messages(err), recycle: false };
  }
  let outcome: Answer['outcome'] = 'valid';
  let errors: string[] = [];
  try {
    const doc = XmlDocument.fromString(req.xml, { option: PARSE });
    try {
      schema.validate(doc);
    } finally {
      doc.dispose();
    }
  } catch (err) {
    // Not well-formed (XmlParseError) or not valid (XmlValidateError): the message is refused
    // either way. Anything else (out of memory) too, and the worker is replaced below.
    outcome = 'invalid';
    errors = messages(err);
  }
  return { seq: req.seq, outcome, errors, recycle: (memory?.buffer.byteLength ?? 0) > maxMemoryBytes };
}

parentPort!.on('message', (req: Request) => {
  if (!req || typeof req.seq !== 'number' || typeof req.xml !== 'string') return;
  parentPort!.postMessage(validate(req));
});
