import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import {
  type AgentDeclaration,
  AgentIdentity,
  agentConfigShape,
  bundledPluginsOf,
  intVar,
  loadConfig,
  loadOrCreateCertificate,
  type RunningAgent,
  startAgentHost,
  stringVar,
} from '@nullops/agent-host';
import type { Logger } from 'pino';
import { KubeApi, orUndefined } from './runtime/kube-api.js';
import { KubernetesRuntime } from './runtime/kubernetes-runtime.js';
import { AGENT_VERSION } from './version.js';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The Kubernetes agent's environment variables: the shared ones and the cluster's. */
export const k8sAgentConfigShape = {
  ...agentConfigShape,
  /** A kubeconfig file; unset, the agent uses its pod's ServiceAccount (in-cluster). */
  NULLOPS_AGENT_KUBECONFIG: stringVar(''),
  /** The agent's namespace (in-cluster: read from the ServiceAccount). */
  NULLOPS_AGENT_NAMESPACE: stringVar(''),
  /** Labels of the agent's pods (`k=v,k=v`): every deployment's NetworkPolicy lets them in. */
  NULLOPS_AGENT_POD_LABELS: stringVar('app.kubernetes.io/name=nullops-agent'),
  /** Secret (in the agent's namespace) that keeps the agent's certificate across reschedules. */
  NULLOPS_AGENT_TLS_SECRET: stringVar('nullops-agent-tls'),
  /** StorageClass for named volumes; unset, volumes are emptyDir (lost when a pod restarts). */
  NULLOPS_AGENT_STORAGE_CLASS: stringVar(''),
  /** How long a pod may stay unschedulable before its step fails. */
  NULLOPS_AGENT_UNSCHEDULABLE_GRACE_SECONDS: intVar(30, 0, 3600),
  /**
   * The agent's ServiceAccount (in its namespace): bound, in each deployment's namespace, to the
   * ClusterRole below. Empty: no binding (the agent's credentials must cover every namespace).
   */
  NULLOPS_AGENT_SERVICE_ACCOUNT: stringVar('nullops-agent'),
  /** The ClusterRole of what the agent does inside a deployment's namespace (see deploy/kubernetes). */
  NULLOPS_AGENT_NAMESPACE_ROLE: stringVar('nullops-agent-deployment'),
  /** The ingress controller's namespace, let into deployments' namespaces (ingress-class environments). */
  NULLOPS_AGENT_INGRESS_NAMESPACE: stringVar(''),
  /** How long an image pull may keep failing (a pull secret just made, a registry hiccup) before its step fails. */
  NULLOPS_AGENT_PULL_GRACE_SECONDS: intVar(30, 0, 3600),
};

export type K8sAgentConfig = ReturnType<typeof loadConfig<typeof k8sAgentConfigShape>>;

export function loadK8sAgentConfig(env: NodeJS.ProcessEnv = process.env): K8sAgentConfig {
  return loadConfig(k8sAgentConfigShape, env);
}

/** Cluster credentials: the kubeconfig named, else the pod's ServiceAccount. */
export function kubeConfigOf(config: K8sAgentConfig): { kubeConfig: KubeConfig; inCluster: boolean } {
  const kubeConfig = new KubeConfig();
  if (config.NULLOPS_AGENT_KUBECONFIG) {
    if (!existsSync(config.NULLOPS_AGENT_KUBECONFIG))
      throw new Error(`NULLOPS_AGENT_KUBECONFIG: no file at ${config.NULLOPS_AGENT_KUBECONFIG}`);
    kubeConfig.loadFromFile(config.NULLOPS_AGENT_KUBECONFIG);
    return { kubeConfig, inCluster: false };
  }
  if (!process.env.KUBERNETES_SERVICE_HOST)
    throw new Error(
      'no cluster to talk to: run the agent in the cluster (it uses its ServiceAccount) or set NULLOPS_AGENT_KUBECONFIG',
    );
  kubeConfig.loadFromCluster();
  return { kubeConfig, inCluster: true };
}

/** Where the API server answers (its URL's host, and in the cluster its Service address). */
function apiServerAddresses(kubeConfig: KubeConfig): string[] {
  const server = kubeConfig.getCurrentCluster()?.server;
  const host = server ? new URL(server).hostname.replace(/^\[|\]$/g, '') : undefined;
  return [...new Set([host, process.env.KUBERNETES_SERVICE_HOST].filter((h): h is string => Boolean(h)))];
}

function podLabels(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(',')
      .map((pair) => pair.trim().split('='))
      .filter((kv): kv is [string, string] => kv.length === 2 && Boolean(kv[0])),
  );
}

