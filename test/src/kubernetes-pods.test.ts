import test from 'ava';
import { docker, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { type KubeNode, startKubeNode } from './helpers/kube-node.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { openEvents } from './helpers/sse.js';
import { type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';
import { podSecurityViolations } from './kube-fake/pod-security.js';
import { resourceOfKind } from './kube-fake/resources.js';

// Kubernetes pods as a cluster's users run them: Pod Security levels, what a failing service
// says, exact images, secrets out of the Deployment, prompt stops. The fake learns what a real
// node does here (see test/src/kube-fake): Pod Security admission by the namespace's label,
// previous-container logs (and the kubelet's own error text right after a restart), probe
// events, evictions, a pull secret the node may not read for a moment.

let s: Stack;
let kube: KubeNode;
let privateRegistry: TestRegistry;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web on kubernetes'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
  });
  kube = await startKubeNode(s, {
    fake: { pullSecretLagMs: 1500, previousLogLagMs: 800 },
    env: { NULLOPS_AGENT_PULL_GRACE_SECONDS: '60' },
  });
  await s.admin.expect(201, 'POST', '/api/secrets', { name: 'API_TOKEN', value: 'k8s-secret-value-77' });
});

test.after.always(async () => {
  await kube?.stop();
  await s?.stop();
  await privateRegistry?.stop();
});

const web = (params: Record<string, unknown> = {}) => ({
  nodes: [{ id: 'web', type: 'container.service', params: { service: 'web', port: 80, ...params } }],
  edges: [],
});

const deploy = async (name: string) =>
  (
    await s.admin.expect(201, 'POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId: kube.env.id,
      name,
      tags: {},
    })
  ).id as string;

const ended = (id: string) =>
  eventually('the deployment ended', async () => {
    const d = await s.get(id);
    return (d.state === 'running' || d.state === 'failed') && d;
  });

const podsOf = (id: string) =>
  kube.fake.store.list(resourceOfKind('Pod'), `nullops-${id}`).filter((p) => !p.metadata.deletionTimestamp);
const deploymentOf = (id: string, name = 'web') =>
  kube.fake.store.get(resourceOfKind('Deployment'), `nullops-${id}`, name);
const remove = (id: string) => s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);

test.serial(
  'Pod Security: pods pass baseline (the namespace enforces it) and, under the restricted profile, restricted; what breaks them is refused in plain words',
  async (t) => {
    await s.savePipeline(web({ healthCheck: { kind: 'http', path: '/' } }));
    const plain = await deploy('plain');
    t.is((await ended(plain)).state, 'running');
    const namespace = kube.fake.store.get(resourceOfKind('Namespace'), undefined, `nullops-${plain}`);
    t.is(namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'baseline');
    const [pod] = podsOf(plain);
    t.deepEqual(podSecurityViolations(pod?.spec, 'baseline'), [], 'the default pod passes baseline');
    t.true(
      podSecurityViolations(pod?.spec, 'restricted').length > 0,
      'and not restricted (its image runs as root)',
    );
    t.like(pod?.metadata.labels, {
      'app.kubernetes.io/name': 'web',
      'app.kubernetes.io/managed-by': 'nullops',
      'app.kubernetes.io/part-of': `nullops-${plain}`,
    });
    t.true(pod?.spec.shareProcessNamespace, 'the pause process is PID 1');
    t.regex(pod?.spec.containers[0].image, /@sha256:[0-9a-f]{64}$/, 'the exact image');
    t.is(pod?.spec.containers[0].imagePullPolicy, 'Always', 'pull: always (the default) is Always');

    // Restricted: a root image is refused by the kubelet, said in the step's error.
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { securityProfile: 'restricted' });
    const rooted = await deploy('rooted');
    const failed = await ended(rooted);
    t.is(failed.state, 'failed');
    t.regex(failed.error.message, /runAsNonRoot and image will run as root/);

    // With a user id it runs, read-only, passing restricted.
    await s.savePipeline(
      web({ healthCheck: { kind: 'http', path: '/' }, runAsUser: 10001, writablePaths: ['/var/run/web'] }),
    );
    const confined = await deploy('confined');
    t.is((await ended(confined)).state, 'running');
    const [restricted] = podsOf(confined);
    t.deepEqual(podSecurityViolations(restricted?.spec, 'restricted'), []);
    t.true(restricted?.spec.containers[0].securityContext.readOnlyRootFilesystem);
    t.deepEqual(
      restricted?.spec.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort(),
      ['/tmp', '/var/run/web'],
    );
    t.is(restricted?.spec.containers[0].resources.limits['ephemeral-storage'], '1024Mi');
    t.is((await viaIngress(s.ingressPort, `web.confined.kube.nullops.test`)).status, 200);

    // A capability beyond baseline: the namespace's Pod Security admission refuses the pod.
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { securityProfile: 'baseline' });
    await s.savePipeline(web({ capabilities: ['SYS_ADMIN'] }));
    const escalated = await deploy('escalated');
    const refused = await ended(escalated);
    t.is(refused.state, 'failed');
    t.regex(refused.error.message, /violates PodSecurity "baseline:latest": non-default capabilities/);
    for (const id of [plain, rooted, confined, escalated]) await remove(id).catch(() => undefined);
  },
);

