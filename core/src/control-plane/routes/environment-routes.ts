import type { DependencyContainer } from '@nullops/kernel';
import { RUNTIME_KIND_PATTERN, RUNTIME_KINDS } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { AccessService } from '../access/access-service.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { TeamAssignmentView, teamAssignments } from '../schemas/catalog.js';
import { displayText, dnsLabel, dnsName, idParam, ttlSeconds } from '../schemas/common.js';
import { EnvironmentView } from '../schemas/environment.js';
import {
  createEnvironment,
  deleteEnvironment,
  environmentDetail,
  listEnvironments,
  updateEnvironment,
} from '../services/environments.js';

const EnvironmentDetail = EnvironmentView.extend({ teams: z.array(TeamAssignmentView) });

/** Environments: a set of nodes of one runtime kind, a base domain and a default auto-cleanup TTL. */
export function environmentRoutes(container: DependencyContainer): AnyRoute[] {
  const access = container.resolve(AccessService);
  const params = idParam('environmentId');
  const fields = {
    name: dnsLabel,
    description: displayText(500).nullable(),
    baseDomain: dnsName,
    runtime: z
      .string()
      .regex(
        RUNTIME_KIND_PATTERN,
        `must be a runtime kind: ${RUNTIME_KINDS.join(', ')}, or the kind an agent package brings (lowercase letters, digits, dashes)`,
      ),
    defaultTtlSeconds: ttlSeconds,
    ingressClass: dnsLabel.nullable(),
    cpuOvercommit: z.number().min(1, 'must be at least 1 (no overcommit)').max(20),
    memoryOvercommit: z.number().min(1, 'must be at least 1 (no overcommit)').max(4),
    teams: teamAssignments,
  };
  return [
    route({
      method: 'get',
      path: '/api/environments',
      operationId: 'environments.list',
      summary: 'List the environments you can see',
      tags: ['environments'],
      access: Access.authenticated,
      responses: { 200: z.object({ items: z.array(EnvironmentView) }) },
      handler: async ({ db, principal }) => {
        const me = caller(principal);
        const readable =
          me.role === 'admin' ? undefined : await access.readableIds('environment', me.userId, db);
        // What the fleet holds is for the administrators who size it.
        return { status: 200, body: { items: await listEnvironments(db, readable, me.role === 'admin') } };
      },
    }),
    route({
      method: 'post',
      path: '/api/environments',
      operationId: 'environments.create',
      summary: 'Create an environment',
      tags: ['environments'],
      access: Access.admin,
      body: z
        .object({
          ...fields,
          description: fields.description.optional(),
          ingressClass: fields.ingressClass.optional(),
          cpuOvercommit: fields.cpuOvercommit.optional(),
          memoryOvercommit: fields.memoryOvercommit.optional(),
          teams: fields.teams.default([]),
        })
        .strict(),
      responses: { 201: EnvironmentDetail, 409: null },
      handler: async ({ body, db }) => {
        return { status: 201, body: await createEnvironment(db, body) };
      },
    }),
    route({
      method: 'get',
      path: '/api/environments/:environmentId',
      operationId: 'environments.get',
      summary: 'Get an environment and its team assignments',
      tags: ['environments'],
      access: Access.scoped('environment', 'environmentId', 'read'),
      params,
      responses: { 200: EnvironmentDetail },
      handler: async ({ params, db }) => {
        return { status: 200, body: await environmentDetail(db, params.environmentId) };
      },
    }),
    route({
      method: 'patch',
      path: '/api/environments/:environmentId',
      operationId: 'environments.update',
      summary: 'Change an environment; `teams` replaces all assignments',
      tags: ['environments'],
      access: Access.admin,
      params,
      body: z.object(fields).partial().strict(),
      responses: { 200: EnvironmentDetail },
      handler: async ({ params, body, db }) => {
        return { status: 200, body: await updateEnvironment(db, params.environmentId, body) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/environments/:environmentId',
      operationId: 'environments.delete',
      summary: 'Delete an environment that has no nodes',
      tags: ['environments'],
      access: Access.admin,
      params,
      responses: { 204: null, 409: null },
      handler: async ({ params, db }) => {
        await deleteEnvironment(db, params.environmentId);
        return { status: 204 };
      },
    }),
  ];
}
