import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import type { PartialModelObject } from 'objection';
import { AccessService } from '../access/access-service.js';
import type { Principal } from '../auth/principal.js';
import { DeploymentBackups } from '../backups/deployment-backups.js';
import type { Database } from '../database/database.js';
import { ensureNoLiveDeployments } from '../deployments/decommission.js';
import { Project, Service } from '../models/catalog.js';
import { projectView, serviceView } from '../schemas/catalog.js';
import { assertServiceNamesUnique } from './project-service-names.js';
import { findOr404, insertRecord } from './records.js';
import { replaceTeamAccess, teamAccessOf } from './team-access.js';

/** A project's own fields, and the lists that replace its services and team assignments. */
export type ProjectInput = PartialModelObject<Project> & {
  serviceIds?: string[] | undefined;
  teams?: { teamId: string; access: 'read' | 'full' }[] | undefined;
};

/** Projects: services, a CPU/RAM budget per deployment, TTL override, team access; and their pipelines. */
@injectable()
export class Projects {
  constructor(
    @inject(AccessService) private readonly access: AccessService,
    @inject(DeploymentBackups) private readonly backups: DeploymentBackups,
  ) {}

  /** The projects the caller can see (a token scoped to projects sees only those), by name. */
  async list(db: Database, caller: Principal): Promise<Project[]> {
    const query = Project.query(db).orderBy('name');
    if (caller.role !== 'admin')
      query.whereIn('id', await this.access.readableIds('project', caller.userId, db));
    if (caller.tokenScope?.projectIds) query.whereIn('id', caller.tokenScope.projectIds);
    return query;
  }

  /** A project with its services, team assignments and the caller's access. */
  async detail(db: Database, id: string, caller: Principal, row?: Project) {
    const project = row ?? (await findOr404(Project, db, id, 'project'));
    const [services, teams, level] = await Promise.all([
      Service.query(db)
        .join('project_services as ps', 'ps.serviceId', 'services.id')
        .where('ps.projectId', project.id)
        .select('services.*')
        .orderBy('name'),
      teamAccessOf(db, 'project', project.id),
      caller.role === 'admin'
        ? Promise.resolve('full' as const)
        : this.access.levelOf('project', project.id, caller.userId, db),
    ]);
    return { ...projectView(project), services: services.map(serviceView), teams, myAccess: level ?? 'none' };
  }

  async create(db: Database, input: ProjectInput, caller: Principal) {
    const { serviceIds = [], teams = [], ...rest } = input;
    const row = await insertRecord(Project, db, {
      id: randomUUID(),
      ...rest,
      description: rest.description ?? null,
      ttlSeconds: rest.ttlSeconds ?? null,
    });
    await this.replaceServices(db, row.id, serviceIds);
    await replaceTeamAccess(db, 'project', row.id, teams);
    return this.detail(db, row.id, caller, row);
  }

  /** Changes a project; `serviceIds` and `teams`, when given, replace the whole list. */
  async update(db: Database, id: string, input: ProjectInput, caller: Principal) {
    await findOr404(Project, db, id, 'project');
    const { serviceIds, teams, ...rest } = input;
    const row = await Project.query(db).patchAndFetchById(id, { ...rest, updatedAt: new Date() });
    if (serviceIds) await this.replaceServices(db, row.id, serviceIds);
    if (teams) await replaceTeamAccess(db, 'project', row.id, teams);
    return this.detail(db, row.id, caller, row);
  }

  /** Deletes a project with no live deployment, its pipeline versions, and (after commit) its backups. */
  async remove(db: Database, id: string): Promise<void> {
    await findOr404(Project, db, id, 'project');
    await ensureNoLiveDeployments(db, { projectId: id }, 'project');
    await Project.query(db).deleteById(id);
    await this.backups.purgeLater(db, id);
  }

  private async replaceServices(db: Database, projectId: string, serviceIds: string[]) {
    await db('project_services').where({ projectId }).delete();
    if (serviceIds.length)
      await db('project_services').insert(serviceIds.map((serviceId) => ({ projectId, serviceId })));
    await assertServiceNamesUnique(db, { projectId });
  }
}
