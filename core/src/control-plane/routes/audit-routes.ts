import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { AuditEvent } from '../models/audit-event.js';
import { iso, paging, timestamp, uuid } from '../schemas/common.js';

const AuditView = z.object({
  id: z.string(),
  at: timestamp,
  actorId: uuid.nullable(),
  actorName: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  targetName: z.string().nullable().describe("the target's name now (null when it is gone or has none)"),
  outcome: z.enum(['success', 'denied', 'failure']),
  status: z.number().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  ip: z.string().nullable(),
  requestId: z.string().nullable(),
});

/** Where the name of an audited target lives, by its type (the route's first tag). */
const NAMES: Record<string, { table: string; column: string }> = {
  projects: { table: 'projects', column: 'name' },
  pipelines: { table: 'projects', column: 'name' },
  deployments: { table: 'deployments', column: 'name' },
  environments: { table: 'environments', column: 'name' },
  nodes: { table: 'nodes', column: 'name' },
  users: { table: 'users', column: 'username' },
  teams: { table: 'teams', column: 'name' },
  services: { table: 'services', column: 'name' },
  registries: { table: 'container_registries', column: 'name' },
  secrets: { table: 'secrets', column: 'name' },
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The audit log: every mutation, newest first, with filters and paging. */
export function auditRoutes(_container: DependencyContainer): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/audit',
      operationId: 'audit.list',
      summary: 'Query the audit log',
      tags: ['audit'],
      access: Access.admin,
      query: z.object({
        ...paging,
        actorId: uuid.optional(),
        action: z
          .string()
          .max(100)
          .optional()
          .describe('exact action, or a prefix ending in * (e.g. projects.*)'),
        targetType: z.string().max(100).optional(),
        targetId: z.string().max(100).optional(),
        outcome: z.enum(['success', 'denied', 'failure']).optional(),
        from: z.iso.datetime({ offset: true }).optional(),
        to: z.iso.datetime({ offset: true }).optional(),
      }),
      responses: { 200: z.object({ items: z.array(AuditView), total: z.number() }) },
      handler: async ({ query, db }) => {
        const base = AuditEvent.query(db).modify((q) => {
          if (query.actorId) q.where('actorId', query.actorId);
          if (query.action?.endsWith('*'))
            q.where('action', 'like', `${query.action.slice(0, -1).replace(/[%_\\]/g, '\\$&')}%`);
          else if (query.action) q.where('action', query.action);
          if (query.targetType) q.where('targetType', query.targetType);
          if (query.targetId) q.where('targetId', query.targetId);
          if (query.outcome) q.where('outcome', query.outcome);
          if (query.from) q.where('at', '>=', new Date(query.from));
          if (query.to) q.where('at', '<', new Date(query.to));
        });
        const [rows, total] = await Promise.all([
          base.clone().orderBy('id', 'desc').limit(query.limit).offset(query.offset),
          base.clone().resultSize(),
        ]);
        // Names instead of bare ids: one query per kind of target on the page.
        const names = new Map<string, string>();
        for (const [type, where] of Object.entries(NAMES)) {
          const ids = [
            ...new Set(
              rows
                .filter((e) => e.targetType === type && UUID.test(e.targetId ?? ''))
                .map((e) => e.targetId as string),
            ),
          ];
          if (!ids.length) continue;
          for (const row of await db(where.table).whereIn('id', ids).select('id', `${where.column} as name`))
            names.set(`${type}:${row.id}`, row.name);
        }
        return {
          status: 200,
          body: {
            items: rows.map((e) => ({
              ...e,
              id: String(e.id),
              at: iso(e.at) as string,
              targetName: names.get(`${e.targetType}:${e.targetId}`) ?? null,
            })),
            total,
          },
        };
      },
    }),
  ];
}
