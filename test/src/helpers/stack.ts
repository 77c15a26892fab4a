import { rm } from 'node:fs/promises';
import { AgentProcess, registerLocalNode, waitNodeReady } from './agent-process.js';
import type { ApiClient } from './api-client.js';
import { deploymentReaches } from './deployment-state.js';
import { docker, removeLabelled } from './docker.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { startTestControlPlane, type TestControlPlane } from './test-control-plane.js';
import { DEADLINE_MS } from './time.js';

/** The password of every user `startStack` creates. */
export const STACK_PASSWORD = 'a-long-enough-password';

/** A whole NullOps on this machine: control plane, a container registry, one Docker agent, a project. */
export interface Stack {
  cp: TestControlPlane;
  admin: ApiClient;
  registry: TestRegistry;
  agent: AgentProcess;
  env: { id: string; name: string };
  project: { id: string };
  node: { id: string };
  ingressPort: number;
  /** Saves a pipeline version; returns it. */
  savePipeline(graph: unknown): Promise<{ version: number; plugins: Record<string, string> }>;
  /**
   * Another project with the stack's services (all, or those named), a budget, and a first
   * pipeline version if given: for a test that must not change the stack's own project.
   */
  addProject(
    name: string,
    options?: { graph?: unknown; services?: string[]; cpuMillicores?: number; memoryMb?: number },
  ): Promise<{ id: string; name: string }>;
  /** Creates a deployment as admin; returns its id. */
  deploy(name: string, tags?: Record<string, string>): Promise<string>;
  get(id: string): Promise<any>;
  /** Waits for a state; a different terminal state fails fast with the deployment's error. */
  until(id: string, state: string, timeoutMs?: number): Promise<any>;
  host(service: string, deployment: string): string;
  stop(): Promise<void>;
}

/**
 * Starts the stack with one project whose services are `images` in the registry (pushed by the
 * caller through `registry` in `prepare`).
 */
export async function startStack(options: {
  prepare(registry: TestRegistry): void;
  /** Pinned to `tag`, or selectable from the registry's tags matching `pattern`. */
  services: (
    | { name: string; image: string; tag: string }
    | { name: string; image: string; pattern: string }
  )[];
  /** Users with a team of their own holding this access to the project. */
  users?: { name: string; access: 'read' | 'full' }[];
  /** Extra control-plane environment. */
  env?: Record<string, string>;
  /** How the agent runs (see registerLocalNode). */
  agent?: Parameters<typeof registerLocalNode>[3];
}): Promise<Stack> {
  // What started is stopped again when a later step fails: a half-started stack left running
  // would keep the test's worker alive until the suite's timeout.
  const started: (() => Promise<unknown>)[] = [];
  try {
    return await assembleStack(options, started);
  } catch (err) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw err;
  }
}

async function assembleStack(
  options: Parameters<typeof startStack>[0],
  started: (() => Promise<unknown>)[],
): Promise<Stack> {
  const registry = await startRegistry();
  started.push(() => registry.stop());
  options.prepare(registry);
  const cp = await startTestControlPlane({
    NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
    NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
    ...options.env,
  });
  started.push(() => cp.close());
  const { admin } = cp;
  const reg = await admin.expect(201, 'POST', '/api/registries', { name: 'local', url: registry.url });
  const serviceIds: string[] = [];
  for (const s of options.services) {
    const created = await admin.expect(201, 'POST', '/api/services', {
      name: s.name,
      registryId: reg.id,
      image: s.image,
      ...('tag' in s ? { tagMode: 'pinned', tag: s.tag } : { tagMode: 'selectable', tagPattern: s.pattern }),
    });
    serviceIds.push(created.id);
  }
  const teams: { teamId: string; access: 'read' | 'full' }[] = [];
  for (const user of options.users ?? []) {
    const created = await admin.expect(201, 'POST', '/api/users', {
      username: user.name,
      password: STACK_PASSWORD,
    });
    const team = await admin.expect(201, 'POST', '/api/teams', { name: `${user.name}-team` });
    await admin.expect(204, 'PUT', `/api/teams/${team.id}/members/${created.id}`);
    teams.push({ teamId: team.id, access: user.access });
  }
  // Placement counts measured host CPU too: a small budget keeps the tests independent of load.
  const project = await admin.expect(201, 'POST', '/api/projects', {
    name: 'plugins',
    cpuMillicores: 100,
    memoryMb: 512,
    serviceIds,
    teams,
  });
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  const { node, dataDir, agent } = await registerLocalNode(admin, env.id, 'node-1', options.agent);
  started.push(async () => {
    await agent.kill();
    await rm(dataDir, { recursive: true, force: true });
  });
  await agent.start();
  await waitNodeReady(admin, node.id);
  const { IngressService } = await import('@nullops/core');
  const ingressPort = (cp.cp.container.resolve(IngressService) as { port: number }).port;
  const get = async (id: string) => (await admin.get(`/api/deployments/${id}`)).body;
  return {
    cp,
    admin,
    registry,
    agent,
    env,
    project,
    node,
    ingressPort,
    savePipeline: (graph) =>
      admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, { graph }),
    async addProject(name, { graph, services, cpuMillicores = 100, memoryMb = 512 } = {}) {
      const added = await admin.expect(201, 'POST', '/api/projects', {
        name,
        cpuMillicores,
        memoryMb,
        serviceIds: serviceIds.filter(
          (_, i) => !services || services.includes(options.services[i]?.name ?? ''),
        ),
      });
      if (graph) await admin.expect(201, 'POST', `/api/projects/${added.id}/pipeline/versions`, { graph });
      return added;
    },
    async deploy(name, tags = {}) {
      const created = await admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
        environmentId: env.id,
        name,
        tags,
      });
      return created.id as string;
    },
    get,
    until(id, state, timeoutMs = DEADLINE_MS) {
      return deploymentReaches(admin, id, state, { timeoutMs, settled: ['running'] });
    },
    host: (service, deployment) => `${service}.${deployment}.qa.nullops.test`,
    async stop() {
      const ids = (await cp.database.db('deployments').select('id')).map((r: { id: string }) => r.id);
      // The control plane first: a killed agent would otherwise trigger offline handling mid-close.
      await cp.close();
      await agent.kill();
      await registry.stop();
      await rm(dataDir, { recursive: true, force: true });
      await removeLabelled(docker, ids);
    },
  };
}
