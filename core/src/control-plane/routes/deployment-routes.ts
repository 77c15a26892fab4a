import type { DependencyContainer } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { AccessService } from '../access/access-service.js';
import { LiveStreams } from '../access/live-streams.js';
import { LogStreams } from '../agents/log-streams.js';
import type { Principal } from '../auth/principal.js';
import { DeploymentBackups } from '../backups/deployment-backups.js';
import type { Database } from '../database/database.js';
import { DeploymentCommands } from '../deployments/commands.js';
import { DeploymentHistory, type LiveEvent } from '../deployments/history.js';
import { keptLogsOf } from '../deployments/kept-logs.js';
import { DEPLOYMENT_STATES, ROUTED_STATES } from '../deployments/lifecycle.js';
import { DeploymentOperations } from '../deployments/operations.js';
import { DeploymentReadModel } from '../deployments/read-model.js';
import { DeploymentHealth, type HealthChange } from '../deployments/service-health.js';
import { TagService } from '../deployments/tag-service.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, inBody, route } from '../http/route-context.js';
import { SSE_HEADERS, sse } from '../http/sse.js';
import { Project } from '../models/catalog.js';
import { Deployment, Environment } from '../models/fleet.js';
import { dnsLabel, idParam, paging, uuid } from '../schemas/common.js';
import {
  BackupView,
  backupView,
  DeploymentMetricsView,
  DeploymentView,
  HistoryItem,
  OperationView,
  operationView,
  ServiceTagsView,
} from '../schemas/deployment.js';
import { findOr404 } from '../services/records.js';

const tagsBody = z
  .record(z.string().max(63), z.string().min(1).max(128))
  .refine((t) => Object.keys(t).length <= 100, 'at most 100 services');

