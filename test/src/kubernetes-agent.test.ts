import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { registerLocalNode, tempDir } from './helpers/agent-process.js';
import { docker } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { AGENT_USER, type KubeNode, startKubeNode } from './helpers/kube-node.js';
import { openEvents } from './helpers/sse.js';
import { type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';
import { send } from './helpers/transcript-replay.js';
import type { KubeFake } from './kube-fake/index.js';
import { resourceOfKind } from './kube-fake/resources.js';

/**
 * The Kubernetes agent end to end: the `nullops-agent-k8s` program, with exactly the ClusterRole
 * that `deploy/kubernetes/agent` grants (the fake enforces it), serves deployments of
 * the same project, from the same pipeline, as a Docker node: running, URLs through the ingress,
 * logs, failure in plain words with rollback, delete leaving no namespace.
 */

let s: Stack;
let kube: KubeNode;
let fake: KubeFake;
let k8sEnv: { id: string };
const agentUser = AGENT_USER;

const pipeline = {
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
  edges: [{ from: 'api', to: 'web' }],
};

test.before(async () => {
  s = await startStack({
    prepare: (registry) => {
      registry.pushWeb('team/web', 'v1', 'web on any runtime');
      registry.pushWeb('team/api', 'v1', 'api on any runtime');
    },
    services: [
      { name: 'web', image: 'team/web', pattern: 'v*' },
      { name: 'api', image: 'team/api', tag: 'v1' },
    ],
  });
  await s.savePipeline(pipeline);
  kube = await startKubeNode(s);
  fake = kube.fake;
  k8sEnv = kube.env;
});

test.after.always(async () => {
  await kube?.stop();
  await s?.stop();
});

async function deployTo(environmentId: string, name: string) {
  const created = await s.admin.expect(201, 'POST', `/api/projects/${s.project.id}/deployments`, {
    environmentId,
    name,
    tags: { web: 'v1' },
  });
  return created.id as string;
}

const namespaces = () => kube.namespaces();

test.serial(
  'the same project deploys to a Docker and a Kubernetes environment: running, same URL shape, both answer',
  async (t) => {
    const before = fake.requests.length;
    const onDocker = await deployTo(s.env.id, 'demo');
    const onKube = await deployTo(k8sEnv.id, 'demo');
    const [docked, kubed] = await Promise.all([s.until(onDocker, 'running'), s.until(onKube, 'running')]);
    const agentCalls = fake.requests.slice(before).filter((r) => r.user === agentUser);
    t.log(
      `API calls by the agent from create to running (one deployment, two services): ${agentCalls.length}`,
    );

    const urls = (d: { services: { name: string; url: string }[] }) => d.services.map((x) => x.url).sort();
    t.deepEqual(
      urls(docked).map((u) => u.replace('.qa.', '.ENV.')),
      urls(kubed).map((u) => u.replace('.kube.', '.ENV.')),
    );
    for (const env of ['qa', 'kube']) {
      const answer = await eventually(`web in ${env} answers`, async () => {
        const a = await viaIngress(s.ingressPort, `web.demo.${env}.nullops.test`);
        return a.status === 200 ? a : undefined;
      });
      t.is(answer.body.trim(), 'web on any runtime');
    }
    t.true(namespaces().includes(`nullops-${onKube}`), 'the Kubernetes deployment is a namespace');
    t.is(
      agentCalls.filter((r) => r.status === 403).length,
      0,
      'the manifest grants every verb the agent uses',
    );

    // Logs of a service on Kubernetes arrive through the API like those on Docker.
    const logs = await fetch(`${s.cp.url}/api/deployments/${onKube}/logs?service=web&follow=false`, {
      headers: { cookie: (s.admin as unknown as { auth: { cookie: string } }).auth.cookie },
    });
    t.is(logs.status, 200);
    t.regex(await logs.text(), /event: end/);

    // Metrics from metrics.k8s.io reach the deployment's page.
    const metrics = await eventually('metrics of the kubernetes deployment', async () => {
      const m = (await s.admin.get(`/api/deployments/${onKube}/metrics`)).body;
      return m.services?.some((x: { service: string }) => x.service === 'web') ? m : undefined;
    });
    t.truthy(metrics);

    for (const id of [onDocker, onKube]) await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await Promise.all([s.until(onDocker, 'deleted'), s.until(onKube, 'deleted')]);
    t.false(namespaces().includes(`nullops-${onKube}`), 'delete leaves no namespace');
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`dev.nullops.deployment=${onDocker}`] },
    });
    t.deepEqual(left, [], 'delete leaves no container');
    t.is((await viaIngress(s.ingressPort, 'web.demo.kube.nullops.test')).status, 404);
  },
);

