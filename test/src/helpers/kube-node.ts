import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type KubeFake, startKubeFake } from '../kube-fake/index.js';
import { type KubeObject, resourceOfKind } from '../kube-fake/resources.js';
import { type AgentProcess, registerLocalNode, tempDir, waitNodeReady } from './agent-process.js';
import type { Stack } from './stack.js';

/** The ServiceAccount the shipped manifests give the agent. */
export const AGENT_USER = 'system:serviceaccount:nullops-system:nullops-agent';

/** The objects of a kustomize base as `kubectl kustomize` renders them. */
export function renderKustomize(dir: string): KubeObject[] {
  const yaml = execFileSync('kubectl', ['kustomize', resolve(dir)], { encoding: 'utf8' });
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as KubeObject)
    .filter(Boolean);
}

/**
 * The shipped agent base's namespace, ServiceAccount and RBAC, applied to the fake as an admin
 * would (`kubectl apply -k deploy/kubernetes/agent`); the agent's own Deployment and Service are
 * left out: the test runs the agent program itself, with that ServiceAccount's identity.
 */
export function applyAgentBase(fake: KubeFake): void {
  for (const object of renderKustomize('deploy/kubernetes/agent')) {
    if (object.kind === 'Deployment' || object.kind === 'Service') continue;
    fake.api.create(
      {
        resource: resourceOfKind(object.kind as string),
        ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
      },
      object,
      'kubectl',
    );
  }
}

export interface KubeNode {
  fake: KubeFake;
  env: { id: string };
  node: { id: string };
  agent: AgentProcess;
  /** The agent's bearer token (its ServiceAccount's identity). */
  agentToken: string;
  /** Names of the cluster's namespaces now. */
  namespaces(): string[];
  stop(): Promise<void>;
}

/**
 * A Kubernetes environment of a stack: the in-process fake cluster, and the `nullops-agent-k8s`
 * program with exactly the rights the shipped base grants (the fake enforces RBAC from the stored
 * roles and bindings, and RBAC's escalation check on the bindings the agent makes).
 */
export async function startKubeNode(
  s: Stack,
  options: {
    fake?: Parameters<typeof startKubeFake>[0];
    env?: Record<string, string>;
    name?: string;
    ingressClass?: string;
  } = {},
): Promise<KubeNode> {
  const fake = await startKubeFake({
    metrics: true,
    crashBackoffMs: 300,
    imagePullBackoffMs: 300,
    ...options.fake,
  });
  applyAgentBase(fake);
  // Its rights are exactly what the base's bindings grant (and the RoleBindings it makes itself).
  const token = fake.addUser({ name: AGENT_USER, rules: [] });
  const dir = await tempDir('nullops-kubeconfig-');
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, fake.kubeconfig(token));
  const env = await s.admin.expect(201, 'POST', '/api/environments', {
    name: options.name ?? 'kube',
    baseDomain: 'nullops.test',
    runtime: 'kubernetes',
    defaultTtlSeconds: 3600,
    ...(options.ingressClass ? { ingressClass: options.ingressClass } : {}),
  });
  const { node, agent } = await registerLocalNode(s.admin, env.id, 'cluster', {
    program: 'kubernetes',
    env: {
      NULLOPS_AGENT_KUBECONFIG: kubeconfig,
      NULLOPS_AGENT_NAMESPACE: 'nullops-system',
      NULLOPS_AGENT_UNSCHEDULABLE_GRACE_SECONDS: '1',
      NULLOPS_AGENT_PULL_GRACE_SECONDS: '3',
      ...options.env,
    },
  });
  await agent.start();
  await waitNodeReady(s.admin, node.id);
  return {
    fake,
    env,
    node,
    agent,
    agentToken: token,
    namespaces: () => fake.store.list(resourceOfKind('Namespace')).map((n) => n.metadata.name as string),
    stop: async () => {
      await agent.kill();
      await fake.stop();
    },
  };
}
