import { createHash } from 'node:crypto';
import type {
  V1Deployment,
  V1EnvVar,
  V1Ingress,
  V1Job,
  V1Namespace,
  V1NetworkPolicy,
  V1Probe,
  V1ResourceQuota,
  V1RoleBinding,
  V1Secret,
  V1SecurityContext,
  V1Service,
} from '@kubernetes/client-node';
import {
  confinementOf,
  type DeploymentBudget,
  type HealthCheck,
  type JobSpec,
  type RegistryAuth,
  RUNTIME_LABELS,
  type RuntimeOwner,
  type ServiceRoute,
  type ServiceSecurity,
  type ServiceSpec,
} from '@nullops/plugin-sdk';

/** Names of a deployment's Kubernetes objects; derived, never stored: the labels are the truth. */
export const kubeNames = {
  namespace: (deploymentId: string) => `nullops-${deploymentId}`,
  pullSecret: (server: string) =>
    `nullops-registry-${createHash('sha256').update(server).digest('hex').slice(0, 12)}`,
  quota: 'nullops-budget',
  /** A service's secret env values, read by `secretKeyRef`. */
  envSecret: (service: string) => `${service}-env`,
  ingress: 'nullops-routes',
  denyAll: 'nullops-default-deny',
  allowOwn: 'nullops-allow-namespace-and-agent',
  egress: 'nullops-egress',
  agentBinding: 'nullops-agent',
};

/** Where the agent itself runs, so the deployment's NetworkPolicy lets it (and only it) in. */
export interface AgentPlacement {
  /** The agent's namespace and pod labels, when it runs in the cluster. */
  namespace?: string;
  podLabels?: Record<string, string>;
  /** The ingress controller's namespace (ingress-class environments): let in too. */
  ingressNamespace?: string;
  /** Addresses the cluster's API server answers at: never reachable from a deployment. */
  apiServerAddresses?: string[];
}

/**
 * Where a deployment's pods may not connect: the cluster's own networks (other namespaces, the
 * nodes, the API server's service), link-local (the cloud metadata endpoint) and the API server.
 * Everything else — external APIs — stays reachable, as are the pods of its own namespace and DNS.
 */
export const EGRESS_BLOCKED_V4 = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
];
export const EGRESS_BLOCKED_V6 = ['fc00::/7', 'fe80::/10'];

/** The agent's access inside one deployment's namespace: a RoleBinding to its namespaced ClusterRole. */
export function roleBindingObject(
  owner: RuntimeOwner,
  deploymentId: string,
  binding: { role: string; serviceAccount: { name: string; namespace: string } },
): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: {
      name: kubeNames.agentBinding,
      namespace: kubeNames.namespace(deploymentId),
      labels: labelsOf(owner, deploymentId),
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: binding.role },
    subjects: [{ kind: 'ServiceAccount', ...binding.serviceAccount }],
  };
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

/**
 * The deployment's namespace. Pod Security admission enforces `baseline` in it (every pod NullOps
 * makes passes it; nothing privileged can be slipped in) and warns about `restricted`.
 */
export function namespaceObject(owner: RuntimeOwner, deploymentId: string): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: kubeNames.namespace(deploymentId),
      labels: {
        ...labelsOf(owner, deploymentId),
        'pod-security.kubernetes.io/enforce': 'baseline',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/warn-version': 'latest',
      },
    },
  };
}

/**
 * Default deny for ingress, then allow from pods of the same namespace, from the agent and (in
 * ingress-class environments) from the ingress controller: other deployments cannot reach this
 * one. Egress is limited to the namespace, DNS, and addresses outside the cluster's networks —
 * plus what the project allows (`egressAllow` CIDRs) — never the API server or the cloud metadata
 * endpoint.
 */
