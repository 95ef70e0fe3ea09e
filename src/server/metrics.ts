/**
 * Prometheus metrics (prom-client), one registry per Gatehouse instance so several instances in one
 * process (tests) do not collide.
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The route label of a request no router claimed (404s, 405s, errors before routing). */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The methods of RFC 9110 §9 and PATCH (RFC 5789); any other token the HTTP parser lets through
 * (WebDAV's PROPFIND, PURGE, ...) is counted as 'other', so the method label stays bounded.
 */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export function metricMethod(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly auditEvents: Counter<'type' | 'outcome'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
    this.httpRequests = new Counter({ name: 'gatehouse_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
    this.httpDuration = new Histogram({ name: 'gatehouse_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
    this.auditEvents = new Counter({ name: 'gatehouse_audit_events_total', help: 'Audit events (authentication attempts, admin changes) by type and outcome', labelNames: ['type', 'outcome'], registers: [this.registry] });
  }

  private readonly frontEndCounters = new Map<string, Counter<string>>();

  /** A front-end's counter (FrontEndHost.metrics), made once per name: a front-end restarted on reload keeps counting. */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): { inc(labels: Record<L, string>, value?: number): void } {
    let counter = this.frontEndCounters.get(name);
    if (!counter) {
      counter = new Counter({ name, help, labelNames: [...labelNames], registers: [this.registry] });
      this.frontEndCounters.set(name, counter);
    }
    const c = counter;
    return { inc: (labels, value = 1) => c.inc(labels, value) };
  }
}
