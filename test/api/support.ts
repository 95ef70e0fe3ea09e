/**
 * Small helpers shared by the admin API tests: server overrides, reading answers, and looking at
 * the audit log directly in the store (so that checking it needs no key and changes nothing).
 */
import { expect } from 'vitest';
import { SYSTEM } from '../../src/audit/audit.ts';
import type { AuditEvent } from '../../src/directory/model.ts';
import type { AuditQuery } from '../../src/store/types.ts';
import type { TestServer } from '../helpers/server.ts';

/** A strong password for tests: long, not common, unrelated to any test user. */
export const STRONG_PASSWORD = 'violet-anchor-quietly-7-mosaic';

/** testConfig replaces whole top-level sections, so server overrides must repeat host and port. */
export function httpOverrides(http: Record<string, unknown>): Record<string, unknown> {
  return { server: { http: { host: '127.0.0.1', port: 0, ...http } } };
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string; message: string; code?: string }>;
}

/** Asserts a problem+json answer with this status, and returns it. */
export async function expectProblem(res: Response, status: number): Promise<Problem> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(text) as Problem;
  expect(problem.status).toBe(status);
  expect(problem.detail).toEqual(expect.any(String));
  return problem;
}

/** Asserts a JSON answer with this status, and returns the body. */
export async function expectJson<T = Record<string, any>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return JSON.parse(text) as T;
}

export async function expectNoContent(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(204);
  expect(text).toBe('');
}

/** Audit events straight from the store, newest first. */
export async function auditEvents(server: TestServer, query: AuditQuery = {}): Promise<AuditEvent[]> {
  return (await server.gh.core.audit.query({ limit: 1000, ...query })).items;
}

/** The events a request produced, found by the request id every answer carries. */
export async function eventsOf(server: TestServer, res: Response): Promise<AuditEvent[]> {
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toBeTruthy();
  return (await auditEvents(server)).filter((e) => e.requestId === requestId);
}

/** A fetch with a given bearer key (or none). */
export function withKey(server: TestServer, key: string | undefined) {
  return (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, headers, ...rest } = init;
    return fetch(`${server.url}${path}`, {
      ...rest,
      headers: {
        ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(headers as Record<string, string> | undefined),
      },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  };
}

/** Creates an API key directly in the core (for keys the API would not make, e.g. already expired). */
export async function makeKey(server: TestServer, name: string, scopes: Array<'read' | 'write'>, expiresAt?: string): Promise<string> {
  const { secret } = await server.gh.core.directory.apiKeys.create(SYSTEM, { name, scopes, ...(expiresAt ? { expiresAt } : {}) });
  return secret;
}
