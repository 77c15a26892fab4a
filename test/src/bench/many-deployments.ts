// P2: 50 deployments created at once on one node, against 50 × (a network + `docker run -d`) in
// parallel with the same image and limits — each until it answers. All must succeed.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { AgentProcess, registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { ensureTestImages } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry } from '../helpers/registry.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { eventually } from '../helpers/time.js';
import { answers, today, writeSection } from './report.js';

const COUNT = Number(process.env.BENCH_DEPLOYMENTS ?? 50);
const run = promisify(execFile);

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] as number;

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
/** CPU seconds a process has used (user + system), from /proc (clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/**
 * How long after a container is killed the engine says so (its `die` event: the baseline) and
 * NullOps' API shows the service as no longer running (agent event → control plane → view).
 */
async function crashSeen(
  admin: { get(path: string): Promise<{ body: any }> },
  deploymentId: string,
): Promise<{ engine: number; api: number }> {
  const [container] = (
    await run('docker', ['ps', '-q', '--filter', `label=dev.nullops.deployment=${deploymentId}`])
  ).stdout.split('\n');
  const events = execFile('docker', [
    'events',
    '--filter',
    `container=${container}`,
    '--filter',
    'event=die',
  ]);
  let engine = Number.NaN;
  const t0 = performance.now();
  events.stdout?.once('data', () => {
    engine = performance.now() - t0;
  });
  await new Promise((r) => setTimeout(r, 300));
  const killed = performance.now();
  await run('docker', ['kill', container as string]);
  for (const until = killed + 30_000; performance.now() < until; ) {
    const health = (await admin.get(`/api/deployments/${deploymentId}`)).body.services[0].health;
    if (health && health.condition !== 'running') break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const api = performance.now() - killed;
  events.kill();
  return { engine: engine - (killed - t0), api };
}

export async function manyDeployments(): Promise<void> {
  ensureTestImages();
  const registry = await startRegistry();
  registry.pushWeb('bench/one', 'v1', 'one of many');
  const image = `${registry.host}/bench/one:v1`;
  const cp = await startTestControlPlane({ NULLOPS_LOG_LEVEL: 'warn' });
  const { admin } = cp;
  const { node, dataDir, agent } = await registerLocalNode(
    admin,
    (
      await admin.expect(201, 'POST', '/api/environments', {
        name: 'many',
        baseDomain: 'nullops.test',
        runtime: 'docker',
        defaultTtlSeconds: 3600,
      })
    ).id,
    'many',
  );
  let quiet: AgentProcess | undefined;
  try {
    await agent.start();
    await waitNodeReady(admin, node.id);
    const envId = (await admin.get(`/api/nodes/${node.id}`)).body.environmentId as string;
    const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'bench', url: registry.url });
    const service = await admin.expect(201, 'POST', '/api/services', {
      name: 'one',
      registryId: reg.id,
      image: 'bench/one',
      tagMode: 'pinned',
      tag: 'v1',
    });
    const project = await admin.expect(201, 'POST', '/api/projects', {
      name: 'many',
      cpuMillicores: 10,
      memoryMb: 32,
      serviceIds: [service.id],
    });
    await admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
      graph: {
        nodes: [
          {
            id: 'one',
            type: 'container.service',
            params: { service: 'one', port: 80, pull: 'missing', healthCheck: { kind: 'http', path: '/' } },
          },
        ],
        edges: [],
      },
    });
    const ingressPort = (
      cp.cp.container.resolve((await import('@nullops/core')).IngressService) as { port: number }
    ).port;
    await run('docker', ['pull', '-q', image]);

    // The baseline: the engine alone, 50 stacks at once.
    const rawStarted = performance.now();
    const raw = await Promise.all(
      Array.from({ length: COUNT }, async (_, i) => {
        const name = `nullopsmany${i}`;
        const t0 = performance.now();
        await run('docker', ['network', 'create', name]);
        const { stdout } = await run('docker', [
          'run',
          '-d',
          '--init',
          '--memory',
          '32m',
          '--cpus',
          '0.01',
          '--network',
          name,
          '-p',
          '127.0.0.1::80',
          '--name',
          name,
          image,
        ]);
        const id = stdout.trim();
        const port = Number((await run('docker', ['port', id, '80'])).stdout.trim().split(':').pop());
        await eventually('raw container answering', () => answers(port), 120_000);
        return { ms: performance.now() - t0, id, name };
      }),
    );
    const rawTotal = performance.now() - rawStarted;
    await Promise.all(
      raw.map((r) => run('docker', ['rm', '-f', r.id]).then(() => run('docker', ['network', 'rm', r.name]))),
    );

    // NullOps: 50 creates at once, each until its URL answers through the ingress.
    let peakCp = 0;
    let peakAgent = 0;
    const sampler = setInterval(() => {
      peakCp = Math.max(peakCp, process.memoryUsage().rss / 1048576);
      if (agent.pid) peakAgent = Math.max(peakAgent, rssMb(agent.pid));
    }, 200);
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: COUNT }, async (_, i) => {
        const t0 = performance.now();
        const res = await admin.request('POST', `/api/projects/${project.id}/deployments`, {
          environmentId: envId,
          name: `m${i}`,
        });
        if (res.status !== 201) return { ms: Number.NaN, status: res.status, id: undefined };
        await eventually(
          'deployment answering',
          async () => (await viaIngress(ingressPort, `one.m${i}.many.nullops.test`)).status === 200,
          180_000,
        );
        return { ms: performance.now() - t0, status: res.status, id: res.body.id as string };
      }),
    );
    const total = performance.now() - started;
    clearInterval(sampler);

    // At rest with every deployment running: what the agent spends on watching health (checks
    // every 10 s, crashes and restarts from the engine's events) against the same agent with the
    // sweep pushed out of the window, and how soon a crash is shown.
    const restCpu = async (pid: number) => {
      await new Promise((r) => setTimeout(r, 5000));
      const before = cpuSeconds(pid);
      const since = performance.now();
      await new Promise((r) => setTimeout(r, 30_000));
      return ((cpuSeconds(pid) - before) / ((performance.now() - since) / 1000)) * 100;
    };
    const agentCpu = await restCpu(agent.pid as number);
    const crashes = [];
    for (const r of results.slice(0, 5)) if (r.id) crashes.push(await crashSeen(admin, r.id));
    const engineMs = quantile(
      crashes.map((c) => c.engine),
      0.5,
    );
    const apiMs = quantile(
      crashes.map((c) => c.api),
      0.5,
    );
    await agent.kill();
    quiet = new AgentProcess({
      ...agent.options,
      env: { ...agent.options.env, NULLOPS_AGENT_HEALTH_SECONDS: '3600' },
    });
    await quiet.start();
    await waitNodeReady(admin, node.id);
    const quietCpu = await restCpu(quiet.pid as number);
    const failed = results.filter((r) => r.status !== 201);
    const ms = results.filter((r) => r.id).map((r) => r.ms);
    const stuck = (await cp.database.db('deployments').whereNot('state', 'running')).length;
    for (const r of results) if (r.id) await admin.request('DELETE', `/api/deployments/${r.id}`);
    await eventually(
      'all deleted',
      async () => (await cp.database.db('deployments').whereNot('state', 'deleted')).length === 0,
      180_000,
    );

    const rawMs = raw.map((r) => r.ms);
    await writeSection(
      'p2',
      [
        '## P2 — many deployments at once on one node',
        '',
        `Measured by \`npm run bench\` (\`BENCH=p2\`) on ${today()}: ${COUNT} one-service deployments created at the same moment on one node, each until its URL answers through the ingress; baseline: ${COUNT} × (a network + \`docker run -d\` with the same image and limits) in parallel, each until its port answers. Image already local.`,
        '',
        '| | all done | per deployment p50 | p95 | failed | left not running |',
        '|---|---|---|---|---|---|',
        `| the limit: ${COUNT} × docker run | ${Math.round(rawTotal)} ms | ${Math.round(quantile(rawMs, 0.5))} ms | ${Math.round(quantile(rawMs, 0.95))} ms | 0 | — |`,
        `| NullOps: ${COUNT} creates | ${Math.round(total)} ms | ${Math.round(quantile(ms, 0.5))} ms | ${Math.round(quantile(ms, 0.95))} ms | ${failed.length} | ${stuck} |`,
        `| ratio | ${(total / rawTotal).toFixed(2)} | ${(quantile(ms, 0.5) / quantile(rawMs, 0.5)).toFixed(2)} | ${(quantile(ms, 0.95) / quantile(rawMs, 0.95)).toFixed(2)} | | |`,
        '',
        `Peak RSS during the NullOps run: control plane (with the test harness) ${Math.round(peakCp)} MiB, agent ${Math.round(peakAgent)} MiB.`,
        '',
        `At rest with the ${COUNT} running (30 s each; heartbeats every second as in the tests): the agent used ${agentCpu.toFixed(1)} % of a core watching health (checks every 10 s, crashes from the engine's events), ${quietCpu.toFixed(1)} % with its health sweep pushed out of the window (${(agentCpu / Math.max(0.1, quietCpu)).toFixed(2)}×).`,
        `A container killed (\`docker kill\`, ${crashes.length} times): the engine's own \`die\` event after ${Math.round(engineMs)} ms (median), the service shown not running by \`GET /api/deployments/{id}\` after ${Math.round(apiMs)} ms — ${(apiMs / Math.max(1, engineMs)).toFixed(1)}× the engine's own notice (agent → control plane → view, polled every 25 ms).`,
      ].join('\n'),
    );
  } finally {
    await quiet?.kill();
    await agent.kill();
    await cp.close();
    await registry.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
