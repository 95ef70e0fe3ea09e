/**
 * What a command talks to: its output streams, its input and its environment. Injected (rather
 * than taken from `process`) so tests run commands in-process and read what they printed.
 */
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline/promises';

export interface Writer {
  write(text: string): unknown;
}

export type Input = NodeJS.ReadableStream & { isTTY?: boolean };

export interface CliIo {
  stdout: Writer;
  stderr: Writer;
  stdin: Input;
  env: Record<string, string | undefined>;
}

/** A problem with what the operator asked for: printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** A password longer than this is not a password (the core refuses > 1 KiB anyway). */
const MAX_STDIN_BYTES = 64 * 1024;

/** Everything on standard input, without one trailing line break (`echo pw | gatehouse ...`). */
export async function readStdin(stdin: Input): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    total += buffer.length;
    if (total > MAX_STDIN_BYTES) throw new CliError(`standard input is longer than ${MAX_STDIN_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a password from standard input; an empty one is refused here rather than as a policy error. */
export async function readPasswordFromStdin(io: CliIo): Promise<string> {
  const password = await readStdin(io.stdin);
  if (password === '') throw new CliError('no password on standard input');
  return password;
}

/**
 * Asks questions on a terminal without echoing the answers (prompts go to stderr). Lines are read
 * through one buffered iterator, so an answer typed ahead is not lost. Ctrl-C or end of input cancels.
 */
export async function withHiddenPrompts<T>(io: CliIo, work: (ask: (prompt: string) => Promise<string>) => Promise<T>): Promise<T> {
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: io.stdin, output: muted, terminal: true });
  rl.on('SIGINT', () => rl.close());
  const lines = rl[Symbol.asyncIterator]();
  try {
    return await work(async (prompt) => {
      io.stderr.write(prompt);
      const line = await lines.next();
      io.stderr.write('\n');
      if (line.done) throw new CliError('cancelled');
      return line.value;
    });
  } finally {
    rl.close();
  }
}

/** A new password: from stdin when asked to or when stdin is not a terminal, else prompted twice. */
export async function readNewPassword(io: CliIo, fromStdin: boolean, prompt = 'New password: '): Promise<string> {
  if (fromStdin || !io.stdin.isTTY) return readPasswordFromStdin(io);
  return withHiddenPrompts(io, async (ask) => {
    const first = await ask(prompt);
    if (first === '') throw new CliError('no password given');
    if ((await ask('Repeat the password: ')) !== first) throw new CliError('the passwords do not match');
    return first;
  });
}

/** Left-aligned columns separated by two spaces; empty cells print as '-'. */
export function formatTable(headers: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === undefined || cell === '' ? '-' : String(cell))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
