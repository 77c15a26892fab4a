import type { RuntimeKind, ServiceHealth } from '@nullops/plugin-sdk';
import { BaseModel } from './base-model.js';

export type { RuntimeKind };
/**
 * How a node is: `online` (placeable), `degraded` (connected, but its runtime does not answer: no
 * placements, its deployments' routes kept), `offline`, `untrusted`, `incompatible`.
 */
export type NodeStatus =
  | 'unknown'
  | 'online'
  | 'degraded'
  | 'offline'
  | 'untrusted'
  | 'incompatible'
  | 'disabled';

/** Node states whose deployments keep serving their URLs. */
export const SERVING_NODE_STATES = ['online', 'degraded'] as const satisfies readonly NodeStatus[];

export class Environment extends BaseModel {
  static override tableName = 'environments';
  id!: string;
  name!: string;
  description!: string | null;
  baseDomain!: string;
  runtime!: RuntimeKind;
  defaultTtlSeconds!: number;
  /** Kubernetes environments: write Ingress objects of this class instead of using the agent edge. */
  ingressClass!: string | null;
  /** How far allocated budgets may exceed a node's capacity (1: not at all). */
  cpuOvercommit!: number;
  memoryOvercommit!: number;
  createdAt!: Date;
  updatedAt!: Date;
}

export class AgentNode extends BaseModel {
  static override tableName = 'nodes';
  // jsonb columns: objection serialises these as JSON (a bare array would become a Postgres array).
  static override jsonAttributes = ['labels', 'capacity', 'usage'];
  id!: string;
  environmentId!: string;
  name!: string;
  host!: string;
  port!: number;
  labels!: Record<string, string>;
  enabled!: boolean;
  tokenEnc!: string | null;
  tokenIssuedAt!: Date | null;
  thumbprint!: string | null;
  pendingThumbprint!: string | null;
  status!: NodeStatus;
  statusMessage!: string | null;
  lastHeartbeatAt!: Date | null;
  capacity!: Record<string, unknown> | null;
  /** The largest message its agent accepts (its hello says), once it has connected. */
  maxMessageBytes!: number | null;
  usage!: Record<string, unknown> | null;
  agentVersion!: string | null;
  /** The certificate (PEM) whose thumbprint is pinned, for drivers that verify TLS themselves. */
  certificate!: string | null;
  /** The runtime the agent reported in its hello. */
  runtime!: RuntimeKind | null;
  createdAt!: Date;
  updatedAt!: Date;
}

import type { DeploymentState } from '../deployments/lifecycle.js';

export type { DeploymentState };

export class Deployment extends BaseModel {
  static override tableName = 'deployments';
  // jsonb columns: objection serialises these as JSON (a bare array would become a Postgres array).
  static override jsonAttributes = [
    'tags',
    'imageDigests',
    'error',
    'services',
    'actual',
    'stoppedServices',
    'serviceHealth',
  ];
  id!: string;
  name!: string;
  projectId!: string;
  environmentId!: string;
  nodeId!: string | null;
  /** The node's name, kept when the node is removed (history reads it). */
  nodeName!: string | null;
  pipelineVersionId!: string | null;
  tags!: Record<string, string>;
  /** The digest each service's tag pointed to at create (or redeploy): what its node runs. */
  imageDigests!: Record<string, string>;
  state!: DeploymentState;
  /** Which run of the deployment its node should hold: one more at each retry or redeploy. */
  generation!: number;
  stateMessage!: string | null;
  error!: Record<string, unknown> | null;
  services!: unknown[];
  actual!: unknown[] | null;
  /** Services a user stopped (day-2): the agent keeps them stopped. */
  stoppedServices!: string[];
  /** How each service is doing, as its node last reported (running, unhealthy, restarting…). */
  serviceHealth!: ServiceHealth[] | null;
  cpuMillicores!: number;
  memoryMb!: number;
  idempotencyKey!: string | null;
  createdBy!: string | null;
  createdAt!: Date;
  updatedAt!: Date;
  lastActivityAt!: Date;
  expiresAt!: Date | null;
  deletedAt!: Date | null;
}
