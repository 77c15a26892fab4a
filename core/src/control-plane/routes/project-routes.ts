import type { DependencyContainer } from '@nullops/kernel';
import { EgressAllowSchema } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { ComposeImport } from '../compose/compose-import.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, inBody, route } from '../http/route-context.js';
import {
  ComposeImportReport,
  ProjectView,
  projectView,
  ServiceView,
  TeamAssignmentView,
  tagPattern,
  teamAssignments,
} from '../schemas/catalog.js';
import { displayText, dnsLabel, idParam, quotaFields, ttlSeconds, uuid } from '../schemas/common.js';
import { accessLevel } from '../schemas/identity.js';
import { Projects } from '../services/projects.js';

const ProjectDetail = ProjectView.extend({
  services: z.array(ServiceView),
  teams: z.array(TeamAssignmentView),
  myAccess: accessLevel.or(z.literal('none')),
});

/** Projects: services, a CPU/RAM budget per deployment, TTL override, team access; and their pipelines. */
export function projectRoutes(container: DependencyContainer): AnyRoute[] {
  const projects = container.resolve(Projects);
  const composeImport = container.resolve(ComposeImport);
  const params = idParam('projectId');
  const fields = {
    name: dnsLabel,
    description: displayText(500).nullable(),
    cpuMillicores: z.number().int().min(10, 'must be at least 10 (0.01 core)').max(1_000_000),
    memoryMb: z.number().int().min(16, 'must be at least 16 MiB').max(4_194_304),
    ttlSeconds: ttlSeconds.nullable(),
    backupLimit: z.number().int().min(0).max(1000),
    backupRetentionDays: z.number().int().min(1).max(3650),
    securityProfile: z.enum(['baseline', 'restricted']),
    egressAllow: EgressAllowSchema,
    ...quotaFields,
    serviceIds: z
      .array(uuid)
      .max(100)
      .refine((ids) => new Set(ids).size === ids.length, 'must name each service once'),
    teams: teamAssignments,
  };

  return [
    route({
      method: 'get',
      path: '/api/projects',
      operationId: 'projects.list',
      summary: 'List the projects you can see',
      tags: ['projects'],
      access: Access.authenticated,
      responses: { 200: z.object({ items: z.array(ProjectView) }) },
      handler: async ({ db, principal }) => {
        return {
          status: 200,
          body: { items: (await projects.list(db, caller(principal))).map(projectView) },
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/projects',
      operationId: 'projects.create',
      summary: 'Create a project',
      tags: ['projects'],
      access: Access.admin,
      body: z
        .object({
          ...fields,
          description: fields.description.optional(),
          ttlSeconds: fields.ttlSeconds.optional(),
          backupLimit: fields.backupLimit.optional(),
          backupRetentionDays: fields.backupRetentionDays.optional(),
          securityProfile: fields.securityProfile.optional(),
          egressAllow: fields.egressAllow.optional(),
          quotaDeployments: fields.quotaDeployments.optional(),
          quotaCpuMillicores: fields.quotaCpuMillicores.optional(),
          quotaMemoryMb: fields.quotaMemoryMb.optional(),
          serviceIds: fields.serviceIds.default([]),
          teams: fields.teams.default([]),
        })
        .strict(),
      responses: { 201: ProjectDetail, 409: null },
      handler: async ({ body, db, principal }) => {
        return { status: 201, body: await projects.create(db, body, caller(principal)) };
      },
    }),
    route({
      method: 'post',
      path: '/api/projects/import',
      operationId: 'projects.import',
      summary:
        'Import a docker-compose file: services, a project and its first pipeline in one go (dryRun: only the report)',
      tags: ['projects'],
      access: Access.admin,
      body: z
        .object({
          compose: z.string().min(1, 'must not be empty').describe('the compose file (YAML)'),
          variables: z
            .record(
              z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name'),
              z.string().max(65536),
            )
            .optional()
            .describe('values for ${VAR} in the file (what .env and the shell give compose)'),
          name: dnsLabel.optional().describe("the project's name (default: the file's top-level name)"),
          registryId: uuid.optional().describe('registry of images without a registry host'),
          selectable: z
            .record(z.string(), tagPattern)
            .optional()
            .describe('compose service → tag pattern: these services get a selectable tag'),
          budget: z
            .object({ cpuMillicores: fields.cpuMillicores, memoryMb: fields.memoryMb })
            .strict()
            .optional(),
          defaultCpuMillicores: fields.cpuMillicores.optional(),
          defaultMemoryMb: fields.memoryMb.optional(),
          ttlSeconds: fields.ttlSeconds.optional(),
          teams: fields.teams.optional(),
          dryRun: z.boolean().default(false),
        })
        .strict(),
      responses: {
        200: z.object({ project: z.null(), report: ComposeImportReport }),
        201: z.object({ project: ProjectDetail, pipelineVersion: z.number(), report: ComposeImportReport }),
        409: null,
      },
      handler: async ({ body, db, principal }) => {
        const me = caller(principal);
        const result = await inBody(() => composeImport.run(db, body, me.userId));
        const report = result.plan;
        if (!result.projectId) return { status: 200, body: { project: null, report } };
        return {
          status: 201,
          body: {
            project: await projects.detail(db, result.projectId, me),
            pipelineVersion: result.pipelineVersion,
            report,
          },
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/projects/:projectId',
      operationId: 'projects.get',
      summary: 'Get a project with its services, team assignments and your access',
      tags: ['projects'],
      access: Access.scoped('project', 'projectId', 'read'),
      params,
      responses: { 200: ProjectDetail },
      handler: async ({ params, db, principal }) => {
        return { status: 200, body: await projects.detail(db, params.projectId, caller(principal)) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/projects/:projectId',
      operationId: 'projects.update',
      summary: 'Change a project; `serviceIds` and `teams` replace the whole list',
      tags: ['projects'],
      access: Access.admin,
      params,
      body: z.object(fields).partial().strict(),
      responses: { 200: ProjectDetail },
      handler: async ({ params, body, db, principal }) => {
        return { status: 200, body: await projects.update(db, params.projectId, body, caller(principal)) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/projects/:projectId',
      operationId: 'projects.delete',
      summary: 'Delete a project and its pipeline versions',
      tags: ['projects'],
      access: Access.admin,
      params,
      responses: { 204: null, 409: null },
      handler: async ({ params, db }) => {
        await projects.remove(db, params.projectId);
        return { status: 204 };
      },
    }),
  ];
}
