/**
 * The Runtime interface: what an agent can do on its node. One interface, two implementations
 * (Docker and Kubernetes). It speaks of deployments and services, never of containers or pods, so
 * neither runtime's shape leaks into the other. How each method maps:
 *
 * | method | Docker | Kubernetes |
 * |---|---|---|
 * | `capacity` | CPUs and memory of the engine's host (`docker info`) | allocatable CPU and memory of the node |
 * | `prepareDeployment` | a user-defined bridge network per deployment | a namespace per deployment with a default-deny NetworkPolicy allowing in-namespace traffic and traffic from the agent, and a ResourceQuota of the budget |
 * | `pullImage` | `docker pull` with registry credentials, progress per layer | nothing to do ahead (kubelet pulls); an `imagePullSecret` in the namespace carries credentials |
 * | `startService` | a container with limits, labels, `Init`, no-new-privileges, dropped capabilities, no published port; returns once it runs | a Deployment (1 replica) + ClusterIP Service, requests = limits, hardened securityContext, the health check as readinessProbe; returns once the container runs, or fails in plain words (image not found, crash loop, OOM, unschedulable) |
 * | `inspectService` | container inspect | Deployment status + its Pod |
 * | `restartService` | `docker restart` of the container (running or stopped) | scale the Deployment back to 1 and delete its Pod (the Deployment recreates it) |
 * | `stopService` | `docker stop` (the container stays) | scale the Deployment to 0 replicas |
 * | `removeService` | remove the container | delete the Deployment and Service |
 * | `serviceEndpoint` | the container's address on its deployment network | a ready endpoint of the Service (EndpointSlice) |
 * | `checkHealth` | HTTP/TCP from the agent to the container's address; `command` via exec | the Pod's readiness (Kubernetes runs the probe), watched |
 * | `exec` | `docker exec` | the Pod `exec` subresource |
 * | `runJob` | a one-off container on the deployment network, removed after | a Job in the namespace |
 * | `logs` | container logs (follow) | Pod logs (`follow=true`) |
 * | `usage` | container stats | metrics API (`metrics.k8s.io`) per Pod |
 * | `listDeployments` / `removeDeployment` | containers, networks, volumes found by label | namespaces found by label; deleting the namespace removes everything in it |
 * | `hasData` | the service's named volumes exist | its PersistentVolumeClaims exist (emptyDir volumes die with their pod) |
 * | `claim` / `release` | labelled claim volumes, renewed by the holder | a `coordination.k8s.io` Lease in the agent's namespace |
 *
 * Every resource a runtime creates carries the labels in {@link RUNTIME_LABELS}, so an agent can
 * find and remove what belongs to no desired deployment after any crash — among its own resources
 * only: those of its installation (the control plane's database) and of its node, so several
 * installations and several nodes can share one engine or cluster and never meet.
 */

/** Labels on every resource a runtime creates. */
export const RUNTIME_LABELS = {
  managed: 'dev.nullops.managed',
  /** The control-plane installation (one per database) the resource belongs to (since 1.5). */
  installation: 'dev.nullops.installation',
  /** The node (its id, not a name a person types) whose agent made the resource (since 1.5). */
  node: 'dev.nullops.node',
  /** @deprecated since 1.5: agents are told apart by installation and node; no longer set. */
  agent: 'dev.nullops.agent',
  deployment: 'dev.nullops.deployment',
  service: 'dev.nullops.service',
  job: 'dev.nullops.job',
} as const;

/**
 * Whose resources a runtime makes and touches: an agent knows it from the control plane (and
 * keeps it in its state); a runtime labels everything with both and lists nothing without both.
 */
export interface RuntimeOwner {
  installationId: string;
  nodeId: string;
}

/** The agent process that holds a node's resources on an engine or cluster (see `Runtime.claim`). */
export interface ClaimHolder {
  /** Random per process start. */
  instance: string;
  /** For people and for liveness on one host: the process, its host name, when it started. */
  pid: number;
  host: string;
  since: number;
}

