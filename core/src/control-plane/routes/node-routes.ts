import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { AgentNode } from '../models/fleet.js';
import { dnsLabel, idParam, iso, timestamp, uuid } from '../schemas/common.js';
import { Nodes } from '../services/nodes.js';
import { findOr404 } from '../services/records.js';

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
  const nodes = container.resolve(Nodes);
  const params = idParam('nodeId');
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
        return { status: 200, body: { items: (await nodes.list(db, query.environmentId)).map(nodeView) } };
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
        const { node, token } = await nodes.register(db, body);
        return { status: 201, body: { ...nodeView(node), token } };
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
        return { status: 200, body: nodeView(await nodes.update(db, params.nodeId, body)) };
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
        await nodes.remove(db, params.nodeId);
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
        return { status: 200, body: { token: await nodes.rotateToken(db, params.nodeId) } };
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
        await nodes.revokeToken(db, params.nodeId);
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
        return {
          status: 200,
          body: nodeView(await nodes.approveThumbprint(db, params.nodeId, body.thumbprint)),
        };
      },
    }),
  ];
}
