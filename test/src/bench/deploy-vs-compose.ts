// P1: time from "create deployment" until every service of a 3-service stack answers through the
// ingress, against two baselines on the same engine with the same images in the same run:
// `docker-compose up -d` of the stack until its ports answer, and the limit — a network and three
// `docker run -d` in parallel with the same limits, until their ports answer.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { ensureTestImages } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry } from '../helpers/registry.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { eventually } from '../helpers/time.js';
import { answers, median, today, writeSection } from './report.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SERVICES = ['api', 'web', 'docs'];

const run = promisify(execFile);

export async function deployVsCompose(): Promise<void> {
  ensureTestImages();
  const registry = await startRegistry();
  for (const name of SERVICES) registry.pushWeb(`bench/${name}`, 'v1', `${name} v1`);
  const images = Object.fromEntries(SERVICES.map((n) => [n, `${registry.host}/bench/${n}:v1`]));

  const cp = await startTestControlPlane({ NULLOPS_LOG_LEVEL: 'warn' });
  const { admin } = cp;
  const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'bench', url: registry.url });
  const serviceIds: string[] = [];
  for (const name of SERVICES) {
    serviceIds.push(
      (
        await admin.expect(201, 'POST', '/api/services', {
          name,
          registryId: reg.id,
          image: `bench/${name}`,
          tagMode: 'pinned',
          tag: 'v1',
        })
      ).id,
    );
  }
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'bench',
    baseDomain: 'nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  const { node, dataDir, agent } = await registerLocalNode(admin, env.id, 'bench');
  await agent.start();
  await waitNodeReady(admin, node.id);
  const ingressPort = (
    cp.cp.container.resolve((await import('@nullops/core')).IngressService) as { port: number }
  ).port;

  const serviceNode = (name: string) => ({
    id: name,
    type: 'container.service',
    params: { service: name, port: 80, pull: 'missing', healthCheck: { kind: 'http', path: '/' } },
  });
  const projects: Record<string, string> = {};
  for (const [shape, edges] of [
    ['parallel', []],
    [
      'chain',
      [
        { from: 'api', to: 'web' },
        { from: 'web', to: 'docs' },
      ],
    ],
  ] as const) {
    const project = await admin.expect(201, 'POST', '/api/projects', {
      name: `bench-${shape}`,
      cpuMillicores: 300,
      memoryMb: 192,
      serviceIds,
    });
    await admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
      graph: { nodes: SERVICES.map(serviceNode), edges },
    });
    projects[shape] = project.id;
  }

  const composeDir = await mkdtemp(join(tmpdir(), 'nullops-bench-compose-'));
  const composeServices = SERVICES.map(
    (n) =>
      `  ${n}:\n    image: ${images[n]}\n    init: true\n    mem_limit: 64m\n    cpus: 0.1\n    ports: ["127.0.0.1::80"]\n`,
  ).join('');
  await writeFile(join(composeDir, 'docker-compose.yml'), `version: "2.4"\nservices:\n${composeServices}`);
  const compose = (...args: string[]) =>
    execFileSync('docker-compose', ['-p', 'nullopsbench', ...args], {
      cwd: composeDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();

  async function composeOnce(): Promise<number> {
    const started = performance.now();
    compose('up', '-d');
    const ports = SERVICES.map((n) => Number(compose('port', n, '80').trim().split(':').pop()));
    await Promise.all(ports.map((p) => eventually('compose service', () => answers(p), 60_000)));
    const ms = performance.now() - started;
    compose('down', '-v', '--timeout', '1');
    return ms;
  }

  /** The limit: what the engine itself takes to start the stack, with nothing around it. */
  async function dockerRunOnce(): Promise<number> {
    const stack = `nullopsraw${++counter}`;
    const started = performance.now();
    await run('docker', ['network', 'create', stack]);
    const ids = await Promise.all(
      SERVICES.map(async (n) => {
        const { stdout } = await run('docker', [
          'run',
          '-d',
          '--init',
          '--memory',
          '64m',
          '--cpus',
          '0.1',
          '--network',
          stack,
          '--name',
          `${stack}-${n}`,
          '-p',
          '127.0.0.1::80',
          images[n] as string,
        ]);
        return stdout.trim();
      }),
    );
    const ports = await Promise.all(
      ids.map(async (id) => Number((await run('docker', ['port', id, '80'])).stdout.trim().split(':').pop())),
    );
    await Promise.all(ports.map((p) => eventually('docker run service', () => answers(p), 60_000)));
    const ms = performance.now() - started;
    await run('docker', ['rm', '-f', ...ids]);
    await run('docker', ['network', 'rm', stack]);
    return ms;
  }

  /**
   * Where a run's time went, from the deployment's history: the agent stamps every step event with
   * its own clock (`agentAt`; one machine here, so comparable with ours).
   */
  const phases: Record<string, number[]> = { toFirstStep: [], steps: [], perStep: [], toAnswer: [] };
  async function recordPhases(id: string, requestedAt: number, answeredAt: number) {
    const { items } = (await admin.get(`/api/deployments/${id}/history`)).body as {
      items: { kind: string; details: { step?: string; agentAt?: string } | null }[];
    };
    const stamp = (kind: string) =>
      items
        .filter((e) => e.kind === kind && e.details?.agentAt)
        .map((e) => ({ step: e.details?.step, at: Date.parse(e.details?.agentAt as string) }));
    const started = stamp('step.started');
    const succeeded = stamp('step.succeeded');
    if (!started.length || !succeeded.length) return;
    const first = Math.min(...started.map((e) => e.at));
    const last = Math.max(...succeeded.map((e) => e.at));
    phases.toFirstStep?.push(first - requestedAt);
    phases.steps?.push(last - first);
    phases.toAnswer?.push(answeredAt - last);
    for (const s of started) {
      const done = succeeded.find((e) => e.step === s.step);
      if (done) phases.perStep?.push(done.at - s.at);
    }
  }

  let counter = 0;
  async function nullopsOnce(shape: string): Promise<number> {
    const name = `b${++counter}`;
    const requestedAt = Date.now();
    const started = performance.now();
    const created = await admin.expect(201, 'POST', `/api/projects/${projects[shape]}/deployments`, {
      environmentId: env.id,
      name,
      tags: {},
    });
    await Promise.all(
      SERVICES.map((n) =>
        eventually(
          `${n} through the ingress`,
          async () => (await viaIngress(ingressPort, `${n}.${name}.bench.nullops.test`)).status === 200,
          60_000,
        ),
      ),
    );
    const ms = performance.now() - started;
    if (shape === 'parallel') await recordPhases(created.id, requestedAt, Date.now());
    await admin.expect(202, 'DELETE', `/api/deployments/${created.id}`);
    await eventually(
      'deleted',
      async () => (await admin.get(`/api/deployments/${created.id}`)).body.state === 'deleted',
      60_000,
    );
    return ms;
  }

  // One warm-up of each, so image layers are local for everyone.
  await composeOnce();
  await dockerRunOnce();
  await nullopsOnce('parallel');
  for (const list of Object.values(phases)) list.length = 0;
  const results: Record<string, number[]> = { compose: [], dockerRun: [], parallel: [], chain: [] };
  for (let i = 0; i < RUNS; i++) {
    results.compose?.push(await composeOnce());
    results.dockerRun?.push(await dockerRunOnce());
    results.parallel?.push(await nullopsOnce('parallel'));
    results.chain?.push(await nullopsOnce('chain'));
  }

  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<
    string,
    number
  >;
  const ratio = (k: string, base: string) => ((m[k] as number) / (m[base] as number)).toFixed(2);
  await writeSection(
    'p1',
    [
      '## P1 — deployment spin-up',
      '',
      `Measured by \`npm run bench\` (\`BENCH=p1\`) on ${today()} (${RUNS} runs each after a warm-up, medians; one Docker engine, same images from a local registry).`,
      '',
      'Time from the request until all 3 services of the stack answer HTTP 200 — NullOps through its ingress',
      '(create call → pipeline on the agent with health checks → routes); docker-compose and raw `docker run`',
      'on their published ports. Raw `docker run` (a network, three containers started in parallel with the',
      'same limits) is the limit: what the engine itself takes.',
      '',
      '| stack | median | ratio to the limit | ratio to docker-compose |',
      '|---|---|---|---|',
      `| the limit: network + 3 × \`docker run -d\` in parallel | ${Math.round(m.dockerRun as number)} ms | 1.00 | ${ratio('dockerRun', 'compose')} |`,
      `| docker-compose up -d | ${Math.round(m.compose as number)} ms | ${ratio('compose', 'dockerRun')} | 1.00 |`,
      `| NullOps, 3 independent services (parallel branches) | ${Math.round(m.parallel as number)} ms | ${ratio('parallel', 'dockerRun')} | ${ratio('parallel', 'compose')} |`,
      `| NullOps, 3 services in a chain (api → web → docs) | ${Math.round(m.chain as number)} ms | ${ratio('chain', 'dockerRun')} | ${ratio('chain', 'compose')} |`,
      '',
      `Raw (ms): ${Object.entries(results)
        .map(([k, v]) => `${k} [${v.map(Math.round).join(', ')}]`)
        .join('; ')}.`,
      '',
      "Where the parallel stack's time goes (medians; from the step events the agent stamps with its own clock):",
      '',
      '| phase | median |',
      '|---|---|',
      `| request → the agent starts the first step (API, placement, hand-off to the node, the deployment's network) | ${Math.round(median(phases.toFirstStep as number[]))} ms |`,
      `| first step started → last step succeeded (3 containers created, started, health-checked in parallel) | ${Math.round(median(phases.steps as number[]))} ms |`,
      `| one step alone, started → succeeded | ${Math.round(median(phases.perStep as number[]))} ms |`,
      `| last step succeeded → every URL answers through the ingress (report, routes) | ${Math.round(median(phases.toAnswer as number[]))} ms |`,
    ].join('\n'),
  );

  await agent.kill();
  await cp.close();
  await registry.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(composeDir, { recursive: true, force: true });
}
