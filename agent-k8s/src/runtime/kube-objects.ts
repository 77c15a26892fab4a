import { createHash } from 'node:crypto';
import type {
  V1Deployment,
  V1Ingress,
  V1Job,
  V1Namespace,
  V1NetworkPolicy,
  V1Probe,
  V1ResourceQuota,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import {
  type DeploymentBudget,
  type HealthCheck,
  type JobSpec,
  type RegistryAuth,
  RUNTIME_LABELS,
  type RuntimeOwner,
  type ServiceRoute,
  type ServiceSpec,
} from '@nullops/plugin-sdk';

/** Names of a deployment's Kubernetes objects; derived, never stored: the labels are the truth. */
export const kubeNames = {
  namespace: (deploymentId: string) => `nullops-${deploymentId}`,
  pullSecret: (server: string) =>
    `nullops-registry-${createHash('sha256').update(server).digest('hex').slice(0, 12)}`,
  quota: 'nullops-budget',
  ingress: 'nullops-routes',
  denyAll: 'nullops-default-deny',
  allowOwn: 'nullops-allow-namespace-and-agent',
};

/** Capabilities kept, as on Docker (switching user, owning files, binding :80, signals); all others dropped. */
export const KEPT_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'SETGID',
  'SETUID',
  'NET_BIND_SERVICE',
  'KILL',
];

/** Where the agent itself runs, so the deployment's NetworkPolicy lets it (and only it) in. */
export interface AgentPlacement {
  /** The agent's namespace and pod labels, when it runs in the cluster. */
  namespace?: string;
  podLabels?: Record<string, string>;
}

/** The labels that make an object this installation's and this node's. */
export const ownerLabelsOf = (owner: RuntimeOwner) => ({
  [RUNTIME_LABELS.managed]: 'true',
  [RUNTIME_LABELS.installation]: owner.installationId,
  [RUNTIME_LABELS.node]: owner.nodeId,
});

export const labelsOf = (owner: RuntimeOwner, deploymentId: string) => ({
  ...ownerLabelsOf(owner),
  [RUNTIME_LABELS.deployment]: deploymentId,
});

/** The label selector of this installation's and node's objects (of one deployment, or all). */
export function selectorOf(owner: RuntimeOwner, deploymentId?: string, service?: string): string {
  return [
    ...Object.entries(ownerLabelsOf(owner)).map(([k, v]) => `${k}=${v}`),
    ...(deploymentId ? [`${RUNTIME_LABELS.deployment}=${deploymentId}`] : []),
    ...(service ? [`${RUNTIME_LABELS.service}=${service}`] : []),
  ].join(',');
}

export function namespaceObject(owner: RuntimeOwner, deploymentId: string): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: kubeNames.namespace(deploymentId), labels: labelsOf(owner, deploymentId) },
  };
}

/**
 * Default deny for ingress, then allow from pods of the same namespace and from the agent: other
 * deployments (other namespaces) cannot reach this one; egress stays open (services may call out).
 */
export function networkPolicies(
  owner: RuntimeOwner,
  agent: AgentPlacement,
  deploymentId: string,
): V1NetworkPolicy[] {
  const namespace = kubeNames.namespace(deploymentId);
  const labels = labelsOf(owner, deploymentId);
  const fromAgent =
    agent.namespace && agent.podLabels
      ? [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': agent.namespace } },
            podSelector: { matchLabels: agent.podLabels },
          },
        ]
      : [];
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: kubeNames.denyAll, namespace, labels },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: kubeNames.allowOwn, namespace, labels },
      spec: {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ _from: [{ podSelector: {} }, ...fromAgent] }],
      },
    },
  ];
}

export function quotaObject(
  owner: RuntimeOwner,
  deploymentId: string,
  budget: DeploymentBudget,
): V1ResourceQuota {
  const cpu = `${budget.cpuMillicores}m`;
  const memory = `${budget.memoryMb}Mi`;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: {
      name: kubeNames.quota,
      namespace: kubeNames.namespace(deploymentId),
      labels: labelsOf(owner, deploymentId),
    },
    spec: {
      hard: { 'requests.cpu': cpu, 'limits.cpu': cpu, 'requests.memory': memory, 'limits.memory': memory },
    },
  };
}

/** A `kubernetes.io/dockerconfigjson` Secret with one registry's credentials. */
export function pullSecretObject(owner: RuntimeOwner, deploymentId: string, auth: RegistryAuth): V1Secret {
  const config = {
    auths: {
      [auth.serveraddress]: {
        username: auth.username,
        password: auth.password,
        auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64'),
      },
    },
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: kubeNames.pullSecret(auth.serveraddress),
      namespace: kubeNames.namespace(deploymentId),
      labels: labelsOf(owner, deploymentId),
    },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') },
  };
}

/** The component's health check as Kubernetes' readinessProbe: Kubernetes decides readiness. */
export function readinessProbe(
  check: HealthCheck | undefined,
  port: number | undefined,
): V1Probe | undefined {
  if (!check) return undefined;
  const timing = { periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 3, successThreshold: 1 };
  if (check.kind === 'command') return { exec: { command: check.command }, ...timing };
  const probePort = check.port ?? port;
  if (!probePort) return undefined;
  if (check.kind === 'tcp') return { tcpSocket: { port: probePort }, ...timing };
  return { httpGet: { path: check.path, port: probePort }, ...timing };
}

