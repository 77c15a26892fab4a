import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { auditLog } from '../audit/audit-log.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
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
        const { rows, total, names } = await auditLog(db, query);
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