/** Deployments: create with chosen tags, watch, extend, retry, redeploy, clone, cancel/delete; live progress and logs. */
export function deploymentRoutes(container: DependencyContainer): AnyRoute[] {
  const commands = container.resolve(DeploymentCommands);
  const read = container.resolve(DeploymentReadModel);
  const history = container.resolve(DeploymentHistory);
  const tags = container.resolve(TagService);
  const logs = container.resolve(LogStreams);
  const access = container.resolve(AccessService);
  const operations = container.resolve(DeploymentOperations);
  const backups = container.resolve(DeploymentBackups);
  const health = container.resolve(DeploymentHealth);
  const live = container.resolve(LiveStreams);
  const params = idParam('deploymentId');
  const readable = Access.scoped('deployment', 'deploymentId', 'read');
  const full = Access.scoped('deployment', 'deploymentId', 'full');
  const actorOf = (p: Principal | undefined) => ({ userId: caller(p).userId, username: caller(p).username });
  const view = (db: Database, d: Deployment) => read.view(db, d);
  const find = (db: Database, id: string) => findOr404(Deployment, db, id, 'deployment');

  /** Creating in an environment with team assignments needs full access there too (the access service decides). */
  async function requireEnvironment(db: Database, environmentId: string, principal: Principal | undefined) {
    await access.require(caller(principal), 'environment', environmentId, 'full', db);
    return findOr404(Environment, db, environmentId, 'environment');
  }

  const canRead = (me: Principal, deploymentId: string) =>
    access.allows(me, 'deployment', deploymentId, 'read');

  /** Holds a stream of one deployment only while its caller may still read it. */
  const holdWhileReadable = (me: Principal, deploymentId: string, stream: ReturnType<typeof sse>) =>
    stream.onClose(live.hold(me, () => canRead(me, deploymentId), stream.close));

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
        200: z.object({ services: z.array(ServiceTagsView) }),
      },
      handler: async ({ params, db }) => {
        const project = await findOr404(Project, db, params.projectId, 'project');
        return { status: 200, body: { services: await tags.forProject(project, db) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments',
      operationId: 'deployments.list',
      summary:
        'Deployments you can see, newest first, a page at a time (limit, default 100, at most 500; offset)',
      tags: ['deployments'],
      access: Access.authenticated,
      query: z.object({
        ...paging,
        projectId: uuid.optional(),
        environmentId: uuid.optional(),
        name: dnsLabel.optional().describe('only deployments of this name (unique per environment)'),
        state: z.enum(DEPLOYMENT_STATES).optional(),
        includeDeleted: z.enum(['true', 'false']).default('false'),
      }),
      responses: { 200: z.object({ items: z.array(DeploymentView) }) },
      // Written once per page for all who read it (the page is kept until a deployment changes).
      handler: async ({ query, db, principal }) => ({
        status: 200,
        body: await read.listJson(
          db,
          { ...query, includeDeleted: query.includeDeleted === 'true' },
          caller(principal),
        ),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      }),
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
      // The registry is asked for tags before anything is written: the command opens its own transaction.
      transaction: false,
      handler: async ({ params, body, db, principal, ctx }) => {
        const project = await findOr404(Project, db, params.projectId, 'project');
        const environment = await requireEnvironment(db, body.environmentId, principal);
        const key = ctx.get('idempotency-key');
        if (key && !/^[A-Za-z0-9._:-]{1,128}$/.test(key))
          throw InputError.field('headers.idempotency-key', 'must be 1-128 letters, digits, . _ : -');
        const { deployment, created } = await inBody(() =>
          commands.create({
            project,
            environment,
            name: body.name,
            tags: body.tags,
            ...(key ? { idempotencyKey: key } : {}),
            actor: actorOf(principal),
          }),
        );
        return { status: created ? 201 : 200, body: await view(db, deployment) };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId',
      operationId: 'deployments.get',
      summary: 'A deployment: state, error, services with their URLs, expiry',
      tags: ['deployments'],
      access: readable,
      params,
      responses: { 200: DeploymentView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: await view(db, await find(db, params.deploymentId)),
      }),
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/metrics',
      operationId: 'deployments.metrics',
      summary: "Real CPU and memory of the deployment's services, from its node's latest heartbeat",
      tags: ['deployments'],
      access: readable,
      params,
      responses: {
        200: DeploymentMetricsView,
      },
      handler: async ({ params, db }) => ({
        status: 200,
        body: await read.metrics(db, await find(db, params.deploymentId)),
      }),
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/history',
      operationId: 'deployments.history',
      summary: 'Who did what to a deployment, and what its pipeline did, oldest first',
      tags: ['deployments'],
      access: readable,
      params,
      responses: { 200: z.object({ items: z.array(HistoryItem) }) },
      handler: async ({ params, db }) => {
        const d = await find(db, params.deploymentId);
        return { status: 200, body: { items: await history.list(db, d.id) } };
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
        const d = await find(db, params.deploymentId);
        const reason = d.state === 'pending' || d.state === 'deploying' ? 'cancelled' : 'deleted';
        return {
          status: 202,
          body: await view(db, await commands.delete(db, d, actorOf(principal), reason)),
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
        const d = await find(db, params.deploymentId);
        return {
          status: 202,
          body: await view(db, await commands.delete(db, d, actorOf(principal), 'cancelled')),
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/services/:service/:action',
      operationId: 'deployments.services.control',
      summary:
        "Restart, stop or start one service of a running deployment: queued behind the deployment's other operations",
      tags: ['deployments'],
      access: full,
      params: z
        .object({ deploymentId: uuid, service: dnsLabel, action: z.enum(['restart', 'stop', 'start']) })
        .strict(),
      responses: { 202: OperationView, 409: null },
      handler: async ({ params: p, db, principal }) => {
        const d = await find(db, p.deploymentId);
        const op = await operations.serviceAction(db, d, p.action, p.service, actorOf(principal));
        return { status: 202, body: operationView(op) };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/backups',
      operationId: 'deployments.backups.create',
      summary:
        "Back up a service's data (made by its component's backup hook, kept by the control plane): queued",
      tags: ['deployments'],
      access: full,
      params,
      body: z
        .object({
          service: dnsLabel.optional().describe('the database service, when the pipeline has several'),
        })
        .strict(),
      responses: { 202: OperationView, 409: null },
      handler: async ({ params: p, body, db, principal }) => {
        const d = await find(db, p.deploymentId);
        return {
          status: 202,
          body: operationView(await operations.backup(db, d, body.service, actorOf(principal))),
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/backups',
      operationId: 'deployments.backups.list',
      summary: "The deployment's database backups, newest first",
      tags: ['deployments'],
      access: readable,
      params,
      responses: { 200: z.object({ items: z.array(BackupView) }) },
      handler: async ({ params: p, db }) => {
        const d = await find(db, p.deploymentId);
        return {
          status: 200,
          body: { items: (await backups.list(db, { deploymentId: d.id })).map(backupView) },
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/projects/:projectId/backups',
      operationId: 'projects.backups.list',
      summary:
        "The database backups of the project's deployments you may read (their project and environment), newest first; any can be restored into a deployment you have full access to",
      tags: ['deployments', 'projects'],
      access: Access.scoped('project', 'projectId', 'read'),
      params: idParam('projectId'),
      responses: { 200: z.object({ items: z.array(BackupView) }) },
      handler: async ({ params: p, db, principal }) => {
        await findOr404(Project, db, p.projectId, 'project');
        const items = await backups.list(db, { projectId: p.projectId }, caller(principal));
        return { status: 200, body: { items: items.map(backupView) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/backups/:backupId/archive',
      operationId: 'deployments.backups.download',
      summary:
        'Download a backup of the deployment: the archive its component made, in the component’s own format, decrypted; audited',
      tags: ['deployments'],
      access: readable,
      params: z.object({ deploymentId: uuid, backupId: uuid }).strict(),
      produces: 'application/octet-stream',
      responses: { 200: z.string() },
      auditRead: true,
      handler: async ({ params: p, db }) => {
        const d = await find(db, p.deploymentId);
        const { backup, archive } = await backups.download(db, d, p.backupId);
        const day = backup.createdAt.toISOString().slice(0, 10);
        return {
          status: 200,
          body: archive,
          headers: {
            'content-disposition': `attachment; filename="${d.name}-${backup.service}-${day}.backup"`,
            'x-content-sha256': backup.sha256,
          },
        };
      },
    }),
    route({
      method: 'delete',
      path: '/api/deployments/:deploymentId/backups/:backupId',
      operationId: 'deployments.backups.delete',
      summary: 'Delete a backup of the deployment',
      tags: ['deployments'],
      access: full,
      params: z.object({ deploymentId: uuid, backupId: uuid }).strict(),
      responses: { 204: null },
      handler: async ({ params: p, db }) => {
        await backups.remove(db, await find(db, p.deploymentId), p.backupId);
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/restore',
      operationId: 'deployments.restore',
      summary:
        "Restore a backup of the project (this deployment's or another's: clone with data) into the deployment's database: queued",
      tags: ['deployments'],
      access: full,
      params,
      body: z.object({ backupId: uuid }).strict(),
      responses: { 202: OperationView, 409: null },
      handler: async ({ params: p, body, db, principal, ctx }) => {
        const d = await find(db, p.deploymentId);
        const op = await operations.restore(db, d, body.backupId, actorOf(principal), caller(principal));
        const { service, backupId, sourceDeploymentId, sourceService } = op.params;
        ctx.state.auditDetails = { service, backupId, sourceDeploymentId, sourceService };
        return { status: 202, body: operationView(op) };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/operations',
      operationId: 'deployments.operations',
      summary: "The deployment's day-2 operations, newest first, each with its state and result",
      tags: ['deployments'],
      access: readable,
      params,
      responses: { 200: z.object({ items: z.array(OperationView) }) },
      handler: async ({ params: p, db }) => {
        const d = await find(db, p.deploymentId);
        return { status: 200, body: { items: (await operations.list(db, d.id)).map(operationView) } };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/extend',
      operationId: 'deployments.extend',
      summary: 'Reset the auto-cleanup timer: to its TTL from now, or to `hours` from now',
      tags: ['deployments'],
      access: full,
      params,
      body: z
        .object({
          hours: z
            .number()
            .int()
            .min(1)
            .max(168)
            .optional()
            .describe('how long from now it is kept (1 hour to a week); its TTL when left out'),
        })
        .strict()
        .default({}),
      responses: { 200: DeploymentView },
      handler: async ({ params, body, db, principal }) => {
        const d = await find(db, params.deploymentId);
        return {
          status: 200,
          body: await view(db, await commands.extend(db, d, actorOf(principal), body.hours)),
        };
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
        const d = await find(db, params.deploymentId);
        return { status: 202, body: await view(db, await commands.retry(db, d, actorOf(principal))) };
      },
    }),
    route({
      method: 'post',
      path: '/api/deployments/:deploymentId/redeploy',
      operationId: 'deployments.redeploy',
      summary:
        'Rebuild a live or degraded deployment: remove what it has on its node and run its pipeline again, with the same tags, name and URLs',
      tags: ['deployments'],
      access: full,
      params,
      responses: { 202: DeploymentView, 409: null },
      // It asks the registry for the tags' digests first: no transaction may wait on the network.
      transaction: false,
      handler: async ({ params, db, principal }) => {
        const d = await find(db, params.deploymentId);
        return { status: 202, body: await view(db, await commands.redeploy(d, actorOf(principal))) };
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
      transaction: false,
      handler: async ({ params, body, db, principal }) => {
        const d = await find(db, params.deploymentId);
        await requireEnvironment(db, d.environmentId, principal);
        const created = await inBody(() =>
          commands.clone(
            d,
            { name: body.name, ...(body.tags ? { tags: body.tags } : {}) },
            actorOf(principal),
          ),
        );
        return { status: 201, body: await view(db, created) };
      },
    }),
    route({
      method: 'get',
      path: '/api/live/deployments',
      operationId: 'deployments.live',
      summary:
        'Changes to the deployments you can see (server-sent events): `state` when one changes state, `health` when its services’ health changes',
      tags: ['deployments'],
      access: Access.authenticated,
      produces: 'text/event-stream',
      responses: { 200: z.string() },
      handler: async ({ principal, ctx }) => {
        const me = caller(principal);
        const stream = sse(ctx);
        // Whether the caller may see a deployment, asked once per deployment for this stream.
        const visible = new Map<string, Promise<boolean>>();
        const canSee = (id: string) => {
          let answer = visible.get(id);
          if (!answer) {
            answer = canRead(me, id).catch(() => false);
            if (visible.size > 5000) visible.clear();
            visible.set(id, answer);
          }
          return answer;
        };
        const onHistory = (event: LiveEvent) => {
          if (!event.state) return;
          void canSee(event.deploymentId).then(
            (ok) => ok && stream.send('state', { deploymentId: event.deploymentId, state: event.state }),
          );
        };
        const onHealth = (change: HealthChange) =>
          void canSee(change.deploymentId).then((ok) => ok && stream.send('health', change));
        history.live.on('event', onHistory);
        health.live.on('health', onHealth);
        stream.onClose(() => {
          history.live.off('event', onHistory);
          health.live.off('health', onHealth);
        });
        // Held while its session or token stands; what it may see is asked anew after a change.
        stream.onClose(
          live.hold(
            me,
            async () => {
              visible.clear();
              return true;
            },
            stream.close,
          ),
        );
        return { status: 200, body: stream.body, headers: SSE_HEADERS };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/events',
      operationId: 'deployments.events',
      summary: 'Live progress (server-sent events): state changes and pipeline steps as they happen',
      tags: ['deployments'],
      access: readable,
      params,
      query: z.object({
        history: z
          .enum(['all', 'none'])
          .default('all')
          .describe('`none`: only what happens from now (a client following an action it just took)'),
      }),
      produces: 'text/event-stream',
      responses: { 200: z.string() },
      handler: async ({ params, query, db, ctx, principal }) => {
        const d = await find(db, params.deploymentId);
        const stream = sse(ctx);
        holdWhileReadable(caller(principal), d.id, stream);
        // A watcher that arrives late first gets what already happened, then live events; what
        // happens while the past is read is held back, and what the past already had is skipped.
        let seen = -1;
        let held: LiveEvent[] | undefined = [];
        const listener = (event: LiveEvent) => {
          if (event.deploymentId !== d.id) return;
          if (held) held.push(event);
          else if (event.seq === undefined || event.seq > seen) stream.send('progress', event);
        };
        history.live.on('event', listener);
        stream.onClose(() => history.live.off('event', listener));
        for (const row of await history.list(db, d.id)) {
          seen = row.seq;
          if (query.history === 'none') continue;
          stream.send('progress', {
            deploymentId: d.id,
            seq: row.seq,
            kind: row.kind,
            state: row.toState,
            message: row.message,
            details: row.details,
            at: row.at,
          });
        }
        stream.send('state', { state: d.state, message: d.stateMessage, error: d.error });
        // Live health of its services: what the node last said, then every change.
        stream.send('health', {
          services: (ROUTED_STATES as readonly string[]).includes(d.state) ? (d.serviceHealth ?? []) : [],
        });
        const onHealth = (change: HealthChange) => {
          if (change.deploymentId === d.id) stream.send('health', { services: change.services });
        };
        health.live.on('health', onHealth);
        stream.onClose(() => health.live.off('health', onHealth));
        const early = held;
        held = undefined;
        for (const event of early) listener(event);
        return { status: 200, body: stream.body, headers: SSE_HEADERS };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/kept-logs',
      operationId: 'deployments.keptLogs',
      summary:
        'The last lines of each service, kept when its run failed or it was deleted (read by the node before it removed them; masked)',
      tags: ['deployments'],
      access: readable,
      params,
      responses: {
        200: z.object({
          items: z.array(
            z.object({
              service: z.string(),
              reason: z.enum(['failed', 'deleted']),
              keptAt: z.string(),
              lines: z.array(
                z.object({ time: z.string(), stream: z.enum(['stdout', 'stderr']), line: z.string() }),
              ),
            }),
          ),
        }),
      },
      auditRead: true,
      handler: async ({ params, db }) => {
        const d = await find(db, params.deploymentId);
        return { status: 200, body: { items: await keptLogsOf(db, d.id) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/deployments/:deploymentId/logs',
      operationId: 'deployments.logs',
      summary: "A service's log lines (server-sent events), following new ones unless follow=false",
      tags: ['deployments'],
      access: readable,
      params,
      query: z.object({
        service: dnsLabel,
        follow: z.enum(['true', 'false']).default('true'),
        tail: z.coerce.number().int().min(0).max(10000).default(200),
      }),
      produces: 'text/event-stream',
      responses: { 200: z.string(), 409: null },
      auditRead: true,
      handler: async ({ params, query, db, ctx, principal }) => {
        const d = await find(db, params.deploymentId);
        ctx.state.auditDetails = { service: query.service };
        const stream = sse(ctx);
        holdWhileReadable(caller(principal), d.id, stream);
        try {
          const close = await logs.open(
            d,
            { service: query.service, follow: query.follow === 'true', tail: query.tail },
            { line: (line) => stream.send('log', line), end: (end) => stream.end('end', end) },
            caller(principal).userId,
          );
          stream.onClose(close);
        } catch (err) {
          stream.close();
          throw err;
        }
        return { status: 200, body: stream.body, headers: SSE_HEADERS };
      },
    }),
  ];
}