export function networkPolicies(
  owner: RuntimeOwner,
  agent: AgentPlacement,
  deploymentId: string,
  egressAllow: string[] = [],
): V1NetworkPolicy[] {
  const namespace = kubeNames.namespace(deploymentId);
  const labels = labelsOf(owner, deploymentId);
  const namespaceNamed = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
  const fromAgent =
    agent.namespace && agent.podLabels
      ? [
          {
            namespaceSelector: namespaceNamed(agent.namespace),
            podSelector: { matchLabels: agent.podLabels },
          },
        ]
      : [];
  const fromIngress = agent.ingressNamespace
    ? [{ namespaceSelector: namespaceNamed(agent.ingressNamespace) }]
    : [];
  const apiServer = (agent.apiServerAddresses ?? []).filter((a) => /^[\d.]+$/.test(a)).map((a) => `${a}/32`);
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
        ingress: [{ _from: [{ podSelector: {} }, ...fromAgent, ...fromIngress] }],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: kubeNames.egress, namespace, labels },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          { to: [{ podSelector: {} }] },
          {
            to: [
              {
                namespaceSelector: namespaceNamed('kube-system'),
                podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              },
            ],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
          {
            to: [
              { ipBlock: { cidr: '0.0.0.0/0', except: [...EGRESS_BLOCKED_V4, ...apiServer] } },
              { ipBlock: { cidr: '::/0', except: EGRESS_BLOCKED_V6 } },
            ],
          },
          ...(egressAllow.length ? [{ to: egressAllow.map((cidr) => ({ ipBlock: { cidr } })) }] : []),
        ],
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

/**
 * A health check as a Kubernetes probe (readiness or liveness). An HTTP check that expects a
 * status outside 200–399 has no probe: an httpGet probe would fail on it, so the agent checks it
 * itself (see `checkHealth`).
 */
export function probeOf(check: HealthCheck | undefined, port: number | undefined): V1Probe | undefined {
  if (!check) return undefined;
  if (check.kind === 'http' && !probedByKubernetes(check)) return undefined;
  // Every second: the first probe runs as the container starts, mostly before the service listens,
  // and the next one decides when the deployment is ready (benchmark P9: a 2 s period cost 1 s).
  const timing = { periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 3, successThreshold: 1 };
  if (check.kind === 'command') return { exec: { command: check.command }, ...timing };
  const probePort = check.port ?? port;
  if (!probePort) return undefined;
  if (check.kind === 'tcp') return { tcpSocket: { port: probePort }, ...timing };
  return { httpGet: { path: check.path, port: probePort }, ...timing };
}

/** Whether Kubernetes' own probe decides this check (an httpGet passes on 200–399 only). */
export function probedByKubernetes(check: HealthCheck): boolean {
  return (
    check.kind !== 'http' ||
    check.expectStatus === undefined ||
    (check.expectStatus >= 200 && check.expectStatus < 400)
  );
}

/**
 * A container's confinement under its profile (the SDK's `ServiceSecurity`): never privileged, no
 * privilege escalation, the runtime's seccomp profile, every capability dropped but those added;
 * `restricted` adds a non-root user and a read-only root filesystem — Pod Security `restricted`.
 */
export function containerSecurity(security: ServiceSecurity | undefined): V1SecurityContext {
  const confinement = confinementOf(security);
  return {
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'], add: confinement.capabilities },
    seccompProfile: { type: 'RuntimeDefault' },
    ...(confinement.restricted ? { runAsNonRoot: true, readOnlyRootFilesystem: true } : {}),
    ...(confinement.runAsUser !== undefined ? { runAsUser: confinement.runAsUser } : {}),
  };
}

/** The empty, writable directories of a read-only root filesystem: /tmp and the declared paths. */
function writableDirectories(security: ServiceSecurity | undefined): { name: string; mountPath: string }[] {
  return confinementOf(security).writablePaths.map((mountPath, i) => ({
    name: `nullops-writable-${i}`,
    mountPath,
  }));
}

/** Pods get no service-account token, no host namespaces, no service-link variables. */
const podSecurity = {
  automountServiceAccountToken: false,
  enableServiceLinks: false,
  hostNetwork: false,
  hostPID: false,
  hostIPC: false,
  securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
};

