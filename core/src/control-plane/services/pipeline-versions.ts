import { randomUUID } from 'node:crypto';
import { InputError, NotFoundError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { PipelineVersion } from '../models/catalog.js';
import { pinPipeline } from '../plugins/pipeline-pinning.js';
import type { PluginService } from '../plugins/plugin-service.js';
import type { PipelineGraph } from '../schemas/pipeline.js';

/**
 * Saves a pipeline as the project's next version, pinned to the plugin releases that provide its
 * components. Call with the project row locked (or just created), so version numbers never clash.
 */
export async function savePipelineVersion(
  db: Database,
  plugins: PluginService,
  input: { projectId: string; graph: PipelineGraph; comment?: string | undefined; createdBy: string | null },
): Promise<PipelineVersion> {
  const pinned = pinPipeline(plugins, input.graph);
  // A node that runs a project service must name one of the project's: a typo (`wbe`) is refused
  // here, not found out by every deployment after.
  const names: string[] = (
    await db('project_services as ps')
      .join('services as s', 's.id', 'ps.serviceId')
      .where('ps.projectId', input.projectId)
      .select('s.name')
  ).map((r: { name: string }) => r.name);
  const issues = input.graph.nodes.flatMap((node, i) => {
    const runsService = plugins.providerOf(node.type)?.components.get(node.type)?.projectService;
    const service = node.params.service;
    return runsService && typeof service === 'string' && !names.includes(service)
      ? [
          {
            path: `graph.nodes.${i}.params.service`,
            message: `"${service}" is not a service of this project (${names.length ? `it has ${names.join(', ')}` : 'it has none: add services to the project first'})`,
          },
        ]
      : [];
  });
  if (issues.length) throw new InputError(issues.map((x) => `${x.path}: ${x.message}`).join('; '), issues);
  const last = await PipelineVersion.query(db)
    .where('projectId', input.projectId)
    .max('version as max')
    .first();
  return PipelineVersion.query(db).insertAndFetch({
    id: randomUUID(),
    projectId: input.projectId,
    version: ((last as unknown as { max: number | null })?.max ?? 0) + 1,
    graph: input.graph,
    plugins: pinned.plugins,
    components: pinned.components,
    comment: input.comment ?? null,
    createdBy: input.createdBy,
  });
}

/** A project's versions, newest first. */
export async function pipelineVersions(db: Database, projectId: string): Promise<PipelineVersion[]> {
  return PipelineVersion.query(db).where('projectId', projectId).orderBy('version', 'desc');
}

/** One version of a project's pipeline (the latest when `version` is omitted), or 404 in words. */
export async function pipelineVersion(
  db: Database,
  projectId: string,
  version?: number,
): Promise<PipelineVersion> {
  const row = version
    ? await PipelineVersion.query(db).findOne({ projectId, version })
    : await PipelineVersion.query(db).where('projectId', projectId).orderBy('version', 'desc').first();
  if (row) return row;
  throw new NotFoundError(
    version
      ? `pipeline version ${version} does not exist`
      : 'this project has no pipeline yet; an administrator saves one in the editor',
  );
}
