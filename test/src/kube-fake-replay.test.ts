import test, { type ExecutionContext } from 'ava';
import { DEADLINE_MS, eventually } from './helpers/time.js';
import {
  type Answer,
  type Exchange,
  loadTranscript,
  missingKeys,
  responseSchemaErrors,
  send,
  stateOf,
  statusShape,
  ValueMap,
} from './helpers/transcript-replay.js';
import { type KubeFake, startKubeFake } from './kube-fake/index.js';

/**
 * The fake Kubernetes API server replays every recording of a real 1.28 cluster
 * (`test/fixtures/k8s-api/transcripts`): each request is sent as recorded (generated names,
 * resourceVersions and continue tokens mapped to the fake's own) and the answer must match — the
 * status code, the Status reason, code and details, every field the real server wrote (defaults,
 * generated fields), the state it was in, watch framing — and validate against the OpenAPI schemas.
 * Reads the real server answered from a later state are retried until the fake gets there, as a
 * client polling a cluster would.
 */

interface Scenario {
  file: string;
  /** The fake without scheduler and kubelet (the `no-kubelet` recordings). */
  controlPlaneOnly?: boolean;
  namespaces?: string[];
  setup?: (fake: KubeFake) => Promise<void>;
  /** Work done while request `i` is in flight (what made a watch see events). */
  during?: Record<number, (fake: KubeFake, map: ValueMap) => Promise<void>>;
  /** When a watch request `i` has seen enough. */
  until?: Record<number, (frames: { type: string; object: any }[]) => boolean>;
  /** The bearer token of request `i` (`null`: none); the admin's otherwise. */
  token?: (exchange: Exchange, index: number, context: { saToken?: string }) => string | null | undefined;
}

const busyboxDeployment = (
  name: string,
  namespace: string,
  replicas: number,
  extra: Record<string, unknown> = {
    resources: { limits: { cpu: '250m', memory: '64Mi' }, requests: { cpu: '100m', memory: '32Mi' } },
  },
) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, labels: { app: name, 'nullops.io/env': 'test' } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'web',
            image: 'nullops-test/busybox:1',
            command: ['httpd', '-f', '-p', '8080'],
            ports: [{ containerPort: 8080, name: 'http' }],
            ...extra,
          },
        ],
      },
    },
  },
});

async function post(fake: KubeFake, path: string, body: unknown) {
  const answer = await send(fake, { method: 'POST', path, query: {}, body });
  if (answer.status >= 300) throw new Error(`setup ${path}: ${answer.status} ${answer.text}`);
  return answer.body;
}

const podRunning = (fake: KubeFake, ns: string, name: string) =>
  eventually(`pod ${name} running`, async () => {
    const a = await send(fake, { method: 'GET', path: `/api/v1/namespaces/${ns}/pods/${name}`, query: {} });
    return a.body?.status?.phase === 'Running' ? a.body : undefined;
  });

const sleeper = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'w' } },
  spec: {
    terminationGracePeriodSeconds: 1,
    containers: [{ name: 'c', image: 'nullops-test/busybox:1', command: ['sleep', '3600'] }],
  },
});

