import { KubeConfig } from '@kubernetes/client-node';
import { DockerRuntime } from '@nullops/agent-docker';
import { KubernetesRuntime } from '@nullops/agent-k8s';
import type { LogLine, Runtime, ServiceSpec } from '@nullops/plugin-sdk';
import test, { type ExecutionContext } from 'ava';

const register = test;

import {
  BUSYBOX,
  docker,
  ensureTestImages,
  newDeploymentId,
  removeLabelled,
  testOwner,
  webService,
} from './helpers/docker.js';
import { DEADLINE_MS, eventually } from './helpers/time.js';
import { type KubeFake, schemaErrors, startKubeFake } from './kube-fake/index.js';
import { RESOURCES, type ResourceType, resourceOfKind } from './kube-fake/resources.js';

/**
 * One contract, two runtimes: every test here runs against the Docker runtime on the real engine
 * and against the Kubernetes runtime talking, through @kubernetes/client-node, to the in-process
 * Kubernetes API fake (whose kubelet runs pods on the same engine).
 */

interface Subject {
  name: string;
  runtime: () => Runtime;
  /** Whatever still exists of a removed deployment (the contract: nothing). */
  leftovers: (deploymentId: string) => Promise<string[]>;
}

let fake: KubeFake | undefined;
let kubernetes: KubernetesRuntime | undefined;
const dockerRuntime = new DockerRuntime({ owner: testOwner() });
const created: string[] = [];