/** Credentials for pulling from a private registry. */
export interface RegistryAuth {
  serveraddress: string;
  username: string;
  password: string;
}

/** How to tell that a service is ready. */
export type HealthCheck =
  | { kind: 'http'; path: string; port?: number; expectStatus?: number }
  | { kind: 'tcp'; port?: number }
  | { kind: 'command'; command: string[] };

/** A health check in a few words, as a waiting step shows it: `GET /health`, `TCP :5432`, `pg_isready -q` (since 1.7). */
export function describeCheck(check: HealthCheck): string {
  if (check.kind === 'http') return `GET ${check.port ? `:${check.port}` : ''}${check.path}`;
  if (check.kind === 'tcp') return `TCP${check.port ? ` :${check.port}` : ''}`;
  return check.command.join(' ').slice(0, 80);
}

/** A long-running service of a deployment. */
export interface ServiceSpec {
  /** DNS label; the host name other services of the deployment reach it by. */
  name: string;
  image: string;
  command?: string[];
  env?: Record<string, string>;
  /** The container port the ingress routes to (and health checks use by default). */
  port?: number;
  /** Limits of this service; the deployment's budget is the sum. */
  cpuMillicores: number;
  memoryMb: number;
  /** Named volumes mounted into the service: volume name → path. Removed with the deployment. */
  volumes?: Record<string, string>;
  /**
   * How to tell the service is ready. Runtimes that check readiness themselves (Kubernetes'
   * readinessProbe) take it from here; `checkHealth` then reports that readiness.
   */
  healthCheck?: HealthCheck;
  /**
   * How to tell the service is alive (since 1.6): Kubernetes restarts a container whose
   * livenessProbe keeps failing; Docker has no such restart and ignores it.
   */
  livenessCheck?: HealthCheck;
  /**
   * `always`: the runtime fetches the image every start (Kubernetes `imagePullPolicy: Always`);
   * `missing` (default): only when the node lacks it. An `image@sha256:…` is exact either way (since 1.6).
   */
  pull?: 'always' | 'missing';
  /**
   * Names of `env` entries that hold secrets (since 1.6): Kubernetes keeps them in a Secret the
   * container reads by `secretKeyRef`, out of the Deployment's spec. Docker has no such store
   * (anyone who can inspect a container there controls the engine anyway) and passes them as env.
   */
  secretEnv?: string[];
  /** How strictly the container is confined (since 1.6). */
  security?: ServiceSecurity;
}

/**
 * Confinement of a service's container (since 1.6). Both profiles drop every capability but those
 * added, never allow privilege escalation and use the runtime's default seccomp profile.
 *
 * - `baseline` (default): the capabilities most images need to start as root (switching user,
 *   owning files, binding :80, signals) unless `capabilities` says otherwise — Kubernetes' Pod
 *   Security `baseline` level.
 * - `restricted`: no capabilities but those in `capabilities` (only `NET_BIND_SERVICE` passes
 *   Kubernetes' `restricted` level), a non-root user (the image's, or `runAsUser`), a read-only
 *   root filesystem with `/tmp` and `writablePaths` as empty writable directories, and a limit on
 *   what it writes to disk — Kubernetes' Pod Security `restricted` level.
 */
export interface ServiceSecurity {
  profile?: 'baseline' | 'restricted';
  /** Linux capabilities the image needs (e.g. `NET_BIND_SERVICE`), added to an empty set. */
  capabilities?: string[];
  /** Under `restricted`: paths it writes to besides its volumes and `/tmp`, each an empty directory. */
  writablePaths?: string[];
  /** The user id to run as (`restricted` needs one that is not 0: the image's USER, or this). */
  runAsUser?: number;
  /** Most it may write outside its volumes, MiB (`restricted` default 1024), where the runtime can limit it. */
  diskMb?: number;
}

