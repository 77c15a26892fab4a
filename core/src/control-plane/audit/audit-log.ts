import type { Database } from '../database/database.js';
import { AuditEvent } from '../models/audit-event.js';

export interface AuditFilter {
  actorId?: string | undefined;
  /** An exact action, or a prefix ending in `*`. */
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  outcome?: 'success' | 'denied' | 'failure' | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  offset: number;
}

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

/**
 * A page of the audit log, newest first, how many events match, and the current names of the
 * targets on the page (one query per kind of target), keyed `type:id`.
 */
export async function auditLog(db: Database, filter: AuditFilter) {
  const base = AuditEvent.query(db).modify((q) => {
    if (filter.actorId) q.where('actorId', filter.actorId);
    if (filter.action?.endsWith('*'))
      q.where('action', 'like', `${filter.action.slice(0, -1).replace(/[%_\\]/g, '\\$&')}%`);
    else if (filter.action) q.where('action', filter.action);
    if (filter.targetType) q.where('targetType', filter.targetType);
    if (filter.targetId) q.where('targetId', filter.targetId);
    if (filter.outcome) q.where('outcome', filter.outcome);
    if (filter.from) q.where('at', '>=', new Date(filter.from));
    if (filter.to) q.where('at', '<', new Date(filter.to));
  });
  const [rows, total] = await Promise.all([
    base.clone().orderBy('id', 'desc').limit(filter.limit).offset(filter.offset),
    base.clone().resultSize(),
  ]);
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
  return { rows, total, names };
}