const scenarios: Scenario[] = [
  { file: 'namespace-create.json' },
  {
    file: 'namespace-already-exists.json',
    namespaces: ['demo-apps'],
    setup: async (fake) => {
      await post(fake, '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'demo-team-a' },
      });
      await post(
        fake,
        '/apis/apps/v1/namespaces/demo-apps/deployments',
        busyboxDeployment('dup', 'demo-apps', 0),
      );
    },
  },
  { file: 'get-missing.json', namespaces: ['demo-apps'] },
  {
    file: 'namespace-list-labelselector.json',
    setup: async (fake) => {
      for (const team of ['a', 'b', 'c'])
        await post(fake, '/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: `demo-team-${team}`, labels: { team, 'nullops.io/env': 'test' } },
        });
    },
  },
  { file: 'deployment-create-status.json', namespaces: ['demo-apps'] },
  {
    file: 'service-networkpolicy.json',
    namespaces: ['demo-apps'],
    setup: async (fake) => {
      await post(
        fake,
        '/apis/apps/v1/namespaces/demo-apps/deployments',
        busyboxDeployment('web', 'demo-apps', 2),
      );
      await eventually('web ready', async () => {
        const a = await send(fake, {
          method: 'GET',
          path: '/apis/apps/v1/namespaces/demo-apps/deployments/web',
          query: {},
        });
        return a.body?.status?.readyReplicas === 2 ? true : undefined;
      });
    },
  },
  { file: 'secret-dockerconfigjson.json', namespaces: ['demo-apps'] },
  { file: 'job-create.json', namespaces: ['demo-jobs'] },
  { file: 'pod-log-pending.json', namespaces: ['demo-apps'] },
  { file: 'invalid-object.json', namespaces: ['demo-apps', 'demo-other'] },
  { file: 'patch-apply-strategic.json', namespaces: ['demo-apps'] },
  {
    file: 'namespace-delete.json',
    setup: async (fake) => {
      await post(fake, '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'demo-doomed', labels: { 'nullops.io/env': 'test' } },
      });
      await post(
        fake,
        '/apis/apps/v1/namespaces/demo-doomed/deployments',
        busyboxDeployment('web', 'demo-doomed', 1),
      );
      await post(fake, '/api/v1/namespaces/demo-doomed/configmaps', {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'cm' },
        data: { a: 'b' },
      });
    },
  },
  {
    file: 'delete-propagation.json',
    namespaces: ['demo-gc'],
    setup: async (fake) => {
      for (const name of ['fg', 'bg', 'orph'])
        await post(
          fake,
          '/apis/apps/v1/namespaces/demo-gc/deployments',
          busyboxDeployment(name, 'demo-gc', 1),
        );
      await eventually('replica sets', async () => {
        const a = await send(fake, {
          method: 'GET',
          path: '/apis/apps/v1/namespaces/demo-gc/replicasets',
          query: {},
        });
        return a.body?.items?.length === 3 ? true : undefined;
      });
    },
  },
  {
    file: 'authn-authz.json',
    namespaces: ['demo-apps'],
    setup: async (fake) => {
      await post(fake, '/api/v1/namespaces/demo-apps/serviceaccounts', {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'nobody' },
      });
    },
    token: (exchange, index, context) => {
      if (exchange.request.auth === 'none') return null;
      if (index === 1) return 'not-a-valid-token';
      return exchange.request.auth ? context.saToken : undefined;
    },
  },
  { file: 'discovery.json' },
  {
    file: 'watch-pods.json',
    namespaces: ['demo-watch'],
    during: {
      1: async (fake) => {
        await post(fake, '/api/v1/namespaces/demo-watch/pods', sleeper('w1'));
        await podRunning(fake, 'demo-watch', 'w1');
        await send(fake, {
          method: 'PATCH',
          path: '/api/v1/namespaces/demo-watch/pods/w1',
          query: {},
          contentType: 'application/merge-patch+json',
          body: { metadata: { labels: { stage: 'two' } } },
        });
        await send(fake, { method: 'DELETE', path: '/api/v1/namespaces/demo-watch/pods/w1', query: {} });
      },
      3: async (fake) => {
        await post(fake, '/api/v1/namespaces/demo-watch/pods', sleeper('w2'));
      },
      // The watch starts from the version before this delete: it sees it whenever it connects.
      5: async (fake) => {
        await send(fake, { method: 'DELETE', path: '/api/v1/namespaces/demo-watch/pods/w2', query: {} });
      },
    },
    until: {
      1: (frames) => frames.some((f) => f.type === 'DELETED'),
      3: (frames) => frames.some((f) => f.type === 'MODIFIED' && f.object.status?.phase === 'Running'),
      5: (frames) => frames.some((f) => f.type === 'DELETED'),
    },
  },
  { file: 'no-kubelet/deployment-create-status.json', controlPlaneOnly: true, namespaces: ['demo-apps'] },
  { file: 'no-kubelet/job-create.json', controlPlaneOnly: true, namespaces: ['demo-jobs'] },
  { file: 'no-kubelet/pod-log-pending.json', controlPlaneOnly: true, namespaces: ['demo-apps'] },
];

const deletionOf = (body: any) => ({
  deleting: Boolean(body?.metadata?.deletionTimestamp),
  finalizers: body?.metadata?.finalizers,
});

/**
 * Recording artifacts the fake cannot (and must not) reproduce: pods of an earlier run still
 * terminating in a list, and discovery entries for resources the fake does not serve.
 */
function normalise(recorded: any, ours: any): any {
  if (recorded?.kind === 'PodList')
    return { ...recorded, items: recorded.items.filter((p: any) => !p.metadata?.deletionTimestamp) };
  if (recorded?.kind === 'APIResourceList') {
    const served = new Set((ours?.resources ?? []).map((r: any) => r.name));
    const resources = recorded.resources.filter((r: any) => served.has(r.name));
    ours.resources = resources.map((r: any) => ours.resources.find((o: any) => o.name === r.name));
    return { ...recorded, resources };
  }
  return recorded;
}

