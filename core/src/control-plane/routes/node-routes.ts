import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from '@nullops/kernel';
import { ConflictError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { AgentConnectionManager } from '../agents/connection-manager.js';
import { ensureNoLiveDeployments } from '../deployments/decommission.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { AgentNode } from '../models/fleet.js';
import { Refs } from '../refs.js';
import { dnsLabel, idParam, iso, timestamp, uuid } from '../schemas/common.js';
import { issueNodeToken } from '../services/node-tokens.js';
import { findOr404 } from './find.js';

const host = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9a-fA-F:]+\]?$/,
    'must be a host name or IP address',
  );

const labels = z
  .record(
    z.string().regex(/^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/, 'label names are lowercase words'),
    z.string().max(63),
  )
  .refine((l) => Object.keys(l).length <= 50, 'at most 50 labels');

const NodeView = z.object({
  id: uuid,
  environmentId: uuid,
  name: z.string(),
  host: z.string(),
  port: z.number(),
  labels: z.record(z.string(), z.string()),
  enabled: z.boolean(),
  hasToken: z.boolean().describe('the token itself is shown only when issued'),
  tokenIssuedAt: timestamp.nullable(),
  thumbprint: z.string().nullable().describe('pinned SHA-256 of the agent certificate'),
  pendingThumbprint: z.string().nullable().describe('a changed certificate waiting for approval'),
  status: z.enum(['unknown', 'online', 'degraded', 'offline', 'untrusted', 'incompatible', 'disabled']),
  statusMessage: z.string().nullable(),
  lastHeartbeatAt: timestamp.nullable(),
  capacity: z.record(z.string(), z.unknown()).nullable(),
  usage: z.record(z.string(), z.unknown()).nullable(),
  agentVersion: z.string().nullable(),
});
const IssuedToken = z.object({ token: z.string().describe('shown once: configure the agent with it now') });

function nodeView(n: AgentNode): z.infer<typeof NodeView> {
  return {
    id: n.id,
    environmentId: n.environmentId,
    name: n.name,
    host: n.host,
    port: n.port,
    labels: n.labels ?? {},
    enabled: n.enabled,
    hasToken: n.tokenEnc !== null,
    tokenIssuedAt: iso(n.tokenIssuedAt),
    thumbprint: n.thumbprint,
    pendingThumbprint: n.pendingThumbprint,
    // The connection's own status: a disabled node stays connected (it only takes no new deployments).
    status: n.status,
    statusMessage: n.statusMessage,
    lastHeartbeatAt: iso(n.lastHeartbeatAt),
    capacity: n.capacity,
    usage: n.usage,
    agentVersion: n.agentVersion,
  };
}

