/**
 * /metrics labels stay bounded whatever requests arrive: 20,000 unauthenticated requests with
 * distinct long paths (405s from the admin API, 404s, a WebDAV method) add no time series and no
 * memory; no label value is taken from the request. The store is not touched (SQLite only).
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlite } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const MARKER = 'x'.repeat(200);

/** One request of kind n % 5, each with a path no earlier request used. */
function hostile(n: number): { method: string; path: string } {
  switch (n % 5) {
    case 0: return { method: 'PUT', path: `/api/v1/users/${MARKER}${n}` }; // 405 from the admin router
    case 1: return { method: 'GET', path: `/${MARKER}${n}` }; // the final 404
    case 2: return { method: 'PROPFIND', path: `/${MARKER}${n}` }; // a method the parser accepts
    case 3: return { method: 'DELETE', path: `/api/v1/${MARKER}${n}` }; // 404 under the admin prefix
    default: return { method: 'POST', path: `/login/${MARKER}${n}` }; // the portal's own 404
  }
}

function series(text: string): string[] {
  return text.split('\n').filter((line) => /^gatehouse_http_(requests_total|request_duration_seconds_count)\{/.test(line)).map((line) => line.replace(/ \S+$/, ''));
}

describe('metrics labels under hostile paths', () => {
  let s: TestServer;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  beforeAll(async () => {
    s = await startTestServer(sqlite);
  });
  afterAll(async () => {
    agent.destroy();
    await s?.stop();
  });

  function send(request: { method: string; path: string }): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${s.url}${request.path}`, { method: request.method, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function metrics(): Promise<string> {
    return (await fetch(`${s.url}/metrics`)).text();
  }

  it('labels unmatched requests and unknown methods with constants: 20,000 distinct paths add no series and no memory', async () => {
    // One of each kind first, so every label combination they map to exists before counting.
    for (let n = 0; n < 5; n++) await send(hostile(n));
    await metrics();
    const before = series(await metrics());
    const rssBefore = process.memoryUsage().rss;

    const total = 20_000;
    let next = 5;
    const statuses = new Map<number, number>();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < total + 5) {
        const status = await send(hostile(next++));
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }));
    expect([...statuses.keys()].sort()).toEqual([404, 405]);

    const text = await metrics();
    const after = series(text);
    expect(after).toEqual(before);
    expect(text).not.toContain(MARKER);
    expect(text.length).toBeLessThan(200_000);
    // Before the fix these requests grew the process by hundreds of MiB; allow generous noise.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);

    // The 405 counts under its route's template; the WebDAV method under 'other'.
    expect(text).toMatch(/gatehouse_http_requests_total\{method="PUT",route="\/api\/v1\/users\/:id",status="405"\} 4001\n/);
    expect(text).toMatch(/gatehouse_http_requests_total\{method="other",route="unmatched",status="404"\} 4001\n/);
    expect(text).toMatch(/gatehouse_http_requests_total\{method="GET",route="unmatched",status="404"\} 4001\n/);
    expect(text).not.toContain('PROPFIND');
  });
});
