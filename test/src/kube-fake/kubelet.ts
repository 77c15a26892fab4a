import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { WebSocketServer } from 'ws';
import { scaled } from '../helpers/time.js';
import { isActivePod, NODE_NAME } from './controllers.js';
import { type KubeObject, parseQuantity, resourceOfKind } from './resources.js';
import { fromLabelSelector, matches } from './selectors.js';
import type { LogOptions, NodeAgent } from './server.js';
import type { Store, StoreEvent } from './store.js';

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const PODS = resourceOfKind('Pod');
const SERVICES = resourceOfKind('Service');
const SECRETS = resourceOfKind('Secret');
const EVENTS = resourceOfKind('Event');
const LABEL = 'dev.nullops.kube-fake';
/** How long a killed container's exit waits for the engine's word that the OOM killer did it. */
const OOM_EVENT_GRACE_MS = scaled(2000);

export interface KubeletOptions {
  /** Labels every Docker object this fake creates, so several fakes share one engine. */
  instance: string;
  /** First crash-loop back-off (real kubelets: 10 s, doubling to 5 min). */
  crashBackoffMs: number;
  /** Delay before an image pull is retried (real kubelets back off from 10 s). */
  imagePullBackoffMs: number;
  /** Delay before a bound pod's containers are created. */
  startDelayMs: number;
  /** Image of the pod sandbox container that holds the pod's network (a real node's `pause`). */
  sandboxImage: string;
  /**
   * How long after a pull secret is made the node may not read it yet (the node authorizer lags
   * a new object on a real cluster): a pull with it fails as forbidden until then.
   */
  pullSecretLagMs: number;
  /** How long after a restart the previous instance's log is the kubelet's error text instead. */
  previousLogLagMs: number;
}

interface ContainerState {
  id?: string;
  /**
   * When each instance was started (ms, taken before the start call). Instances are told apart in
   * the log by these: Docker stamps a line when it reads it, which under load may be after the
   * process's own StartedAt or FinishedAt, but never before it was started, and well before the
   * next start (a back-off away).
   */
  starts: number[];
  /** When it was last restarted after a crash (ms). */
  restartedAt?: number;
  restarts: number;
  ready: boolean;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
  image: string;
  started: boolean;
}

interface PodRuntime {
  uid: string;
  /** The sandbox container: it owns the pod IP; the pod's containers join its network namespace. */
  sandbox?: string;
  namespace: string;
  name: string;
  containers: Map<string, ContainerState>;
  ip?: string;
  startTime?: string;
  stopping: boolean;
  probes: NodeJS.Timeout[];
  finished: boolean;
}

/**
 * The node side of the fake cluster: a kubelet that runs pods as real Docker containers, one
 * Docker network per namespace with the names of the Services that select a pod as its aliases.
 * Images are pulled with the pod's imagePullSecrets; containers get the pod's limits, capabilities
 * and no-new-privileges; readiness probes run against the pod IP; exits, crash loops (with
 * back-off) and OOM kills show in the pod status as a real kubelet reports them; logs and exec
 * go to the containers.
 */
