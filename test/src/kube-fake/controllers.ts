import { createHash } from 'node:crypto';
import { enforcedLevel, podSecurityViolations } from './pod-security.js';
import { type KubeObject, parseQuantity, RESOURCES, type ResourceType, resourceOfKind } from './resources.js';
import { fromLabelSelector, matches } from './selectors.js';
import type { KubeApiServer } from './server.js';
import { ApiError } from './status.js';
import type { Store, StoreEvent } from './store.js';

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const R = {
  namespaces: resourceOfKind('Namespace'),
  pods: resourceOfKind('Pod'),
  deployments: resourceOfKind('Deployment'),
  replicasets: resourceOfKind('ReplicaSet'),
  jobs: resourceOfKind('Job'),
  services: resourceOfKind('Service'),
  endpoints: resourceOfKind('Endpoints'),
  endpointslices: resourceOfKind('EndpointSlice'),
  quotas: resourceOfKind('ResourceQuota'),
  nodes: resourceOfKind('Node'),
};

export const NODE_NAME = 'kube-fake-node';

export interface ControllerOptions {
  /** Least time a namespace stays Terminating (real clusters: seconds). */
  namespaceDeletionMs: number;
  /** Allocatable resources of the one node. */
  node: { cpu: string; memory: string; pods: number };
  /** Bind pods to the node (a cluster with a scheduler). */
  scheduler: boolean;
}

/** Pods that count against a node or a quota: not finished, not being deleted for good. */
export const isActivePod = (p: KubeObject) => !['Succeeded', 'Failed'].includes(p.status?.phase);

function podRequests(pod: KubeObject, kind: 'requests' | 'limits') {
  let cpu = 0;
  let memory = 0;
  for (const c of pod.spec?.containers ?? []) {
    const res = c.resources?.[kind] ?? (kind === 'requests' ? c.resources?.limits : undefined) ?? {};
    cpu += parseQuantity(res.cpu);
    memory += parseQuantity(res.memory);
  }
  return { cpu, memory };
}

/** A 10-character hash of a pod template, like the deployment controller's pod-template-hash. */
function templateHash(template: unknown): string {
  const hex = createHash('sha256').update(JSON.stringify(template)).digest('hex');
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(
    { length: 10 },
    (_, i) => alphabet[Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16) % alphabet.length],
  ).join('');
}

const ownedBy = (o: KubeObject, owner: KubeObject) =>
  (o.metadata.ownerReferences ?? []).some((ref) => ref.uid === owner.metadata.uid);

const ownerRef = (owner: KubeObject, r: ResourceType) => ({
  apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
  kind: r.kind,
  name: owner.metadata.name as string,
  uid: owner.metadata.uid as string,
  controller: true,
  blockOwnerDeletion: true,
});

function setCondition(conditions: any[], condition: Record<string, unknown>, probe = false): any[] {
  const existing = conditions.find((c) => c.type === condition.type);
  const time = now();
  const transitioned = !existing || existing.status !== condition.status;
  const next: Record<string, unknown> = {
    ...condition,
    ...(probe ? { lastProbeTime: null } : { lastUpdateTime: time }),
    lastTransitionTime: transitioned ? time : existing.lastTransitionTime,
  };
  if (!probe) {
    const ordered = {
      type: next.type,
      status: next.status,
      lastUpdateTime: next.lastUpdateTime,
      lastTransitionTime: next.lastTransitionTime,
      reason: next.reason,
      message: next.message,
    };
    return [...conditions.filter((c) => c.type !== condition.type), ordered];
  }
  return [...conditions.filter((c) => c.type !== condition.type), next];
}

/**
 * The control-plane controllers a real cluster runs (kube-controller-manager and the scheduler),
 * enough for what the agent does: Deployments → ReplicaSets → Pods, Jobs → Pods, Services →
 * Endpoints and EndpointSlices, ResourceQuota admission and usage, the garbage collector
 * (background, foreground, orphan), the namespace lifecycle and pod scheduling.
 */