test.serial(
  'what a failing service says: the probe’s last result, the crashed instance’s own lines, an eviction; an expected status other than 2xx is checked by the agent',
  async (t) => {
    // A readiness probe that never passes: its last result, from the pod's events.
    await s.savePipeline(web({ healthCheck: { kind: 'http', path: '/missing' }, healthTimeoutSeconds: 4 }));
    const unready = await deploy('unready');
    const notReady = await ended(unready);
    t.is(notReady.state, 'failed');
    t.regex(notReady.error.message, /Readiness probe failed: HTTP probe failed with statuscode: 404/);

    // The same path expected to answer 404: no httpGet probe could say so; the agent checks it.
    await s.savePipeline(web({ healthCheck: { kind: 'http', path: '/missing', expectStatus: 404 } }));
    const expected = await deploy('expected');
    t.is((await ended(expected)).state, 'running');
    t.falsy(deploymentOf(expected)?.spec.template.spec.containers[0].readinessProbe);

    // A crash: the last lines are the crashed instance's, never the kubelet's error text.
    await s.savePipeline(
      web({
        command: ['sh', '-c', 'echo "config file /etc/web.conf is missing"; exit 3'],
        healthCheck: { kind: 'tcp' },
      }),
    );
    const crashing = await deploy('crashing');
    const crashed = await ended(crashing);
    t.is(crashed.state, 'failed');
    t.regex(crashed.error.message, /last lines of web: .*config file \/etc\/web\.conf is missing/);
    t.notRegex(crashed.error.message, /unable to retrieve container logs/);

    // An eviction is named as such, and Kubernetes brings the service back.
    await s.savePipeline(web({ healthCheck: { kind: 'http', path: '/' } }));
    const evicted = await deploy('evicted');
    t.is((await ended(evicted)).state, 'running');
    const [victim] = podsOf(evicted);
    const events = await openEvents(s.admin, `/api/deployments/${evicted}/events?history=none`);
    t.teardown(events.close);
    await kube.fake.evict(
      `nullops-${evicted}`,
      victim?.metadata.name as string,
      'The node was low on resource: memory.',
    );
    const said = await eventually('the eviction is told', async () =>
      events.events.map((e) => JSON.stringify(e.data)).find((text) => text.includes('evicted by its node')),
    );
    t.regex(said, /web was evicted by its node: The node was low on resource: memory\./);
    t.notRegex(said, /exit \?/);
    await eventually(
      'a new pod serves it',
      async () => (await s.get(evicted)).services[0]?.health?.condition === 'running',
    );
    for (const id of [unready, expected, crashing, evicted]) await remove(id);
  },
);

