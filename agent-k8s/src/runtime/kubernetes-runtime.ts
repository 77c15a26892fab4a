import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import {
  Exec,
  type Informer,
  type KubeConfig,
  Log,
  makeInformer,
  type ObjectCache,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1Pod,
  type V1Status,
} from '@kubernetes/client-node';
import { probeAddress } from '@nullops/kernel';
import {
  type ClaimHolder,
  type DeploymentBudget,
  type ExecResult,
  FIRST_PARTY_RUNTIMES,
  type HealthCheck,
  type HealthResult,
  type JobSpec,
  type LogLine,
  type PullProgress,
  type RegistryAuth,
  RUNTIME_LABELS,
  type Runtime,
  type RuntimeOwner,
  type ServiceEndpoint,
  type ServiceRoute,
  type ServiceSpec,
  type ServiceState,
  type ServiceUsage,
} from '@nullops/plugin-sdk';
import { ignoreNotFound, KubeApi, kubeError, orUndefined } from './kube-api.js';
import {
  type AgentPlacement,
  deploymentObject,
  envSecretObject,
  ingressObject,
  jobObject,
  kubeNames,
  labelsOf,
  namespaceObject,
  networkPolicies,
  ownerLabelsOf,
  probedByKubernetes,
  pullSecretObject,
  quotaObject,
  roleBindingObject,
  SPEC_HASH_LABEL,
  selectorOf,
  serviceObject,
  specHash,
} from './kube-objects.js';
import { currentPod, type PodVerdict, podVerdict } from './pod-state.js';
import { untilPods } from './pod-watch.js';

export interface KubernetesRuntimeOptions {
  kubeConfig: KubeConfig;
  /**
   * Whose objects this runtime makes and touches (the agent learns it from the control plane):
   * every object is labelled with it, and nothing without it is listed or removed.
   */
  owner: RuntimeOwner | (() => RuntimeOwner);
  /** The agent's own namespace and pod labels (in-cluster), let in by every deployment's NetworkPolicy. */
  agentNamespace?: string;
  /** Where the agent's claim (a Lease) lives when it runs outside the cluster; default: its namespace. */
  claimNamespace?: string;
  /** The agent runs in the cluster: a claim's holder is a pod (named by its host name) that may be gone. */
  inCluster?: boolean;
  agentPodLabels?: Record<string, string>;
  /**
   * The agent's ServiceAccount and the ClusterRole of what it does inside a deployment's
   * namespace: bound there (a RoleBinding) right after the namespace is made, so the agent's
   * cluster-wide rights stay few. Unset: its own credentials must cover every namespace.
   */
  namespaceRole?: { role: string; serviceAccount: { name: string; namespace: string } };
  /** The ingress controller's namespace, let into deployments' namespaces (ingress-class environments). */
  ingressNamespace?: string;
  /** Addresses of the API server, never reachable from a deployment (besides the cluster's networks). */
  apiServerAddresses?: string[];
  /** StorageClass for named volumes (PersistentVolumeClaims); unset, volumes are emptyDir. */
  storageClass?: string;
  /** Size of each PersistentVolumeClaim. */
  volumeSize?: string;
  /** How long a pod may stay unschedulable before its step fails (a cluster autoscaler may add a node). */
  unschedulableGraceMs?: number;
  /**
   * How long an image pull may keep failing before its step fails: right after a pull secret is
   * made the node may not be allowed to read it yet, and registries hiccup.
   */
  pullGraceMs?: number;
  /** Longest wait for a started service's container to run (image pulls included). */
  startTimeoutMs?: number;
  /** Longest wait for a deleted namespace to disappear. */
  removeTimeoutMs?: number;
}

/** Most output an exec keeps (backups move data in pieces well below it). */
const MAX_EXEC_OUTPUT = 8 * 1024 * 1024;

const LOG_LINE = /^(\d{4}-\d{2}-\d{2}T[^ ]+) (.*)$/;

/**
 * The Runtime on a Kubernetes cluster, through @kubernetes/client-node. A deployment is a
 * namespace (labelled, default-deny NetworkPolicy, ResourceQuota of its budget); a service is a
 * Deployment of one replica and a ClusterIP Service; one-off tasks are Jobs. Everything is applied
 * server-side (idempotent), and pod state is watched, never polled. See the SDK's Runtime docs.
 */
export class KubernetesRuntime implements Runtime {
  readonly kind = FIRST_PARTY_RUNTIMES.kubernetes.kind;
  readonly engine = FIRST_PARTY_RUNTIMES.kubernetes.engine;
  readonly capabilities = FIRST_PARTY_RUNTIMES.kubernetes.capabilities;
  readonly api: KubeApi;
  private readonly agent: AgentPlacement;
  private readonly ownerOf: () => RuntimeOwner;
  private readonly graceMs: number;
  private readonly pullGraceMs: number;
  private metricsServed: boolean | undefined;
  private capacityCache: { at: number; value: { cpuMillicores: number; memoryMb: number } } | undefined;