const resources = (cpuMillicores: number, memoryMb: number, diskMb?: number) => {
  const limits = {
    cpu: `${cpuMillicores}m`,
    memory: `${memoryMb}Mi`,
    ...(diskMb ? { 'ephemeral-storage': `${diskMb}Mi` } : {}),
  };
  return { requests: limits, limits };
};

/** The Kubernetes recommended labels, besides NullOps' own (which stay the selectors). */
function appLabels(deploymentId: string, name: string) {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': kubeNames.namespace(deploymentId),
    'app.kubernetes.io/part-of': kubeNames.namespace(deploymentId),
    'app.kubernetes.io/managed-by': 'nullops',
  };
}

/** The Secret holding a service's secret env values (none: no Secret), read by `secretKeyRef`. */
export function envSecretObject(
  owner: RuntimeOwner,
  deploymentId: string,
  spec: ServiceSpec,
): V1Secret | undefined {
  const names = (spec.secretEnv ?? []).filter((n) => spec.env?.[n] !== undefined);
  if (!names.length) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: kubeNames.envSecret(spec.name),
      namespace: kubeNames.namespace(deploymentId),
      labels: { ...labelsOf(owner, deploymentId), [RUNTIME_LABELS.service]: spec.name },
    },
    type: 'Opaque',
    data: Object.fromEntries(names.map((n) => [n, Buffer.from(spec.env?.[n] as string).toString('base64')])),
  };
}

/** Env entries: secret ones by reference to the service's Secret, the rest as values. */
function envOf(spec: ServiceSpec): V1EnvVar[] {
  const secret = new Set(spec.secretEnv ?? []);
  return Object.entries(spec.env ?? {}).map(([name, value]) =>
    secret.has(name)
      ? { name, valueFrom: { secretKeyRef: { name: kubeNames.envSecret(spec.name), key: name } } }
      : { name, value },
  );
}

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
  const labels = {
    ...labelsOf(owner, deploymentId),
    [RUNTIME_LABELS.service]: spec.name,
    ...appLabels(deploymentId, spec.name),
  };
  const volumes = Object.entries(spec.volumes ?? {});
  const writable = writableDirectories(spec.security);
  const readiness = probeOf(spec.healthCheck, spec.port);
  const liveness = probeOf(spec.livenessCheck, spec.port);
  const { diskMb, restricted } = confinementOf(spec.security);
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
          // The pod's pause process is PID 1 and reaps: a service that ignores SIGTERM as PID 1
          // (no handler) still stops at once instead of waiting out the grace period.
          shareProcessNamespace: true,
          ...(restricted ? { securityContext: { ...podSecurity.securityContext, runAsNonRoot: true } } : {}),
          ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: spec.name,
              image: spec.image,
              imagePullPolicy: spec.pull === 'always' ? 'Always' : 'IfNotPresent',
              ...(spec.command?.length ? { command: spec.command } : {}),
              env: envOf(spec),
              ...(spec.port ? { ports: [{ containerPort: spec.port, name: 'service' }] } : {}),
              resources: resources(spec.cpuMillicores, spec.memoryMb, diskMb),
              securityContext: containerSecurity(spec.security),
              ...(readiness ? { readinessProbe: readiness } : {}),
              ...(liveness ? { livenessProbe: { ...liveness, failureThreshold: 5, periodSeconds: 10 } } : {}),
              volumeMounts: [...volumes.map(([name, mountPath]) => ({ name, mountPath })), ...writable],
            },
          ],
          volumes: [
            ...volumes.map(([name]) =>
              storageClass
                ? { name, persistentVolumeClaim: { claimName: `${spec.name}-${name}` } }
                : { name, emptyDir: {} },
            ),
            ...writable.map(({ name }) => ({ name, emptyDir: {} })),
          ],
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
              securityContext: containerSecurity(undefined),
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
