import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { freePort, waitNodeReady } from './helpers/agent-process.js';
import { deploymentReaches } from './helpers/deployment-state.js';
import { docker, ensureTestImages, removeLabelled } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTestControlPlane, type TestControlPlane } from './helpers/test-control-plane.js';
import { DEADLINE_MS } from './helpers/time.js';

/**
 * The Docker agent as an admin installs it: the image built from agent-host/Dockerfile for agent-docker (FROM a
 * Node base built offline), two containers started as README says — two nodes of one environment
 * that the control plane dials — serving deployments end to end, and deployments that cannot reach
 * each other. testcontainers builds and starts them.
 */

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

const IMAGE = 'nullops/agent-docker:test';
const BASE_IMAGE = 'nullops-test/node:20';

let cp: TestControlPlane;
let registry: TestRegistry;
let project: { id: string };
let env: { id: string };
let ingressPort = 0;
const agents: { container: StartedTestContainer; port: number; node: { id: string }; dataDir: string }[] = [];
const deployments: string[] = [];

test.before(async () => {
  ensureTestImages();
  const built = Date.now();
  await GenericContainer.fromDockerfile(resolve('.'), 'agent-host/Dockerfile')
    .withBuildArgs({ BASE_IMAGE, AGENT: 'agent-docker' })
    .build(IMAGE, { deleteOnExit: false });
  const image = await docker.getImage(IMAGE).inspect();
  console.log(
    `agent image built in ${Math.round((Date.now() - built) / 1000)} s, ${Math.round(image.Size / 1e6)} MB`,
  );

  registry = await startRegistry();
  registry.pushWeb('team/web', 'v1', 'web v1');
  registry.pushWeb('team/api', 'stable', 'api stable');
  cp = await startTestControlPlane({
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
  });
  const { admin } = cp;
  const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'local', url: registry.url });
  const web = await admin.expect(201, 'POST', '/api/services', {
    name: 'web',
    registryId: reg.id,
    image: 'team/web',
    tagMode: 'selectable',
    tagPattern: 'v*',
  });
  const api = await admin.expect(201, 'POST', '/api/services', {
    name: 'api',
    registryId: reg.id,
    image: 'team/api',
    tagMode: 'pinned',
    tag: 'stable',
  });
  project = await admin.expect(201, 'POST', '/api/projects', {
    name: 'shop',
    cpuMillicores: 400,
    memoryMb: 256,
    serviceIds: [web.id, api.id],
  });
  await admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
    graph: {
      nodes: [
        {
          id: 'api',
          type: 'container.service',
          params: { service: 'api', port: 80, healthCheck: { kind: 'http', path: '/' } },
        },
        {
          id: 'web',
          type: 'container.service',
          params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
        },
      ],
      edges: [],
    },
  });
  env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });

  // Two nodes, each an agent container started as README says (host network, the socket, /data).
  for (const name of ['node-a', 'node-b']) {
    const port = await freePort();
    const node = await admin.expect(201, 'POST', '/api/nodes', {
      environmentId: env.id,
      name,
      host: '127.0.0.1',
      port,
    });
    const dataDir = await mkdtemp(join(tmpdir(), 'nullops-agent-image-'));
    const container = await new GenericContainer(IMAGE)
      .withNetworkMode('host')
      .withEnvironment({
        NULLOPS_AGENT_TOKEN: node.token,
        NULLOPS_AGENT_PORT: String(port),
        NULLOPS_AGENT_HEARTBEAT_SECONDS: '1',
      })
      .withBindMounts([
        { source: '/var/run/docker.sock', target: '/var/run/docker.sock' },
        { source: dataDir, target: '/data' },
      ])
      .withWaitStrategy(Wait.forLogMessage(/agent is listening/))
      .withStartupTimeout(DEADLINE_MS)
      .start();
    agents.push({ container, port, node, dataDir });
    await waitNodeReady(admin, node.id);
  }
  const { IngressService } = await import('@nullops/core');
  ingressPort = (cp.cp.container.resolve(IngressService) as { port: number }).port;
});

test.after.always(async () => {
  await cp?.close();
  for (const a of agents) {
    await a.container.stop({ timeout: 5 }).catch(() => {});
    await rm(a.dataDir, { recursive: true, force: true }).catch(() => {});
  }
  await removeLabelled(docker, deployments);
  await registry?.stop();
});

async function deploy(name: string) {
  const created = await cp.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
    environmentId: env.id,
    name,
    tags: { web: 'v1' },
  });
  deployments.push(created.id);
  return deploymentReaches(cp.admin, created.id, 'running', { timeoutMs: 90_000 });
}

