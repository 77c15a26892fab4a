import type { ServiceHealth, ServiceState } from '@nullops/plugin-sdk';
import { z } from 'zod';
import type { BackupRow } from '../backups/deployment-backups.js';
import {
  allowedActions,
  DEPLOYMENT_ACTIONS,
  DEPLOYMENT_STATES,
  type DeploymentAction,
  isLive,
  ROUTED_STATES,
} from '../deployments/lifecycle.js';
import type { OperationRow } from '../deployments/operations.js';
import { serviceHost } from '../ingress/host-name.js';
import type { Deployment } from '../models/fleet.js';
import { iso, timestamp, uuid } from './common.js';

export const ServiceHealthView = z
  .object({
    condition: z.enum(['running', 'unhealthy', 'restarting', 'crashed', 'stopped', 'missing']),
    restartCount: z.number().describe('restarts after crashes since the service was created'),
    exitCode: z.number().optional().describe('of its last exit, when it is not running'),
    reason: z.string().optional().describe('why it is not healthy, in plain words'),
    since: timestamp.describe('when it came into this condition'),
  })
  .describe("live health, as the service's node reports it (null until it has)");

export const DeploymentServiceView = z.object({
  name: z.string(),
  url: z.string().describe('stable address through the ingress'),
  status: z.enum(['running', 'stopped', 'missing', 'pending']),
  health: ServiceHealthView.nullable(),
});

function healthOf(reports: ServiceHealth[] | null, name: string): z.infer<typeof ServiceHealthView> | null {
  const h = reports?.find((r) => r.name === name);
  if (!h) return null;
  const { name: _, ...health } = h;
  return health;
}

/** The tags one service of a project may be deployed with. */
export const ServiceTagsView = z.object({
  serviceId: uuid,
  name: z.string(),
  image: z.string(),
  tagMode: z.enum(['pinned', 'selectable']),
  defaultTag: z.string().nullable().describe('the pinned tag, or the newest selectable one'),
  tags: z.array(z.string()).describe('selectable tags, newest first (empty for pinned services)'),
});
export type ServiceTags = z.infer<typeof ServiceTagsView>;

