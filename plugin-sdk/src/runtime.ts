/**
 * The Runtime interface: what an agent can do on its node. One interface, two implementations
 * (Docker and Kubernetes). It speaks of deployments and services, never of containers or pods, so
 * neither runtime's shape leaks into the other. How each method maps:
 *
 * | method | Docker | Kubernetes |
 * |---|---|---|
 * | `capacity` | CPUs and memory of the engine's host (`docker info`) | allocatable CPU and memory of the node |
 * | `prepareDeployment` | a user-defined bridge network per deployment | a namespace per deployment with a default-deny NetworkPolicy allowing in-namespace and ingress traffic |
 * | `pullImage` | `docker pull` with registry credentials, progress per layer | nothing to do ahead (kubelet pulls); an `imagePullSecret` in the namespace carries credentials |
 * | `startService` | a container with limits, labels, `Init`, no-new-privileges, dropped capabilities, a published port | a Deployment (1 replica) + Service with resource limits and labels |
 * | `inspectService` | container inspect | Deployment status + Service |
 * | `restartService` | `docker start` of the stopped container | delete the failed Pod (the Deployment recreates it) |
 * | `removeService` | remove the container | delete the Deployment and Service |
 * | `checkHealth` | HTTP/TCP from the agent to the published port; `command` via exec | same through the Service; `command` via the exec subresource |
 * | `exec` | `docker exec` | the Pod `exec` subresource |
 * | `runJob` | a one-off container on the deployment network, removed after | a Job in the namespace |
 * | `logs` | container logs (follow) | Pod logs (`follow=true`) |
 * | `usage` | container stats | metrics API (`metrics.k8s.io`) per Pod |
 * | `listDeployments` / `removeDeployment` | containers, networks, volumes found by label | namespaces found by label; deleting the namespace removes everything in it |
 *
 * Every resource a runtime creates carries the labels in {@link RUNTIME_LABELS}, so an agent can
 * find and remove what belongs to no desired deployment after any crash — among its own resources
 * only (the `agent` label), so several agents can share one engine.
 */

/** Labels on every resource a runtime creates. */
export const RUNTIME_LABELS = {
  managed: 'dev.nullops.managed',
  /** The agent that owns the resource: agents sharing one engine never touch each other's. */
  agent: 'dev.nullops.agent',
  deployment: 'dev.nullops.deployment',
  service: 'dev.nullops.service',
  job: 'dev.nullops.job',
} as const;

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
}

export interface ServiceAddress {
  /** Where the ingress reaches the service from outside the node's runtime. */
  host: string;
  port: number;
}

export interface ServiceState {
  name: string;
  /** Runtime-specific id (container id, Deployment uid): stable while the service is not recreated. */
  ref: string;
  status: 'running' | 'stopped' | 'missing';
  address?: ServiceAddress;
  startedAt?: string;
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

/** What an agent can do on its node. All methods are idempotent where the name says so. */
export interface Runtime {
  readonly kind: 'docker' | 'kubernetes';
  /** CPU and memory this node offers to deployments. */
  capacity(): Promise<{ cpuMillicores: number; memoryMb: number }>;
  /** Creates the deployment's isolation boundary (network / namespace); idempotent. */
  prepareDeployment(deploymentId: string): Promise<void>;
  pullImage(
    image: string,
    auth?: RegistryAuth,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Starts a service, or returns it unchanged when it already runs with this spec; idempotent. */
  startService(deploymentId: string, spec: ServiceSpec, auth?: RegistryAuth): Promise<ServiceState>;
  inspectService(deploymentId: string, name: string): Promise<ServiceState>;
  /** Starts a stopped service again, keeping its identity. */
  restartService(deploymentId: string, name: string): Promise<ServiceState>;
  removeService(deploymentId: string, name: string): Promise<void>;
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
  /** Ids of every deployment that has any labelled resource on this node. */
  listDeployments(): Promise<string[]>;
  /** Removes everything labelled with the deployment (services, jobs, network, volumes); idempotent. */
  removeDeployment(deploymentId: string): Promise<void>;
}
