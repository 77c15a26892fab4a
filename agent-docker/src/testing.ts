import { randomUUID } from 'node:crypto';
import { executePipeline } from '@nullops/agent-host';
import type { ComponentDefinition, PipelineRun } from '@nullops/plugin-sdk';
import { DockerRuntime } from './runtime/docker-runtime.js';

/** What `runOnDocker` reports: the outcome, every step event as a line, and how to clean up. */
export interface DockerRunReport {
  result: Awaited<ReturnType<typeof executePipeline>>;
  /** `<node> <status> <message>` for every step event, in order (log lines included). */
  lines: string[];
  deploymentId: string;
  runtime: DockerRuntime;
  /** Removes everything the run left (containers, network, volumes); call it in a teardown. */
  cleanup(): Promise<void>;
}

/**
 * Runs pipeline nodes with the given components exactly as a Docker agent does — the agent's
 * executor on a real Docker engine — for plugin tests. Nodes need no `version`/`plugin` fields.
 */
export async function runOnDocker(input: {
  components: readonly ComponentDefinition[];
  nodes: { id: string; type: string; params: Record<string, unknown> }[];
  edges?: { from: string; to: string }[];
  signal?: AbortSignal;
  /** Runs in the deployment of an earlier report (its network, its services) instead of a new one. */
  in?: Pick<DockerRunReport, 'deploymentId' | 'runtime'>;
}): Promise<DockerRunReport> {
  // A node of its own per run: nothing else on the engine is listed or touched.
  const runtime =
    input.in?.runtime ?? new DockerRuntime({ owner: { installationId: randomUUID(), nodeId: randomUUID() } });
  const deploymentId = input.in?.deploymentId ?? randomUUID();
  const lines: string[] = [];
  const run: PipelineRun = {
    pipelineVersion: 1,
    nodes: input.nodes.map((n) => ({ ...n, version: 1 })),
    edges: input.edges ?? [],
    registryAuth: [],
    plugins: [],
  };
  const result = await executePipeline({
    run,
    deployment: { id: deploymentId, name: 'plugin-test' },
    runtime,
    components: new Map(
      input.components.flatMap((c) => [c.type, ...(c.aliases ?? [])].map((t) => [t, c] as const)),
    ),
    signal: input.signal ?? new AbortController().signal,
    onStep: (node, status, message) => lines.push(`${node} ${status}${message ? ` ${message}` : ''}`),
  });
  return { result, lines, deploymentId, runtime, cleanup: () => runtime.removeDeployment(deploymentId) };
}