/**
 * Capabilities a `baseline` service keeps unless it names its own (switching user, owning files,
 * binding :80, signals): all within Pod Security `baseline`; every other one is dropped.
 */
export const BASELINE_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'SETGID',
  'SETUID',
  'NET_BIND_SERVICE',
  'KILL',
];

/** What a `restricted` service writes to disk outside its volumes at most, unless it says (MiB). */
export const RESTRICTED_DISK_MB = 1024;

/** A {@link ServiceSecurity} spelled out, as every runtime applies it (since 1.6). */
export interface Confinement {
  /** Added to an empty set. */
  capabilities: string[];
  /** A non-root user, a read-only root filesystem, `writablePaths` writable and empty. */
  restricted: boolean;
  writablePaths: string[];
  runAsUser?: number;
  diskMb?: number;
}

export function confinementOf(security: ServiceSecurity | undefined): Confinement {
  const restricted = security?.profile === 'restricted';
  return {
    capabilities: security?.capabilities ?? (restricted ? [] : BASELINE_CAPABILITIES),
    restricted,
    writablePaths: restricted ? [...new Set(['/tmp', ...(security?.writablePaths ?? [])])] : [],
    ...(security?.runAsUser !== undefined ? { runAsUser: security.runAsUser } : {}),
    ...(restricted || security?.diskMb ? { diskMb: security?.diskMb ?? RESTRICTED_DISK_MB } : {}),
  };
}

/** Where the agent reaches a service from inside the node (the agent edge forwards there). */
export interface ServiceEndpoint {
  host: string;
  port: number;
}

/** What a deployment may use on its node, in total. */
export interface DeploymentBudget {
  cpuMillicores: number;
  memoryMb: number;
}

export interface ServiceState {
  name: string;
  /** Runtime-specific id (container id, Deployment uid): stable while the service is not recreated. */
  ref: string;
  status: 'running' | 'stopped' | 'missing';
  startedAt?: string;
  /** Why it is not running (or keeps restarting), in plain words (exit code, OOM, crash loop, image not found…). */
  reason?: string;
  /** Times the runtime restarted it after a crash since it was created (since 1.4). */
  restartCount?: number;
  /** The exit code of its last exit, while it is not running (since 1.4). */
  exitCode?: number;
  /** It crashed and the runtime is bringing it back: Docker `restarting`, a pod in CrashLoopBackOff (since 1.4). */
  restarting?: boolean;
  /**
   * Not running yet, and the runtime is bringing it up by itself — a pod being scheduled, its
   * image pulled, its container created (since 1.5). Nothing for the agent to do but wait.
   */
  starting?: boolean;
  /**
   * @deprecated since 1.2: services are reached through the agent edge and publish nothing on
   * the node; runtimes no longer set it. Use `Runtime.serviceEndpoint` from inside the agent.
   */
  address?: { host: string; port: number };
}

