import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, inBody, route } from '../http/route-context.js';
import { PipelineVersion, Project } from '../models/catalog.js';
import { PluginService } from '../plugins/plugin-service.js';
import { displayText, idParam, iso, timestamp, uuid } from '../schemas/common.js';
import { PipelineGraph } from '../schemas/pipeline.js';
import { pipelineVersion, pipelineVersions, savePipelineVersion } from '../services/pipeline-versions.js';
import { findOr404 } from '../services/records.js';

const VersionSummary = z.object({
  id: uuid,
  projectId: uuid,
  version: z.number(),
  comment: z.string().nullable(),
  plugins: z.record(z.string(), z.string()).describe('plugin versions the pipeline was saved with'),
  createdBy: uuid.nullable(),
  createdAt: timestamp,
});
const VersionDetail = VersionSummary.extend({ graph: PipelineGraph });

function summary(v: PipelineVersion): z.infer<typeof VersionSummary> {
  return {
    id: v.id,
    projectId: v.projectId,
    version: v.version,
    comment: v.comment,
    plugins: v.plugins ?? {},
    createdBy: v.createdBy,
    createdAt: iso(v.createdAt) as string,
  };
}
const detail = (v: PipelineVersion) => ({ ...summary(v), graph: v.graph as PipelineGraph });

/** A project's pipeline: every save is a new immutable version; old versions stay readable. */
export function pipelineRoutes(container: DependencyContainer): AnyRoute[] {
  const plugins = container.resolve(PluginService);
  const params = idParam('projectId');
  const read = Access.scoped('project', 'projectId', 'read');
  return [
    route({
      method: 'get',
      path: '/api/projects/:projectId/pipeline',
      operationId: 'pipelines.latest',
      summary: 'The latest pipeline version of a project',
      tags: ['pipelines'],
      access: read,
      params,
      responses: { 200: VersionDetail, 404: null },
      handler: async ({ params, db }) => {
        return { status: 200, body: detail(await pipelineVersion(db, params.projectId)) };
      },
    }),
    route({
      method: 'get',
      path: '/api/projects/:projectId/pipeline/versions',
      operationId: 'pipelines.versions.list',
      summary: 'Version history of a project pipeline, newest first',
      tags: ['pipelines'],
      access: read,
      params,
      responses: { 200: z.object({ items: z.array(VersionSummary) }) },
      handler: async ({ params, db }) => {
        return { status: 200, body: { items: (await pipelineVersions(db, params.projectId)).map(summary) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/projects/:projectId/pipeline/versions/:version',
      operationId: 'pipelines.versions.get',
      summary: 'One pipeline version, read-only',
      tags: ['pipelines'],
      access: read,
      params: z.object({ projectId: uuid, version: z.coerce.number().int().min(1) }).strict(),
      responses: { 200: VersionDetail },
      handler: async ({ params, db }) => {
        return { status: 200, body: detail(await pipelineVersion(db, params.projectId, params.version)) };
      },
    }),
    route({
      method: 'post',
      path: '/api/projects/:projectId/pipeline/versions',
      operationId: 'pipelines.versions.create',
      summary: 'Save the pipeline: creates the next version',
      tags: ['pipelines'],
      access: Access.admin,
      params,
      body: z.object({ graph: PipelineGraph, comment: displayText(500).optional() }).strict(),
      responses: { 201: VersionDetail },
      handler: async ({ params, body, db, principal }) => {
        // Locking the project row serialises concurrent saves, so version numbers never clash.
        await findOr404(Project, db, params.projectId, 'project');
        const row = await inBody(async () =>
          savePipelineVersion(db, plugins, {
            projectId: params.projectId,
            graph: body.graph,
            comment: body.comment,
            createdBy: caller(principal).userId,
          }),
        );
        return { status: 201, body: detail(row) };
      },
    }),
  ];
}
