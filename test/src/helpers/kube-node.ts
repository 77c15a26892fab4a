import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type KubeFake, type PolicyRule, startKubeFake } from '../kube-fake/index.js';
import { resourceOfKind } from '../kube-fake/resources.js';
import { type AgentProcess, registerLocalNode, tempDir, waitNodeReady } from './agent-process.js';
import type { Stack } from './stack.js';

/** The ServiceAccount the shipped manifests give the agent. */
export const AGENT_USER = 'system:serviceaccount:nullops-system:nullops-agent';

/** The rules the shipped manifest gives the agent: its ClusterRole's, and its Roles' in their namespace. */
export function manifestRules(): PolicyRule[] {
  const docs = parseAllDocuments(readFileSync(resolve('agent-k8s/deploy/nullops-agent.yaml'), 'utf8')).map(
    (d) => d.toJS(),
  );
  const role = docs.find((d) => d?.kind === 'ClusterRole' && d.metadata.name === 'nullops-agent');
  const namespaced = docs
    .filter((d) => d?.kind === 'Role')
    .flatMap((r) => r.rules.map((rule: PolicyRule) => ({ ...rule, namespace: r.metadata.namespace })));
  return [...role.rules, ...namespaced];
}

export interface KubeNode {
  fake: KubeFake;
  env: { id: string };
  node: { id: string };
  agent: AgentProcess;
  /** Names of the cluster's namespaces now. */
  namespaces(): string[];
  stop(): Promise<void>;
}

/**
 * A Kubernetes environment of a stack: the in-process fake cluster, and the `nullops-agent-k8s`
 * program with exactly the rights the shipped manifest grants (the fake enforces them).
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
  // The agent's own namespace, as the manifest makes it (its claim, a Lease, lives there).
  fake.api.create(
    { resource: resourceOfKind('Namespace') },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nullops-system' } },
    'kubectl',
  );
  const token = fake.addUser({ name: AGENT_USER, rules: manifestRules() });
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
    namespaces: () => fake.store.list(resourceOfKind('Namespace')).map((n) => n.metadata.name as string),
    stop: async () => {
      await agent.kill();
      await fake.stop();
    },
  };
}