export interface HealthResult {
  healthy: boolean;
  detail: string;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** A one-off task (a migration, a SQL script) run to completion on the deployment's network. */
export interface JobSpec {
  name: string;
  image: string;
  command: string[];
  env?: Record<string, string>;
  /** Limits of the job's container (default 250m CPU, 128 MiB). */
  cpuMillicores?: number;
  memoryMb?: number;
  timeoutMs?: number;
}

export interface LogLine {
  service: string;
  stream: 'stdout' | 'stderr';
  time: string;
  line: string;
}

export interface ServiceUsage {
  deploymentId: string;
  service: string;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number;
}

export interface PullProgress {
  image: string;
  status: string;
  /** 0..1 when the runtime knows it. */
  fraction?: number;
}

/**
 * A runtime's kind, as an environment names it and an agent says it in hello. The set is open
 * (since 1.8): `docker` and `kubernetes` are first-party, and any agent package may bring its own
 * (Podman, Nomad) — lowercase letters, digits and dashes.
 */
export type RuntimeKind = string;
export const RUNTIME_KIND_PATTERN = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/**
 * What a runtime can do beyond what every runtime does, declared rather than probed (Nomad's driver
 * capabilities), since 1.8. The agent host and the control plane read these; a runtime implements
 * every method, and those of a capability it does not declare are never called.
 */
export interface RuntimeCapabilities {
  /**
   * Hands service traffic to an ingress controller of its own: after each run the agent calls
   * `publishRoutes`, and environments of this kind may name an ingress class.
   */
  ingress: boolean;
  /**
   * Reports service changes from the engine's own events (`watchServices`): a crash is seen at
   * once. Without it the agent only sweeps.
   */
  events: boolean;
}

export const NO_CAPABILITIES: RuntimeCapabilities = { ingress: false, events: false };

/** A runtime as people and the control plane know it before its agent connects. */
export interface RuntimeDeclaration {
  kind: RuntimeKind;
  /** For people: `Docker`. */
  label: string;
  /** What the agent drives, for messages: `Docker engine`, `Kubernetes API`. */
  engine: string;
  /** The agent command an operator runs for it. */
  agentCommand: string;
  capabilities: RuntimeCapabilities;
}

/**
 * The first-party runtimes: the one source of their names and capabilities, read by their agent
 * packages, the control plane and the web UI. Other kinds declare themselves in their agent's hello.
 */
export const FIRST_PARTY_RUNTIMES = {
  docker: {
    kind: 'docker',
    label: 'Docker',
    engine: 'Docker engine',
    agentCommand: 'nullops-agent-docker',
    capabilities: { ingress: false, events: true },
  },
  kubernetes: {
    kind: 'kubernetes',
    label: 'Kubernetes',
    engine: 'Kubernetes API',
    agentCommand: 'nullops-agent-k8s',
    capabilities: { ingress: true, events: true },
  },
} as const satisfies Record<string, RuntimeDeclaration>;

/** The first-party kinds (since 1.7; the set of all kinds is open since 1.8). */
export const RUNTIME_KINDS = Object.keys(FIRST_PARTY_RUNTIMES) as (keyof typeof FIRST_PARTY_RUNTIMES)[];

/** A kind for people: `Docker`, or the kind itself for one an agent package brings. */
export function runtimeLabel(kind: RuntimeKind): string {
  return firstPartyRuntime(kind)?.label ?? kind;
}

/** The declaration of a first-party kind, or undefined for a kind an agent package brings. */
export function firstPartyRuntime(kind: RuntimeKind): RuntimeDeclaration | undefined {
  return Object.hasOwn(FIRST_PARTY_RUNTIMES, kind)
    ? FIRST_PARTY_RUNTIMES[kind as keyof typeof FIRST_PARTY_RUNTIMES]
    : undefined;
}

/** What an agent can do on its node. All methods are idempotent where the name says so. */
export interface Runtime {
  readonly kind: RuntimeKind;
  /** What it drives, for messages (`Docker engine`); since 1.8. */
  readonly engine: string;
  /** What it can do beyond every runtime's methods (since 1.8). */
  readonly capabilities: RuntimeCapabilities;
  /** CPU and memory this node offers to deployments. */
  capacity(): Promise<{ cpuMillicores: number; memoryMb: number }>;
  /**
   * Creates the deployment's isolation boundary (network / namespace), capped at `budget` where
   * the runtime can enforce one; idempotent.
   */
  prepareDeployment(
    deploymentId: string,
    options?: {
      budget?: DeploymentBudget;
      /**
       * Networks (CIDRs) the deployment may reach besides the internet where the runtime limits
       * egress (Kubernetes' NetworkPolicy); kept from the last call that gave them (since 1.6).
       */
      egressAllow?: string[];
    },
  ): Promise<void>;
  pullImage(
    image: string,
    auth?: RegistryAuth,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  /**
   * Starts a service, or returns it unchanged when it already runs with this spec; idempotent.
   * Resolves once the service runs; rejects with a plain reason when it cannot (the image does not
   * exist, the container exits at once, it cannot be scheduled), or when `signal` aborts.
   */
  startService(
    deploymentId: string,
    spec: ServiceSpec,
    auth?: RegistryAuth,
    signal?: AbortSignal,
  ): Promise<ServiceState>;
  inspectService(deploymentId: string, name: string): Promise<ServiceState>;
  /** Restarts a service (running or stopped), keeping its identity: same volumes, same address. */
  restartService(deploymentId: string, name: string): Promise<ServiceState>;
  /** Stops a service, keeping it (a restart brings it back as it was); stopping a stopped one is a no-op. */
  stopService(deploymentId: string, name: string): Promise<ServiceState>;
  removeService(deploymentId: string, name: string): Promise<void>;
  /** Where a running service answers on `port` from the agent's side, or undefined when nowhere yet. */
  serviceEndpoint(deploymentId: string, name: string, port: number): Promise<ServiceEndpoint | undefined>;
  /**
   * Whether the service passes its check now. Rejects (instead of answering unhealthy) when the
   * service has failed for good — crashed, OOM-killed, its image missing — so callers stop waiting.
   */
  checkHealth(
    deploymentId: string,
    name: string,
    check: HealthCheck,
    timeoutMs: number,
  ): Promise<HealthResult>;
  exec(deploymentId: string, name: string, command: string[], timeoutMs: number): Promise<ExecResult>;
  runJob(deploymentId: string, spec: JobSpec, signal?: AbortSignal): Promise<ExecResult>;
  logs(
    deploymentId: string,
    name: string,
    options: { follow: boolean; tail?: number; signal?: AbortSignal },
  ): AsyncIterable<LogLine>;
  /** Real usage of every service this runtime manages. */
  usage(): Promise<ServiceUsage[]>;
  /**
   * Whether what a service keeps (its named volumes) is still there (since 1.5). A service whose
   * data is gone is not recreated by the agent's reconcile: that would be a fresh, empty service
   * where later pipeline steps had built state; its deployment turns degraded instead.
   */
  hasData(deploymentId: string, spec: ServiceSpec): Promise<boolean>;
  /**
   * Claims this node's resources on the engine or cluster for one agent process, or renews the
   * claim (since 1.5). Answers who holds them when another live process does: two agents with one
   * identity must never both reconcile. A claim not renewed for `staleAfterMs` is free.
   */
  claim(holder: ClaimHolder, staleAfterMs: number): Promise<{ held: true } | { held: false; by: string }>;
  /** Gives the claim up (a clean stop), so the next agent process takes it at once. */
  release(holder: ClaimHolder): Promise<void>;
  /** Ids of every deployment that has any labelled resource on this node. */
  listDeployments(): Promise<string[]>;
  /** Removes everything labelled with the deployment (services, jobs, network, volumes); idempotent. */
  removeDeployment(deploymentId: string): Promise<void>;
  /**
   * Makes `routes` the deployment's whole set of routes on the runtime's own ingress controller
   * (Kubernetes Ingress objects of `className`); idempotent. Called only when the runtime declares
   * `capabilities.ingress`.
   */
  publishRoutes(deploymentId: string, routes: ServiceRoute[], className: string): Promise<void>;
  /**
   * Calls `onChange` whenever one of this runtime's services may have changed state (it exited,
   * was restarted, OOM-killed, started, was removed — or its whole deployment boundary went), from
   * the engine's own events (Docker events, a pod watch), so health reaches users and the agent's
   * reconcile repairs it at once instead of at its next sweep. Returns what stops watching. Called
   * only when the runtime declares `capabilities.events`.
   */
  watchServices(onChange: (deploymentId: string, service: string) => void): () => void;
  /** Stops whatever the runtime keeps open (watches, informers): the agent is stopping (since 1.5). */
  close(): Promise<void>;
}

/** One service URL host, for runtimes that write routes to an ingress controller of their own. */
export interface ServiceRoute {
  service: string;
  host: string;
  port: number;
}