test.serial(
  'secrets reach the container by secretKeyRef, never in the Deployment; a pull secret the node may not read yet is waited out',
  async (t) => {
    privateRegistry = await startRegistry({ auth: true });
    privateRegistry.pushWeb('team/private', 'v1', 'private web');
    const registry = await s.admin.expect(201, 'POST', '/api/registries', {
      name: 'private',
      url: privateRegistry.url,
      username: 'ci',
      password: 'registry-secret-pw',
    });
    const service = await s.admin.expect(201, 'POST', '/api/services', {
      name: 'private',
      registryId: registry.id,
      image: 'team/private',
      tagMode: 'pinned',
      tag: 'v1',
    });
    const project = await s.admin.expect(201, 'POST', '/api/projects', {
      name: 'privates',
      cpuMillicores: 200,
      memoryMb: 256,
      serviceIds: [service.id],
    });
    await s.admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
      graph: {
        nodes: [
          {
            id: 'private',
            type: 'container.service',
            params: {
              service: 'private',
              port: 80,
              env: { API_TOKEN: '${secret:API_TOKEN}', MODE: 'demo' },
              command: ['sh', '-c', 'echo "token $API_TOKEN" > /www/index.html; exec httpd -f -p 80 -h /www'],
              healthCheck: { kind: 'http', path: '/' },
            },
          },
        ],
        edges: [],
      },
    });
    const { id } = await s.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
      environmentId: kube.env.id,
      name: 'private',
      tags: {},
    });
    const done = await ended(id);
    t.is(done.state, 'running', JSON.stringify(done.error));
    const pullFailures = kube.fake.store
      .list(resourceOfKind('Event'), `nullops-${id}`)
      .filter((e) => e.reason === 'Failed' && String(e.message).includes('is forbidden'));
    t.true(
      pullFailures.length > 0,
      'the node was refused the new pull secret at first, and the agent waited',
    );
    t.is(
      (await viaIngress(s.ingressPort, 'private.private.kube.nullops.test')).body.trim(),
      'token k8s-secret-value-77',
    );
    const container = deploymentOf(id, 'private')?.spec.template.spec.containers[0];
    t.false(JSON.stringify(container).includes('k8s-secret-value-77'), 'the value is not in the Deployment');
    t.deepEqual(
      container.env.find((e: { name: string }) => e.name === 'API_TOKEN'),
      { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'private-env', key: 'API_TOKEN' } } },
    );
    t.deepEqual(
      container.env.find((e: { name: string }) => e.name === 'MODE'),
      { name: 'MODE', value: 'demo' },
    );
    await remove(id);
  },
);

test.serial(
  'a service that ignores SIGTERM as PID 1 still stops at once: the pod’s pause process is PID 1',
  async (t) => {
    await s.savePipeline(web({ command: ['sleep', '3600'] }));
    const id = await deploy('sleepy');
    t.is((await ended(id)).state, 'running');
    const [pod] = podsOf(id);
    const containers = await docker.listContainers({
      filters: { label: [`dev.nullops.kube-fake.pod=${pod?.metadata.uid}`] },
    });
    const service = containers.find((c) => c.Labels['dev.nullops.kube-fake.container'] === 'web');
    const died = new Promise<string>((resolve) => {
      void docker
        .getEvents({ filters: { type: ['container'], event: ['die'], container: [service?.Id as string] } })
        .then((stream) => {
          (stream as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
            const event = JSON.parse(chunk.toString().split('\n')[0] as string);
            resolve(event.Actor.Attributes.exitCode);
            (stream as unknown as { destroy(): void }).destroy();
          });
        });
    });
    await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/stop`);
    t.is(await died, '143', 'SIGTERM ended it (137 would be the SIGKILL after the grace period)');
    await remove(id);
  },
);
