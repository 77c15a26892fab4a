import type { Metrics } from '@nullops/agent-host/kernel';
import { Access, type AnyRoute } from '@nullops/agent-host/kernel';
import { UnavailableError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { type Database, isDatabaseReachable } from '../database/database.js';
import { route } from '../http/route-context.js';

const Status = z.object({ status: z.string() });

/** Liveness, readiness, Prometheus metrics and the OpenAPI document. */
export function systemRoutes(deps: { db: Database; metrics: Metrics; openapi: () => unknown }): AnyRoute[] {
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
      summary: 'Prometheus metrics',
      tags: ['system'],
      access: Access.public,
      produces: 'text/plain; version=0.0.4',
      responses: { 200: z.string() },
      handler: async () => ({ status: 200, body: await deps.metrics.registry.metrics() }),
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