export class Controllers {
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private readonly retry: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly api: KubeApiServer,
    private readonly options: ControllerOptions,
  ) {
    store.changes.on('change', (e) => this.observe(e));
    // Unschedulable pods and quota-blocked ReplicaSets are retried, as controllers resync.
    this.retry = setInterval(() => this.resync(), 500);
    this.retry.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.retry);
    for (const t of this.pending.values()) clearTimeout(t);
  }

  /** Creates the node object the scheduler binds pods to. */
  registerNode(): void {
    const node = this.options.node;
    const resources = {
      cpu: node.cpu,
      'hugepages-1Gi': '0',
      'hugepages-2Mi': '0',
      memory: node.memory,
      pods: String(node.pods),
    };
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      lastHeartbeatTime: now(),
      lastTransitionTime: now(),
      reason,
      message,
    });
    this.store.put(R.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: NODE_NAME,
        uid: 'c0ffee00-0000-4000-8000-000000000001',
        creationTimestamp: now(),
        labels: {
          'beta.kubernetes.io/arch': 'amd64',
          'beta.kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'kubernetes.io/hostname': NODE_NAME,
          'kubernetes.io/os': 'linux',
        },
        annotations: {
          'node.alpha.kubernetes.io/ttl': '0',
          'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        },
      },
      spec: {},
      status: {
        capacity: resources,
        allocatable: resources,
        conditions: [
          condition(
            'MemoryPressure',
            'False',
            'KubeletHasSufficientMemory',
            'kubelet has sufficient memory available',
          ),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          condition(
            'PIDPressure',
            'False',
            'KubeletHasSufficientPID',
            'kubelet has sufficient PID available',
          ),
          condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        ],
        addresses: [
          { type: 'InternalIP', address: '127.0.0.1' },
          { type: 'Hostname', address: NODE_NAME },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: 'kubefake',
          systemUUID: 'kubefake',
          bootID: 'kubefake',
          kernelVersion: 'linux',
          osImage: 'NullOps kube-fake',
          containerRuntimeVersion: 'docker://kube-fake',
          kubeletVersion: 'v1.28.7',
          kubeProxyVersion: 'v1.28.7',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
        images: [{ names: ['docker.io/nullops-test/busybox:1'], sizeBytes: 2_000_000 }],
      },
    });
  }

  /** Runs `work` once, soon (writes coalesce, as a controller's work queue does). */
  private schedule(key: string, work: () => void, delayMs = 15) {
    if (this.stopped || this.pending.has(key)) return;
    this.pending.set(
      key,
      setTimeout(() => {
        this.pending.delete(key);
        if (this.stopped) return;
        try {
          work();
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          // Conflicts and races with deletions: the next event brings the controller back.
        }
      }, delayMs),
    );
  }

  private observe(e: StoreEvent) {
    const o = e.object;
    const ns = o.metadata.namespace as string;
    const name = o.metadata.name as string;
    switch (e.resource.kind) {
      case 'Deployment':
        this.schedule(`deploy/${ns}/${name}`, () => this.deployment(ns, name));
        break;
      case 'ReplicaSet':
        this.schedule(`rs/${ns}/${name}`, () => this.replicaSet(ns, name));
        for (const ref of o.metadata.ownerReferences ?? [])
          if (ref.kind === 'Deployment')
            this.schedule(`deploy/${ns}/${ref.name}`, () => this.deployment(ns, ref.name));
        break;
      case 'Job':
        this.schedule(`job/${ns}/${name}`, () => this.job(ns, name));
        break;
      case 'Pod':
        if (o.metadata.finalizers?.includes('batch.kubernetes.io/job-tracking') && e.type !== 'DELETED')
          this.schedule(`job-orphan/${o.metadata.uid}`, () => this.releaseOrphan(ns, name));
        for (const ref of o.metadata.ownerReferences ?? []) {
          if (ref.kind === 'ReplicaSet')
            this.schedule(`rs/${ns}/${ref.name}`, () => this.replicaSet(ns, ref.name));
          if (ref.kind === 'Job') this.schedule(`job/${ns}/${ref.name}`, () => this.job(ns, ref.name));
        }
        this.schedule(`endpoints/${ns}`, () => this.endpoints(ns));
        this.schedule(`quota/${ns}`, () => this.quotaUsage(ns));
        if (!o.spec?.nodeName && e.type !== 'DELETED')
          this.schedule(`schedule/${ns}/${name}`, () => this.bind(ns, name), 5);
        break;
      case 'Service':
        this.schedule(`endpoints/${ns}`, () => this.endpoints(ns));
        break;
      case 'ResourceQuota':
        this.schedule(`quota/${ns}`, () => this.quotaUsage(ns));
        break;
      case 'Namespace':
        if (o.metadata.deletionTimestamp && e.type !== 'DELETED')
          this.schedule(`ns/${name}`, () => this.namespace(name), 50);
        break;
    }
    if (e.type === 'DELETED' || o.metadata.deletionTimestamp)
      this.schedule(`gc/${e.resource.kind}/${o.metadata.uid}`, () => this.collect(e.resource, o), 10);
    if (ns) {
      const namespace = this.store.get(R.namespaces, undefined, ns);
      if (namespace?.metadata.deletionTimestamp) this.schedule(`ns/${ns}`, () => this.namespace(ns), 50);
    }
  }

  private resync() {
    for (const pod of this.store.list(R.pods))
      if (!pod.spec.nodeName && !pod.metadata.deletionTimestamp)
        this.schedule(
          `schedule/${pod.metadata.namespace}/${pod.metadata.name}`,
          () => this.bind(pod.metadata.namespace as string, pod.metadata.name as string),
          5,
        );
    for (const rs of this.store.list(R.replicasets))
      if (rs.status?.conditions?.some((c: { type: string }) => c.type === 'ReplicaFailure'))
        this.schedule(`rs/${rs.metadata.namespace}/${rs.metadata.name}`, () =>
          this.replicaSet(rs.metadata.namespace as string, rs.metadata.name as string),
        );
  }

  private update(r: ResourceType, obj: KubeObject, change: (o: KubeObject) => void): KubeObject | undefined {
    const current = this.store.get(r, obj.metadata.namespace, obj.metadata.name as string);
    if (!current) return undefined;
    const next = structuredClone(current);
    change(next);
    if (JSON.stringify(next) === JSON.stringify(current)) return current;
    return this.store.put(r, next);
  }

  // -------------------------------------------------------------------------------------------
  // Deployments and ReplicaSets

  private deployment(ns: string, name: string) {
    const d = this.store.get(R.deployments, ns, name);
    if (!d || d.metadata.deletionTimestamp) return;
    const hash = templateHash(d.spec.template);
    const owned = this.store.list(R.replicasets, ns).filter((rs) => ownedBy(rs, d));
    let current = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const revision = String(
      Math.max(
        0,
        ...owned.map((rs) => Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)),
      ) + (current ? 0 : 1),
    );
    if (!current) {
      const template = structuredClone(d.spec.template);
      template.metadata.labels = { ...template.metadata.labels, 'pod-template-hash': hash };
      current = this.api.create(
        { resource: R.replicasets, namespace: ns },
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: {
            name: `${name}-${hash}`,
            namespace: ns,
            labels: { ...d.spec.template.metadata?.labels, 'pod-template-hash': hash },
            annotations: {
              'deployment.kubernetes.io/desired-replicas': String(d.spec.replicas),
              'deployment.kubernetes.io/max-replicas': String(d.spec.replicas + 1),
              'deployment.kubernetes.io/revision': revision,
            },
            ownerReferences: [ownerRef(d, R.deployments)],
          },
          spec: {
            replicas: d.spec.replicas,
            selector: {
              matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash },
            },
            template,
          },
        },
        'kube-controller-manager',
      );
    } else if (current.spec.replicas !== d.spec.replicas) {
      this.update(R.replicasets, current, (rs) => {
        rs.spec.replicas = d.spec.replicas;
      });
    }
    for (const old of owned.filter(
      (rs) => rs.metadata.uid !== current?.metadata.uid && rs.spec.replicas !== 0,
    ))
      this.update(R.replicasets, old, (rs) => {
        rs.spec.replicas = 0;
      });
    const all = this.store.list(R.replicasets, ns).filter((rs) => ownedBy(rs, d));
    const sum = (key: string) => all.reduce((s, rs) => s + (rs.status?.[key] ?? 0), 0);
    const fresh = all.find((rs) => rs.metadata.uid === current?.metadata.uid);
    const replicas = sum('replicas');
    const ready = sum('readyReplicas');
    const available = sum('availableReplicas');
    const failure = fresh?.status?.conditions?.find((c: { type: string }) => c.type === 'ReplicaFailure');
    this.update(R.deployments, d, (o) => {
      o.metadata.annotations = { ...o.metadata.annotations, 'deployment.kubernetes.io/revision': revision };
      let conditions = o.status?.conditions ?? [];
      const availableNow = available >= o.spec.replicas;
      conditions = setCondition(conditions, {
        type: 'Available',
        status: availableNow ? 'True' : 'False',
        reason: availableNow ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        message: availableNow
          ? 'Deployment has minimum availability.'
          : 'Deployment does not have minimum availability.',
      });
      const progressed = availableNow && (fresh?.status?.availableReplicas ?? 0) >= o.spec.replicas;
      conditions = setCondition(conditions, {
        type: 'Progressing',
        status: 'True',
        reason: progressed ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        message: progressed
          ? `ReplicaSet "${current?.metadata.name}" has successfully progressed.`
          : `ReplicaSet "${current?.metadata.name}" is progressing.`,
      });
      if (failure)
        conditions = setCondition(conditions, {
          type: 'ReplicaFailure',
          status: 'True',
          reason: failure.reason,
          message: failure.message,
        });
      else conditions = conditions.filter((c: { type: string }) => c.type !== 'ReplicaFailure');
      o.status = {
        observedGeneration: o.metadata.generation,
        replicas,
        updatedReplicas: fresh?.status?.replicas ?? 0,
        ...(ready ? { readyReplicas: ready } : {}),
        ...(available ? { availableReplicas: available } : {}),
        ...(replicas - available > 0 ? { unavailableReplicas: replicas - available } : {}),
        conditions,
      };
    });
  }

  private replicaSet(ns: string, name: string) {
    const rs = this.store.get(R.replicasets, ns, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    // As the real controller: pods that ended (Succeeded, Failed — an eviction) are replaced.
    const pods = this.store
      .list(R.pods, ns)
      .filter((p) => ownedBy(p, rs) && !p.metadata.deletionTimestamp && isActivePod(p));
    let failure: { reason: string; message: string } | undefined;
    for (let i = pods.length; i < rs.spec.replicas; i++) {
      try {
        pods.push(
          this.api.create(
            { resource: R.pods, namespace: ns },
            {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: {
                generateName: `${name}-`,
                namespace: ns,
                labels: rs.spec.template.metadata?.labels,
                ...(rs.spec.template.metadata?.annotations
                  ? { annotations: rs.spec.template.metadata.annotations }
                  : {}),
                ownerReferences: [ownerRef(rs, R.replicasets)],
              },
              spec: structuredClone(rs.spec.template.spec),
            },
            'kube-controller-manager',
          ),
        );
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        failure = { reason: 'FailedCreate', message: err.message };
        break;
      }
    }
    for (const extra of pods.slice(rs.spec.replicas)) this.api.deleteObject(R.pods, extra);
    const live = this.store.list(R.pods, ns).filter((p) => ownedBy(p, rs) && !p.metadata.deletionTimestamp);
    const ready = live.filter((p) =>
      p.status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
      ),
    ).length;
    this.update(R.replicasets, rs, (o) => {
      const conditions = failure
        ? setCondition(
            o.status?.conditions ?? [],
            { type: 'ReplicaFailure', status: 'True', ...failure },
            true,
          )
        : (o.status?.conditions ?? []).filter((c: { type: string }) => c.type !== 'ReplicaFailure');
      o.status = {
        replicas: live.length,
        fullyLabeledReplicas: live.length,
        ...(ready ? { readyReplicas: ready, availableReplicas: ready } : {}),
        observedGeneration: o.metadata.generation,
        ...(conditions.length ? { conditions } : {}),
      };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Jobs

  private job(ns: string, name: string) {
    const job = this.store.get(R.jobs, ns, name);
    if (!job || job.metadata.deletionTimestamp) return;
    if (
      job.status?.conditions?.some(
        (c: { type: string; status: string }) =>
          ['Complete', 'Failed'].includes(c.type) && c.status === 'True',
      )
    ) {
      this.releasePods(job);
      return;
    }
    const pods = this.store.list(R.pods, ns).filter((p) => ownedBy(p, job));
    const succeeded = pods.filter((p) => p.status?.phase === 'Succeeded').length;
    const failed = pods.filter((p) => p.status?.phase === 'Failed').length;
    const active = pods.filter((p) => isActivePod(p) && !p.metadata.deletionTimestamp);
    const started = job.status?.startTime ?? now();
    const deadline = job.spec.activeDeadlineSeconds
      ? Date.parse(started) + job.spec.activeDeadlineSeconds * 1000
      : Number.POSITIVE_INFINITY;
    let outcome: { type: 'Complete' | 'Failed'; reason?: string; message?: string } | undefined;
    if (succeeded >= job.spec.completions) outcome = { type: 'Complete' };
    else if (failed > job.spec.backoffLimit)
      outcome = {
        type: 'Failed',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      };
    else if (Date.now() > deadline)
      outcome = {
        type: 'Failed',
        reason: 'DeadlineExceeded',
        message: 'Job was active longer than specified deadline',
      };
    if (!outcome && !active.length) {
      try {
        this.api.create(
          { resource: R.pods, namespace: ns },
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              generateName: `${name}-`,
              namespace: ns,
              labels: job.spec.template.metadata?.labels,
              ownerReferences: [ownerRef(job, R.jobs)],
              finalizers: ['batch.kubernetes.io/job-tracking'],
            },
            spec: structuredClone(job.spec.template.spec),
          },
          'kube-controller-manager',
        );
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
      }
    }
    if (outcome?.type === 'Failed') for (const p of active) this.api.deleteObject(R.pods, p);
    if (Number.isFinite(deadline) && !outcome)
      this.schedule(
        `job-deadline/${ns}/${name}`,
        () => this.job(ns, name),
        Math.max(10, deadline - Date.now() + 5),
      );
    this.update(R.jobs, job, (o) => {
      const conditions = outcome
        ? [
            {
              type: outcome.type,
              status: 'True',
              lastProbeTime: now(),
              lastTransitionTime: now(),
              ...(outcome.reason ? { reason: outcome.reason, message: outcome.message } : {}),
            },
          ]
        : undefined;
      o.status = {
        ...(conditions ? { conditions } : {}),
        startTime: started,
        ...(outcome?.type === 'Complete' ? { completionTime: now() } : {}),
        ...(active.length && !outcome ? { active: active.length } : {}),
        ...(succeeded ? { succeeded } : {}),
        ...(failed ? { failed } : {}),
        uncountedTerminatedPods: {},
        ready: active.filter((p) =>
          p.status?.conditions?.some(
            (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
          ),
        ).length,
      };
    });
    this.releasePods(job);
  }

  /** A job pod whose Job is gone (deleted, or never was) is released by the job controller too. */
  private releaseOrphan(ns: string, name: string) {
    const pod = this.store.get(R.pods, ns, name);
    if (!pod?.metadata.finalizers?.includes('batch.kubernetes.io/job-tracking')) return;
    const owner = pod.metadata.ownerReferences?.find((r) => r.kind === 'Job');
    const job = owner && this.store.get(R.jobs, ns, owner.name);
    if (job && job.metadata.uid === owner?.uid && !job.metadata.deletionTimestamp) return;
    this.update(R.pods, pod, (o) => {
      o.metadata.finalizers = (o.metadata.finalizers ?? []).filter(
        (f) => f !== 'batch.kubernetes.io/job-tracking',
      );
      if (!o.metadata.finalizers.length) delete o.metadata.finalizers;
    });
  }

  /** The job-tracking finalizer comes off pods once the Job has counted them. */
  private releasePods(job: KubeObject) {
    for (const p of this.store.list(R.pods, job.metadata.namespace))
      if (
        ownedBy(p, job) &&
        (!isActivePod(p) || p.metadata.deletionTimestamp) &&
        p.metadata.finalizers?.includes('batch.kubernetes.io/job-tracking')
      )
        this.update(R.pods, p, (o) => {
          o.metadata.finalizers = (o.metadata.finalizers ?? []).filter(
            (f) => f !== 'batch.kubernetes.io/job-tracking',
          );
          if (!o.metadata.finalizers.length) delete o.metadata.finalizers;
        });
  }

  // -------------------------------------------------------------------------------------------
  // Services → Endpoints, EndpointSlices

  private endpoints(ns: string) {
    const pods = this.store.list(R.pods, ns);
    for (const svc of this.store.list(R.services, ns)) {
      if (!svc.spec.selector) continue;
      const selector = fromLabelSelector({ matchLabels: svc.spec.selector });
      const selected = pods.filter(
        (p) => matches(selector, p.metadata.labels) && p.status?.podIP && isActivePod(p),
      );
      const isReady = (p: KubeObject) =>
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        );
      const targetPort = (port: any, pod: KubeObject | undefined) => {
        if (typeof port.targetPort === 'number') return port.targetPort;
        for (const c of pod?.spec.containers ?? [])
          for (const p of c.ports ?? []) if (p.name === port.targetPort) return p.containerPort;
        return port.port;
      };
      const ports = (svc.spec.ports ?? []).map((p: any) => ({
        ...(p.name ? { name: p.name } : {}),
        port: targetPort(p, selected[0]),
        protocol: p.protocol,
      }));
      const address = (p: KubeObject) => ({
        ip: p.status.podIP,
        nodeName: p.spec.nodeName,
        targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid },
      });
      const ready = selected.filter(isReady);
      const notReady = selected.filter((p) => !isReady(p));
      const subsets = selected.length
        ? [
            {
              ...(ready.length ? { addresses: ready.map(address) } : {}),
              ...(notReady.length ? { notReadyAddresses: notReady.map(address) } : {}),
              ports,
            },
          ]
        : undefined;
      const name = svc.metadata.name as string;
      const existing = this.store.get(R.endpoints, ns, name);
      const body = {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: {
          name,
          namespace: ns,
          ...(svc.metadata.labels ? { labels: svc.metadata.labels } : {}),
          annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': now() },
        },
        ...(subsets ? { subsets } : {}),
      };
      if (!existing)
        this.api.create(
          { resource: R.endpoints, namespace: ns },
          body as KubeObject,
          'kube-controller-manager',
        );
      else
        this.update(R.endpoints, existing, (o) => {
          if (subsets) o.subsets = subsets;
          else delete o.subsets;
        });
      const slices = this.store
        .list(R.endpointslices, ns)
        .filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === name);
      const endpoints = selected.map((p) => ({
        addresses: [p.status.podIP],
        conditions: {
          ready: isReady(p),
          serving: isReady(p),
          terminating: Boolean(p.metadata.deletionTimestamp),
        },
        targetRef: { kind: 'Pod', namespace: ns, name: p.metadata.name, uid: p.metadata.uid },
        nodeName: p.spec.nodeName,
      }));
      if (!slices.length)
        this.api.create(
          { resource: R.endpointslices, namespace: ns },
          {
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: {
              generateName: `${name}-`,
              namespace: ns,
              labels: {
                ...svc.metadata.labels,
                'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
                'kubernetes.io/service-name': name,
              },
              annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': now() },
              ownerReferences: [ownerRef(svc, R.services)],
            },
            addressType: 'IPv4',
            endpoints,
            ports,
          },
          'kube-controller-manager',
        );
      else
        this.update(R.endpointslices, slices[0] as KubeObject, (o) => {
          o.endpoints = endpoints;
          o.ports = ports;
        });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Quota, scheduling

  private quotaUsage(ns: string) {
    const pods = this.store.list(R.pods, ns).filter(isActivePod);
    for (const quota of this.store.list(R.quotas, ns)) {
      const used: Record<string, string> = {};
      for (const key of Object.keys(quota.spec?.hard ?? {})) used[key] = usageOf(pods, key);
      this.update(R.quotas, quota, (o) => {
        o.status = { hard: o.spec.hard, used };
      });
    }
  }

  /** Quota admission for a pod about to be created: the API server's `exceeded quota` refusal. */
  admitPod(ns: string, pod: KubeObject): void {
    // Pod Security admission, by the namespace's enforce label.
    const namespace = this.store.get(R.namespaces, undefined, ns);
    const level = enforcedLevel(namespace?.metadata.labels);
    const violations = podSecurityViolations(pod.spec ?? {}, level);
    if (violations.length)
      throw new ApiError(
        403,
        'Forbidden',
        `pods "${pod.metadata.name ?? pod.metadata.generateName}" is forbidden: violates PodSecurity "${level}:latest": ${violations.join(', ')}`,
        { name: pod.metadata.name ?? '', kind: 'pods' },
      );
    const pods = this.store.list(R.pods, ns).filter(isActivePod);
    for (const quota of this.store.list(R.quotas, ns)) {
      const hard: Record<string, string> = quota.spec?.hard ?? {};
      const over: string[] = [];
      for (const [key, limit] of Object.entries(hard)) {
        const [kind, resource] = key.includes('.')
          ? (key.split('.') as ['requests' | 'limits', string])
          : ['requests', key];
        if (key === 'pods') {
          if (pods.length + 1 > Number(limit)) over.push(key);
          continue;
        }
        const mine = podRequests(pod, kind as 'requests' | 'limits')[resource as 'cpu' | 'memory'];
        const missing = (pod.spec.containers ?? []).some(
          (c: any) =>
            !c.resources?.[kind]?.[resource] && !(kind === 'requests' && c.resources?.limits?.[resource]),
        );
        if (missing)
          throw new ApiError(
            403,
            'Forbidden',
            `pods "${pod.metadata.name ?? pod.metadata.generateName}" is forbidden: failed quota: ${quota.metadata.name}: must specify ${key}`,
            {
              name: pod.metadata.name ?? '',
              kind: 'pods',
            },
          );
        const total = parseQuantity(usageOf(pods, key)) + mine;
        if (total > parseQuantity(limit) + 1e-9) over.push(key);
      }
      if (over.length)
        throw new ApiError(
          403,
          'Forbidden',
          `pods "${pod.metadata.name ?? pod.metadata.generateName}" is forbidden: exceeded quota: ${quota.metadata.name}, requested: ${over
            .map(
              (k) =>
                `${k}=${k === 'pods' ? '1' : format(k, podRequests(pod, k.split('.')[0] as 'requests')[k.split('.')[1] as 'cpu'])}`,
            )
            .join(
              ',',
            )}, used: ${over.map((k) => `${k}=${usageOf(pods, k)}`).join(',')}, limited: ${over.map((k) => `${k}=${hard[k]}`).join(',')}`,
          { name: pod.metadata.name ?? '', kind: 'pods' },
        );
    }
  }

  private bind(ns: string, name: string) {
    if (!this.options.scheduler) return;
    const pod = this.store.get(R.pods, ns, name);
    if (!pod || pod.spec.nodeName || pod.metadata.deletionTimestamp) return;
    const node = this.store.get(R.nodes, undefined, NODE_NAME);
    if (!node) return;
    const selectorOk = Object.entries(pod.spec.nodeSelector ?? {}).every(
      ([k, v]) => node.metadata.labels?.[k] === v,
    );
    const bound = this.store.list(R.pods).filter((p) => p.spec.nodeName === NODE_NAME && isActivePod(p));
    const used = bound.reduce(
      (s, p) => {
        const r = podRequests(p, 'requests');
        return { cpu: s.cpu + r.cpu, memory: s.memory + r.memory };
      },
      { cpu: 0, memory: 0 },
    );
    const want = podRequests(pod, 'requests');
    const reasons: string[] = [];
    if (!selectorOk) reasons.push("1 node(s) didn't match Pod's node affinity/selector");
    if (used.cpu + want.cpu > parseQuantity(node.status.allocatable.cpu)) reasons.push('1 Insufficient cpu');
    if (used.memory + want.memory > parseQuantity(node.status.allocatable.memory))
      reasons.push('1 Insufficient memory');
    if (reasons.length) {
      const message = `0/1 nodes are available: ${reasons.join(', ')}. preemption: 0/1 nodes are available: 1 ${
        selectorOk
          ? 'No preemption victims found for incoming pod'
          : 'Preemption is not helpful for scheduling'
      }..`;
      this.update(R.pods, pod, (o) => {
        o.status.conditions = setCondition(
          o.status.conditions ?? [],
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message,
          },
          true,
        );
      });
      return;
    }
    this.update(R.pods, pod, (o) => {
      o.spec.nodeName = NODE_NAME;
      o.status.conditions = setCondition(
        (o.status.conditions ?? []).filter((c: { type: string }) => c.type !== 'PodScheduled'),
        { type: 'PodScheduled', status: 'True' },
        true,
      );
    });
  }

  // -------------------------------------------------------------------------------------------
  // Garbage collection, namespaces

  private collect(r: ResourceType, owner: KubeObject) {
    const uid = owner.metadata.uid;
    const live = this.store.get(r, owner.metadata.namespace, owner.metadata.name as string);
    const gone = !live || live.metadata.uid !== uid;
    const finalizers = live?.metadata.finalizers ?? [];
    const dependents = RESOURCES.filter((t) => t.namespaced).flatMap((t) =>
      this.store
        .list(t, owner.metadata.namespace)
        .filter((o) => (o.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid))
        .map((o) => ({ t, o })),
    );
    if (gone) {
      for (const { t, o } of dependents) this.api.deleteObject(t, o, 'Background');
      return;
    }
    if (!live.metadata.deletionTimestamp) return;
    if (finalizers.includes('orphan')) {
      for (const { t, o } of dependents)
        this.update(t, o, (x) => {
          x.metadata.ownerReferences = (x.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid);
          if (!x.metadata.ownerReferences.length) delete x.metadata.ownerReferences;
        });
      this.dropFinalizer(r, live, 'orphan');
      return;
    }
    if (finalizers.includes('foregroundDeletion')) {
      const blocking = dependents.filter(({ o }) =>
        (o.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid && ref.blockOwnerDeletion),
      );
      for (const { t, o } of blocking)
        if (!o.metadata.deletionTimestamp) this.api.deleteObject(t, o, 'Foreground');
      if (!blocking.length) this.dropFinalizer(r, live, 'foregroundDeletion');
      else this.schedule(`gc/${r.kind}/${uid}`, () => this.collect(r, owner), 50);
      return;
    }
    if (finalizers.length || r.plural === 'namespaces') return;
    // Bound pods leave once their kubelet stopped them; everything else goes now.
    if (r.plural !== 'pods' || !live.spec?.nodeName) this.store.remove(r, live);
  }

  private dropFinalizer(r: ResourceType, obj: KubeObject, finalizer: string) {
    const next = this.update(r, obj, (o) => {
      o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      if (!o.metadata.finalizers.length) delete o.metadata.finalizers;
    });
    if (next && !next.metadata.finalizers?.length && (r.plural !== 'pods' || !next.spec?.nodeName))
      this.store.remove(r, next);
  }

  private namespace(name: string) {
    const ns = this.store.get(R.namespaces, undefined, name);
    if (!ns?.metadata.deletionTimestamp) return;
    const contents = RESOURCES.filter((t) => t.namespaced).flatMap((t) =>
      this.store.list(t, name).map((o) => ({ t, o })),
    );
    const since = Date.now() - Date.parse(ns.metadata.deletionTimestamp);
    this.update(R.namespaces, ns, (o) => {
      o.status.conditions = [
        {
          type: 'NamespaceDeletionDiscoveryFailure',
          status: 'False',
          lastTransitionTime: ns.metadata.deletionTimestamp,
          reason: 'ResourcesDiscovered',
          message: 'All resources successfully discovered',
        },
        {
          type: 'NamespaceContentRemaining',
          status: contents.length ? 'True' : 'False',
          lastTransitionTime: ns.metadata.deletionTimestamp,
          reason: contents.length ? 'SomeResourcesRemain' : 'ContentRemoved',
          message: contents.length
            ? `Some resources are remaining: ${[...new Set(contents.map((c) => c.t.plural))].map((p) => `${p} has ${contents.filter((c) => c.t.plural === p).length} resource instances`).join(', ')}`
            : 'All content successfully removed',
        },
      ];
    });
    for (const { t, o } of contents)
      if (!o.metadata.deletionTimestamp) this.api.deleteObject(t, o, 'Background');
    if (contents.length || since < this.options.namespaceDeletionMs) {
      this.schedule(
        `ns/${name}`,
        () => this.namespace(name),
        Math.max(50, Math.min(250, this.options.namespaceDeletionMs - since)),
      );
      return;
    }
    const latest = this.store.get(R.namespaces, undefined, name);
    if (latest) this.store.remove(R.namespaces, latest);
  }
}

function usageOf(pods: KubeObject[], key: string): string {
  if (key === 'pods' || key === 'count/pods') return String(pods.length);
  const [kind, resource] = key.includes('.') ? key.split('.') : ['requests', key];
  const total = pods.reduce(
    (s, p) => s + podRequests(p, kind as 'requests' | 'limits')[resource as 'cpu' | 'memory'],
    0,
  );
  return format(key, total);
}

function format(key: string, value: number): string {
  if (key.endsWith('cpu')) return Number.isInteger(value) ? String(value) : `${Math.round(value * 1000)}m`;
  if (value % 1024 ** 3 === 0 && value) return `${value / 1024 ** 3}Gi`;
  if (value % 1024 ** 2 === 0) return `${value / 1024 ** 2}Mi`;
  return String(value);
}
