import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import { ConflictError, InputError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { ContainerRegistry, Project, Service } from '../models/catalog.js';
import { PluginService } from '../plugins/plugin-service.js';
import { PipelineGraph } from '../schemas/pipeline.js';
import { savePipelineVersion } from '../services/pipeline-versions.js';
import { replaceTeamAccess } from '../services/team-access.js';
import { parseComposeFile } from './compose-file.js';
import { type ImportPlan, mapCompose } from './compose-mapping.js';

export interface ComposeImportInput {
  compose: string;
  variables?: Record<string, string> | undefined;
  name?: string | undefined;
  registryId?: string | undefined;
  selectable?: Record<string, string> | undefined;
  budget?: { cpuMillicores: number; memoryMb: number } | undefined;
  defaultCpuMillicores?: number | undefined;
  defaultMemoryMb?: number | undefined;
  ttlSeconds?: number | null | undefined;
  teams?: { teamId: string; access: 'read' | 'full' }[] | undefined;
  dryRun?: boolean | undefined;
}

export interface ComposeImportResult {
  projectId: string | null;
  pipelineVersion: number | null;
  plan: ImportPlan & { projectName: string };
}

/**
 * docker-compose file → services, a project and its first pipeline version, in the caller's
 * transaction: all of it or (on any error) nothing. A dry run answers the same report and writes
 * nothing, so the UI and the CLI can show what will be imported before it is.
 */
@injectable()
export class ComposeImport {
  constructor(@inject(PluginService) private readonly plugins: PluginService) {}

  async run(db: Database, input: ComposeImportInput, actorId: string | null): Promise<ComposeImportResult> {
    const { missingVariables, ...file } = await parseComposeFile(input.compose, input.variables);
    const registries = await ContainerRegistry.query(db).select('id', 'name', 'url');
    if (input.registryId && !registries.some((r) => r.id === input.registryId))
      throw InputError.field('registryId', 'names no registry');
    for (const name of Object.keys(input.selectable ?? {}))
      if (!file.services[name])
        throw InputError.field(`selectable.${name}`, 'is not a service of the compose file');
    const plan = mapCompose(file, {
      registries,
      registryId: input.registryId,
      selectable: input.selectable,
      existing: await Service.query(db).select(
        'id',
        'name',
        'registryId',
        'image',
        'tagMode',
        'tag',
        'tagPattern',
      ),
      defaultCpuMillicores: input.defaultCpuMillicores ?? 250,
      defaultMemoryMb: input.defaultMemoryMb ?? 256,
    });
    for (const name of missingVariables)
      plan.unmapped.push({
        path: `variables.${name}`,
        reason: 'used by the file but not given: replaced by an empty string, as compose does',
      });
    const projectName = input.name ?? plan.projectName;
    if (!projectName) throw InputError.field('name', 'is required (the compose file has no top-level name)');
    if (await Project.query(db).findOne({ name: projectName }))
      throw new ConflictError(`name: a project "${projectName}" already exists: choose another name`);
    if (input.budget) plan.budget = { ...input.budget, from: 'the request' };
    const structure = PipelineGraph.safeParse(plan.graph);
    if (!structure.success) {
      const issue = structure.error.issues[0];
      throw InputError.field(
        'compose.services',
        `depends_on cannot be imported: ${issue?.message ?? 'the dependencies do not form a pipeline'}`,
      );
    }
    const result = { ...plan, projectName };
    if (input.dryRun) return { projectId: null, pipelineVersion: null, plan: result };

    const ids: string[] = [];
    for (const s of plan.services) {
      if (s.existingId) {
        ids.push(s.existingId);
        continue;
      }
      const id = randomUUID();
      ids.push(id);
      await Service.query(db).insert({
        id,
        name: s.name,
        description: s.composeName !== s.name ? `${s.composeName} in the compose file` : null,
        registryId: s.registryId,
        image: s.image,
        tagMode: s.tagMode,
        tag: s.tag,
        tagPattern: s.tagPattern,
      });
    }
    const project = await Project.query(db).insertAndFetch({
      id: randomUUID(),
      name: projectName,
      description: 'imported from a compose file',
      cpuMillicores: plan.budget.cpuMillicores,
      memoryMb: plan.budget.memoryMb,
      ttlSeconds: input.ttlSeconds ?? null,
    });
    await db('project_services').insert(ids.map((serviceId) => ({ projectId: project.id, serviceId })));
    await replaceTeamAccess(db, 'project', project.id, input.teams ?? []);
    const version = await savePipelineVersion(db, this.plugins, {
      projectId: project.id,
      graph: structure.data,
      comment: 'imported from a compose file',
      createdBy: actorId,
    });
    return { projectId: project.id, pipelineVersion: version.version, plan: result };
  }
}
