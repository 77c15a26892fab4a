// P3: how many agents one control plane holds. A simulator process speaks the real protocol for
// N agents (TLS, channel proofs, heartbeats every 5 s); the control plane runs in this process, so
// its CPU share and RSS are this process's. Measured: time until all are online, steady-state CPU
// and RSS, a storm — every agent connection dropped at once — until all are online again, and a
// restart of the control plane until the new instance has all of them online.
import { rm } from 'node:fs/promises';
import { tempDir } from '../helpers/agent-process.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { today, writeSection } from './report.js';
import { registerSimulated, startSimulators } from './simulators.js';

const COUNT = Number(process.env.BENCH_AGENTS ?? 1000);
const STEADY_SECONDS = 20;

export async function manyAgents(): Promise<void> {
  const certDir = await tempDir('nullops-sim-');
  const cp = await startTestControlPlane({
    NULLOPS_LOG_LEVEL: 'warn',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '5000',
  });
  const sims = await startSimulators(COUNT, certDir);
  try {
    const env = await cp.admin.expect(201, 'POST', '/api/environments', {
      name: 'fleet',
      baseDomain: 'nullops.test',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    const started = performance.now();
    await registerSimulated(cp.admin, env.id, sims);
    const registered = performance.now();
    const numberOf = async (query: PromiseLike<unknown>) =>
      Number(((await query) as { n?: string } | undefined)?.n ?? 0);
    // Online as seen by the running control plane: after a restart, only what it has itself marked.
    let since = new Date(0);
    const online = () =>
      numberOf(
        cp.database
          .db('nodes')
          .where('status', 'online')
          .where('updated_at', '>=', since)
          .count('* as n')
          .first(),
      );
    // Synced: the node has been sent its plugins and answered with their statuses (its desired
    // state follows at once) since `syncSince`.
    let syncSince = new Date(0);
    const synced = () =>
      numberOf(
        cp.database
          .db('plugin_statuses')
          .whereNot('host', 'control-plane')
          .where('updated_at', '>=', syncSince)
          .countDistinct('host as n')
          .first(),
      );
    const until = async (count: () => Promise<number>, from: number, limitMs: number) => {
      while ((await count()) < COUNT) {
        if (performance.now() - from > limitMs) return undefined;
        await new Promise((r) => setTimeout(r, 250));
      }
      return performance.now() - from;
    };
    const allOnline = (limitMs: number, from = performance.now()) => until(online, from, limitMs);
    const allSynced = (limitMs: number, from: number) => until(synced, from, limitMs);
    const onlineFrom = performance.now();
    const firstOnlineMs = await allOnline(180_000, onlineFrom);
    const firstSyncedMs = await allSynced(300_000, onlineFrom);

    // Steady state: heartbeats only.
    await new Promise((r) => setTimeout(r, 5000));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 500);
    await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    const share = (cpu.user + cpu.system) / 1000 / (performance.now() - t0);

    const dropped = performance.now();
    syncSince = new Date();
    sims.tell('drop');
    // First see the drop land (nodes going offline), then time until every one is back.
    while ((await online()) === COUNT && performance.now() - dropped < 10_000)
      await new Promise((r) => setTimeout(r, 50));
    let lowest = COUNT;
    const stormMs = await until(
      async () => {
        const n = await online();
        lowest = Math.min(lowest, n);
        return n;
      },
      dropped,
      180_000,
    );
    const stormSyncedMs = await allSynced(180_000, dropped);

    // The control plane restarted: a new instance on the same database redials all of them at once.
    await new Promise((r) => setTimeout(r, 5000));
    const restarted = performance.now();
    since = new Date();
    syncSince = since;
    await cp.restart();
    const restartBack = await allOnline(180_000);
    const restartMs = restartBack === undefined ? undefined : performance.now() - restarted;
    const restartSyncedMs = await allSynced(180_000, restarted);

    const fmt = (ms: number | undefined) =>
      ms === undefined ? 'not within 180 s' : `${(ms / 1000).toFixed(1)} s`;
    await writeSection(
      'p3',
      [
        '## P3 — agents held by one control plane',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p3\`) on ${today()}: ${COUNT} simulated agents in ${sims.processes} process(es) (real protocol over TLS WebSocket, channel proofs, a heartbeat every 5 s each); the control plane and PostgreSQL on the same 2 cores.`,
        '',
        '| measure | figure |',
        '|---|---|',
        `| ${COUNT} nodes registered through the API | ${fmt(registered - started)} |`,
        `| all online after registration | ${fmt(firstOnlineMs)} |`,
        `| all synced (sent their plugins and desired state) after registration | ${fmt(firstSyncedMs)} |`,
        `| control plane CPU at steady state (${STEADY_SECONDS} s) | ${(share * 100).toFixed(1)} % of a core |`,
        `| control plane peak RSS at steady state | ${Math.round(peakRss / 1048576)} MiB |`,
        `| every connection dropped at once → all online again (at most ${COUNT - lowest} seen offline at once) | ${fmt(stormMs)} |`,
        `| every connection dropped at once → all synced again | ${fmt(stormSyncedMs)} |`,
        `| control plane restarted (stop, new instance on the same database) → all ${COUNT} online again | ${fmt(restartMs)} |`,
        `| control plane restarted → all synced again | ${fmt(restartSyncedMs)} |`,
      ].join('\n'),
    );
  } finally {
    sims.kill();
    await cp.close();
    await rm(certDir, { recursive: true, force: true });
  }
}