test.serial(
  'two agent containers are two nodes: deployments land on both and every URL answers through the ingress',
  async (t) => {
    const running = [];
    for (const name of ['one', 'two', 'three', 'four']) running.push(await deploy(name));
    const nodes = await Promise.all(
      agents.map(async (a) => (await cp.admin.get(`/api/nodes/${a.node.id}`)).body),
    );
    t.is(
      new Set(running.map((d) => d.nodeId)).size,
      2,
      `placement spreads the deployments over both nodes: ${JSON.stringify(running.map((d) => d.nodeId))} ${JSON.stringify(nodes.map((n) => [n.id, n.name]))}`,
    );
    for (const d of running)
      for (const service of ['web', 'api']) {
        const answer = await viaIngress(ingressPort, `${service}.${d.name}.qa.nullops.test`);
        t.is(answer.status, 200);
        t.is(answer.body.trim(), service === 'web' ? 'web v1' : 'api stable');
      }
    for (const d of running) {
      const containers = await docker.listContainers({
        filters: { label: [`dev.nullops.deployment=${d.id}`] },
      });
      t.is(containers.length, 2);
      t.deepEqual(
        containers.flatMap((c) => c.Ports.filter((p) => p.PublicPort)),
        [],
        'no deployment container publishes a port',
      );
    }
  },
);

/** Runs `script` with Node inside deployment `id`'s network (as one of its containers would). */
async function probeFrom(id: string, script: string): Promise<Record<string, unknown>> {
  const container = await docker.createContainer({
    Image: BASE_IMAGE,
    Cmd: ['node', '-e', script],
    HostConfig: { NetworkMode: `nullops-${id}`, AutoRemove: false },
  });
  await container.start();
  await container.wait();
  const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
  await container.remove({ force: true });
  const text = logs.toString('utf8');
  const json = text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
  return JSON.parse(json);
}

test.serial(
  'deployments cannot reach each other, nor a service through the agent without the edge key',
  async (t) => {
    const list = (await cp.admin.get('/api/deployments')).body.items as {
      id: string;
      name: string;
      nodeId: string;
      state: string;
    }[];
    const live = list.filter((d) => d.state === 'running');
    const a = live[0] as (typeof live)[number];
    const b = live.find((d) => d.nodeId !== a.nodeId) as (typeof live)[number];
    t.truthy(b, 'a deployment on the other node');
    const bWeb = await docker.getContainer(`nullops-${b.id}-web`).inspect();
    const bIp = bWeb.NetworkSettings.Networks[`nullops-${b.id}`]?.IPAddress;
    t.truthy(bIp, "the other deployment's container has an address (so the probe below means something)");
    const gateway = (await docker.getNetwork(`nullops-${a.id}`).inspect()).IPAM?.Config?.[0]?.Gateway;
    t.truthy(gateway, 'the host is reachable from the deployment network at its gateway');
    const agentB = agents.find((x) => x.node.id === b.nodeId) as (typeof agents)[number];

    const result = await probeFrom(
      a.id,
      `
    const out = {};
    const get = async (key, url, init = {}) => {
      try {
        const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
        out[key] = { status: res.status, body: (await res.text()).slice(0, 100) };
      } catch (e) { out[key] = { error: String(e.cause?.code ?? e.message) }; }
    };
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    (async () => {
      await get('sibling', 'http://web/');
      await get('otherByIp', 'http://${bIp}/');
      await get('otherByName', 'http://nullops-${b.id}-web/');
      await get('edgeWithoutKey', 'https://${gateway}:${agentB.port}/', { headers: { 'x-nullops-edge-target': '${b.id}/web' } });
      await get('edgeWrongKey', 'https://${gateway}:${agentB.port}/', { headers: { 'x-nullops-edge-target': '${b.id}/web', 'x-nullops-edge-key': 'guess' } });
      console.log(JSON.stringify(out));
    })();`,
    );
    t.deepEqual(
      result.sibling,
      { status: 200, body: 'web v1\n' },
      'positive control: its own sibling answers',
    );
    t.falsy(
      (result.otherByIp as { status?: number }).status,
      `the other deployment's container does not answer by IP: ${JSON.stringify(result.otherByIp)}`,
    );
    t.falsy(
      (result.otherByName as { status?: number }).status,
      `nor by name: ${JSON.stringify(result.otherByName)}`,
    );
    t.is(
      (result.edgeWithoutKey as { status?: number }).status,
      401,
      'the edge refuses a request without the key',
    );
    t.is((result.edgeWrongKey as { status?: number }).status, 401, 'and with a wrong key');
  },
);
