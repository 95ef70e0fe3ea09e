/**
 * Request bodies at the edge of the admin API: size cap, media type, encoding, shape. Each bad body
 * gets a precise problem and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { auditEvents, expectJson, expectProblem, httpOverrides } from './support.ts';

describe.each(backends)('admin API request bodies ($name)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend, httpOverrides({ maxBodyBytes: 2048 }));
  });
  afterAll(async () => {
    await server?.stop();
  });

  const post = (body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    server.api('/api/v1/groups', { method: 'POST', headers, body });

  it('refuses a body over server.http.maxBodyBytes with 413 (declared length)', async () => {
    const problem = await expectProblem(await post(JSON.stringify({ name: 'big', description: 'x'.repeat(4000) })), 413);
    expect(problem.detail).toBe('the body is larger than 2048 bytes');
    await expectProblem(await server.api('/api/v1/groups/big'), 404);
  });

  // A body with no declared length is cut off while streaming: the 413 must still reach the client.
  it('refuses a streamed body over the cap with 413 (no declared length)', async () => {
    const chunk = new TextEncoder().encode(`{"name":"streamed","description":"${'y'.repeat(3000)}"}`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${server.url}/api/v1/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await expectProblem(res, 413);
    await expectProblem(await server.api('/api/v1/groups/streamed'), 404);
  });

  it('accepts a body just under the cap', async () => {
    await expectJson(await post(JSON.stringify({ name: 'fits', description: 'z'.repeat(1000) })), 201);
  });

  it('refuses a non-JSON media type with 415, and a missing one', async () => {
    await expectProblem(await post('name=form', { 'content-type': 'application/x-www-form-urlencoded' }), 415);
    const res = await fetch(`${server.url}/api/v1/groups`, { method: 'POST', headers: { authorization: `Bearer ${server.adminKey}` }, body: new Uint8Array([123, 125]) });
    await expectProblem(res, 415);
  });

  it('accepts a +json media type with parameters', async () => {
    await expectJson(await post(JSON.stringify({ name: 'merge' }), { 'content-type': 'application/merge-patch+json; charset=utf-8' }), 201);
  });

  it('refuses malformed JSON, an empty body and invalid UTF-8 with 400', async () => {
    expect((await expectProblem(await post('{"name":'), 400)).detail).toMatch(/^malformed JSON/);
    expect((await expectProblem(await post(''), 400)).detail).toMatch(/empty/);
    expect((await expectProblem(await post(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400)).detail).toMatch(/UTF-8/);
  });

  it('refuses JSON of the wrong shape with 400', async () => {
    const problem = await expectProblem(await post('[1,2,3]'), 400);
    expect(problem.errors![0]!.path).toBe('');
    const typed = await expectProblem(await post(JSON.stringify({ name: 42 })), 400);
    expect(typed.errors).toEqual([expect.objectContaining({ path: 'name' })]);
  });

  it('wrote no audit event for any refused body', async () => {
    const created = (await auditEvents(server, { type: 'group.created' })).map((e) => e.target?.name).sort();
    expect(created).toEqual(['fits', 'merge']);
  });
});
