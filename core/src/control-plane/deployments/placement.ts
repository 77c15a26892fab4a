import { ConflictError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { AgentNode, Deployment, type Environment } from '../models/fleet.js';
import { RESERVING_STATES } from './lifecycle.js';

export interface Budget {
  cpuMillicores: number;
  memoryMb: number;
}

interface HostUsage {
  cpuPercent?: number;
  /** Moving average over recent heartbeats (what placement uses). */
  cpuPercentAverage?: number;
  memoryUsedMb?: number;
  memoryTotalMb?: number;
}

/**
 * Picks the online, enabled node of the environment that has room for the budget. Memory is not
 * compressible: what is allocated to deployments there and what the OS measures as used (other
 * workloads, deployments using more than they reserved…) are both hard limits. CPU is: allocated
 * budgets are a hard limit, while measured CPU (a moving average) only ranks the nodes — a busy
 * neighbour on a shared host must not refuse a deployment whose budget fits. Call inside the
 * creating transaction: an advisory lock per environment keeps two concurrent creates from both
 * taking the last slot.
 */
export async function placeDeployment(
  db: Database,
  environment: Environment,
  budget: Budget,
): Promise<AgentNode> {
  await db.raw('select pg_advisory_xact_lock(hashtext(?))', [`placement:${environment.id}`]);
  const nodes = await AgentNode.query(db).where({
    environmentId: environment.id,
    enabled: true,
    status: 'online',
  });
  if (!nodes.length) {
    const disabled = await AgentNode.query(db)
      .where({ environmentId: environment.id, enabled: false })
      .resultSize();
    throw new ConflictError(
      `environment "${environment.name}" has no online node${disabled ? ` that takes new deployments (${disabled} disabled)` : ''}; ask an administrator to check its agents`,
    );
  }
  const allocated: { nodeId: string; cpu: string | number; memory: string | number }[] =
    (await Deployment.query(db)
      .whereIn(
        'nodeId',
        nodes.map((n) => n.id),
      )
      .whereIn('state', [...RESERVING_STATES])
      .groupBy('nodeId')
      .select('nodeId', db.raw('sum(cpu_millicores) as cpu'), db.raw('sum(memory_mb) as memory'))) as never;
  const free = nodes.map((node) => {
    const capacity = (node.capacity ?? {}) as Partial<Budget>;
    const host = ((node.usage as { host?: HostUsage } | null)?.host ?? {}) as HostUsage;
    const used = allocated.find((a) => a.nodeId === node.id);
    const cpuCapacity = capacity.cpuMillicores ?? 0;
    const memoryCapacity = capacity.memoryMb ?? 0;
    const cpu = cpuCapacity - Number(used?.cpu ?? 0);
    const load = (host.cpuPercentAverage ?? host.cpuPercent ?? 0) / 100;
    const memory = Math.min(
      memoryCapacity - Number(used?.memory ?? 0),
      (host.memoryTotalMb ?? memoryCapacity) - (host.memoryUsedMb ?? 0),
    );
    // Least allocated first (deployments spread over the nodes), a busy host ranking lower.
    const score =
      (cpuCapacity ? cpu / cpuCapacity : 0) / 2 +
      (memoryCapacity ? memory / memoryCapacity : 0) / 2 -
      load / 2;
    return { node, cpu: Math.floor(cpu), memory: Math.floor(memory), score };
  });
  const fitting = free
    .filter((f) => f.cpu >= budget.cpuMillicores && f.memory >= budget.memoryMb)
    .sort((a, b) => b.score - a.score);
  const chosen = fitting[0];
  if (chosen) return chosen.node;
  const best = [...free].sort((a, b) => b.memory - a.memory)[0];
  throw new ConflictError(
    `no node in environment "${environment.name}" has room for ${budget.cpuMillicores}m CPU and ${budget.memoryMb} MiB` +
      (best
        ? ` (most free: ${best.node.name} with ${Math.max(0, best.cpu)}m CPU and ${Math.max(0, best.memory)} MiB)`
        : '') +
      '; delete a deployment or ask an administrator for capacity',
    {
      required: budget,
      free: free.map((f) => ({
        node: f.node.name,
        cpuMillicores: Math.max(0, f.cpu),
        memoryMb: Math.max(0, f.memory),
      })),
    },
  );
}
