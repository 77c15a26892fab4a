import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** The process's Prometheus registry and the HTTP metrics every host records. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'nullops_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'nullops_http_request_duration_seconds',
    help: 'HTTP request duration by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor(options: { prefix?: string } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: options.prefix ?? 'nullops_' });
  }
}