/** What differs between the recorded answer and the fake's (empty: they agree). */
function differences(recorded: Exchange['response'], ours: Answer, read: boolean): string[] {
  const problems: string[] = [];
  if (ours.status !== recorded.status)
    problems.push(`status ${ours.status}, recorded ${recorded.status}: ${ours.text.slice(0, 300)}`);
  const family = (t: string | undefined) =>
    t?.includes('json') ? 'json' : t?.includes('text') ? 'text' : t ? 'other' : 'none';
  if (recorded.status !== 204 && family(ours.contentType) !== family(recorded.headers['content-type']))
    problems.push(`content-type ${ours.contentType}, recorded ${recorded.headers['content-type']}`);
  if (Boolean(ours.warning) !== Boolean(recorded.headers.warning))
    problems.push(`warning header ${ours.warning}`);
  const expected = statusShape(recorded.body);
  if (expected && JSON.stringify(statusShape(ours.body)) !== JSON.stringify(expected))
    problems.push(`Status ${JSON.stringify(statusShape(ours.body))}, recorded ${JSON.stringify(expected)}`);
  if (!expected && recorded.body && typeof recorded.body === 'object' && !recorded.events) {
    if (ours.body?.kind !== recorded.body.kind)
      problems.push(`kind ${ours.body?.kind}, recorded ${recorded.body.kind}`);
    const sections = { ...recorded.body };
    if (!read) delete sections.status;
    const missing = missingKeys(sections, ours.body);
    if (missing.length)
      problems.push(`fields the real server wrote are missing: ${missing.slice(0, 8).join(', ')}`);
    // The state an object is in is compared for reads (retried until the fake gets there); a write
    // answers with whatever state the object had, so only its deletion markers are compared.
    const view = read ? stateOf : deletionOf;
    const state = JSON.stringify(view(ours.body));
    if (state !== JSON.stringify(view(recorded.body)))
      problems.push(`state ${state}, recorded ${JSON.stringify(view(recorded.body))}`);
    problems.push(...responseSchemaErrors(ours.body).map((e) => `schema: ${e}`));
  }
  if (
    typeof recorded.body === 'string' &&
    !recorded.events &&
    recorded.headers['content-type']?.includes('text') &&
    recorded.status === 200
  ) {
    if (recorded.body.trim() && !ours.text.trim()) problems.push('empty text body');
  }
  if (recorded.events) {
    const types = (ours.frames ?? []).map((f) => f.type);
    const want = recorded.events.map((e) => e.type);
    if (want.includes('ERROR')) {
      const error = ours.frames?.[0]?.object;
      if (types.join() !== 'ERROR' || error?.code !== 410 || error?.reason !== 'Expired')
        problems.push(`watch frames ${types}, recorded one ERROR 410 Expired`);
    } else if (!want.length) {
      if (types.length) problems.push(`watch frames ${types}, recorded none`);
    } else {
      if (types[0] !== want[0] || types[types.length - 1] !== want[want.length - 1])
        problems.push(`watch frames ${types}, recorded ${want}`);
      const rvs = (ours.frames ?? []).map((f) => Number(f.object.metadata.resourceVersion));
      if (rvs.some((rv, i) => i > 0 && rv <= (rvs[i - 1] as number)))
        problems.push(`resourceVersions not increasing: ${rvs}`);
      for (const f of ours.frames ?? [])
        problems.push(...responseSchemaErrors(f.object).map((e) => `frame schema: ${e}`));
    }
  }
  return problems;
}

async function replay(t: ExecutionContext, scenario: Scenario) {
  const fake = await startKubeFake(
    scenario.controlPlaneOnly
      ? { kubelet: false, scheduler: false }
      : // As long as the real cluster took to empty a namespace (8.8 s): reads made while it was
        // Terminating see it Terminating however busy this machine is.
        { startDelayMs: 1500, namespaceDeletionMs: 8000 },
  );
  t.teardown(() => fake.stop());
  for (const ns of scenario.namespaces ?? [])
    await post(fake, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await scenario.setup?.(fake);
  const map = new ValueMap();
  const context: { saToken?: string } = {};
  const transcript = loadTranscript(scenario.file);
  for (const [i, exchange] of transcript.entries()) {
    const { request: recorded, response } = exchange;
    const query = map.apply(recorded.query);
    const watching = query.watch === 'true' || query.watch === '1';
    // A watch from a version the recording got from a request not replayed: from now.
    if (
      watching &&
      query.resourceVersion &&
      query.resourceVersion !== '1' &&
      !map.has(recorded.query.resourceVersion as string)
    )
      query.resourceVersion = String(fake.store.resourceVersion);
    const token = scenario.token?.(exchange, i, context);
    const input = {
      method: recorded.method,
      path: map.apply(recorded.path),
      query,
      contentType: recorded.headers['content-type'],
      body: map.apply(recorded.body),
      token,
    };
    const read = recorded.method === 'GET' && !watching;
    const deadline = Date.now() + DEADLINE_MS;
    let ours: Answer;
    let problems: string[];
    for (;;) {
      const during = scenario.during?.[i]?.(fake, map);
      // A watch is read until what it must see has come (or the server ends it: an ERROR frame,
      // timeoutSeconds); the deadline only stops a watch that never gets there.
      ours = await send(fake, input, DEADLINE_MS, scenario.until?.[i]);
      await during;
      problems = differences({ ...response, body: normalise(response.body, ours.body) }, ours, read);
      if (!problems.length || !read || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.deepEqual(
      problems,
      [],
      `${scenario.file} #${i} ${recorded.method} ${recorded.path} (${exchange.note ?? ''})`,
    );
    map.learn(response.body, ours.body);
    if (response.events && ours.frames)
      map.learn(
        response.events.map((e) => e.object),
        ours.frames.map((f) => f.object),
      );
    if (ours.body?.kind === 'TokenRequest') context.saToken = ours.body.status.token;
  }
}

for (const scenario of scenarios) test(`replays ${scenario.file}`, (t) => replay(t, scenario));
