import { ConflictError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';

/**
 * Refuses a change (a project's services chosen, a service renamed) that would give a project two
 * services of one name: the name is the host name its deployments reach the service by. Run in the
 * change's transaction, after it: the refusal undoes it.
 */
export async function assertServiceNamesUnique(
  db: Database,
  where: { projectId?: string; serviceId?: string },
) {
  const clash: { projectName: string; serviceName: string } | undefined = await db('project_services as ps')
    .join('services as s', 's.id', 'ps.serviceId')
    .join('projects as p', 'p.id', 'ps.projectId')
    .modify((q) => {
      if (where.projectId) q.where('ps.projectId', where.projectId);
      if (where.serviceId)
        q.whereIn(
          'ps.projectId',
          db('project_services').where('serviceId', where.serviceId).select('projectId'),
        );
    })
    .groupBy('p.name', 's.name')
    .havingRaw('count(*) > 1')
    .first('p.name as projectName', 's.name as serviceName');
  if (clash)
    throw new ConflictError(
      `project "${clash.projectName}" would have two services named "${clash.serviceName}": a project's service names must differ (each is a host name in its deployments)`,
    );
}