test.before(async () => {
  await ensureTestImages();
  fake = await startKubeFake({
    metrics: true,
    crashBackoffMs: 300,
    imagePullBackoffMs: 300,
    startDelayMs: 200,
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(fake.kubeconfig());
  kubernetes = new KubernetesRuntime({
    kubeConfig,
    owner: testOwner(),
    unschedulableGraceMs: 500,
    pullGraceMs: 1000,
  });
});
test.after.always(async () => {
  await removeLabelled(docker, created);
  await kubernetes?.close();
  await fake?.stop();
});

const subjects: Subject[] = [
  {
    name: 'docker',
    runtime: () => dockerRuntime,
    leftovers: async (id) => {
      const filters = { label: [`dev.nullops.deployment=${id}`] };
      const [containers, networks, volumes] = await Promise.all([
        docker.listContainers({ all: true, filters }),
        docker.listNetworks({ filters }),
        docker.listVolumes({ filters }),
      ]);
      return [
        ...containers.map((c) => `container ${c.Names[0]}`),
        ...networks.map((n) => `network ${n.Name}`),
        ...(volumes.Volumes ?? []).map((v) => `volume ${v.Name}`),
      ];
    },
  },
  {
    name: 'kubernetes',
    runtime: () => kubernetes as KubernetesRuntime,
    leftovers: async (id) =>
      (fake as KubeFake).store
        .list(NAMESPACES)
        .filter((n) => n.metadata.name === `nullops-${id}`)
        .map((n) => `namespace ${n.metadata.name}`),
  },
];

const NAMESPACES = resourceOfKind('Namespace');

const SCHEMAS: Record<string, string> = {
  namespaces: 'io.k8s.api.core.v1.Namespace',
  deployments: 'io.k8s.api.apps.v1.Deployment',
  services: 'io.k8s.api.core.v1.Service',
  networkpolicies: 'io.k8s.api.networking.v1.NetworkPolicy',
  resourcequotas: 'io.k8s.api.core.v1.ResourceQuota',
  jobs: 'io.k8s.api.batch.v1.Job',
  secrets: 'io.k8s.api.core.v1.Secret',
  persistentvolumeclaims: 'io.k8s.api.core.v1.PersistentVolumeClaim',
};

/** Every object the Kubernetes runtime has sent so far validates against the OpenAPI schemas. */
function assertSentValid(t: ExecutionContext) {
  const sent = (fake as KubeFake).requests.filter(
    (r) => ['POST', 'PUT', 'PATCH'].includes(r.method) && r.body,
  );
  const problems = sent.flatMap((r) => {
    const schema = SCHEMAS[(r.resource ?? '').split('/')[0] as string];
    if (!schema || r.resource?.includes('/')) return [];
    // A merge patch is a part of the object (the server validates the merged whole): what it
    // sets must be valid, what it leaves out is not missing.
    return schemaErrors(schema, r.body)
      .filter((e) => !(r.method === 'PATCH' && e.includes('must have required property')))
      .map((e) => `${r.method} ${r.path}: ${e}`);
  });
  t.deepEqual(problems, [], 'objects sent to the API server are valid');
}

const deployment = () => {
  const id = newDeploymentId();
  created.push(id);
  return id;
};

const crasher = (name: string, script: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  name,
  image: BUSYBOX,
  command: ['sh', '-c', script],
  port: 80,
  cpuMillicores: 100,
  memoryMb: 32,
  healthCheck: { kind: 'tcp' },
  ...extra,
});

function healthy(
  runtime: Runtime,
  id: string,
  service: string,
  check = { kind: 'http' as const, path: '/' },
) {
  return eventually(
    `${service} healthy`,
    async () => (await runtime.checkHealth(id, service, check, 1000)).healthy,
  );
}

/**
 * Checks health as the container-service component does, until the suite's deadline: a service that
 * fails must make a check throw (a wait that ends by the deadline fails the test instead).
 */
async function waitingForHealth(runtime: Runtime, id: string, service: string) {
  for (const deadline = Date.now() + DEADLINE_MS; Date.now() < deadline; ) {
    await runtime.checkHealth(id, service, { kind: 'tcp' }, 1000);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function collect(lines: AsyncIterable<LogLine>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of lines) out.push(l.line);
  return out;
}

for (const subject of subjects) {
  const title = (what: string) => `[${subject.name}] ${what}`;
  // Every test of the Kubernetes runtime also checks what it sent against the OpenAPI schemas.
  const test = (name: string, body: (t: ExecutionContext) => Promise<void>) =>
    register(name, async (t) => {
      await body(t);
      if (subject.name === 'kubernetes') assertSentValid(t);
    });

  test(
    title('a service starts, becomes healthy, answers at its endpoint, and starting it again keeps it'),
    async (t) => {
      const runtime = subject.runtime();
      const id = deployment();
      await runtime.prepareDeployment(id, { budget: { cpuMillicores: 1000, memoryMb: 512 } });
      const spec = webService('web', 'hello-contract', { healthCheck: { kind: 'http', path: '/' } });
      const state = await runtime.startService(id, spec);
      t.is(state.status, 'running');
      t.true(await healthy(runtime, id, 'web'));
      const endpoint = await runtime.serviceEndpoint(id, 'web', 80);
      t.truthy(endpoint, 'a healthy service has an endpoint');
      const res = await fetch(`http://${endpoint?.host}:${endpoint?.port}/`);
      t.is((await res.text()).trim(), 'hello-contract');
      const again = await runtime.startService(id, spec);
      t.is(again.ref, state.ref, 'the same spec keeps the same service');
      t.deepEqual(await runtime.listDeployments().then((ids) => ids.includes(id)), true);
      await runtime.removeDeployment(id);
      t.deepEqual(await subject.leftovers(id), [], 'removing the deployment leaves nothing');
      t.false((await runtime.listDeployments()).includes(id));
      await runtime.removeDeployment(id);
      t.pass('removing twice is fine');
    },
  );

  test(title('exec returns the exit code and output; jobs run to completion with their logs'), async (t) => {
    const runtime = subject.runtime();
    const id = deployment();
    await runtime.prepareDeployment(id, { budget: { cpuMillicores: 1000, memoryMb: 512 } });
    await runtime.startService(id, webService('web', 'x'));
    const step = <T>(what: string, p: Promise<T>) =>
      Promise.race([
        p,
        new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} hung`)), DEADLINE_MS)),
      ]);
    const ran = await step('exec', runtime.exec(id, 'web', ['sh', '-c', 'echo out-line; exit 3'], 10_000));
    t.is(ran.exitCode, 3);
    t.regex(ran.output, /out-line/);
    const ok = await runtime.runJob(id, {
      name: 'migrate',
      image: BUSYBOX,
      command: ['sh', '-c', 'echo migrated'],
    });
    t.is(ok.exitCode, 0);
    t.regex(ok.output, /migrated/);
    const bad = await runtime.runJob(id, {
      name: 'broken',
      image: BUSYBOX,
      command: ['sh', '-c', 'echo nope; exit 4'],
    });
    t.is(bad.exitCode, 4);
    t.regex(bad.output, /nope/);
    await step('remove', runtime.removeDeployment(id));
    t.deepEqual(await subject.leftovers(id), []);
  });

  test(title('logs of a service come back line by line'), async (t) => {
    const runtime = subject.runtime();
    const id = deployment();
    await runtime.startService(
      id,
      crasher('talk', 'for i in 1 2 3; do echo line-$i; done; exec httpd -f -p 80', {
        healthCheck: undefined,
      }),
    );
    const lines = await eventually('three lines logged', async () => {
      const logged = (await collect(runtime.logs(id, 'talk', { follow: false, tail: 50 }))).filter((l) =>
        l.startsWith('line-'),
      );
      return logged.length >= 3 ? logged : undefined;
    });
    t.deepEqual(lines, ['line-1', 'line-2', 'line-3']);
    await runtime.removeDeployment(id);
  });

  test(
    title('a container that exits at once is reported with its exit code and last lines, not at a timeout'),
    async (t) => {
      const runtime = subject.runtime();
      const id = deployment();
      // Either the start or a health check says so: a check that answered "unhealthy" a hundred
      // times (a caller would wait for its timeout) fails the test.
      const error = await t.throwsAsync(async () => {
        await runtime.startService(id, crasher('boom', 'echo about to fail; exit 3'));
        for (let i = 0; i < 100; i++) await runtime.checkHealth(id, 'boom', { kind: 'tcp' }, 1000);
      });
      t.regex(error?.message ?? '', /code 3/);
      t.regex(error?.message ?? '', /about to fail/);
      await runtime.removeDeployment(id);
    },
  );

  test(title('an OOM kill is named as such'), async (t) => {
    const runtime = subject.runtime();
    const id = deployment();
    const error = await t.throwsAsync(async () => {
      await runtime.startService(
        id,
        crasher('hungry', 'x=0123456789; while true; do x="$x$x"; done', {
          memoryMb: 16,
          healthCheck: { kind: 'tcp' },
        }),
      );
      await waitingForHealth(runtime, id, 'hungry');
    });
    t.regex(error?.message ?? '', /memory|OOM/i);
    await runtime.removeDeployment(id);
  });

  test(title('an image that does not exist fails in plain words'), async (t) => {
    const runtime = subject.runtime();
    const id = deployment();
    const error = await t.throwsAsync(() =>
      runtime.startService(id, {
        ...webService('ghost', 'x'),
        image: '127.0.0.1:9/nullops-test/no-such-image:1',
      }),
    );
    t.regex(error?.message ?? '', /no-such-image/);
    await runtime.removeDeployment(id);
  });

  test(title('usage, capacity and restart'), async (t) => {
    const runtime = subject.runtime();
    const id = deployment();
    await runtime.startService(id, webService('web', 'x'));
    const capacity = await runtime.capacity();
    t.true(capacity.cpuMillicores > 0 && capacity.memoryMb > 0);
    await eventually('its usage measured', async () =>
      (await runtime.usage()).some((u) => u.deploymentId === id && u.service === 'web' && u.memoryBytes > 0),
    );
    const restarted = await runtime.restartService(id, 'web');
    t.is(restarted.name, 'web');
    await runtime.removeDeployment(id);
  });

  test(title('a stopped service stays, stopped, until it is started again (same identity)'), async (t) => {
    const runtime = subject.runtime();
    const id = deployment();
    const started = await runtime.startService(id, webService('web', 'x'));
    const stopped = await runtime.stopService(id, 'web');
    t.like(stopped, { name: 'web', status: 'stopped', ref: started.ref });
    t.like(await runtime.stopService(id, 'web'), { status: 'stopped' }, 'stopping again is a no-op');
    t.is(await runtime.serviceEndpoint(id, 'web', 80), undefined);
    await runtime.restartService(id, 'web');
    const back = await eventually('running again', async () => {
      const state = await runtime.inspectService(id, 'web');
      return state.status === 'running' && state;
    });
    t.is(back.ref, started.ref, 'the same container / Deployment');
    await runtime.removeDeployment(id);
  });
}

test('[kubernetes] a deployment is a namespace with a default-deny NetworkPolicy and a ResourceQuota; services are hardened Deployments', async (t) => {
  const runtime = kubernetes as KubernetesRuntime;
  const store = (fake as KubeFake).store;
  const id = deployment();
  await runtime.prepareDeployment(id, { budget: { cpuMillicores: 600, memoryMb: 256 } });
  await runtime.startService(id, webService('web', 'x', { healthCheck: { kind: 'http', path: '/' } }));
  const ns = `nullops-${id}`;
  const get = (plural: string, group = '') =>
    store.list(RESOURCES.find((r) => r.plural === plural && r.group === group) as ResourceType, ns);
  t.like(store.list(NAMESPACES).find((n) => n.metadata.name === ns)?.metadata.labels, {
    'dev.nullops.managed': 'true',
    'dev.nullops.installation': runtime.owner.installationId,
    'dev.nullops.node': runtime.owner.nodeId,
    'dev.nullops.deployment': id,
  });
  const policies = get('networkpolicies', 'networking.k8s.io');
  t.deepEqual(policies.map((p) => p.metadata.name).sort(), [
    'nullops-allow-namespace-and-agent',
    'nullops-default-deny',
    'nullops-egress',
  ]);
  t.deepEqual(get('resourcequotas')[0]?.spec.hard, {
    'requests.cpu': '600m',
    'limits.cpu': '600m',
    'requests.memory': '256Mi',
    'limits.memory': '256Mi',
  });
  const pod = get('deployments', 'apps')[0]?.spec.template.spec;
  t.false(pod.automountServiceAccountToken);
  t.deepEqual(pod.containers[0].securityContext.capabilities.drop, ['ALL']);
  t.false(pod.containers[0].securityContext.allowPrivilegeEscalation);
  t.is(pod.containers[0].securityContext.seccompProfile.type, 'RuntimeDefault');
  t.deepEqual(pod.containers[0].resources.requests, pod.containers[0].resources.limits, 'requests = limits');
  t.is(pod.containers[0].readinessProbe.httpGet.path, '/', 'the health check is the readiness probe');
  t.is(get('services')[0]?.spec.type, 'ClusterIP');
  await runtime.removeDeployment(id);
  assertSentValid(t);
});

test("[kubernetes] a service no node can hold fails with the scheduler's message", async (t) => {
  const runtime = kubernetes as KubernetesRuntime;
  const id = deployment();
  const error = await t.throwsAsync(() =>
    runtime.startService(id, webService('huge', 'x', { cpuMillicores: 64_000 })),
  );
  t.regex(error?.message ?? '', /cannot be scheduled: 0\/1 nodes are available: .*Insufficient cpu/);
  await runtime.removeDeployment(id);
});

test('[kubernetes] a cluster without metrics-server reports no usage, not an error', async (t) => {
  const bare = await startKubeFake({ metrics: false });
  t.teardown(() => bare.stop());
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(bare.kubeconfig());
  const runtime = new KubernetesRuntime({ kubeConfig, owner: testOwner() });
  t.deepEqual(await runtime.usage(), []);
});
