import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from '@nullops/kernel';
import { firstPartyRuntime, InputError, RUNTIME_KIND_PATTERN, RUNTIME_KINDS } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { AccessService } from '../access/access-service.js';
import { ensureNoLiveDeployments } from '../deployments/decommission.js';
import { environmentCapacity } from '../deployments/placement.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { Environment } from '../models/fleet.js';
import { TeamAssignmentView, teamAssignments } from '../schemas/catalog.js';
import { displayText, dnsLabel, dnsName, idParam, ttlSeconds } from '../schemas/common.js';
import { EnvironmentView, environmentView } from '../schemas/environment.js';
import { replaceTeamAccess, teamAccessOf } from '../services/team-access.js';
import { findOr404 } from './find.js';

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
  /**
   * Only a runtime with an ingress of its own (Kubernetes Ingress objects) can route through an
   * ingress class; the others are served by the edge. A kind no first-party declaration knows is
   * checked when its agent says what it can do (hello).
   */
  const checkIngressClass = (runtime: string, ingressClass: string | null | undefined) => {
    const declared = firstPartyRuntime(runtime);
    if (ingressClass && declared && !declared.capabilities.ingress)
      throw InputError.field(
        'body.ingressClass',
        `only a runtime with an ingress of its own can route through Ingress objects, and a ${declared.label} environment has none (its services are reached through the agent's edge)`,
      );
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
        const query = Environment.query(db).orderBy('name');
        if (me.role !== 'admin') query.whereIn('id', await access.readableIds('environment', me.userId, db));
        const rows = await query;
        // What the fleet holds is for the administrators who size it.
        const capacity =
          me.role === 'admin'
            ? await environmentCapacity(
                db,
                rows.map((e) => e.id),
              )
            : undefined;
        return {
          status: 200,
          body: {
            items: rows.map((e) => ({
              ...environmentView(e),
              ...(capacity?.get(e.id) ? { capacity: capacity.get(e.id) } : {}),
            })),
          },
        };
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
        const { teams, ...rest } = body;
        checkIngressClass(rest.runtime, rest.ingressClass);
        const row = await Environment.query(db).insertAndFetch({
          id: randomUUID(),
          ...rest,
          description: rest.description ?? null,
        });
        await replaceTeamAccess(db, 'environment', row.id, teams);
        return {
          status: 201,
          body: { ...environmentView(row), teams: await teamAccessOf(db, 'environment', row.id) },
        };
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
        const row = await findOr404(Environment, db, params.environmentId, 'environment');
        return {
          status: 200,
          body: { ...environmentView(row), teams: await teamAccessOf(db, 'environment', row.id) },
        };
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
        const current = await findOr404(Environment, db, params.environmentId, 'environment');
        const { teams, ...rest } = body;
        checkIngressClass(
          rest.runtime ?? current.runtime,
          rest.ingressClass === undefined ? current.ingressClass : rest.ingressClass,
        );
        const row = await Environment.query(db).patchAndFetchById(params.environmentId, {
          ...rest,
          updatedAt: new Date(),
        });
        if (teams) await replaceTeamAccess(db, 'environment', row.id, teams);
        return {
          status: 200,
          body: { ...environmentView(row), teams: await teamAccessOf(db, 'environment', row.id) },
        };
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
        await findOr404(Environment, db, params.environmentId, 'environment');
        await ensureNoLiveDeployments(db, { environmentId: params.environmentId }, 'environment');
        await Environment.query(db).deleteById(params.environmentId);
        return { status: 204 };
      },
    }),
  ];
}
