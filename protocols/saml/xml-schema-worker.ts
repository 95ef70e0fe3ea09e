/**
 * The schema validation worker (xml-schema.ts starts it): compiles xmllint-wasm's WebAssembly
 * module once, reads the XSDs once, and for each message runs xmllint in a fresh instance of the
 * compiled module with the XSDs and the message in its in-memory file system:
 * `xmllint --nonet --noout --schema <xsd> message.xml`. Loaded as TypeScript by Node's type
 * stripping, both from the server and under vitest (a worker is a plain Node module either way).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface Request {
  seq: number;
  xml: string;
  kind: 'protocol' | 'metadata';
}

// The few WebAssembly types used (the project's lib is es2024 without the DOM, which declares them).
type WasmModule = object;
type WasmInstance = object;
type WasmMemory = object;
const wasm = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => WasmModule;
    Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory & { readonly buffer: ArrayBuffer };
    instantiate(module: WasmModule, imports: object): Promise<WasmInstance>;
  };
}).WebAssembly;

interface EmscriptenOptions {
  inputFiles: Array<{ fileName: string; contents: string | Uint8Array }>;
  arguments: string[];
  print(text: string): void;
  printErr(text: string): void;
  onExit(code: number): void;
  onAbort(reason: unknown): void;
  wasmMemory: WasmMemory;
  instantiateWasm(imports: object, receive: (instance: WasmInstance, module: WasmModule) => void): object;
}

const require = createRequire(import.meta.url);
// The Emscripten factory. Loading the file also registers xmllint-wasm's own message listener, which
// ignores every message not tagged with its key: ours are not.
const xmllint = require('xmllint-wasm/xmllint-node.js') as (options: EmscriptenOptions) => Promise<unknown>;
const compiled = new wasm.Module(readFileSync(require.resolve('xmllint-wasm/xmllint.wasm')));

const schemaDir = (workerData as { schemaDir: string }).schemaDir;
const schemas = readdirSync(schemaDir)
  .filter((f) => f.endsWith('.xsd') || f.endsWith('.dtd'))
  .map((fileName) => ({ fileName, contents: readFileSync(join(schemaDir, fileName)) as Uint8Array }));
const MAIN_SCHEMA = { protocol: 'saml-schema-protocol-2.0.xsd', metadata: 'saml-schema-metadata-2.0.xsd' } as const;

// 64 KiB pages: 16 MiB to start, 64 MiB at most (a message is at most a few hundred KiB).
const INITIAL_PAGES = 256;
const MAX_PAGES = 1024;

// One linear memory for every instance, zeroed before each: an instance's data segments are written
// at instantiation, and zeroing the rest gives it the fresh memory a program expects. Memory that is
// allocated once never waits for a garbage collection to be returned (a fresh 16 MiB memory per
// validation does: RSS grew by about 20 KB per validation until the collector caught up).
let shared: (WasmMemory & { readonly buffer: ArrayBuffer }) | undefined;
function memory(): WasmMemory {
  shared ??= new wasm.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES });
  new Uint8Array(shared.buffer).fill(0);
  return shared;
}

function run(req: Request): Promise<{ exitCode: number; errors: string[] }> {
  return new Promise((resolve) => {
    let stderr = '';
    let done = false;
    const finish = (exitCode: number) => {
      if (done) return;
      done = true;
      const errors = stderr
        .split('\n')
        .map((l) => l.replace(/^message\.xml:/, 'line '))
        .filter((l) => l && !/ validates$/.test(l));
      resolve({ exitCode, errors });
    };
    xmllint({
      inputFiles: [...schemas, { fileName: 'message.xml', contents: req.xml }],
      arguments: ['--nonet', '--noout', '--schema', MAIN_SCHEMA[req.kind], 'message.xml'],
      print: () => {},
      printErr: (text) => {
        if (stderr.length < 16_384) stderr += `${text}\n`;
      },
      onExit: finish,
      onAbort: (reason) => {
        stderr += `aborted: ${String(reason)}\n`;
        finish(-1);
      },
      wasmMemory: memory(),
      instantiateWasm(imports, receive) {
        void wasm.instantiate(compiled, imports).then((instance) => receive(instance, compiled));
        return {};
      },
    }).catch((err: unknown) => {
      stderr += `failed: ${String(err)}\n`;
      finish(-1);
    });
  });
}

parentPort!.on('message', (req: Request) => {
  if (!req || typeof req.seq !== 'number') return;
  void run(req).then((answer) => parentPort!.postMessage({ seq: req.seq, ...answer }));
});