test.serial(
  'a namespace deleted behind NullOps’ back is rebuilt whole — policies, quota, services — and its URL answers again',
  async (t) => {
    const id = await deployTo(k8sEnv.id, 'phoenix');
    await s.until(id, 'running');
    const ns = `nullops-${id}`;
    const host = 'web.phoenix.kube.nullops.test';
    await eventually('the URL answering', async () => (await viaIngress(s.ingressPort, host)).status === 200);
    const uid = () =>
      fake.store.list(resourceOfKind('Namespace')).find((n) => n.metadata.name === ns)?.metadata.uid;
    const first = uid();
    const deletedAt = Date.now();
    const gone = await send(fake, { method: 'DELETE', path: `/api/v1/namespaces/${ns}`, query: {} });
    t.is(gone.status, 200);

    await eventually(
      'a new namespace, its policies, the agent’s binding, its quota and both services',
      async () => {
        const now = uid();
        if (!now || now === first) return false;
        const inNs = (kind: string) => fake.store.list(resourceOfKind(kind), ns);
        return (
          inNs('NetworkPolicy').length === 3 &&
          inNs('RoleBinding').length === 1 &&
          inNs('ResourceQuota').length === 1 &&
          inNs('Deployment').length === 2
        );
      },
    );
    const answer = await eventually('the URL answering again', async () => {
      const a = await viaIngress(s.ingressPort, host);
      return a.status === 200 ? a : undefined;
    });
    t.log(`namespace deleted → rebuilt and its URL answering: ${Date.now() - deletedAt} ms`);
    t.is(answer.body.trim(), 'web on any runtime');
    const quota = fake.store.list(resourceOfKind('ResourceQuota'), ns)[0];
    const d = (await s.admin.get(`/api/deployments/${id}`)).body;
    t.is(quota?.spec.hard['limits.memory'], `${d.budget.memoryMb}Mi`, 'the quota is the deployment’s budget');
    // Each service's repair reaches the history on its own (the first URL can answer before the
    // other service's report has arrived).
    const repaired = await eventually('both repairs in the history', async () => {
      const messages = (
        (await s.admin.get(`/api/deployments/${id}/history`)).body.items as {
          kind: string;
          message: string;
        }[]
      )
        .filter((h) => h.kind === 'repaired')
        .map((h) => h.message)
        .sort();
      return messages.length >= 2 ? messages : undefined;
    });
    t.deepEqual(repaired, ['api was gone; recreated', 'web was gone; recreated']);
    t.is(d.state, 'running');
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await s.until(id, 'deleted');
    t.false(namespaces().includes(ns));
  },
);

test.serial(
  'a tag the registry does not have is refused at create, naming it; an image the node cannot pull fails the step in plain words and rolls back',
  async (t) => {
    const registry = (await s.admin.get('/api/registries')).body.items.find(
      (r: { name: string }) => r.name === 'local',
    );
    const ghost = await s.admin.expect(201, 'POST', '/api/services', {
      name: 'ghost',
      registryId: registry.id,
      image: 'team/web',
      tagMode: 'pinned',
      tag: 'no-such-tag',
    });
    const project = await s.admin.expect(201, 'POST', '/api/projects', {
      name: 'ghosts',
      cpuMillicores: 100,
      memoryMb: 256,
      serviceIds: [ghost.id],
    });
    await s.admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
      graph: {
        nodes: [{ id: 'ghost', type: 'container.service', params: { service: 'ghost', port: 80 } }],
        edges: [],
      },
    });
    const refused = await s.admin.request('POST', `/api/projects/${project.id}/deployments`, {
      environmentId: k8sEnv.id,
      name: 'haunted',
      tags: {},
    });
    t.is(refused.status, 400, JSON.stringify(refused.body));
    t.regex(refused.body.error.message, /tags\.ghost: no-such-tag is not a tag of team\/web/);

    // An image no registry resolved for the control plane (a component's own): the node finds out.
    await s.admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
      graph: {
        nodes: [
          {
            id: 'db',
            type: 'postgres.database',
            params: { image: `${s.registry.host}/team/nothing:1`, database: 'shop', user: 'shop' },
          },
        ],
        edges: [],
      },
    });
    await s.admin.expect(200, 'PATCH', `/api/projects/${project.id}`, { serviceIds: [] });
    const created = await s.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: k8sEnv.id,
      name: 'haunted',
      tags: {},
    });
    const failed = await eventually('failed', async () => {
      const d = (await s.admin.get(`/api/deployments/${created.id}`)).body;
      return d.state === 'failed' ? d : undefined;
    });
    t.is(failed.error.step, 'db');
    t.regex(
      failed.error.message,
      /the image .*team\/nothing:1 of db cannot be pulled \((ErrImagePull|ImagePullBackOff)\)/,
    );
    await eventually('rolled back', async () => !namespaces().includes(`nullops-${created.id}`));
    t.pass();
  },
);

