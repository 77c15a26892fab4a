// P10: the nodes of a control-plane replica that goes away, taken by the others. Three
// control-plane processes on one PostgreSQL share N simulated agents (the real protocol, as in P3)
// and a real Docker agent with one deployment, whose URL is asked through the other replicas'
// ingresses all along. The replica holding the most nodes is stopped cleanly (its nodes handed
// over: the baseline), brought back, then killed with SIGKILL: its nodes wait for the replica
// timeout to pass before the others take them.
import { rm } from 'node:fs/promises';
import { registerLocalNode, tempDir, waitNodeReady } from '../helpers/agent-process.js';
import { ApiClient } from '../helpers/api-client.js';
import { deploymentReaches } from '../helpers/deployment-state.js';
import { docker, ensureTestImages, removeLabelled } from '../helpers/docker.js';
import { startRegistry } from '../helpers/registry.js';
import { type ReplicaSet, replicaSet, watchUrls } from '../helpers/replica-set.js';
import { eventually } from '../helpers/time.js';
import { webProject } from '../helpers/web-project.js';
import { today, writeSection } from './report.js';
import { registerSimulated, startSimulators } from './simulators.js';

const COUNT = Number(process.env.BENCH_FAILOVER_AGENTS ?? 300);
const REPLICAS = 3;
const TIMEOUT_MS = 8000;

/** Nodes online and linked by a live replica other than `not`. */
async function homed(set: ReplicaSet, not?: string): Promise<number> {
  const db = set.database.db;
  const row = await db('nodes as n')
    .join('node_link_leases as l', 'l.nodeId', 'n.id')
    .join('control_plane_replicas as r', 'r.id', 'l.replicaId')
    .where('n.status', 'online')
    .where('l.expiresAt', '>', db.fn.now())
    .where('r.heartbeatAt', '>', db.raw("now() - interval '8 seconds'"))
    .modify((q) => {
      if (not) q.whereNot('l.replicaId', not);
    })
    .count('* as n')
    .first();
  return Number(row?.n ?? 0);
}

export async function replicaFailover(): Promise<void> {
  ensureTestImages();
  const registry = await startRegistry();
  registry.pushWeb('team/web', 'v1', 'web through the failover');
  const set = await replicaSet(REPLICAS, {
    NULLOPS_LOG_LEVEL: 'warn',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '2000',
  });
  const certDir = await tempDir('nullops-sim-');
  const deployments: string[] = [];
  let sims: Awaited<ReturnType<typeof startSimulators>> | undefined;
  let real: Awaited<ReturnType<typeof registerLocalNode>>['agent'] | undefined;
  try {
    await Promise.all(set.replicas.map(set.launch));
    const admin = await ApiClient.login(set.replicas[0]?.url as string, 'admin', set.adminPassword);
    sims = await startSimulators(COUNT, certDir);
    const env = await admin.expect(201, 'POST', '/api/environments', {
      name: 'fleet',
      baseDomain: 'nullops.test',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    // Simulated agents take no deployments (a disabled node stays linked).
    await registerSimulated(admin, env.id, sims, { enabled: false });
    const registered = await registerLocalNode(admin, env.id, 'real');
    real = registered.agent;
    await real.start();
    await waitNodeReady(admin, registered.node.id);
    const nodes = COUNT + 1;
    await eventually('every node online', async () => (await homed(set)) === nodes, 180_000);

    const project = await webProject(admin, registry.url, {
      name: 'watched',
      cpuMillicores: 50,
      memoryMb: 64,
    });
    const d = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: env.id,
      name: 'watched',
    });
    deployments.push(d.id);
    await deploymentReaches(admin, d.id, 'running');
    const host = 'web.watched.fleet.nullops.test';

    /** Stops (or kills) the replica holding the most nodes; until every node is homed elsewhere. */
    const away = async (signal: 'SIGTERM' | 'SIGKILL') => {
      const held = new Map<string, number>();
      for (const holder of (await set.leases()).values()) held.set(holder, (held.get(holder) ?? 0) + 1);
      const [victimId, moved] = [...held].sort((a, b) => b[1] - a[1])[0] as [string, number];
      const victim = (await set.byId(victimId)) as NonNullable<Awaited<ReturnType<ReplicaSet['byId']>>>;
      const urls = watchUrls(set, () => [host]);
      victim.stopping = true;
      const started = performance.now();
      victim.child?.kill(signal);
      await eventually(
        `nodes homed after ${signal}`,
        async () => (await homed(set, victimId)) === nodes,
        180_000,
      );
      const ms = performance.now() - started;
      const { asked, failures } = await urls.stop();
      // Back, and the nodes spread over all three again.
      const child = victim.child;
      if (child && child.exitCode === null && child.signalCode === null)
        await new Promise((r) => child.once('exit', r));
      await set.launch(victim);
      await eventually('all replicas live', async () => (await set.liveIds()).size === REPLICAS);
      await eventually('every node online again', async () => (await homed(set)) === nodes, 180_000);
      return { ms, moved, asked, failed: failures.length };
    };
    const handover = await away('SIGTERM');
    const killed = await away('SIGKILL');

    const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    await writeSection(
      'p10',
      [
        '## P10 — a control-plane replica gone: its nodes re-homed',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p10\`) on ${today()}: ${REPLICAS} control-plane processes on one PostgreSQL with default replica settings (a heartbeat every 2 s, dead after ${TIMEOUT_MS / 1000} s of silence), sharing ${COUNT} simulated agents (as in P3) and one real Docker agent running a deployment whose URL is asked through the other replicas' ingresses all along. The replica holding the most nodes goes away; measured until every node is online and linked by a live replica. The baseline is the same replica stopped cleanly (its nodes handed over at once).`,
        '',
        '| replica gone by | nodes it held | every node homed elsewhere | ratio to the clean stop | URL requests failed |',
        '|---|---|---|---|---|',
        `| clean stop (SIGTERM; the baseline) | ${handover.moved} | ${fmt(handover.ms)} | 1.0 | ${handover.failed} of ${handover.asked} |`,
        `| kill -9 | ${killed.moved} | ${fmt(killed.ms)} | ${(killed.ms / Math.max(1, handover.ms)).toFixed(1)} | ${killed.failed} of ${killed.asked} |`,
        '',
        `A killed replica's nodes wait for the replica timeout (${TIMEOUT_MS / 1000} s, \`NULLOPS_REPLICA_TIMEOUT_MS\`) before another replica may take them: the kill -9 figure less that timeout is the time the others took to see it and dial its nodes.`,
      ].join('\n'),
    );
  } finally {
    sims?.kill();
    await real?.kill();
    await removeLabelled(docker, deployments);
    await set.close();
    await registry.stop();
    await rm(certDir, { recursive: true, force: true });
  }
}
