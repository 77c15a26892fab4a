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
 * compressible: what is allocated to deployments there (up to capacity × the environment's memory
 * overcommit) and what the OS measures as used (other workloads, deployments using more than they
 * reserved…) are both hard limits. CPU is: allocated budgets are a hard limit (up to capacity × the
 * CPU overcommit), while measured CPU (a moving average) ranks the nodes — a busy neighbour on a
 * shared host must not refuse a deployment whose budget fits — and, once the environment
 * overcommits, must leave room for the budget too (allocations alone no longer say it is there).
 * Call inside the creating transaction: an advisory lock per environment keeps two concurrent
 * creates from both taking the last slot.
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
  const allocated = await allocatedOn(db, nodes);
  const cpuRatio = environment.cpuOvercommit ?? 1;
  const memoryRatio = environment.memoryOvercommit ?? 1;
  const free = nodes.map((node) => {
    const capacity = (node.capacity ?? {}) as Partial<Budget>;
    const host = ((node.usage as { host?: HostUsage } | null)?.host ?? {}) as HostUsage;
    const used = allocated.find((a) => a.nodeId === node.id);
    const cpuCapacity = capacity.cpuMillicores ?? 0;
    const memoryCapacity = capacity.memoryMb ?? 0;
    const load = (host.cpuPercentAverage ?? host.cpuPercent ?? 0) / 100;
    const cpu = Math.min(
      cpuCapacity * cpuRatio - Number(used?.cpu ?? 0),
      cpuRatio > 1 ? cpuCapacity * (1 - load) : Number.POSITIVE_INFINITY,
    );
    const memory = Math.min(
      memoryCapacity * memoryRatio - Number(used?.memory ?? 0),
      (host.memoryTotalMb ?? memoryCapacity) - (host.memoryUsedMb ?? 0),
    );
    // Least allocated first (deployments spread over the nodes), a busy host ranking lower.
    const score =
      (cpuCapacity ? cpu / (cpuCapacity * cpuRatio) : 0) / 2 +
      (memoryCapacity ? memory / (memoryCapacity * memoryRatio) : 0) / 2 -
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

/** The budgets of the deployments that reserve room on each of these nodes. */
async function allocatedOn(
  db: Database,
  nodes: AgentNode[],
): Promise<{ nodeId: string; cpu: string | number; memory: string | number }[]> {
  if (!nodes.length) return [];
  return (await Deployment.query(db)
    .whereIn(
      'nodeId',
      nodes.map((n) => n.id),
    )
    .whereIn('state', [...RESERVING_STATES])
    .groupBy('nodeId')
    .select('nodeId', db.raw('sum(cpu_millicores) as cpu'), db.raw('sum(memory_mb) as memory'))) as never;
}

/** What an environment's online nodes have, what is allocated there and what they measure in use. */
export async function environmentCapacity(db: Database, environmentIds: string[]) {
  const nodes = await AgentNode.query(db)
    .whereIn('environmentId', environmentIds)
    .where({ status: 'online' });
  const allocated = await allocatedOn(db, nodes);
  const totals = new Map<
    string,
    {
      cpuMillicores: number;
      memoryMb: number;
      allocatedCpuMillicores: number;
      allocatedMemoryMb: number;
      usedCpuMillicores: number;
      usedMemoryMb: number;
    }
  >();
  for (const id of environmentIds)
    totals.set(id, {
      cpuMillicores: 0,
      memoryMb: 0,
      allocatedCpuMillicores: 0,
      allocatedMemoryMb: 0,
      usedCpuMillicores: 0,
      usedMemoryMb: 0,
    });
  for (const node of nodes) {
    const t = totals.get(node.environmentId);
    if (!t) continue;
    const capacity = (node.capacity ?? {}) as Partial<Budget>;
    const host = ((node.usage as { host?: HostUsage } | null)?.host ?? {}) as HostUsage;
    const a = allocated.find((x) => x.nodeId === node.id);
    t.cpuMillicores += capacity.cpuMillicores ?? 0;
    t.memoryMb += capacity.memoryMb ?? 0;
    t.allocatedCpuMillicores += Number(a?.cpu ?? 0);
    t.allocatedMemoryMb += Number(a?.memory ?? 0);
    t.usedCpuMillicores += Math.round(
      ((host.cpuPercentAverage ?? host.cpuPercent ?? 0) / 100) * (capacity.cpuMillicores ?? 0),
    );
    t.usedMemoryMb += host.memoryUsedMb ?? 0;
  }
  return totals;
}