test.serial(
  'a Kubernetes environment with an ingress class gets Ingress objects instead of the edge',
  async (t) => {
    await s.admin.expect(200, 'PATCH', `/api/environments/${k8sEnv.id}`, { ingressClass: 'nginx' });
    t.teardown(() => s.admin.expect(200, 'PATCH', `/api/environments/${k8sEnv.id}`, { ingressClass: null }));
    const refused = await s.admin.request('PATCH', `/api/environments/${s.env.id}`, {
      ingressClass: 'nginx',
    });
    t.is(refused.status, 400);
    t.regex(
      refused.body.error.message,
      /body\.ingressClass: only a runtime with an ingress of its own .* a Docker environment has none/,
    );

    const id = await deployTo(k8sEnv.id, 'routed');
    const running = await s.until(id, 'running');
    const ingresses = fake.store.list(resourceOfKind('Ingress'), `nullops-${id}`);
    t.is(ingresses.length, 1);
    t.is(ingresses[0]?.spec.ingressClassName, 'nginx');
    t.deepEqual(
      ingresses[0]?.spec.rules
        .map((r: any) => [
          r.host,
          r.http.paths[0].backend.service.name,
          r.http.paths[0].backend.service.port.number,
        ])
        .sort(),
      [
        ['api.routed.kube.nullops.test', 'api', 80],
        ['web.routed.kube.nullops.test', 'web', 80],
      ],
    );
    t.deepEqual(
      running.services.map((x: { url: string }) => x.url).sort(),
      ['http://api.routed.kube.nullops.test', 'http://web.routed.kube.nullops.test'],
      "the URLs are the same, on the cluster controller's port",
    );
    t.is(
      (await viaIngress(s.ingressPort, 'web.routed.kube.nullops.test')).status,
      404,
      'the built-in ingress does not serve them',
    );
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await s.until(id, 'deleted');
  },
);

test.serial(
  'an agent whose runtime differs from its environment is incompatible, with the reason',
  async (t) => {
    const { node, agent } = await registerLocalNode(s.admin, s.env.id, 'wrong-kind', {
      program: 'kubernetes',
      env: { NULLOPS_AGENT_KUBECONFIG: join(await tempDir('nullops-kc-'), 'kubeconfig') },
    });
    await writeFile(agent.options.env?.NULLOPS_AGENT_KUBECONFIG as string, fake.kubeconfig());
    await agent.start();
    t.teardown(() => agent.kill());
    const incompatible = await eventually('incompatible', async () => {
      const n = (await s.admin.get(`/api/nodes/${node.id}`)).body;
      return n.status === 'incompatible' ? n : undefined;
    });
    t.regex(incompatible.statusMessage, /drives Kubernetes, but environment "qa" is a Docker environment/);
  },
);

test.serial(
  'day-2 on Kubernetes: stop and start a service (scaled to 0 and back), back up and restore its database',
  async (t) => {
    const project = await s.addProject('kube-day2', {
      services: ['web'],
      cpuMillicores: 1000,
      memoryMb: 1024,
      graph: {
        nodes: [
          {
            id: 'db',
            type: 'postgres.database',
            params: { image: 'nullops-test/postgres:15', database: 'shop', user: 'shop' },
          },
          {
            id: 'web',
            type: 'container.service',
            params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
          },
        ],
        edges: [{ from: 'db', to: 'web' }],
      },
    });
    const { id } = await s.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: k8sEnv.id,
      name: 'day2',
      tags: { web: 'v1' },
    });
    await s.until(id, 'running');
    const host = 'web.day2.kube.nullops.test';
    const finished = (opId: string) =>
      eventually('operation finished', async () => {
        const op = (await s.admin.get(`/api/deployments/${id}/operations`)).body.items.find(
          (o: { id: string }) => o.id === opId,
        );
        return op && (op.state === 'succeeded' || op.state === 'failed') && op;
      });

    const stop = await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/stop`);
    t.like(await finished(stop.id), { state: 'succeeded' });
    const scaled = fake.store
      .list(resourceOfKind('Deployment'), `nullops-${id}`)
      .find((d) => d.metadata.name === 'web');
    t.is(scaled?.spec.replicas, 0, 'stopped is a Deployment scaled to zero');
    t.not((await viaIngress(s.ingressPort, host)).status, 200);
    const start = await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/start`);
    t.like(await finished(start.id), { state: 'succeeded' });
    await eventually('web answers again', async () => (await viaIngress(s.ingressPort, host)).status === 200);

    const backup = await s.admin.expect(202, 'POST', `/api/deployments/${id}/backups`, {});
    const took = await finished(backup.id);
    t.is(took.state, 'succeeded', took.message);
    const [kept] = (await s.admin.get(`/api/deployments/${id}/backups`)).body.items;
    t.true(kept.bytes > 100);
    const restore = await s.admin.expect(202, 'POST', `/api/deployments/${id}/restore`, {
      backupId: kept.id,
    });
    const restored = await finished(restore.id);
    t.is(restored.state, 'succeeded', restored.message);

    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
    await s.until(id, 'deleted');
  },
);