  constructor(private readonly options: KubernetesRuntimeOptions) {
    this.api = new KubeApi(options.kubeConfig);
    this.agent = {
      ...(options.agentNamespace ? { namespace: options.agentNamespace } : {}),
      ...(options.agentPodLabels ? { podLabels: options.agentPodLabels } : {}),
      ...(options.ingressNamespace ? { ingressNamespace: options.ingressNamespace } : {}),
      ...(options.apiServerAddresses ? { apiServerAddresses: options.apiServerAddresses } : {}),
    };
    const { owner } = options;
    this.ownerOf = typeof owner === 'function' ? owner : () => owner;
    this.graceMs = options.unschedulableGraceMs ?? 30_000;
    this.pullGraceMs = options.pullGraceMs ?? 30_000;
  }

  /** The installation and node this runtime works for. */
  get owner(): RuntimeOwner {
    return this.ownerOf();
  }

  /** Allocatable CPU and memory of the ready nodes, minus what pods that are not ours request. */
  async capacity(): Promise<{ cpuMillicores: number; memoryMb: number }> {
    if (this.capacityCache && Date.now() - this.capacityCache.at < 30_000) return this.capacityCache.value;
    const [nodes, pods] = await Promise.all([
      this.api.core.listNode(),
      this.api.core.listPodForAllNamespaces({
        fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed',
      }),
    ]);
    let cpu = 0;
    let memory = 0;
    for (const node of nodes.items) {
      const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (!ready || node.spec?.unschedulable) continue;
      cpu += quantity(node.status?.allocatable?.cpu);
      memory += quantity(node.status?.allocatable?.memory);
    }
    for (const pod of pods.items) {
      if (pod.metadata?.labels?.[RUNTIME_LABELS.node] === this.owner.nodeId) continue;
      for (const c of pod.spec?.containers ?? []) {
        cpu -= quantity(c.resources?.requests?.cpu);
        memory -= quantity(c.resources?.requests?.memory);
      }
    }
    const value = {
      cpuMillicores: Math.max(0, Math.floor(cpu * 1000)),
      memoryMb: Math.max(0, Math.floor(memory / 1024 / 1024)),
    };
    this.capacityCache = { at: Date.now(), value };
    return value;
  }

  private readonly preparing = new Map<string, Promise<void>>();

  /** Networks each deployment may reach besides the internet, as last given. */
  private readonly egress = new Map<string, string[]>();

  /**
   * The namespace, the agent's RoleBinding in it, its NetworkPolicies and its ResourceQuota;
   * shared by parallel branches.
   */
  prepareDeployment(
    deploymentId: string,
    options: { budget?: DeploymentBudget; egressAllow?: string[] } = {},
  ): Promise<void> {
    if (options.egressAllow) this.egress.set(deploymentId, options.egressAllow);
    let pending = this.preparing.get(deploymentId);
    if (!pending) {
      pending = this.prepare(deploymentId, options.budget).finally(() => this.preparing.delete(deploymentId));
      this.preparing.set(deploymentId, pending);
    }
    return pending;
  }

  private async prepare(deploymentId: string, budget: DeploymentBudget | undefined) {
    const name = kubeNames.namespace(deploymentId);
    const existing = await orUndefined(this.api.core.readNamespace({ name }));
    if (existing?.metadata?.deletionTimestamp) await this.waitGone(name);
    // Made, or brought up to date (an older agent's namespace lacks the Pod Security labels).
    const wanted = namespaceObject(this.owner, deploymentId);
    const labels = existing?.metadata?.labels ?? {};
    if (
      !existing ||
      existing.metadata?.deletionTimestamp ||
      Object.entries(wanted.metadata?.labels ?? {}).some(([k, v]) => labels[k] !== v)
    )
      await this.api.apply(wanted);
    if (this.options.namespaceRole)
      await this.api.apply(roleBindingObject(this.owner, deploymentId, this.options.namespaceRole));
    // The API server's authorizer learns a new RoleBinding within moments: 403s until then are retried.
    await whileForbidden(() =>
      Promise.all([
        ...networkPolicies(this.owner, this.agent, deploymentId, this.egress.get(deploymentId)).map((p) =>
          this.api.apply(p),
        ),
        ...(budget ? [this.api.apply(quotaObject(this.owner, deploymentId, budget))] : []),
      ]),
    );
  }

  /** The kubelet pulls images itself (with the namespace's pull secret); nothing to do ahead. */
  async pullImage(
    image: string,
    _auth?: RegistryAuth,
    onProgress?: (p: PullProgress) => void,
  ): Promise<void> {
    onProgress?.({ image, status: 'the node pulls the image when the service starts' });
  }