/** What every container of a deployment gets: no privilege, minimal capabilities, default seccomp. */
const containerSecurity = {
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'], add: KEPT_CAPABILITIES },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Pods get no service-account token, no host namespaces, no service-link variables. */
const podSecurity = {
  automountServiceAccountToken: false,
  enableServiceLinks: false,
  hostNetwork: false,
  hostPID: false,
  hostIPC: false,
  securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
};

const resources = (cpuMillicores: number, memoryMb: number) => {
  const limits = { cpu: `${cpuMillicores}m`, memory: `${memoryMb}Mi` };
  return { requests: limits, limits };
};

/** The hash of a spec, on the pod template: pods of an older spec are told apart from the current. */
export function specHash(spec: unknown): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
}

export const SPEC_HASH_LABEL = 'dev.nullops.spec-hash';

export function deploymentObject(
  owner: RuntimeOwner,
  deploymentId: string,
  spec: ServiceSpec,
  pullSecret: string | undefined,
  storageClass: string | undefined,
): V1Deployment {
  const labels = { ...labelsOf(owner, deploymentId), [RUNTIME_LABELS.service]: spec.name };
  const volumes = Object.entries(spec.volumes ?? {});
  const probe = readinessProbe(spec.healthCheck, spec.port);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: spec.name, namespace: kubeNames.namespace(deploymentId), labels },
    spec: {
      replicas: 1,
      // One replica with its own volumes: the old pod goes before the new one starts.
      strategy: { type: 'Recreate' },
      selector: {
        matchLabels: { [RUNTIME_LABELS.deployment]: deploymentId, [RUNTIME_LABELS.service]: spec.name },
      },
      template: {
        metadata: { labels: { ...labels, [SPEC_HASH_LABEL]: specHash(spec) } },
        spec: {
          ...podSecurity,
          ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: spec.name,
              image: spec.image,
              ...(spec.command?.length ? { command: spec.command } : {}),
              env: Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value })),
              ...(spec.port ? { ports: [{ containerPort: spec.port, name: 'service' }] } : {}),
              resources: resources(spec.cpuMillicores, spec.memoryMb),
              securityContext: containerSecurity,
              ...(probe ? { readinessProbe: probe } : {}),
              volumeMounts: volumes.map(([name, mountPath]) => ({ name, mountPath })),
            },
          ],
          volumes: volumes.map(([name]) =>
            storageClass
              ? { name, persistentVolumeClaim: { claimName: `${spec.name}-${name}` } }
              : { name, emptyDir: {} },
          ),
        },
      },
    },
  };
}

export function serviceObject(
  owner: RuntimeOwner,
  deploymentId: string,
  spec: ServiceSpec,
): V1Service | undefined {
  if (!spec.port) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: spec.name,
      namespace: kubeNames.namespace(deploymentId),
      labels: { ...labelsOf(owner, deploymentId), [RUNTIME_LABELS.service]: spec.name },
    },
    spec: {
      type: 'ClusterIP',
      selector: { [RUNTIME_LABELS.deployment]: deploymentId, [RUNTIME_LABELS.service]: spec.name },
      ports: [{ name: 'service', port: spec.port, targetPort: spec.port, protocol: 'TCP' }],
    },
  };
}

export function jobObject(owner: RuntimeOwner, deploymentId: string, name: string, spec: JobSpec): V1Job {
  const labels = { ...labelsOf(owner, deploymentId), [RUNTIME_LABELS.job]: spec.name };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: kubeNames.namespace(deploymentId), labels },
    spec: {
      // A one-off task runs once: its failure is the step's failure, not a reason to retry.
      backoffLimit: 0,
      activeDeadlineSeconds: Math.ceil((spec.timeoutMs ?? 600_000) / 1000),
      ttlSecondsAfterFinished: 600,
      template: {
        metadata: { labels },
        spec: {
          ...podSecurity,
          restartPolicy: 'Never',
          containers: [
            {
              name: 'job',
              image: spec.image,
              command: spec.command,
              env: Object.entries(spec.env ?? {}).map(([n, value]) => ({ name: n, value })),
              resources: resources(spec.cpuMillicores ?? 250, spec.memoryMb ?? 128),
              securityContext: containerSecurity,
            },
          ],
        },
      },
    },
  };
}

/** The deployment's service URLs as one Ingress of the cluster's controller class. */
export function ingressObject(
  owner: RuntimeOwner,
  deploymentId: string,
  routes: ServiceRoute[],
  className: string,
): V1Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: kubeNames.ingress,
      namespace: kubeNames.namespace(deploymentId),
      labels: labelsOf(owner, deploymentId),
    },
    spec: {
      ingressClassName: className,
      rules: routes.map((r) => ({
        host: r.host,
        http: {
          paths: [
            {
              path: '/',
              pathType: 'Prefix',
              backend: { service: { name: r.service, port: { number: r.port } } },
            },
          ],
        },
      })),
    },
  };
}
