import type { Metrics } from '@nullops/kernel';
import { AuthenticationError, NotAllowedError, UnavailableError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import { z } from 'zod';
import { type Database, isDatabaseReachable } from '../database/database.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { constantTimeEqual } from '../security/tokens.js';

const Status = z.object({ status: z.string() });

/** Liveness, readiness, Prometheus metrics and the OpenAPI document. */
export function systemRoutes(deps: {
  db: Database;
  metrics: Metrics;
  openapi: () => unknown;
  /** What `/metrics` asks for; without one it answers this machine only. */
  metricsToken?: string;
}): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/healthz',
      operationId: 'system.health',
      summary: 'Liveness: the process is up',
      tags: ['system'],
      access: Access.public,
      responses: { 200: Status },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    route({
      method: 'get',
      path: '/readyz',
      operationId: 'system.ready',
      summary: 'Readiness: the database is reachable',
      tags: ['system'],
      access: Access.public,
      responses: { 200: Status, 503: null },
      handler: async () => {
        if (!(await isDatabaseReachable(deps.db))) throw new UnavailableError('database is not reachable');
        return { status: 200, body: { status: 'ready' } };
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      operationId: 'system.metrics',
      summary:
        'Prometheus metrics: with NULLOPS_METRICS_TOKEN set, for `Authorization: Bearer <token>`; otherwise only from this machine',
      tags: ['system'],
      // Not a user's route: the scraper holds its own token (or is on this machine), checked here.
      access: Access.public,
      produces: 'text/plain; version=0.0.4',
      responses: { 200: z.string(), 401: null, 403: null },
      handler: async ({ ctx }) => {
        mayScrape(ctx, deps.metricsToken);
        return { status: 200, body: await deps.metrics.registry.metrics() };
      },
    }),
    route({
      method: 'get',
      path: '/api/openapi.json',
      operationId: 'system.openapi',
      summary: 'This API as an OpenAPI 3.1 document',
      tags: ['system'],
      access: Access.public,
      responses: { 200: z.record(z.string(), z.unknown()) },
      handler: async () => ({ status: 200, body: deps.openapi() }),
    }),
  ];
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function mayScrape(ctx: Koa.Context, token: string | undefined): void {
  if (token) {
    const presented = /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1];
    if (!presented || !constantTimeEqual(presented, token))
      throw new AuthenticationError('/metrics needs Authorization: Bearer <NULLOPS_METRICS_TOKEN>');
    return;
  }
  // A proxy on this machine forwards requests from anywhere: those carry X-Forwarded-For.
  const proxied = ctx.get('x-forwarded-for') || ctx.get('forwarded');
  if (!LOOPBACK.has(ctx.req.socket.remoteAddress ?? '') || proxied)
    throw new NotAllowedError(
      '/metrics answers only this machine; set NULLOPS_METRICS_TOKEN to scrape it from elsewhere',
    );
}