/** Nodes: one agent each. The control plane issues the agent token and shows it once. */
export function nodeRoutes(container: DependencyContainer): AnyRoute[] {
  const box = container.resolve(Refs.secretBox);
  const agents = container.resolve(AgentConnectionManager);
  const params = idParam('nodeId');
  const issue = (id: string) => issueNodeToken(box, id);
  const fields = {
    name: dnsLabel,
    host,
    port: z.number().int().min(1).max(65535),
    labels,
    enabled: z.boolean(),
  };
  return [
    route({
      method: 'get',
      path: '/api/nodes',
      operationId: 'nodes.list',
      summary: 'List nodes, optionally of one environment',
      tags: ['nodes'],
      access: Access.admin,
      query: z.object({ environmentId: uuid.optional() }),
      responses: { 200: z.object({ items: z.array(NodeView) }) },
      handler: async ({ query, db }) => {
        const q = AgentNode.query(db).orderBy('name');
        if (query.environmentId) q.where('environmentId', query.environmentId);
        return { status: 200, body: { items: (await q).map(nodeView) } };
      },
    }),
    route({
      method: 'post',
      path: '/api/nodes',
      operationId: 'nodes.create',
      summary: 'Register a node; the response holds its agent token, shown only once',
      tags: ['nodes'],
      access: Access.admin,
      body: z
        .object({
          ...fields,
          environmentId: uuid,
          port: fields.port.default(5000),
          labels: labels.default({}),
          enabled: fields.enabled.default(true),
        })
        .strict(),
      responses: { 201: NodeView.extend(IssuedToken.shape), 409: null },
      handler: async ({ body, db }) => {
        const id = randomUUID();
        const { token, ...stored } = issue(id);
        const row = await AgentNode.query(db).insertAndFetch({ id, ...body, ...stored });
        await agents.refreshLater(db, id);
        return { status: 201, body: { ...nodeView(row), token } };
      },
    }),
    route({
      method: 'get',
      path: '/api/nodes/:nodeId',
      operationId: 'nodes.get',
      summary: 'Get a node with its status and last metrics',
      tags: ['nodes'],
      access: Access.admin,
      params,
      responses: { 200: NodeView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: nodeView(await findOr404(AgentNode, db, params.nodeId, 'node')),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/nodes/:nodeId',
      operationId: 'nodes.update',
      summary: 'Change a node; disabling stops new deployments on it',
      tags: ['nodes'],
      access: Access.admin,
      params,
      body: z.object(fields).partial().strict(),
      responses: { 200: NodeView },
      handler: async ({ params, body, db }) => {
        const before = await findOr404(AgentNode, db, params.nodeId, 'node');
        const row = await AgentNode.query(db).patchAndFetchById(params.nodeId, {
          ...body,
          updatedAt: new Date(),
        });
        // Only a new address needs a new connection; enabling, renaming or labelling keeps it.
        const moved = row.host !== before.host || row.port !== before.port;
        await agents.refreshLater(db, params.nodeId, { reconnect: moved });
        return { status: 200, body: nodeView(row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/nodes/:nodeId',
      operationId: 'nodes.delete',
      summary: 'Remove a node that has no deployment left (deleted ones keep its name)',
      tags: ['nodes'],
      access: Access.admin,
      params,
      responses: { 204: null, 409: null },
      handler: async ({ params, db }) => {
        await findOr404(AgentNode, db, params.nodeId, 'node');
        await ensureNoLiveDeployments(db, { nodeId: params.nodeId }, 'node');
        await AgentNode.query(db).deleteById(params.nodeId);
        await agents.refreshLater(db, params.nodeId, { reconnect: true });
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/nodes/:nodeId/token',
      operationId: 'nodes.token.rotate',
      summary: 'Issue a new agent token; the old one stops working at once',
      tags: ['nodes'],
      access: Access.admin,
      params,
      responses: { 200: IssuedToken },
      handler: async ({ params, db }) => {
        await findOr404(AgentNode, db, params.nodeId, 'node');
        const { token, ...stored } = issue(params.nodeId);
        await AgentNode.query(db).patchAndFetchById(params.nodeId, { ...stored, updatedAt: new Date() });
        await agents.refreshLater(db, params.nodeId, { reconnect: true });
        return { status: 200, body: { token } };
      },
    }),
    route({
      method: 'delete',
      path: '/api/nodes/:nodeId/token',
      operationId: 'nodes.token.revoke',
      summary: 'Revoke the agent token; the node is disconnected until a new one is issued',
      tags: ['nodes'],
      access: Access.admin,
      params,
      responses: { 204: null },
      handler: async ({ params, db }) => {
        await findOr404(AgentNode, db, params.nodeId, 'node');
        await AgentNode.query(db).patchAndFetchById(params.nodeId, {
          tokenEnc: null,
          tokenIssuedAt: null,
          updatedAt: new Date(),
        });
        await agents.refreshLater(db, params.nodeId, { reconnect: true });
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/api/nodes/:nodeId/thumbprint/approve',
      operationId: 'nodes.thumbprint.approve',
      summary: "Trust the agent's new certificate thumbprint",
      tags: ['nodes'],
      access: Access.admin,
      params,
      body: z
        .object({
          thumbprint: z
            .string()
            .regex(/^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/, 'must be a SHA-256 thumbprint AA:BB:…'),
        })
        .strict(),
      responses: { 200: NodeView, 409: null },
      handler: async ({ params, body, db }) => {
        const node = await findOr404(AgentNode, db, params.nodeId, 'node');
        // The admin repeats the thumbprint they checked, so a certificate swapped meanwhile is not approved blindly.
        if (node.pendingThumbprint !== body.thumbprint) {
          throw new ConflictError(
            'that thumbprint is not the one waiting for approval; reload and compare again',
          );
        }
        const row = await AgentNode.query(db).patchAndFetchById(node.id, {
          thumbprint: node.pendingThumbprint,
          pendingThumbprint: null,
          status: 'unknown',
          statusMessage: 'new certificate approved; reconnecting',
          updatedAt: new Date(),
        });
        await agents.refreshLater(db, node.id, { reconnect: true });
        return { status: 200, body: nodeView(row) };
      },
    }),
  ];
}