/**
 * The agent's certificate lives in a Secret when it runs in the cluster: a rescheduled pod (with
 * a fresh data directory) gets the same certificate back, so its pinned thumbprint stays valid.
 */
export async function keepCertificateInSecret(
  api: KubeApi,
  namespace: string,
  name: string,
  dataDir: string,
) {
  const secret = await orUndefined(api.core.readNamespacedSecret({ name, namespace }));
  const crt = secret?.data?.['tls.crt'];
  const key = secret?.data?.['tls.key'];
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (crt && key) {
    await writeFile(join(dataDir, 'agent.key'), Buffer.from(key, 'base64'), { mode: 0o600 });
    await writeFile(join(dataDir, 'agent.crt'), Buffer.from(crt, 'base64'), { mode: 0o644 });
    return;
  }
  const created = await loadOrCreateCertificate(dataDir);
  await api.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'nullops-agent' } },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(created.cert).toString('base64'),
      'tls.key': Buffer.from(await readFile(join(dataDir, 'agent.key'), 'utf8')).toString('base64'),
    },
  });
}

/**
 * Starts a Kubernetes agent: the shared agent host on a Kubernetes runtime, with the first-party
 * plugins this package depends on. Fails with a plain message when the cluster cannot be reached.
 */
export async function startK8sAgent(options: {
  config: K8sAgentConfig;
  logger: Logger;
  kubeConfig?: KubeConfig;
}): Promise<RunningAgent & { runtime: KubernetesRuntime }> {
  const { config, logger } = options;
  const resolved = options.kubeConfig
    ? { kubeConfig: options.kubeConfig, inCluster: false }
    : kubeConfigOf(config);
  const namespace =
    config.NULLOPS_AGENT_NAMESPACE ||
    (resolved.inCluster && existsSync(join(SERVICE_ACCOUNT_DIR, 'namespace'))
      ? readFileSync(join(SERVICE_ACCOUNT_DIR, 'namespace'), 'utf8').trim()
      : '');
  const identity = new AgentIdentity();
  const runtime = new KubernetesRuntime({
    kubeConfig: resolved.kubeConfig,
    owner: () => identity.require(),
    inCluster: resolved.inCluster,
    ...(namespace ? {} : { claimNamespace: 'default' }),
    ...(namespace
      ? { agentNamespace: namespace, agentPodLabels: podLabels(config.NULLOPS_AGENT_POD_LABELS) }
      : {}),
    ...(config.NULLOPS_AGENT_STORAGE_CLASS ? { storageClass: config.NULLOPS_AGENT_STORAGE_CLASS } : {}),
    ...(namespace && config.NULLOPS_AGENT_SERVICE_ACCOUNT
      ? {
          namespaceRole: {
            role: config.NULLOPS_AGENT_NAMESPACE_ROLE,
            serviceAccount: { name: config.NULLOPS_AGENT_SERVICE_ACCOUNT, namespace },
          },
        }
      : {}),
    ...(config.NULLOPS_AGENT_INGRESS_NAMESPACE
      ? { ingressNamespace: config.NULLOPS_AGENT_INGRESS_NAMESPACE }
      : {}),
    apiServerAddresses: apiServerAddresses(resolved.kubeConfig),
    unschedulableGraceMs: config.NULLOPS_AGENT_UNSCHEDULABLE_GRACE_SECONDS * 1000,
    pullGraceMs: config.NULLOPS_AGENT_PULL_GRACE_SECONDS * 1000,
  });
  try {
    await runtime.api.core.listNode();
  } catch (err) {
    throw new Error(
      `cannot reach the Kubernetes API (${(err as Error).message}); check NULLOPS_AGENT_KUBECONFIG or the agent's ServiceAccount and ClusterRole`,
    );
  }
  if (resolved.inCluster && namespace)
    await keepCertificateInSecret(
      runtime.api,
      namespace,
      config.NULLOPS_AGENT_TLS_SECRET,
      config.NULLOPS_AGENT_DATA_DIR,
    );
  const agent = await startAgentHost({
    config,
    runtime,
    identity,
    logger,
    agentVersion: AGENT_VERSION,
    bundledPlugins: bundledPluginsOf(import.meta.url),
  });
  return { ...agent, runtime };
}

/** This package as an agent: the shared agent process (`runAgentMain`) runs it. */
export const k8sAgent: AgentDeclaration<K8sAgentConfig> = {
  name: 'nullops-agent-k8s',
  loadConfig: () => loadK8sAgentConfig(),
  configShape: k8sAgentConfigShape,
  start: startK8sAgent,
};