  async startService(
    deploymentId: string,
    spec: ServiceSpec,
    auth?: RegistryAuth,
    signal?: AbortSignal,
  ): Promise<ServiceState> {
    await this.prepareDeployment(deploymentId);
    const namespace = kubeNames.namespace(deploymentId);
    let pullSecret: string | undefined;
    if (auth) {
      const secret = pullSecretObject(this.owner, deploymentId, auth);
      await this.api.apply(secret);
      pullSecret = secret.metadata?.name;
    }
    if (this.options.storageClass)
      for (const volume of Object.keys(spec.volumes ?? {}))
        await this.api.apply({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: {
            name: `${spec.name}-${volume}`,
            namespace,
            labels: labelsOf(this.owner, deploymentId),
          },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: this.options.storageClass,
            resources: { requests: { storage: this.options.volumeSize ?? '1Gi' } },
          },
        });
    const envSecret = envSecretObject(this.owner, deploymentId, spec);
    if (envSecret) await this.api.apply(envSecret);
    const service = serviceObject(this.owner, deploymentId, spec);
    await Promise.all([
      this.api.apply(deploymentObject(this.owner, deploymentId, spec, pullSecret, this.options.storageClass)),
      ...(service ? [this.api.apply(service)] : []),
    ]);
    // Returns once the container of the current spec runs; a pod that cannot run says why.
    const hash = specHash(spec);
    const verdict = await untilPods<{ v: PodVerdict; pod: V1Pod | undefined }>(
      this.api,
      namespace,
      `${selectorOf(this.owner, deploymentId, spec.name)},${SPEC_HASH_LABEL}=${hash}`,
      (pods) => {
        const pod = currentPod(pods);
        if (!pod) return undefined;
        const v = this.verdictOf(pod, spec.name);
        return v.kind === 'running' || v.kind === 'failed' ? { v, pod } : undefined;
      },
      {
        timeoutMs: this.options.startTimeoutMs ?? 30 * 60_000,
        signal,
        // No pod at all: the ReplicaSet may be refused its pods (Pod Security, quota).
        whileNone: async () => {
          const deployment = await orUndefined(
            this.api.apps.readNamespacedDeployment({ name: spec.name, namespace }),
          );
          const failure = deployment?.status?.conditions?.find(
            (c) => c.type === 'ReplicaFailure' && c.status === 'True',
          );
          return failure
            ? {
                v: {
                  kind: 'failed' as const,
                  message: `${spec.name} gets no pod: ${failure.message ?? failure.reason}`,
                },
                pod: undefined,
              }
            : undefined;
        },
      },
    );
    if (!verdict)
      throw new Error(
        `${spec.name} did not start within ${Math.round((this.options.startTimeoutMs ?? 1_800_000) / 1000)} s`,
      );
    if (verdict.v.kind === 'failed')
      throw new Error(
        verdict.pod ? await this.withLastLines(verdict.v, verdict.pod, spec.name) : verdict.v.message,
      );
    return this.inspectService(deploymentId, spec.name);
  }

  /**
   * A crash reads better with what the crashed container printed last: the previous instance's
   * log. Right after a restart the kubelet may answer with its own error text (`unable to
   * retrieve container logs for containerd://…`) instead, with 200: that is never taken for the
   * service's lines; it is asked again until the node has them (for at most five seconds), then
   * the current instance is.
   */
  private async withLastLines(verdict: { message: string; crashed?: boolean }, pod: V1Pod, service: string) {
    if (!verdict.crashed) return verdict.message;
    const deadline = Date.now() + 5_000;
    let lines: string | undefined;
    while (lines === undefined && Date.now() < deadline) {
      const body = await this.podLog(pod, { previous: true, tail: 10 }).catch(() => undefined);
      lines = body === undefined || KUBELET_LOG_ERROR.test(body.trim()) ? undefined : body;
      if (lines === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    lines ||= serviceLines(await this.podLog(pod, { previous: false, tail: 10 }).catch(() => ''));
    const last = lines.trim().split('\n').slice(-10).join(' | ').slice(-1500);
    return last ? `${verdict.message}; last lines of ${service}: ${last}` : verdict.message;
  }

  private async podLog(pod: V1Pod, options: { previous: boolean; tail: number }): Promise<string> {
    return this.api.core.readNamespacedPodLog({
      name: pod.metadata?.name as string,
      namespace: pod.metadata?.namespace as string,
      previous: options.previous,
      tailLines: options.tail,
    });
  }

  /**
   * Reads an object of a deployment's namespace; undefined when it is not there. The agent may
   * read there only through the RoleBinding it made in the namespace: with the namespace deleted
   * (behind its back) the answer is 403, not 404, and means the same.
   */
  private async readInNamespace<T>(deploymentId: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await orUndefined(read());
    } catch (err) {
      if (kubeError(err).code !== 403) throw err;
      const namespace = await orUndefined(
        this.api.core.readNamespace({ name: kubeNames.namespace(deploymentId) }),
      );
      if (!namespace || namespace.metadata?.deletionTimestamp) return undefined;
      throw err;
    }
  }

  /** Where a pod stands, with this runtime's grace periods (scheduling, transient pull errors). */
  private verdictOf(pod: V1Pod, service: string) {
    return podVerdict(pod, service, { unschedulableGraceMs: this.graceMs, pullGraceMs: this.pullGraceMs });
  }

  private async podsOf(deploymentId: string, name: string): Promise<V1Pod[]> {
    const list = await this.api.core.listNamespacedPod({
      namespace: kubeNames.namespace(deploymentId),
      labelSelector: selectorOf(this.owner, deploymentId, name),
    });
    return list.items;
  }

  async inspectService(deploymentId: string, name: string): Promise<ServiceState> {
    const namespace = kubeNames.namespace(deploymentId);
    const deployment = await this.readInNamespace(deploymentId, () =>
      this.api.apps.readNamespacedDeployment({ name, namespace }),
    );
    if (!deployment) return { name, ref: '', status: 'missing' };
    const pods = await this.podsOf(deploymentId, name);
    const pod = currentPod(pods);
    const verdict = pod ? this.verdictOf(pod, name) : undefined;
    const ref = deployment.metadata?.uid ?? '';
    // Its pod deleted (by someone, or drained off its node) with no new one yet: said as such.
    const deleted = pod ? undefined : pods.find((p) => p.metadata?.deletionTimestamp);
    // Its pod evicted, and the new one not running yet: the eviction is why.
    const evictedBefore = pods.find((p) => p !== pod && p.status?.reason === 'Evicted');
    const container = pod?.status?.containerStatuses?.[0];
    const restartCount = container?.restartCount ?? 0;
    if (verdict?.kind === 'running')
      return {
        name,
        ref,
        status: 'running',
        restartCount,
        ...(verdict.startedAt ? { startedAt: verdict.startedAt } : {}),
      };
    const evicted = verdict?.kind === 'failed' && verdict.evicted;
    const terminated = evicted
      ? undefined
      : (container?.state?.terminated ?? container?.lastState?.terminated);
    const crashLoop = container?.state?.waiting?.reason === 'CrashLoopBackOff';
    const reason = verdict
      ? 'message' in verdict
        ? verdict.message
        : 'detail' in verdict
          ? verdict.detail
          : undefined
      : deleted
        ? `${name}'s pod ${deleted.metadata?.name} was deleted; Kubernetes starts a new one`
        : `${name} has no pod`;
    const why =
      evictedBefore && verdict?.kind !== 'failed'
        ? `${name} was evicted by its node: ${evictedBefore.status?.message ?? ''}; Kubernetes starts a new pod`.replace(
            ': ;',
            ';',
          )
        : reason;
    // A Deployment that wants its replica is Kubernetes' to bring up (scheduling, pulling, a crash
    // loop's back-off); only one scaled to zero is stopped.
    const wanted = (deployment.spec?.replicas ?? 1) > 0;
    return {
      name,
      ref,
      status: 'stopped',
      restartCount,
      ...(terminated ? { exitCode: terminated.exitCode } : {}),
      ...(crashLoop ? { restarting: true } : wanted ? { starting: true } : {}),
      ...(why ? { reason: why } : {}),
    };
  }

  /**
   * Watches the pods of this agent in every namespace (one watch, never polling) and says which
   * service each change is about; the watch starts again from a fresh list when the server ends
   * it or says its version is too old (410). Every pod of that list counts as changed: what changed
   * while nobody watched is not missed.
   */
  watchServices(onChange: (deploymentId: string, service: string) => void): () => void {
    let stopped = false;
    let controller: AbortController | undefined;
    let retry: NodeJS.Timeout | undefined;
    const labelSelector = selectorOf(this.owner);
    const again = () => {
      controller?.abort();
      if (!stopped) retry = setTimeout(() => void follow(), 1000);
    };
    const tell = (pod: V1Pod) => {
      const labels = pod.metadata?.labels ?? {};
      const deploymentId = labels[RUNTIME_LABELS.deployment];
      const service = labels[RUNTIME_LABELS.service];
      if (deploymentId && service) onChange(deploymentId, service);
    };
    let listed = false;
    const follow = async () => {
      try {
        const list = await this.api.core.listPodForAllNamespaces({ labelSelector });
        if (stopped) return;
        if (listed) for (const pod of list.items) tell(pod);
        listed = true;
        controller = await this.api.watcher.watch(
          '/api/v1/pods',
          { labelSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
          (type, pod: V1Pod) => {
            if (type === 'ERROR') return again();
            if (type !== 'BOOKMARK') tell(pod);
          },
          () => again(),
        );
        if (stopped) controller.abort();
      } catch {
        again();
      }
    };
    void follow();
    return () => {
      stopped = true;
      clearTimeout(retry);
      controller?.abort();
    };
  }

  /** Scales its Deployment back to one replica (a stopped service) and deletes its pods: it makes a new one. */
  async restartService(deploymentId: string, name: string): Promise<ServiceState> {
    const namespace = kubeNames.namespace(deploymentId);
    await this.scale(namespace, name, 1);
    for (const pod of await this.podsOf(deploymentId, name))
      await ignoreNotFound(
        this.api.core.deleteNamespacedPod({ name: pod.metadata?.name as string, namespace }),
      );
    return this.inspectService(deploymentId, name);
  }

  /** Scales its Deployment to zero: the Deployment and Service stay, its pod goes. */
  async stopService(deploymentId: string, name: string): Promise<ServiceState> {
    await this.scale(kubeNames.namespace(deploymentId), name, 0);
    // Resolves once its pod is gone (it gets the pod's grace period to stop).
    for (const until = Date.now() + 90_000; ; await new Promise((r) => setTimeout(r, 250))) {
      const state = await this.inspectService(deploymentId, name);
      if (state.status !== 'running' || Date.now() > until) return state;
    }
  }

  private async scale(namespace: string, name: string, replicas: number) {
    await this.api.apps.patchNamespacedDeployment(
      { name, namespace, body: { spec: { replicas } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async removeService(deploymentId: string, name: string): Promise<void> {
    const namespace = kubeNames.namespace(deploymentId);
    await Promise.all([
      ignoreNotFound(
        this.api.apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: 'Background' }),
      ),
      ignoreNotFound(this.api.core.deleteNamespacedService({ name, namespace })),
    ]);
  }

  private slices: (Informer<V1EndpointSlice> & ObjectCache<V1EndpointSlice>) | undefined;
  private slicesSynced: Promise<void> | undefined;
  private closed = false;

  /**
   * The EndpointSlices of this node's Services, kept by an informer (one watch, never a list per
   * request): the edge answers from it, also while the API server is briefly away.
   */
  private endpointSlices(): Promise<ObjectCache<V1EndpointSlice>> {
    if (!this.slices) {
      const labelSelector = selectorOf(this.owner);
      const informer = makeInformer(
        this.options.kubeConfig,
        '/apis/discovery.k8s.io/v1/endpointslices',
        () => this.api.discovery.listEndpointSliceForAllNamespaces({ labelSelector }),
        labelSelector,
      );
      // The informer stops on an error (the API server went away): it starts again, keeping what
      // it had until its next list succeeds.
      informer.on('error', () => {
        if (!this.closed) setTimeout(() => void informer.start().catch(() => {}), 2000).unref();
      });
      this.slices = informer;
      this.slicesSynced = informer.start().catch(() => {});
    }
    const slices = this.slices;
    // Its first list may wait on an API server that is away: an empty cache meanwhile (the
    // service's ready pod is asked directly instead).
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 5000);
    });
    return Promise.race([this.slicesSynced as Promise<void>, waited]).then(() => {
      clearTimeout(timer);
      return slices;
    });
  }

  /** Stops the watches this runtime keeps (the agent is stopping). */
  async close(): Promise<void> {
    this.closed = true;
    await this.slices?.stop();
  }

  /** A ready endpoint of the service's Service (from its EndpointSlices, watched). */
  async serviceEndpoint(
    deploymentId: string,
    name: string,
    port: number,
  ): Promise<ServiceEndpoint | undefined> {
    const slices = (await this.endpointSlices())
      .list(kubeNames.namespace(deploymentId))
      .filter((slice) => slice.metadata?.labels?.['kubernetes.io/service-name'] === name);
    for (const slice of slices) {
      const target = slice.ports?.find((p) => p.port === port)?.port ?? slice.ports?.[0]?.port ?? port;
      for (const endpoint of slice.endpoints ?? [])
        if (endpoint.conditions?.ready && endpoint.addresses[0])
          return { host: endpoint.addresses[0], port: target };
    }
    // The EndpointSlice controller follows pod readiness with a lag (seconds on a busy cluster):
    // meanwhile a Ready pod of the service is the same destination.
    const ready = (await this.podsOf(deploymentId, name)).find(
      (pod) =>
        pod.status?.podIP &&
        !pod.metadata?.deletionTimestamp &&
        pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready?.status?.podIP ? { host: ready.status.podIP, port } : undefined;
  }

  /**
   * Readiness is Kubernetes' own (the health check is the pod's readinessProbe): waits up to
   * `timeoutMs` for the pod to be Ready, and fails at once when it cannot run. Not ready in time,
   * the detail is the probe's last result from the pod's events (`Readiness probe failed: HTTP
   * probe failed with statuscode: 404`). An HTTP check expecting a status no httpGet probe passes
   * on is the agent's own, against the ready pod.
   */
  async checkHealth(
    deploymentId: string,
    name: string,
    check: HealthCheck,
    timeoutMs: number,
  ): Promise<HealthResult> {
    let last = 'not ready yet';
    let seen: V1Pod | undefined;
    const result = await untilPods(
      this.api,
      kubeNames.namespace(deploymentId),
      selectorOf(this.owner, deploymentId, name),
      (pods) => {
        const pod = currentPod(pods);
        if (!pod) return undefined;
        seen = pod;
        const v = this.verdictOf(pod, name);
        if (v.kind === 'failed') return { v, pod };
        if (v.kind === 'running' && v.ready) return { v, pod };
        last = v.kind === 'waiting' ? v.detail : `${name} runs but is not ready (${check.kind} check)`;
        return undefined;
      },
      { timeoutMs },
    );
    if (!result) {
      const probe = seen && (await this.lastProbeFailure(seen));
      return { healthy: false, detail: probe ? `${name} is not ready: ${probe}` : last };
    }
    if (result.v.kind === 'failed') throw new Error(await this.withLastLines(result.v, result.pod, name));
    if (check.kind === 'http' && !probedByKubernetes(check)) {
      const port = check.port ?? result.pod.spec?.containers?.[0]?.ports?.[0]?.containerPort;
      const address = port ? await this.serviceEndpoint(deploymentId, name, port) : undefined;
      if (!address) return { healthy: false, detail: `${name} has no address to check yet` };
      return probeAddress(address, check, Math.min(timeoutMs, 5000));
    }
    return { healthy: true, detail: `Kubernetes reports ${name} ready (${check.kind} readiness probe)` };
  }

  /** The newest probe failure the kubelet reported for a pod (its `Unhealthy` events). */
  private async lastProbeFailure(pod: V1Pod): Promise<string | undefined> {
    const events = await this.api.core
      .listNamespacedEvent({
        namespace: pod.metadata?.namespace as string,
        fieldSelector: `involvedObject.name=${pod.metadata?.name},reason=Unhealthy`,
      })
      .catch(() => undefined);
    const newest = (events?.items ?? []).sort((a, b) => eventTime(b) - eventTime(a))[0];
    return newest?.message?.trim();
  }

  async exec(deploymentId: string, name: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const pod = currentPod(await this.podsOf(deploymentId, name));
    if (!pod || this.verdictOf(pod, name).kind !== 'running')
      throw new Error(`${name} is not running, so nothing can run in it`);
    // Output is kept up to a cap (the rest is counted, not held): a command that prints without
    // end cannot fill the agent's memory.
    let output = '';
    let dropped = 0;
    const sink = new Writable({
      write(chunk, _encoding, done) {
        const text = chunk.toString();
        const room = MAX_EXEC_OUTPUT - output.length;
        if (room > 0) output += text.slice(0, room);
        dropped += Math.max(0, text.length - Math.max(room, 0));
        done();
      },
    });
    let socket: { close(): void } | undefined;
    const status = await new Promise<V1Status>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The stream is closed, not left running in the pod's connection.
        socket?.close();
        reject(new Error(`exec in ${name} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      new Exec(this.options.kubeConfig)
        .exec(
          pod.metadata?.namespace as string,
          pod.metadata?.name as string,
          name,
          command,
          sink,
          sink,
          null,
          false,
          (s) => {
            clearTimeout(timer);
            resolve(s);
          },
        )
        .then((ws) => {
          socket = ws;
          ws.on('close', () =>
            setTimeout(
              () => resolve({ status: 'Failure', message: 'the exec stream closed without a status' }),
              50,
            ),
          );
        })
        .catch((err) => {
          clearTimeout(timer);
          reject(new Error(`exec in ${name} failed: ${kubeError(err).message}`));
        });
    });
    if (dropped) output += `\n…[${dropped} more characters not kept]`;
    if (status.status === 'Success') return { exitCode: 0, output };
    const code = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
    return { exitCode: code ? Number(code) : 1, output: output || (status.message ?? '') };
  }

  /** A Job run once (no retries), awaited to completion or failure, its logs as the output. */
  async runJob(deploymentId: string, spec: JobSpec, signal?: AbortSignal): Promise<ExecResult> {
    await this.prepareDeployment(deploymentId);
    const namespace = kubeNames.namespace(deploymentId);
    const name = `${spec.name}-${randomBytes(3).toString('hex')}`.slice(0, 63);
    await this.api.batch.createNamespacedJob({
      namespace,
      body: jobObject(this.owner, deploymentId, name, spec),
    });
    try {
      const finished = await untilPods(
        this.api,
        namespace,
        `job-name=${name}`,
        (pods) => {
          const pod = currentPod(pods) ?? pods[0];
          if (!pod) return undefined;
          const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
          if (terminated) return { pod, exitCode: terminated.exitCode };
          const v = this.verdictOf(pod, `job ${spec.name}`);
          return v.kind === 'failed' && !v.crashed ? { pod, failure: v.message } : undefined;
        },
        { timeoutMs: (spec.timeoutMs ?? 600_000) + 5000, signal },
      );
      if (!finished)
        throw new Error(
          `job ${spec.name} did not finish within ${Math.round((spec.timeoutMs ?? 600_000) / 1000)} s`,
        );
      if ('failure' in finished) throw new Error(finished.failure as string);
      const output = await this.podLog(finished.pod, { previous: false, tail: 2000 }).catch(() => '');
      return { exitCode: finished.exitCode ?? 1, output };
    } finally {
      await ignoreNotFound(
        this.api.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' }),
      );
    }
  }

  async *logs(
    deploymentId: string,
    name: string,
    options: { follow: boolean; tail?: number; signal?: AbortSignal },
  ): AsyncIterable<LogLine> {
    const pod = currentPod(await this.podsOf(deploymentId, name));
    if (!pod) throw new Error(`${name} has no pod to read logs from`);
    const verdict = this.verdictOf(pod, name);
    const started = pod.status?.containerStatuses?.[0]?.state;
    if (!started?.running && !started?.terminated)
      throw new Error(
        'message' in verdict
          ? verdict.message
          : 'detail' in verdict
            ? verdict.detail
            : `${name} has not started yet`,
      );
    const stream = new PassThrough();
    const controller = await new Log(this.options.kubeConfig).log(
      pod.metadata?.namespace as string,
      pod.metadata?.name as string,
      name,
      stream,
      { follow: options.follow, tailLines: options.tail ?? 200, timestamps: true },
    );
    const abort = () => {
      controller.abort();
      stream.end();
    };
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      let buffer = '';
      for await (const chunk of stream) {
        buffer += chunk.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const raw of lines) {
          const m = LOG_LINE.exec(raw);
          yield {
            service: name,
            stream: 'stdout',
            time: m?.[1] ?? new Date().toISOString(),
            line: m?.[2] ?? raw,
          };
        }
      }
      if (buffer) yield { service: name, stream: 'stdout', time: new Date().toISOString(), line: buffer };
    } finally {
      options.signal?.removeEventListener('abort', abort);
      controller.abort();
    }
  }

  /** From metrics.k8s.io when the cluster serves it; no metrics (an empty list) when it does not. */
  async usage(): Promise<ServiceUsage[]> {
    if (this.metricsServed === false) return [];
    const selector = selectorOf(this.owner);
    let metrics: {
      items: {
        metadata: { name: string; namespace: string; labels?: Record<string, string> };
        containers: { usage: { cpu: string; memory: string } }[];
      }[];
    };
    try {
      metrics = await this.api.custom.listClusterCustomObject({
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        plural: 'pods',
        labelSelector: selector,
      });
      this.metricsServed = true;
    } catch (err) {
      // A cluster without metrics-server: usage is simply not known (asked again after a while).
      if (kubeError(err).code === 404 || kubeError(err).code === 503) {
        this.metricsServed = false;
        setTimeout(() => {
          this.metricsServed = undefined;
        }, 60_000).unref();
        return [];
      }
      throw err;
    }
    const pods = await this.api.core.listPodForAllNamespaces({ labelSelector: selector });
    const limits = new Map(
      pods.items.map((p) => [
        `${p.metadata?.namespace}/${p.metadata?.name}`,
        quantity(p.spec?.containers?.[0]?.resources?.limits?.memory),
      ]),
    );
    return metrics.items.flatMap((m) => {
      const labels = m.metadata.labels ?? {};
      const service = labels[RUNTIME_LABELS.service] ?? labels[RUNTIME_LABELS.job];
      const deploymentId = labels[RUNTIME_LABELS.deployment];
      if (!service || !deploymentId) return [];
      const cpu = m.containers.reduce((s, c) => s + quantity(c.usage.cpu), 0);
      const memory = m.containers.reduce((s, c) => s + quantity(c.usage.memory), 0);
      return [
        {
          deploymentId,
          service,
          cpuPercent: cpu * 100,
          memoryBytes: memory,
          memoryLimitBytes: limits.get(`${m.metadata.namespace}/${m.metadata.name}`) ?? 0,
        },
      ];
    });
  }

  /** The deployment's routes as an Ingress for the cluster's controller (none: no Ingress). */
  async publishRoutes(deploymentId: string, routes: ServiceRoute[], className: string): Promise<void> {
    const namespace = kubeNames.namespace(deploymentId);
    if (!routes.length) {
      await ignoreNotFound(
        this.api.objects.delete({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          metadata: { name: kubeNames.ingress, namespace },
        }),
      );
      return;
    }
    await this.api.apply(ingressObject(this.owner, deploymentId, routes, className));
  }

  /**
   * Its PersistentVolumeClaims exist (with a StorageClass); emptyDir volumes live and die with
   * their pod, so a service with volumes whose Deployment is gone has lost them.
   */
  async hasData(deploymentId: string, spec: ServiceSpec): Promise<boolean> {
    const volumes = Object.keys(spec.volumes ?? {});
    if (!volumes.length) return true;
    const namespace = kubeNames.namespace(deploymentId);
    if (!this.options.storageClass)
      return Boolean(
        await this.readInNamespace(deploymentId, () =>
          this.api.apps.readNamespacedDeployment({ name: spec.name, namespace }),
        ),
      );
    for (const volume of volumes) {
      const claim = await this.readInNamespace(deploymentId, () =>
        this.api.core.readNamespacedPersistentVolumeClaim({ name: `${spec.name}-${volume}`, namespace }),
      );
      if (!claim || claim.metadata?.deletionTimestamp) return false;
    }
    return true;
  }

  /**
   * The claim is a `coordination.k8s.io` Lease `nullops-agent-<node>` in the agent's namespace,
   * taken and renewed with optimistic concurrency (its resourceVersion): a holder that stopped
   * renewing, or whose pod is gone, frees it.
   */
  async claim(
    holder: ClaimHolder,
    staleAfterMs: number,
  ): Promise<{ held: true } | { held: false; by: string }> {
    const namespace = this.claimNamespace();
    const name = `nullops-agent-${this.owner.nodeId}`;
    const me = `${holder.host}/${holder.instance}`;
    const now = new Date();
    const existing = await orUndefined(this.api.coordination.readNamespacedLease({ name, namespace }));
    const by = existing?.spec?.holderIdentity;
    if (existing && by && by !== me) {
      const renewed = existing.spec?.renewTime ? new Date(existing.spec.renewTime).getTime() : 0;
      const fresh = now.getTime() - renewed < staleAfterMs;
      const [pod] = by.split('/');
      // In the cluster, the holder's host name is its pod: a pod that is gone holds nothing.
      const podAlive =
        !this.options.inCluster ||
        Boolean(pod && (await orUndefined(this.api.core.readNamespacedPod({ name: pod, namespace }))));
      if (fresh && podAlive) return { held: false, by: `agent ${by}, renewed ${existing.spec?.renewTime}` };
    }
    const lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace,
        labels: ownerLabelsOf(this.owner),
        ...(existing?.metadata?.resourceVersion
          ? { resourceVersion: existing.metadata.resourceVersion }
          : {}),
      },
      spec: {
        holderIdentity: me,
        leaseDurationSeconds: Math.ceil(staleAfterMs / 1000),
        acquireTime: by === me && existing?.spec?.acquireTime ? existing.spec.acquireTime : now,
        renewTime: now,
      },
    };
    try {
      if (existing) await this.api.coordination.replaceNamespacedLease({ name, namespace, body: lease });
      else await this.api.coordination.createNamespacedLease({ namespace, body: lease });
    } catch (err) {
      // Another process wrote it between our read and write: it holds it now.
      const code = kubeError(err).code;
      if (code === 409) return { held: false, by: 'another agent that claimed it at the same moment' };
      throw err;
    }
    return { held: true };
  }

  async release(holder: ClaimHolder): Promise<void> {
    const namespace = this.claimNamespace();
    const name = `nullops-agent-${this.owner.nodeId}`;
    const lease = await orUndefined(this.api.coordination.readNamespacedLease({ name, namespace }));
    if (lease?.spec?.holderIdentity === `${holder.host}/${holder.instance}`)
      await ignoreNotFound(this.api.coordination.deleteNamespacedLease({ name, namespace }));
  }

  private claimNamespace(): string {
    return this.agent.namespace ?? this.options.claimNamespace ?? 'default';
  }

  async listDeployments(): Promise<string[]> {
    const namespaces = await this.api.core.listNamespace({ labelSelector: selectorOf(this.owner) });
    return [
      ...new Set(
        namespaces.items
          .map((n) => n.metadata?.labels?.[RUNTIME_LABELS.deployment])
          .filter((id): id is string => Boolean(id)),
      ),
    ];
  }

  /** Deletes the namespace (everything in it goes with it) and waits until it is gone. */
  async removeDeployment(deploymentId: string): Promise<void> {
    const name = kubeNames.namespace(deploymentId);
    this.preparing.delete(deploymentId);
    this.egress.delete(deploymentId);
    await ignoreNotFound(this.api.core.deleteNamespace({ name }));
    await this.waitGone(name);
  }

  private async waitGone(name: string): Promise<void> {
    const deadline = Date.now() + (this.options.removeTimeoutMs ?? 5 * 60_000);
    while (Date.now() < deadline) {
      const ns = await orUndefined(this.api.core.readNamespace({ name }));
      if (!ns) return;
      // Terminating takes seconds (the namespace controller empties it first): wait for the DELETED event.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(10_000, Math.max(0, deadline - Date.now())));
        let controller: AbortController | undefined;
        this.api.watcher
          .watch(
            '/api/v1/namespaces',
            { fieldSelector: `metadata.name=${name}`, resourceVersion: ns.metadata?.resourceVersion },
            (type) => {
              if (type === 'DELETED' || type === 'ERROR') {
                clearTimeout(timer);
                controller?.abort();
                resolve();
              }
            },
            () => {
              clearTimeout(timer);
              resolve();
            },
          )
          .then(
            (c) => {
              controller = c;
            },
            () => resolve(),
          );
      });
    }
    throw new Error(
      `namespace ${name} was not gone within ${Math.round((this.options.removeTimeoutMs ?? 300_000) / 1000)} s`,
    );
  }
}

/** Retries `work` while the API server refuses it (403) for up to 10 s: RBAC caches catch up. */
async function whileForbidden<T>(work: () => Promise<T>): Promise<T> {
  for (let waited = 0; ; waited += 250) {
    try {
      return await work();
    } catch (err) {
      if (kubeError(err).code !== 403 || waited >= 10_000) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The kubelet's own words where a container's log should be: not the service's lines. */
const KUBELET_LOG_ERROR =
  /^(unable to retrieve container logs for |previous terminated container .* not found|failed to try resolving symlinks in path|container .* is waiting to start)/;

function serviceLines(body: string): string {
  return KUBELET_LOG_ERROR.test(body.trim()) ? '' : body;
}

/** When an event last happened (events of older clusters have only firstTimestamp). */
function eventTime(e: {
  lastTimestamp?: Date;
  eventTime?: Date;
  firstTimestamp?: Date;
  metadata?: { creationTimestamp?: Date };
}): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}

/** A Kubernetes quantity as a number: CPU in cores, memory in bytes. */
export function quantity(q: string | number | undefined): number {
  if (q === undefined || q === null) return 0;
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q);
  if (!m) return 0;
  const factor: Record<string, number> = {
    '': 1,
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  return Number(m[1]) * (factor[m[2] as string] ?? 1);
}
