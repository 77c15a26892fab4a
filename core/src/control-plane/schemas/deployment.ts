import type { ServiceState } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { serviceHost } from '../ingress/host-name.js';
import type { Deployment } from '../models/fleet.js';
import { iso, timestamp, uuid } from './common.js';

export const DeploymentServiceView = z.object({
  name: z.string(),
  url: z.string().describe('stable address through the ingress'),
  status: z.enum(['running', 'stopped', 'missing', 'pending']),
});

export const DeploymentView = z.object({
  id: uuid,
  name: z.string(),
  projectId: uuid,
  projectName: z.string(),
  environmentId: uuid,
  environmentName: z.string(),
  nodeId: uuid.nullable(),
  state: z.enum(['pending', 'deploying', 'running', 'failed', 'offline', 'deleting', 'deleted']),
  stateMessage: z.string().nullable(),
  error: z
    .object({ step: z.string().nullable(), message: z.string() })
    .nullable()
    .describe('why the pipeline failed; visible to everyone with access'),
  tags: z.record(z.string(), z.string()),
  pipelineVersion: z.number().nullable(),
  services: z.array(DeploymentServiceView),
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
  pipelineVersion: number | null;
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
  return {
    id: d.id,
    name: d.name,
    projectId: d.projectId,
    projectName: c.projectName,
    environmentId: d.environmentId,
    environmentName: c.environmentName,
    nodeId: d.nodeId,
    state: d.state,
    stateMessage: d.stateMessage,
    error: (d.error as DeploymentView['error']) ?? null,
    tags: d.tags ?? {},
    pipelineVersion: c.pipelineVersion,
    services: names.map((name) => ({
      name,
      url: url(serviceHost(name, d.name, c.environmentName, c.baseDomain)),
      status:
        d.state === 'running' || d.state === 'offline'
          ? (actual.find((s) => s.name === name)?.status ?? 'pending')
          : 'pending',
    })),
    createdBy: c.createdByName,
    createdAt: iso(d.createdAt) as string,
    updatedAt: iso(d.updatedAt) as string,
    lastActivityAt: iso(d.lastActivityAt) as string,
    expiresAt: iso(d.expiresAt),
  };
}
