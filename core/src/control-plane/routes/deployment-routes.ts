import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Access, type AnyRoute } from '@nullops/agent-host/kernel';
import { InputError, NotAllowedError, NotFoundError } from '@nullops/plugin-sdk';
import type Koa from 'koa';
import type { DependencyContainer } from 'tsyringe';
import { z } from 'zod';
import { AccessService, atLeast } from '../access/access-service.js';
import { AgentEvents } from '../agents/agent-events.js';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../database/database.js';
import { DeploymentService } from '../deployments/deployment-service.js';
import { caller, route } from '../http/route-context.js';
import { IngressService } from '../ingress/ingress-service.js';
import { Project } from '../models/catalog.js';
import { AgentNode, Deployment, Environment } from '../models/fleet.js';
import { dnsLabel, idParam, iso, timestamp, uuid } from '../schemas/common.js';
import { DeploymentView, deploymentViews } from '../schemas/deployment.js';
import { findOr404 } from './find.js';

const tagsBody = z
  .record(z.string().max(63), z.string().min(1).max(128))
  .refine((t) => Object.keys(t).length <= 100, 'at most 100 services');

/** Deployments: create with chosen tags, watch, extend, retry, clone, cancel/delete; live progress and logs. */
export function deploymentRoutes(container: DependencyContainer): AnyRoute[] {
  const deployments = container.resolve(DeploymentService);
  const access = container.resolve(AccessService);
  const ingress = container.resolve(IngressService);
  const agents = container.resolve(AgentConnectionManager);
  const agentEvents = container.resolve(AgentEvents);
  const params = idParam('deploymentId');
  const read = Access.scoped('deployment', 'deploymentId', 'read');
  const full = Access.scoped('deployment', 'deploymentId', 'full');
  const actorOf = (p: Principal | undefined) => ({ userId: caller(p).userId, username: caller(p).username });

  const views = (db: Database, rows: Deployment[]) => deploymentViews(db, rows, (host) => ingress.url(host));
  const view = async (db: Database, d: Deployment) => (await views(db, [d]))[0] as DeploymentView;

  /** Creating in an environment with team assignments needs full access there too. */
  async function requireEnvironment(db: Database, environmentId: string, principal: Principal | undefined) {
    const environment = await Environment.query(db).findById(environmentId);
    const me = caller(principal);
    const level =
      environment && me.role !== 'admin'
        ? await access.levelOf('environment', environment.id, me.userId, db)
        : 'full';
    if (!environment || level === 'none')
      throw new NotFoundError(`environment ${environmentId} does not exist`);
    if (!atLeast(level ?? 'none', 'full'))
      throw new NotAllowedError('you need full access to this environment');
    return environment;
  }

  return [
    route({
      method: 'get',
      path: '/api/projects/:projectId/tags',
      operationId: 'deployments.tags',
      summary:
        'The tags each service of a project may be deployed with (selectable ones from the registry, newest first)',
      tags: ['deployments'],
      access: Access.scoped('project', 'projectId', 'read'),
      params: idParam('projectId'),
      responses: {
        200: z.object({
          services: z.array(
            z.object({
              serviceId: uuid,
              name: z.string(),
              image: z.string(),
              tagMode: z.enum(['pinned', 'selectable']),
              defaultTag: z.string().nullable(),
              tags: z.array(z.string()),
            }),
          ),
        }),
      },
      handler: async ({ params, db }) => {
        const project = await findOr404(Project, db, params.projectId, 'project');
        return { status: 200, body: { services: await deployments.tags.forProject(project, db) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments',
      operationId: 'deployments.list',
      summary: 'Deployments you can see, newest first',
      tags: ['deployments'],
      access: Access.authenticated,
      query: z.object({
        projectId: uuid.optional(),
        environmentId: uuid.optional(),
        state: z
          .enum(['pending', 'deploying', 'running', 'failed', 'offline', 'deleting', 'deleted'])
          .optional(),
        includeDeleted: z.enum(['true', 'false']).default('false'),
      }),
      responses: { 200: z.object({ items: z.array(DeploymentView) }) },
      handler: async ({ query, db, principal }) => {
        const me = caller(principal);
        const q = Deployment.query(db).orderBy('createdAt', 'desc').limit(500);
        if (query.projectId) q.where('projectId', query.projectId);
        if (query.environmentId) q.where('environmentId', query.environmentId);
        if (query.state) q.where('state', query.state);
        else if (query.includeDeleted === 'false') q.whereNot('state', 'deleted');
        if (me.role !== 'admin') {
          q.whereIn('projectId', await access.readableIds('project', me.userId, db));
          q.whereIn('environmentId', await access.readableIds('environment', me.userId, db));
        }
        return { status: 200, body: { items: await views(db, await q) } };
      },
    }),
    route({
      method: 'post',
      path: '/api/projects/:projectId/deployments',
      operationId: 'deployments.create',
      summary: 'Create a deployment; send Idempotency-Key to make retries safe',
      tags: ['deployments'],
      access: Access.scoped('project', 'projectId', 'full'),
      params: idParam('projectId'),
      body: z.object({ environmentId: uuid, name: dnsLabel, tags: tagsBody.default({}) }).strict(),
      responses: { 201: DeploymentView, 200: DeploymentView, 409: null },
      handler: async ({ params, body, db, principal, ctx }) => {
        const project = await findOr404(Project, db, params.projectId, 'project');
        const environment = await requireEnvironment(db, body.environmentId, principal);
        const key = ctx.get('idempotency-key');
        if (key && !/^[A-Za-z0-9._:-]{1,128}$/.test(key))
          throw InputError.field('headers.idempotency-key', 'must be 1-128 letters, digits, . _ : -');
        const { deployment, created } = await deployments.create(db, {
          project,
          environment,
          name: body.name,
          tags: body.tags,
          ...(key ? { idempotencyKey: key } : {}),
          actor: actorOf(principal),
        });
        return { status: created ? 201 : 200, body: await view(db, deployment) };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId',
      operationId: 'deployments.get',
      summary: 'A deployment: state, error, services with their URLs, expiry',
      tags: ['deployments'],
      access: read,
      params,
      responses: { 200: DeploymentView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: await view(db, await findOr404(Deployment, db, params.deploymentId, 'deployment')),
      }),
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/metrics',
      operationId: 'deployments.metrics',
      summary: "Real CPU and memory of the deployment's services, from its node's latest heartbeat",
      tags: ['deployments'],
      access: read,
      params,
      responses: {
        200: z.object({
          at: timestamp.nullable().describe('when the node measured them'),
          services: z.array(
            z.object({
              service: z.string(),
              cpuPercent: z.number(),
              memoryBytes: z.number(),
              memoryLimitBytes: z.number(),
            }),
          ),
        }),
      },
      handler: async ({ params, db }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        const node = d.nodeId ? await AgentNode.query(db).findById(d.nodeId) : undefined;
        const usage = (node?.usage ?? null) as {
          at?: string;
          services?: {
            deploymentId: string;
            service: string;
            cpuPercent: number;
            memoryBytes: number;
            memoryLimitBytes: number;
          }[];
        } | null;
        const services = (usage?.services ?? [])
          .filter((x) => x.deploymentId === d.id)
          .map(({ deploymentId: _, ...x }) => x);
        return { status: 200, body: { at: usage?.at ?? null, services } };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/history',
      operationId: 'deployments.history',
      summary: 'Who did what to a deployment, and what its pipeline did, oldest first',
      tags: ['deployments'],
      access: read,
      params,
      responses: {
        200: z.object({
          items: z.array(
            z.object({
              at: timestamp,
              kind: z.string(),
              fromState: z.string().nullable(),
              toState: z.string().nullable(),
              message: z.string().nullable(),
              actorName: z.string().nullable(),
              details: z.unknown(),
            }),
          ),
        }),
      },
      handler: async ({ params, db }) => {
        await findOr404(Deployment, db, params.deploymentId, 'deployment');
        const rows = await db('deployment_events')
          .where('deploymentId', params.deploymentId)
          .orderBy('id')
          .select('at', 'kind', 'fromState', 'toState', 'message', 'actorName', 'details');
        return {
          status: 200,
          body: { items: rows.map((r: { at: Date }) => ({ ...r, at: iso(r.at) as string })) },
        };
      },
    }),
    route({
      method: 'delete',
      path: '/api/deployments/:deploymentId',
      operationId: 'deployments.delete',
      summary: 'Delete a deployment (while deploying: cancel and roll back); repeating it is harmless',
      tags: ['deployments'],
      access: full,
      params,
      responses: { 202: DeploymentView },
      handler: async ({ params, db, principal }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        return {
          status: 202,
          body: await view(
            db,
            await deployments.delete(
              db,
              d,
              actorOf(principal),
              d.state === 'deploying' ? 'cancelled' : 'deleted',
            ),
          ),
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/cancel',
      operationId: 'deployments.cancel',
      summary: 'Cancel a deployment: the same as deleting it',
      tags: ['deployments'],
      access: full,
      params,
      responses: { 202: DeploymentView },
      handler: async ({ params, db, principal }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        return {
          status: 202,
          body: await view(db, await deployments.delete(db, d, actorOf(principal), 'cancelled')),
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/extend',
      operationId: 'deployments.extend',
      summary: 'Reset the auto-cleanup timer',
      tags: ['deployments'],
      access: full,
      params,
      responses: { 200: DeploymentView },
      handler: async ({ params, db, principal }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        return { status: 200, body: await view(db, await deployments.extend(db, d, actorOf(principal))) };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/retry',
      operationId: 'deployments.retry',
      summary: 'Run a failed deployment again with the latest pipeline version',
      tags: ['deployments'],
      access: full,
      params,
      responses: { 202: DeploymentView, 409: null },
      handler: async ({ params, db, principal }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        return { status: 202, body: await view(db, await deployments.retry(db, d, actorOf(principal))) };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/clone',
      operationId: 'deployments.clone',
      summary: 'A new deployment with the same (or changed) tags, a new name and the latest pipeline',
      tags: ['deployments'],
      access: full,
      params,
      body: z.object({ name: dnsLabel, tags: tagsBody.optional() }).strict(),
      responses: { 201: DeploymentView, 409: null },
      handler: async ({ params, body, db, principal }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        await requireEnvironment(db, d.environmentId, principal);
        const created = await deployments.clone(
          db,
          d,
          { name: body.name, ...(body.tags ? { tags: body.tags } : {}) },
          actorOf(principal),
        );
        return { status: 201, body: await view(db, created) };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/events',
      operationId: 'deployments.events',
      summary: 'Live progress (server-sent events): state changes and pipeline steps as they happen',
      tags: ['deployments'],
      access: read,
      params,
      produces: 'text/event-stream',
      responses: { 200: z.string() },
      handler: async ({ params, db, ctx }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        const stream = sse(ctx);
        // A watcher that arrives late first gets what already happened, then live events.
        const past = await db('deployment_events')
          .where('deploymentId', d.id)
          .orderBy('id')
          .select('at', 'kind', 'toState', 'message', 'details');
        for (const row of past as {
          at: Date;
          kind: string;
          toState: string | null;
          message: string | null;
          details: unknown;
        }[]) {
          stream.send('progress', {
            deploymentId: d.id,
            kind: row.kind,
            state: row.toState,
            message: row.message,
            details: row.details,
            at: iso(row.at),
          });
        }
        stream.send('state', { state: d.state, message: d.stateMessage, error: d.error });
        const listener = (event: { deploymentId: string }) => {
          if (event.deploymentId === d.id) stream.send('progress', event);
        };
        deployments.history.live.on('event', listener);
        stream.onClose(() => deployments.history.live.off('event', listener));
        return { status: 200, body: stream.body, headers: SSE_HEADERS };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/logs',
      operationId: 'deployments.logs',
      summary: "A service's log lines (server-sent events), following new ones unless follow=false",
      tags: ['deployments'],
      access: read,
      params,
      query: z.object({
        service: dnsLabel,
        follow: z.enum(['true', 'false']).default('true'),
        tail: z.coerce.number().int().min(0).max(10000).default(200),
      }),
      produces: 'text/event-stream',
      responses: { 200: z.string(), 409: null },
      handler: async ({ params, query, db, ctx }) => {
        const d = await findOr404(Deployment, db, params.deploymentId, 'deployment');
        const link = d.nodeId ? agents.linkOf(d.nodeId) : undefined;
        if (!link || !['running', 'deploying', 'failed'].includes(d.state)) {
          throw new NotFoundError(
            `logs of ${d.name} are not available while it is ${d.state}${link ? '' : ' and its node is offline'}`,
          );
        }
        const streamId = randomUUID();
        const stream = sse(ctx);
        const onLine = (_node: string, line: { streamId: string }) => {
          if (line.streamId === streamId) stream.send('log', line);
        };
        const onEnd = (_node: string, end: { streamId: string; reason?: string }) => {
          if (end.streamId === streamId) stream.end('end', end);
        };
        agentEvents.on('log.line', onLine);
        agentEvents.on('log.end', onEnd);
        stream.onClose(() => {
          agentEvents.off('log.line', onLine);
          agentEvents.off('log.end', onEnd);
          void link.request('logs.close', { streamId }).catch(() => {});
        });
        await link.request('logs.open', {
          streamId,
          deploymentId: d.id,
          service: query.service,
          follow: query.follow === 'true',
          tail: query.tail,
        });
        return { status: 200, body: stream.body, headers: SSE_HEADERS };
      },
    }),
  ];
}

const SSE_HEADERS = { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/** A server-sent-events response: named events with JSON data, a keep-alive comment, cleanup on close. */
function sse(ctx: Koa.Context) {
  const body = new PassThrough();
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  const closers: (() => void)[] = [];
  const keepAlive = setInterval(() => body.write(': keep-alive\n\n'), 15_000);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const fn of closers) fn();
    body.end();
  };
  ctx.req.on('close', close);
  return {
    body,
    send(event: string, data: unknown) {
      if (!closed) body.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end(event: string, data: unknown) {
      this.send(event, data);
      close();
    },
    onClose(fn: () => void) {
      closers.push(fn);
    },
  };
}