export class DockerKubelet implements NodeAgent {
  private readonly pods = new Map<string, PodRuntime>();
  private readonly ooms = new OomEvents();
  /** When the node first needed a pull secret for a pod (`podUid/secretUid` → ms). */
  private readonly pullSecretEdges = new Map<string, number>();
  private events: NodeJS.ReadableStream | undefined;
  private stopped = false;
  private readonly networks = new Map<string, Promise<string>>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false),
  });

  constructor(
    private readonly store: Store,
    private readonly docker: Docker,
    private readonly options: KubeletOptions,
  ) {}

  async start(): Promise<void> {
    this.store.changes.on('change', (e) => this.observe(e));
    const stream = (await this.docker.getEvents({
      filters: { type: ['container'], event: ['die', 'oom'], label: [`${LABEL}=${this.options.instance}`] },
    })) as NodeJS.ReadableStream;
    this.events = stream;
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as {
          Action?: string;
          Actor?: { ID?: string; Attributes?: Record<string, string> };
        };
        if (event.Action === 'oom') {
          if (event.Actor?.ID) this.ooms.said(event.Actor.ID);
          continue;
        }
        const uid = event.Actor?.Attributes?.[`${LABEL}.pod`];
        const container = event.Actor?.Attributes?.[`${LABEL}.container`];
        if (uid && container) void this.exited(uid, container).catch(() => {});
      }
    });
    stream.on('error', () => {});
  }

  /** Stops every pod container and removes the Docker objects this fake made. */
  async stop(): Promise<void> {
    this.stopped = true;
    (this.events as unknown as { destroy?: () => void })?.destroy?.();
    for (const pod of this.pods.values()) for (const t of pod.probes) clearInterval(t);
    const filters = { label: [`${LABEL}=${this.options.instance}`] };
    const containers = await this.docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch(() => {}),
      ),
    );
    const volumes = (await this.docker.listVolumes({ filters })).Volumes ?? [];
    await Promise.all(
      volumes.map((v) =>
        this.docker
          .getVolume(v.Name)
          .remove()
          .catch(() => {}),
      ),
    );
    const networks = await this.docker.listNetworks({ filters });
    await Promise.all(
      networks.map((n) =>
        this.docker
          .getNetwork(n.Id)
          .remove()
          .catch(() => {}),
      ),
    );
    this.wss.close();
  }

  private observe(e: StoreEvent) {
    if (this.stopped) return;
    if (e.resource.kind === 'Namespace' && e.type === 'DELETED') {
      void this.dropNetwork(e.object.metadata.name as string).catch(() => {});
      return;
    }
    if (e.resource.kind === 'Service' && e.type === 'ADDED') {
      void this.aliasService(e.object).catch(() => {});
      return;
    }
    if (e.resource.kind !== 'Pod' || e.type === 'DELETED') return;
    const pod = e.object;
    if (pod.spec?.nodeName !== NODE_NAME) return;
    const uid = pod.metadata.uid as string;
    const known = this.pods.get(uid);
    if (pod.metadata.deletionTimestamp) {
      if (known && !known.stopping) void this.terminate(known, pod).catch(() => {});
      else if (!known) this.finishDeletion(pod);
      else if (known.finished) this.finishDeletion(pod);
      return;
    }
    if (!known) {
      const runtime: PodRuntime = {
        uid,
        namespace: pod.metadata.namespace as string,
        name: pod.metadata.name as string,
        containers: new Map(),
        stopping: false,
        probes: [],
        finished: false,
      };
      this.pods.set(uid, runtime);
      void this.run(runtime).catch(() => {});
    }
  }

  private current(runtime: PodRuntime): KubeObject | undefined {
    const pod = this.store.get(PODS, runtime.namespace, runtime.name);
    return pod?.metadata.uid === runtime.uid ? pod : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Running a pod

  private async run(runtime: PodRuntime) {
    const pod = this.current(runtime);
    if (!pod) return;
    runtime.startTime = now();
    for (const c of pod.spec.containers)
      runtime.containers.set(c.name, {
        restarts: 0,
        starts: [],
        ready: false,
        started: false,
        image: c.image,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
      });
    this.publish(runtime);
    await sleep(this.options.startDelayMs);
    if (runtime.stopping || this.stopped) return;
    runtime.sandbox = await this.createSandbox(runtime, pod, await this.network(runtime.namespace));
    this.publish(runtime);
    for (const spec of pod.spec.containers) {
      const state = runtime.containers.get(spec.name) as ContainerState;
      await this.pullUntilPresent(runtime, pod, spec, state);
      if (runtime.stopping || this.stopped) return;
      const refusal = await this.nonRootRefusal(pod, spec);
      if (refusal) {
        state.state = { waiting: { reason: 'CreateContainerConfigError', message: refusal } };
        this.publish(runtime);
        return;
      }
      state.id = await this.createContainer(runtime, pod, spec, `container:${runtime.sandbox}`);
      state.starts.push(Date.now());
      await this.docker.getContainer(state.id).start();
      await this.markRunning(runtime, spec.name);
    }
    const latest = this.current(runtime);
    if (!latest) return;
    for (const spec of latest.spec.containers) {
      this.probe(runtime, spec, 'readiness');
      this.probe(runtime, spec, 'liveness');
    }
  }

  /** The kubelet's refusal to start a container that must not run as root but would. */
  private async nonRootRefusal(pod: KubeObject, spec: any): Promise<string | undefined> {
    const security = { ...pod.spec.securityContext, ...spec.securityContext };
    if (security.runAsNonRoot !== true) return undefined;
    const where = `pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${spec.name}`;
    if (security.runAsUser !== undefined)
      return security.runAsUser === 0 ? `container's runAsUser breaks non-root policy (${where})` : undefined;
    const user =
      String((await this.docker.getImage(spec.image).inspect()).Config?.User ?? '').split(':')[0] ?? '';
    if (user === '' || user === '0' || user === 'root')
      return `container has runAsNonRoot and image will run as root (${where})`;
    if (!/^\d+$/.test(user))
      return `container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root (${where})`;
    return undefined;
  }

  private async pullUntilPresent(runtime: PodRuntime, pod: KubeObject, spec: any, state: ContainerState) {
    for (let attempt = 0; !runtime.stopping && !this.stopped; attempt++) {
      const present = await this.docker
        .getImage(spec.image)
        .inspect()
        .then(() => true)
        .catch(() => false);
      if (present && spec.imagePullPolicy !== 'Always') return;
      if (spec.imagePullPolicy === 'Never') {
        state.state = {
          waiting: {
            reason: 'ErrImageNeverPull',
            message: `Container image "${spec.image}" is not present with pull policy of Never`,
          },
        };
        this.publish(runtime);
        await sleep(this.options.imagePullBackoffMs);
        continue;
      }
      try {
        this.refuseFreshPullSecret(pod);
        await this.pull(spec.image, this.credentialsFor(pod, spec.image));
        return;
      } catch (err) {
        const message = (err as Error).message.replace(/^\(HTTP code \d+\) [a-z ]+- /, '');
        this.recordEvent(pod, spec.name, 'Failed', `Failed to pull image "${spec.image}": ${message}`);
        state.state = {
          waiting: {
            reason: 'ErrImagePull',
            message: `failed to pull and unpack image "${spec.image}": ${message}`,
          },
        };
        this.publish(runtime);
        await sleep(Math.min(200, this.options.imagePullBackoffMs));
        if (runtime.stopping) return;
        state.state = {
          waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${spec.image}"` },
        };
        this.publish(runtime);
        await sleep(this.options.imagePullBackoffMs * 2 ** Math.min(attempt, 4));
      }
    }
  }

  private async pull(image: string, auth: Docker.AuthConfig | undefined) {
    const stream = (await this.docker.pull(image, auth ? { authconfig: auth } : {})) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) =>
      this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
  }

  /**
   * A pull secret the node authorizer does not let the node read yet, as a real kubelet reports
   * it: for a while after the node first needs it for a pod (the authorizer's graph learns the
   * pod-to-secret edge late), timed from that first need so that it always happens once.
   */
  private refuseFreshPullSecret(pod: KubeObject) {
    for (const ref of pod.spec.imagePullSecrets ?? []) {
      const secret = this.store.get(SECRETS, pod.metadata.namespace, ref.name);
      if (!secret || !this.options.pullSecretLagMs) continue;
      const edge = `${pod.metadata.uid}/${secret.metadata.uid}`;
      const firstNeeded = this.pullSecretEdges.get(edge) ?? Date.now();
      this.pullSecretEdges.set(edge, firstNeeded);
      if (Date.now() - firstNeeded < this.options.pullSecretLagMs)
        throw new Error(
          `secrets "${ref.name}" is forbidden: User "system:node:${NODE_NAME}" cannot get resource "secrets" in API group "" in the namespace "${pod.metadata.namespace}": no relationship found between node '${NODE_NAME}' and this object`,
        );
    }
  }

  /** Registry credentials from the pod's imagePullSecrets (`kubernetes.io/dockerconfigjson`). */
  private credentialsFor(pod: KubeObject, image: string): Docker.AuthConfig | undefined {
    const host =
      image.includes('/') && /[.:]/.test(image.split('/')[0] as string)
        ? (image.split('/')[0] as string)
        : 'docker.io';
    for (const ref of pod.spec.imagePullSecrets ?? []) {
      const secret = this.store.get(SECRETS, pod.metadata.namespace, ref.name);
      const raw = secret?.data?.['.dockerconfigjson'];
      if (!raw) continue;
      const config = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as {
        auths?: Record<string, { username?: string; password?: string; auth?: string }>;
      };
      for (const [server, entry] of Object.entries(config.auths ?? {})) {
        if (server.replace(/^https?:\/\//, '').replace(/\/.*$/, '') !== host) continue;
        const [username, password] = entry.username
          ? [entry.username, entry.password ?? '']
          : Buffer.from(entry.auth ?? '', 'base64')
              .toString('utf8')
              .split(':');
        return { serveraddress: host, username, password } as Docker.AuthConfig;
      }
    }
    return undefined;
  }

  private async network(namespace: string): Promise<string> {
    let pending = this.networks.get(namespace);
    if (!pending) {
      const name = `kfake-${this.options.instance}-${namespace}`.slice(0, 120);
      pending = (async () => {
        const existing = await this.docker.listNetworks({ filters: { name: [name] } });
        if (!existing.some((n) => n.Name === name))
          await this.docker.createNetwork({
            Name: name,
            Driver: 'bridge',
            Labels: { [LABEL]: this.options.instance, [`${LABEL}.namespace`]: namespace },
          });
        return name;
      })();
      this.networks.set(namespace, pending);
    }
    return pending;
  }

  /** A namespace's network goes with the namespace (its pods are gone by then). */
  private async dropNetwork(namespace: string) {
    const pending = this.networks.get(namespace);
    if (!pending) return;
    this.networks.delete(namespace);
    await this.docker.getNetwork(await pending).remove();
  }

  /** Names of the Services in the pod's namespace that select it: its DNS names there. */
  private aliasesOf(pod: KubeObject): string[] {
    return this.store
      .list(SERVICES, pod.metadata.namespace)
      .filter(
        (s) =>
          s.spec.selector &&
          matches(fromLabelSelector({ matchLabels: s.spec.selector }), pod.metadata.labels),
      )
      .map((s) => s.metadata.name as string);
  }

  /** A Service created after its pods: the pods' sandboxes get its name as a DNS alias. */
  private async aliasService(service: KubeObject) {
    if (!service.spec?.selector) return;
    for (const runtime of this.pods.values()) {
      if (runtime.namespace !== service.metadata.namespace || !runtime.sandbox) continue;
      const pod = this.current(runtime);
      if (!pod || !matches(fromLabelSelector({ matchLabels: service.spec.selector }), pod.metadata.labels))
        continue;
      const network = this.docker.getNetwork(await this.network(runtime.namespace));
      // Docker keeps the address when the endpoint is re-made right away with the same IP.
      await network.disconnect({ Container: runtime.sandbox, Force: true }).catch(() => {});
      await network.connect({
        Container: runtime.sandbox,
        EndpointConfig: { Aliases: this.aliasesOf(pod), IPAMConfig: { IPv4Address: runtime.ip } },
      });
    }
  }

  private async createSandbox(runtime: PodRuntime, pod: KubeObject, network: string): Promise<string> {
    const name = `kfake-${this.options.instance}-${runtime.uid.slice(0, 8)}-sandbox`;
    await this.docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => {});
    const sandbox = await this.docker.createContainer({
      name,
      Image: this.options.sandboxImage,
      Entrypoint: ['sleep'],
      Cmd: ['2147483647'],
      Labels: {
        [LABEL]: this.options.instance,
        [`${LABEL}.pod`]: runtime.uid,
        [`${LABEL}.namespace`]: runtime.namespace,
      },
      HostConfig: {
        NetworkMode: network,
        Init: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges:true'],
      },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: this.aliasesOf(pod) } } },
    });
    await sandbox.start();
    const info = await sandbox.inspect();
    runtime.ip = Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress || undefined;
    return sandbox.id;
  }

  private async createContainer(
    runtime: PodRuntime,
    pod: KubeObject,
    spec: any,
    networkMode: string,
  ): Promise<string> {
    const name = `kfake-${this.options.instance}-${runtime.uid.slice(0, 8)}-${spec.name}`;
    await this.docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => {});
    const security = { ...pod.spec.securityContext, ...spec.securityContext };
    const env = (spec.env ?? []).map((e: any) => `${e.name}=${e.value ?? this.envFrom(pod, e.valueFrom)}`);
    const volumes: Record<string, string> = {};
    for (const v of pod.spec.volumes ?? [])
      if (v.emptyDir || v.persistentVolumeClaim)
        volumes[v.name] = `kfake-${this.options.instance}-${runtime.uid.slice(0, 8)}-${v.name}`;
    const mounts = (spec.volumeMounts ?? [])
      .filter((m: any) => volumes[m.name])
      .map((m: any) => ({
        Type: 'volume' as const,
        Source: volumes[m.name] as string,
        Target: m.mountPath,
        ReadOnly: Boolean(m.readOnly),
      }));
    for (const volume of new Set(mounts.map((m: { Source: string }) => m.Source)))
      await this.docker.createVolume({ Name: volume as string, Labels: { [LABEL]: this.options.instance } });
    const memory = parseQuantity(spec.resources?.limits?.memory);
    const cpu = parseQuantity(spec.resources?.limits?.cpu);
    const container = await this.docker.createContainer({
      name,
      Image: spec.image,
      ...(spec.command ? { Entrypoint: spec.command } : {}),
      ...(spec.args ? { Cmd: spec.args } : {}),
      Env: env,
      ...(security.runAsUser !== undefined ? { User: String(security.runAsUser) } : {}),
      Labels: {
        [LABEL]: this.options.instance,
        [`${LABEL}.pod`]: runtime.uid,
        [`${LABEL}.container`]: spec.name,
        [`${LABEL}.namespace`]: runtime.namespace,
      },
      HostConfig: {
        NetworkMode: networkMode,
        // A pod sharing its process namespace has the pause process as PID 1 (it reaps, and the
        // service gets signals' default actions); otherwise the service itself is PID 1.
        Init: Boolean(pod.spec.shareProcessNamespace),
        Privileged: Boolean(security.privileged),
        ...(security.allowPrivilegeEscalation === false ? { SecurityOpt: ['no-new-privileges:true'] } : {}),
        ...(security.capabilities?.drop ? { CapDrop: security.capabilities.drop } : {}),
        ...(security.capabilities?.add ? { CapAdd: security.capabilities.add } : {}),
        ...(security.readOnlyRootFilesystem ? { ReadonlyRootfs: true } : {}),
        ...(memory ? { Memory: Math.floor(memory), MemorySwap: Math.floor(memory) } : {}),
        ...(cpu ? { NanoCpus: Math.floor(cpu * 1e9) } : {}),
        Mounts: mounts,
      },
    });
    return container.id;
  }

  private envFrom(pod: KubeObject, from: any): string {
    const ref = from?.secretKeyRef;
    if (!ref) return '';
    const secret = this.store.get(SECRETS, pod.metadata.namespace, ref.name);
    const value = secret?.data?.[ref.key];
    return value ? Buffer.from(value, 'base64').toString('utf8') : '';
  }

  private async markRunning(runtime: PodRuntime, name: string) {
    const state = runtime.containers.get(name) as ContainerState;
    const info = await this.docker.getContainer(state.id as string).inspect();
    const pod = this.current(runtime);
    const spec = pod?.spec.containers.find((c: { name: string }) => c.name === name);
    state.state = { running: { startedAt: info.State.StartedAt.replace(/\.\d+Z$/, 'Z') } };
    state.started = true;
    state.ready = !spec?.readinessProbe;
    this.publish(runtime);
  }

  /**
   * A readiness or liveness probe, run every `periodSeconds` against the pod IP (or by exec). Each
   * failure is an `Unhealthy` event with the probe's words; a liveness probe failing
   * `failureThreshold` times in a row kills the container (which then restarts).
   */
  private probe(runtime: PodRuntime, spec: any, kind: 'readiness' | 'liveness') {
    const probe = kind === 'readiness' ? spec.readinessProbe : spec.livenessProbe;
    if (!probe) return;
    let successes = 0;
    let failures = 0;
    const tick = async () => {
      const state = runtime.containers.get(spec.name);
      if (!state || runtime.stopping || !state.state.running || !runtime.ip) return;
      const result = await this.check(runtime, state, probe).catch((err) => ({
        ok: false,
        detail: (err as Error).message,
      }));
      successes = result.ok ? successes + 1 : 0;
      failures = result.ok ? 0 : failures + 1;
      if (!result.ok) {
        const pod = this.current(runtime);
        if (pod)
          this.recordEvent(
            pod,
            spec.name,
            'Unhealthy',
            `${kind === 'readiness' ? 'Readiness' : 'Liveness'} probe failed: ${result.detail}`,
          );
      }
      if (kind === 'liveness') {
        if (failures >= (probe.failureThreshold ?? 3) && state.id) {
          failures = 0;
          await this.docker
            .getContainer(state.id)
            .kill()
            .catch(() => {});
        }
        return;
      }
      const ready = state.ready
        ? failures < (probe.failureThreshold ?? 3)
        : successes >= (probe.successThreshold ?? 1);
      if (ready !== state.ready) {
        state.ready = ready;
        this.publish(runtime);
      }
    };
    const start = setTimeout(
      () => {
        void tick();
        runtime.probes.push(setInterval(() => void tick(), (probe.periodSeconds ?? 10) * 1000));
      },
      (probe.initialDelaySeconds ?? 0) * 1000,
    );
    runtime.probes.push(start);
  }

  /** One probe; `detail` says a failure as the kubelet does. */
  private async check(
    runtime: PodRuntime,
    state: ContainerState,
    probe: any,
  ): Promise<{ ok: boolean; detail: string }> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    const pod = this.current(runtime);
    const port = (p: number | string) => {
      if (typeof p === 'number') return p;
      for (const c of pod?.spec.containers ?? [])
        for (const cp of c.ports ?? []) if (cp.name === p) return cp.containerPort;
      return Number(p);
    };
    if (probe.httpGet) {
      const url = `http://${runtime.ip}:${port(probe.httpGet.port)}${probe.httpGet.path ?? '/'}`;
      try {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(timeoutMs),
          headers: { 'user-agent': 'kube-probe/1.28' },
        });
        await res.body?.cancel();
        const ok = res.status >= 200 && res.status < 400;
        return { ok, detail: `HTTP probe failed with statuscode: ${res.status}` };
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        const address = `${runtime.ip}:${port(probe.httpGet.port)}`;
        return {
          ok: false,
          detail:
            code === 'ECONNREFUSED'
              ? `Get "${url}": dial tcp ${address}: connect: connection refused`
              : `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
        };
      }
    }
    if (probe.tcpSocket) {
      const address = `${runtime.ip}:${port(probe.tcpSocket.port)}`;
      return new Promise((resolve) => {
        const socket = connect({ host: runtime.ip, port: port(probe.tcpSocket.port) });
        socket.setTimeout(timeoutMs, () => {
          socket.destroy();
          resolve({ ok: false, detail: `dial tcp ${address}: i/o timeout` });
        });
        socket.once('connect', () => {
          socket.destroy();
          resolve({ ok: true, detail: '' });
        });
        socket.once('error', () =>
          resolve({ ok: false, detail: `dial tcp ${address}: connect: connection refused` }),
        );
      });
    }
    if (probe.exec) {
      const { exitCode } = await this.run_(state.id as string, probe.exec.command, timeoutMs);
      return { ok: exitCode === 0, detail: `command exited with ${exitCode}` };
    }
    return { ok: true, detail: '' };
  }

  /** An event about a pod's container, as the kubelet writes it (repeats counted on one event). */
  private recordEvent(pod: KubeObject, container: string, reason: string, message: string) {
    const at = now();
    const existing = this.store
      .list(EVENTS, pod.metadata.namespace)
      .find(
        (e) => e.involvedObject?.uid === pod.metadata.uid && e.reason === reason && e.message === message,
      );
    if (existing) {
      this.store.put(EVENTS, { ...existing, count: (existing.count ?? 1) + 1, lastTimestamp: at });
      return;
    }
    this.store.put(EVENTS, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${pod.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 4096).toString(16)}`,
        namespace: pod.metadata.namespace,
        uid: randomUUID(),
        creationTimestamp: at,
      },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
        fieldPath: `spec.containers{${container}}`,
      },
      reason,
      message,
      type: 'Warning',
      source: { component: 'kubelet', host: NODE_NAME },
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: NODE_NAME,
    });
  }

  private async run_(id: string, command: string[], timeoutMs: number) {
    const exec = await this.docker
      .getContainer(id)
      .exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        stream.destroy();
        resolve();
      }, timeoutMs);
      stream.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
      stream.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      stream.resume();
    });
    return { exitCode: (await exec.inspect()).ExitCode ?? -1 };
  }

  /**
   * Whether the kernel's OOM killer ended a container, as a kubelet reads it from the cgroup. The
   * engine says so in two ways that race its exit: the `OOMKilled` flag of the container's state,
   * and an `oom` event that can come just after the `die` one. A container killed (137) and not
   * flagged waits a moment for that event.
   */
  private async oomKilled(info: Docker.ContainerInspectInfo): Promise<boolean> {
    if (info.State.OOMKilled || this.ooms.has(info.Id)) return true;
    if (info.State.ExitCode !== 137) return false;
    return this.ooms.heard(info.Id, OOM_EVENT_GRACE_MS);
  }

  /** A container exited: restart with back-off (restartPolicy) or finish the pod. */
  private async exited(uid: string, name: string) {
    const runtime = this.pods.get(uid);
    const state = runtime?.containers.get(name);
    if (!runtime || !state?.id || runtime.stopping) return;
    const info = await this.docker.getContainer(state.id).inspect();
    if (info.State.Running) return;
    const terminated = {
      exitCode: info.State.ExitCode,
      reason: (await this.oomKilled(info)) ? 'OOMKilled' : info.State.ExitCode === 0 ? 'Completed' : 'Error',
      startedAt: info.State.StartedAt.replace(/\.\d+Z$/, 'Z'),
      finishedAt: info.State.FinishedAt.replace(/\.\d+Z$/, 'Z'),
      containerID: `docker://${state.id}`,
    };
    const pod = this.current(runtime);
    if (!pod) return;
    const policy = pod.spec.restartPolicy;
    const restart = policy === 'Always' || (policy === 'OnFailure' && terminated.exitCode !== 0);
    state.ready = false;
    if (!restart) {
      state.state = { terminated };
      runtime.finished = [...runtime.containers.values()].every((c) => c.state.terminated);
      this.publish(runtime);
      return;
    }
    state.lastState = { terminated };
    state.restarts++;
    const backoff = this.options.crashBackoffMs * 2 ** Math.min(state.restarts - 1, 5);
    state.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.round(backoff / 1000) || 1}s restarting failed container=${name} pod=${runtime.name}_${runtime.namespace}(${uid})`,
      },
    };
    this.publish(runtime);
    await sleep(backoff);
    if (runtime.stopping || this.stopped) return;
    state.restartedAt = Date.now();
    state.starts.push(state.restartedAt);
    await this.docker
      .getContainer(state.id)
      .start()
      .catch(() => {});
    await this.markRunning(runtime, name).catch(() => {});
  }

  /**
   * Evicts a pod as a node under pressure does: its containers are killed, the pod stays as
   * `Failed` with reason `Evicted` and the node's message (its owner makes a new one).
   */
  async evict(namespace: string, name: string, message: string): Promise<void> {
    const runtime = [...this.pods.values()].find((r) => r.namespace === namespace && r.name === name);
    if (!runtime) throw new Error(`no pod ${namespace}/${name} on this node`);
    runtime.stopping = true;
    for (const t of runtime.probes) clearInterval(t);
    for (const state of runtime.containers.values()) {
      if (state.id)
        await this.docker
          .getContainer(state.id)
          .remove({ force: true })
          .catch(() => {});
      state.ready = false;
      state.state = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', finishedAt: now() } };
    }
    if (runtime.sandbox)
      await this.docker
        .getContainer(runtime.sandbox)
        .remove({ force: true })
        .catch(() => {});
    runtime.finished = true;
    const pod = this.current(runtime);
    if (!pod) return;
    this.publish(runtime);
    const evicted = this.current(runtime) as KubeObject;
    evicted.status = {
      ...evicted.status,
      phase: 'Failed',
      reason: 'Evicted',
      message,
      conditions: (evicted.status?.conditions ?? []).map((c: { type: string }) =>
        c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False' } : c,
      ),
    };
    this.store.put(PODS, evicted);
  }

  // -------------------------------------------------------------------------------------------
  // Status

  /** Writes the pod's status from what the containers are doing. */
  private publish(runtime: PodRuntime) {
    const pod = this.current(runtime);
    if (!pod || this.stopped) return;
    const statuses = pod.spec.containers.map((c: { name: string; image: string }) => {
      const s = runtime.containers.get(c.name) as ContainerState;
      return {
        name: c.name,
        state: s.state,
        lastState: s.lastState,
        ready: s.ready,
        restartCount: s.restarts,
        image: c.image,
        imageID: '',
        ...(s.id ? { containerID: `docker://${s.id}` } : {}),
        started: Boolean(s.state.running),
      };
    });
    const all = [...runtime.containers.values()];
    const terminated = all.every((s) => s.state.terminated);
    const succeeded =
      terminated && all.every((s) => (s.state.terminated as { exitCode: number }).exitCode === 0);
    const phase = terminated
      ? succeeded
        ? 'Succeeded'
        : 'Failed'
      : all.some((s) => s.started || s.state.running || s.restarts)
        ? 'Running'
        : 'Pending';
    const ready = !terminated && all.every((s) => s.ready);
    const condition = (type: string, status: boolean, reason?: string) => {
      const before = (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === type);
      const value = status ? 'True' : 'False';
      return {
        type,
        status: value,
        lastProbeTime: null,
        lastTransitionTime: before && before.status === value ? before.lastTransitionTime : now(),
        ...(reason ? { reason } : {}),
      };
    };
    const reason = terminated ? 'PodCompleted' : ready ? undefined : 'ContainersNotReady';
    const next = structuredClone(pod);
    next.status = {
      phase,
      conditions: [
        condition('Initialized', true, terminated ? 'PodCompleted' : undefined),
        condition('Ready', ready, reason),
        condition('ContainersReady', ready, reason),
        condition('PodScheduled', true),
      ],
      hostIP: '127.0.0.1',
      ...(runtime.ip ? { podIP: runtime.ip, podIPs: [{ ip: runtime.ip }] } : {}),
      startTime: runtime.startTime,
      containerStatuses: statuses,
      qosClass: pod.status?.qosClass,
    };
    if (JSON.stringify(next.status) !== JSON.stringify(pod.status)) this.store.put(PODS, next);
  }

  // -------------------------------------------------------------------------------------------
  // Deletion

  private async terminate(runtime: PodRuntime, pod: KubeObject) {
    runtime.stopping = true;
    for (const t of runtime.probes) clearInterval(t);
    // A real kubelet notices the deletion, runs preStop hooks, signals, then tears the sandbox down.
    await sleep(Math.min(this.options.startDelayMs, 500));
    const grace = Math.min(Number(pod.metadata.deletionGracePeriodSeconds ?? 30), 5);
    await Promise.all(
      [...runtime.containers.values()].map(async (s) => {
        if (!s.id) return;
        const container = this.docker.getContainer(s.id);
        await container.stop({ t: grace }).catch(() => {});
        const info = await container.inspect().catch(() => undefined);
        s.state = {
          terminated: {
            exitCode: info?.State.ExitCode ?? 137,
            reason: 'Error',
            startedAt: info?.State.StartedAt?.replace(/\.\d+Z$/, 'Z'),
            finishedAt: now(),
            containerID: `docker://${s.id}`,
          },
        };
        s.ready = false;
        await container.remove({ force: true, v: true }).catch(() => {});
        const volumes =
          (await this.docker.listVolumes({ filters: { label: [`${LABEL}=${this.options.instance}`] } }))
            .Volumes ?? [];
        for (const v of volumes)
          if (v.Name.includes(runtime.uid.slice(0, 8)))
            await this.docker
              .getVolume(v.Name)
              .remove()
              .catch(() => {});
      }),
    );
    if (runtime.sandbox)
      await this.docker
        .getContainer(runtime.sandbox)
        .remove({ force: true })
        .catch(() => {});
    runtime.finished = true;
    this.publish(runtime);
    const latest = this.current(runtime);
    if (latest) this.finishDeletion(latest);
  }

  /** A deleted pod leaves the store once its containers are gone and no finalizer holds it. */
  private finishDeletion(pod: KubeObject) {
    if (pod.metadata.finalizers?.length) return;
    const runtime = this.pods.get(pod.metadata.uid as string);
    if (runtime && !runtime.finished) return;
    this.pods.delete(pod.metadata.uid as string);
    for (const edge of this.pullSecretEdges.keys())
      if (edge.startsWith(`${pod.metadata.uid}/`)) this.pullSecretEdges.delete(edge);
    this.store.remove(PODS, pod);
  }

  // -------------------------------------------------------------------------------------------
  // Logs, exec, metrics

  async logs(pod: KubeObject, options: LogOptions, res: ServerResponse): Promise<void> {
    const state = this.pods.get(pod.metadata.uid as string)?.containers.get(options.container);
    if (!state?.id) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end();
      return;
    }
    // The fake restarts a crashed container in place; what a real node keeps as the previous
    // instance is what the last crashed one printed: the last start's lines while it waits in
    // back-off, the ones between the two last starts once it runs again. The current one is the
    // last start's.
    const seconds = (ms: number | undefined) => (ms ? (ms / 1000).toFixed(3) : undefined);
    const waiting = state.starts.length === state.restarts;
    const [before, last] = [state.starts.at(-2), state.starts.at(-1)];
    const window = options.previous
      ? waiting
        ? { since: seconds(last), until: undefined }
        : { since: seconds(before), until: seconds(last) }
      : { since: state.restarts ? seconds(last) : undefined, until: undefined };
    if (options.previous) {
      if (!state.restarts) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: `previous terminated container "${options.container}" in pod "${pod.metadata.name}" not found`,
            reason: 'BadRequest',
            code: 400,
          }),
        );
        return;
      }
      // Right after a restart a real node answers with its own error text, with 200.
      if (state.restartedAt && Date.now() - state.restartedAt < this.options.previousLogLagMs) {
        res
          .writeHead(200, { 'content-type': 'text/plain' })
          .end(`unable to retrieve container logs for containerd://${state.id}`);
        return;
      }
    }
    const container = this.docker.getContainer(state.id);
    const stream = (await container.logs({
      stdout: true,
      stderr: true,
      follow: (options.follow && !options.previous) as true,
      timestamps: options.timestamps,
      ...(options.tailLines !== undefined ? { tail: options.tailLines } : {}),
      ...(window.since ? { since: window.since } : {}),
      ...(window.until ? { until: window.until } : {}),
    } as Docker.ContainerLogsOptions & { follow: true })) as unknown as NodeJS.ReadableStream | Buffer;
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    if (Buffer.isBuffer(stream)) {
      res.end(demux(stream));
      return;
    }
    const out = new PassThrough();
    this.docker.modem.demuxStream(stream, out, out);
    out.pipe(res);
    stream.on('end', () => res.end());
    res.on('close', () => (stream as unknown as { destroy?: () => void }).destroy?.());
  }

  exec(
    pod: KubeObject,
    container: string,
    command: string[],
    socket: Duplex,
    req: IncomingMessage,
    head: Buffer,
  ): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void (async () => {
        const send = (channel: number, data: Buffer | string) => {
          if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
        };
        const state = this.pods.get(pod.metadata.uid as string)?.containers.get(container);
        if (!state?.id || !state.state.running) {
          send(
            3,
            JSON.stringify({
              metadata: {},
              status: 'Failure',
              message: `container ${container} is not running`,
              reason: 'BadRequest',
              code: 400,
            }),
          );
          ws.close();
          return;
        }
        try {
          const exec = await this.docker
            .getContainer(state.id)
            .exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
          const stream = await exec.start({ hijack: true, stdin: false });
          const stdout = new PassThrough();
          const stderr = new PassThrough();
          stdout.on('data', (d: Buffer) => send(1, d));
          stderr.on('data', (d: Buffer) => send(2, d));
          this.docker.modem.demuxStream(stream, stdout, stderr);
          ws.on('close', () => stream.destroy());
          await new Promise<void>((resolve) => {
            stream.on('end', () => resolve());
            stream.on('close', () => resolve());
          });
          const code = (await exec.inspect()).ExitCode ?? -1;
          send(
            3,
            JSON.stringify(
              code === 0
                ? { metadata: {}, status: 'Success' }
                : {
                    metadata: {},
                    status: 'Failure',
                    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
                    reason: 'NonZeroExitCode',
                    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
                  },
            ),
          );
        } catch (err) {
          send(
            3,
            JSON.stringify({
              metadata: {},
              status: 'Failure',
              message: (err as Error).message,
              reason: 'InternalError',
              code: 500,
            }),
          );
        }
        ws.close();
      })();
    });
  }

  async metrics(namespace: string | undefined): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    for (const runtime of this.pods.values()) {
      if (namespace && runtime.namespace !== namespace) continue;
      const pod = this.current(runtime);
      if (!pod || !isActivePod(pod)) continue;
      const containers = [];
      for (const [name, state] of runtime.containers) {
        if (!state.id || !state.state.running) continue;
        const stats = (await this.docker
          .getContainer(state.id)
          .stats({ stream: false })
          .catch(() => undefined)) as Docker.ContainerStats | undefined;
        if (!stats?.cpu_stats?.cpu_usage) continue;
        const cpuNanos =
          stats.cpu_stats.cpu_usage.total_usage - (stats.precpu_stats.cpu_usage?.total_usage ?? 0);
        containers.push({
          name,
          usage: {
            cpu: `${Math.max(0, Math.round(cpuNanos))}n`,
            memory: `${Math.round((stats.memory_stats?.usage ?? 0) / 1024)}Ki`,
          },
        });
      }
      items.push({
        metadata: {
          name: runtime.name,
          namespace: runtime.namespace,
          creationTimestamp: now(),
          ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
        },
        timestamp: now(),
        window: '10s',
        containers,
      } as KubeObject);
    }
    return items;
  }
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

function demux(buffer: Buffer): string {
  let out = '';
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    out += buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  return out;
}

/** The containers the engine said the OOM killer ended, and the exits waiting to hear it. */
class OomEvents {
  private readonly killed = new Set<string>();
  private readonly waiting = new Map<string, () => void>();

  said(id: string): void {
    this.killed.add(id);
    this.waiting.get(id)?.();
  }

  has(id: string): boolean {
    return this.killed.has(id);
  }

  /** True once the engine says so; false if it has not within `ms`. */
  heard(id: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(false);
      }, ms);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(true);
      });
    });
  }
}