test.serial(
  'live health on Kubernetes: a service that crashes after it started shows restarting, with its count and exit code, from the pod watch',
  async (t) => {
    const project = await s.addProject('kube-health', {
      services: ['web'],
      cpuMillicores: 500,
      memoryMb: 256,
      graph: {
        nodes: [
          {
            id: 'web',
            type: 'container.service',
            // Up long enough to count as started, then exits with code 3: again after each restart.
            params: { service: 'web', command: ['sh', '-c', 'echo up; sleep 2; exit 3'] },
          },
        ],
        edges: [],
      },
    });
    const { id } = await s.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: k8sEnv.id,
      name: 'health',
      tags: { web: 'v1' },
    });
    await s.until(id, 'running');
    const events = await openEvents(s.admin, `/api/deployments/${id}/events`);
    t.teardown(events.close);
    const restarting = await eventually('web restarting', async () => {
      const health = (await s.get(id)).services[0].health;
      return health?.condition === 'restarting' && health.restartCount >= 1 && health;
    });
    t.is(restarting.exitCode, 3);
    t.regex(restarting.reason ?? '', /exited with code 3/);
    t.true(
      events.events.some(
        (e) =>
          e.event === 'health' &&
          e.data.services.some((h: { condition: string }) => h.condition === 'restarting'),
      ),
      'pushed to the deployment page',
    );
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
  },
);

test.serial(
  "least privilege: the agent acts inside a deployment's namespace through the RoleBinding it made there, reads nothing of other namespaces, and cannot grant itself more",
  async (t) => {
    // A project that declares a private API its services call.
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { egressAllow: ['10.20.0.0/16'] });
    t.teardown(() => s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { egressAllow: [] }));
    const id = await deployTo(k8sEnv.id, 'fenced');
    await s.until(id, 'running');
    const ns = `nullops-${id}`;
    const binding = fake.store.get(resourceOfKind('RoleBinding'), ns, 'nullops-agent');
    t.like(binding?.roleRef, { kind: 'ClusterRole', name: 'nullops-agent-deployment' });
    t.deepEqual(binding?.subjects, [
      { kind: 'ServiceAccount', name: 'nullops-agent', namespace: 'nullops-system' },
    ]);
    const egress = fake.store.get(resourceOfKind('NetworkPolicy'), ns, 'nullops-egress');
    const blocked = JSON.stringify(egress?.spec.egress);
    t.regex(blocked, /169\.254\.0\.0\/16/, 'the cloud metadata endpoint is not reachable');
    t.regex(blocked, /10\.0\.0\.0\/8/, 'nor the cluster networks');
    t.regex(blocked, /"port":53/, 'DNS is');
    t.regex(
      blocked,
      /\{"to":\[\{"ipBlock":\{"cidr":"10\.20\.0\.0\/16"\}\}\]\}/,
      'and what the project allows',
    );
    const invalid = await s.admin.expect(400, 'PATCH', `/api/projects/${s.project.id}`, {
      egressAllow: ['10.20.0.0/33'],
    });
    t.regex(invalid.error.message, /egressAllow\.0: must be a network in CIDR notation/);

    // The agent's own credentials, as an attacker holding them would use them.
    const asAgent = (method: string, path: string, body?: unknown) =>
      send(fake, {
        method,
        path,
        query: {},
        token: kube.agentToken,
        ...(body ? { body, contentType: 'application/json' } : {}),
      });
    t.is(
      (await asAgent('GET', `/api/v1/namespaces/${ns}/secrets`)).status,
      403,
      'secrets are not even listed in its own',
    );
    t.is(
      (await asAgent('GET', '/api/v1/namespaces/kube-system/secrets/anything')).status,
      403,
      'no secret elsewhere',
    );
    t.is(
      (await asAgent('GET', '/api/v1/namespaces/kube-system/pods/anything')).status,
      403,
      'no pod elsewhere',
    );
    t.is(
      (await asAgent('POST', '/api/v1/namespaces/kube-system/pods/anything/exec')).status,
      403,
      'no exec elsewhere',
    );
    fake.api.create(
      { resource: resourceOfKind('ClusterRole') },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'everything' },
        rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
      },
      'kubectl',
    );
    const grab = await asAgent('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'grab', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'everything' },
      subjects: [{ kind: 'ServiceAccount', name: 'nullops-agent', namespace: 'nullops-system' }],
    });
    t.is(grab.status, 403, 'binding a role it may not bind is refused');
    t.regex(JSON.stringify(grab.body), /attempting to grant RBAC permissions not currently held/);
    await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
  },
);
