import { z } from 'zod';
import type { Environment } from '../models/fleet.js';
import { iso, timestamp, uuid } from './common.js';

export const EnvironmentView = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().nullable(),
  baseDomain: z.string(),
  runtime: z
    .string()
    .describe('the kind of runtime its nodes run: docker, kubernetes, or one an agent package brings'),
  defaultTtlSeconds: z.number(),
  /** Kubernetes: the IngressClass the agent writes Ingress objects with; null: the agent edge serves the URLs. */
  ingressClass: z.string().nullable(),
  cpuOvercommit: z.number().describe('allocated CPU may be this many times a node’s capacity'),
  memoryOvercommit: z.number().describe('allocated memory may be this many times a node’s capacity'),
  capacity: z
    .object({
      cpuMillicores: z.number().describe('of its online nodes'),
      memoryMb: z.number(),
      allocatedCpuMillicores: z.number().describe('budgets of the deployments placed there'),
      allocatedMemoryMb: z.number(),
      usedCpuMillicores: z.number().describe('measured by the nodes (recent average)'),
      usedMemoryMb: z.number(),
    })
    .optional()
    .describe('what its nodes have, what is allocated and what is used (lists, for administrators)'),
  createdAt: timestamp,
});

export function environmentView(e: Environment): z.infer<typeof EnvironmentView> {
  return {
    id: e.id,
    name: e.name,
    description: e.description,
    baseDomain: e.baseDomain,
    runtime: e.runtime,
    defaultTtlSeconds: e.defaultTtlSeconds,
    ingressClass: e.ingressClass,
    cpuOvercommit: e.cpuOvercommit,
    memoryOvercommit: e.memoryOvercommit,
    createdAt: iso(e.createdAt) as string,
  };
}
