// npm run bench: time from "create deployment" until every service of a 3-service stack answers
// through the ingress, against `docker-compose up -d` of the same stack until the same services
// answer on their published ports — same engine, same images, same run. Prints ratios and writes
// docs/benchmarks.md. Absolute times on these machines are noisy; the ratio is the figure.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eventually, registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { ensureTestImages } from '../helpers/docker.js';
import { viaIngress } from '../helpers/ingress.js';
import { startRegistry } from '../helpers/registry.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SERVICES = ['api', 'web', 'docs'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function answers(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 1000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on('error', () => ok(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function main() {
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

  let counter = 0;
  async function nullopsOnce(shape: string): Promise<number> {
    const name = `b${++counter}`;
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
  await nullopsOnce('parallel');
  const results: Record<string, number[]> = { compose: [], parallel: [], chain: [] };
  for (let i = 0; i < RUNS; i++) {
    results.compose?.push(await composeOnce());
    results.parallel?.push(await nullopsOnce('parallel'));
    results.chain?.push(await nullopsOnce('chain'));
  }

  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<
    string,
    number
  >;
  const ratio = (k: string) => ((m[k] as number) / (m.compose as number)).toFixed(2);
  const lines = [
    '# Benchmarks',
    '',
    `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${RUNS} runs each after a warm-up, medians; one Docker engine, same images from a local registry).`,
    '',
    'Time from the request until all 3 services of the stack answer HTTP 200 — NullOps through its ingress',
    '(create call → pipeline on the agent with health checks → routes), docker-compose on its published ports',
    '(`docker-compose up -d` → ports answer). The ratio is the figure that matters; absolute times on shared',
    'machines are noisy.',
    '',
    '| stack | median | ratio to docker-compose |',
    '|---|---|---|',
    `| docker-compose up -d (baseline) | ${Math.round(m.compose as number)} ms | 1.00 |`,
    `| NullOps, 3 independent services (parallel branches) | ${Math.round(m.parallel as number)} ms | ${ratio('parallel')} |`,
    `| NullOps, 3 services in a chain (api → web → docs) | ${Math.round(m.chain as number)} ms | ${ratio('chain')} |`,
    '',
    `Raw (ms): ${Object.entries(results)
      .map(([k, v]) => `${k} [${v.map(Math.round).join(', ')}]`)
      .join('; ')}.`,
    '',
  ];
  const file = resolve('docs/benchmarks.md');
  await writeFile(file, lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}\nwritten to ${file}\n`);

  await agent.kill();
  await cp.close();
  await registry.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(composeDir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`benchmark failed: ${(err as Error).stack}\n`);
    process.exit(1);
  },
);
