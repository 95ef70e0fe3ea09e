/**
 * Reads a JSON request body with a size cap, strict UTF-8 and precise errors. Written here rather
 * than taken from a body-parser so every failure has its own clear problem detail.
 */
import type { Context } from 'koa';
import { HttpProblem } from '../http/problem.ts';

export async function readJson(ctx: Context, maxBytes: number): Promise<unknown> {
  const type = ctx.request.type;
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new HttpProblem(415, 'Unsupported media type', `send the body as application/json (got ${type || 'no Content-Type'})`);
  }
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > maxBytes) throw tooLarge(ctx, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Stop reading; the rest of the body is discarded and the connection closed after the 413.
    if (size > maxBytes) throw tooLarge(ctx, maxBytes);
    chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new HttpProblem(400, 'Invalid input', 'the body is not valid UTF-8');
  }
  if (text.trim() === '') throw new HttpProblem(400, 'Invalid input', 'the body is empty; a JSON document is required');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpProblem(400, 'Invalid input', `malformed JSON: ${(err as Error).message}`);
  }
}

function tooLarge(ctx: Context, maxBytes: number): HttpProblem {
  ctx.set('Connection', 'close');
  return new HttpProblem(413, 'Content too large', `the body is larger than ${maxBytes} bytes`);
}
