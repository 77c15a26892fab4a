import { z } from 'zod';
import type { Environment } from '../models/fleet.js';
import { iso, timestamp, uuid } from './common.js';

export const EnvironmentView = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().nullable(),
  baseDomain: z.string(),
  runtime: z.enum(['docker', 'kubernetes']),
  defaultTtlSeconds: z.number(),
  /** Kubernetes: the IngressClass the agent writes Ingress objects with; null: the agent edge serves the URLs. */
  ingressClass: z.string().nullable(),
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
    createdAt: iso(e.createdAt) as string,
  };
}