/** A day-2 operation (restart, stop, start a service) and where it stands. */
export const OperationView = z.object({
  id: uuid,
  deploymentId: uuid,
  kind: z.enum(['service.restart', 'service.stop', 'service.start', 'database.backup', 'database.restore']),
  service: z.string(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed']),
  message: z.string().nullable().describe('why it waits, or what came of it'),
  createdByName: z.string().nullable(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
});

export function operationView(op: OperationRow): z.infer<typeof OperationView> {
  return {
    id: op.id,
    deploymentId: op.deploymentId,
    kind: op.kind,
    service: op.params.service,
    state: op.state,
    message: op.message,
    createdByName: op.createdByName,
    createdAt: iso(op.createdAt) as string,
    startedAt: iso(op.startedAt),
    finishedAt: iso(op.finishedAt),
  };
}

/** A database backup kept by the control plane. */
export const BackupView = z.object({
  id: uuid,
  deploymentId: uuid,
  deploymentName: z.string().describe('the deployment it was taken of'),
  service: z.string(),
  nodeType: z.string().nullable().describe('the component that made it (it restores into the same kind)'),
  bytes: z.number().describe('size of the archive (before encryption)'),
  sha256: z.string(),
  createdByName: z.string().nullable(),
  createdAt: timestamp,
});

export function backupView(b: BackupRow): z.infer<typeof BackupView> {
  return {
    id: b.id,
    deploymentId: b.deploymentId,
    deploymentName: b.deploymentName ?? '',
    service: b.service,
    nodeType: b.nodeType,
    bytes: Number(b.bytes),
    sha256: b.sha256,
    createdByName: b.createdByName,
    createdAt: iso(b.createdAt) as string,
  };
}

export const DeploymentView = z.object({
  id: uuid,
  name: z.string(),
  projectId: uuid,
  projectName: z.string(),
  environmentId: uuid,
  environmentName: z.string(),
  nodeId: uuid.nullable(),
  nodeName: z.string().nullable().describe('the node it was placed on (kept when the node is removed)'),
  state: z.enum(DEPLOYMENT_STATES),
  /** What a user with full access may do to it now (extend, retry, redeploy, clone, cancel, delete, services). */
  actions: z.array(z.enum(Object.keys(DEPLOYMENT_ACTIONS) as [DeploymentAction, ...DeploymentAction[]])),
  live: z
    .boolean()
    .describe('its services run or are being made (its logs are live; once not, the lines kept at its end)'),
  stateMessage: z.string().nullable(),
  error: z
    .object({ step: z.string().nullable(), message: z.string() })
    .nullable()
    .describe('why the pipeline failed; visible to everyone with access'),
  tags: z.record(z.string(), z.string()),
  digests: z
    .record(z.string(), z.string())
    .describe("the digest each service's tag pointed to at create (or redeploy): the exact image it runs"),
  pipelineVersion: z.number().nullable(),
  databases: z
    .array(z.string())
    .describe(
      'the services of its nodes whose component keeps data (backup and restore hooks): what can be backed up and restored',
    ),
  plugins: z
    .record(z.string(), z.string())
    .describe('plugin releases the deployment runs with (pinned by its pipeline version)'),
  services: z.array(DeploymentServiceView),
  budget: z
    .object({ cpuMillicores: z.number(), memoryMb: z.number() })
    .describe(
      "what it reserves on its node: the project's budget plus what components start (databases, jobs)",
    ),
  createdBy: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
  lastActivityAt: timestamp,
  expiresAt: timestamp.nullable().describe('auto-cleanup time; extend to push it back'),
});
export type DeploymentView = z.infer<typeof DeploymentView>;

export interface DeploymentContext {
  projectName: string;
  environmentName: string;
  baseDomain: string;
  /** Set when the environment's cluster serves the URLs with its own ingress controller (port 80). */
  ingressClass: string | null;
  pipelineVersion: number | null;
  /** Services of its pipeline's nodes whose component keeps data (backup and restore hooks). */
  databases: string[];
  plugins: Record<string, string>;
  createdByName: string | null;
  serviceNames: string[];
}

/** The API view of a deployment; service URLs come from the ingress (`url`). */
export function deploymentView(
  d: Deployment,
  c: DeploymentContext,
  url: (host: string) => string,
): DeploymentView {
  const actual = (d.actual ?? []) as ServiceState[];
  const names = actual.length ? actual.map((s) => s.name) : c.serviceNames;
  const routed = (ROUTED_STATES as readonly string[]).includes(d.state);
  return {
    id: d.id,
    name: d.name,
    projectId: d.projectId,
    projectName: c.projectName,
    environmentId: d.environmentId,
    environmentName: c.environmentName,
    nodeId: d.nodeId,
    nodeName: d.nodeName ?? null,
    state: d.state,
    actions: allowedActions(d.state),
    live: isLive(d.state),
    stateMessage: d.stateMessage,
    error: (d.error as DeploymentView['error']) ?? null,
    tags: d.tags ?? {},
    digests: d.imageDigests ?? {},
    pipelineVersion: c.pipelineVersion,
    databases: c.databases,
    plugins: c.plugins,
    services: names.map((name) => ({
      name,
      url: c.ingressClass
        ? `http://${serviceHost(name, d.name, c.environmentName, c.baseDomain)}`
        : url(serviceHost(name, d.name, c.environmentName, c.baseDomain)),
      status:
        routed || d.state === 'offline'
          ? (actual.find((s) => s.name === name)?.status ?? 'pending')
          : 'pending',
      health: routed ? healthOf(d.serviceHealth, name) : null,
    })),
    budget: { cpuMillicores: d.cpuMillicores, memoryMb: d.memoryMb },
    createdBy: c.createdByName,
    createdAt: iso(d.createdAt) as string,
    updatedAt: iso(d.updatedAt) as string,
    lastActivityAt: iso(d.lastActivityAt) as string,
    expiresAt: iso(d.expiresAt),
  };
}

/** One entry of a deployment's history: a transition, an action or a pipeline step. */
export const HistoryItem = z.object({
  seq: z.number().describe('its place in the history'),
  at: timestamp,
  kind: z.string(),
  fromState: z.string().nullable(),
  toState: z.string().nullable(),
  message: z.string().nullable(),
  actorName: z.string().nullable(),
  details: z.unknown(),
});

export const DeploymentMetricsView = z.object({
  at: timestamp.nullable().describe('when the node measured them'),
  services: z.array(
    z.object({
      service: z.string(),
      cpuPercent: z.number(),
      memoryBytes: z.number(),
      memoryLimitBytes: z.number(),
    }),
  ),
});
