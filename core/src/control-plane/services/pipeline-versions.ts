import { randomUUID } from 'node:crypto';
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
