import {
  type AgentDeclaration,
  AgentIdentity,
  agentConfigShape,
  bundledPluginsOf,
  enumVar,
  loadConfig,
  type RunningAgent,
  startAgentHost,
} from '@nullops/agent-host';
import Docker from 'dockerode';
import type { Logger } from 'pino';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { AGENT_VERSION } from './version.js';

/** The Docker agent's environment variables (services publish no ports: the edge reaches them). */
export const dockerAgentConfigShape = {
  ...agentConfigShape,
  /**
   * Keep deployment containers off this host's own ports (an INPUT rule per deployment bridge):
   * `auto` where the agent can change the host firewall, `required` to refuse deployments where it
   * cannot, `off`.
   */
  NULLOPS_HOST_ISOLATION: enumVar(['auto', 'required', 'off'], 'auto'),
};

export type DockerAgentConfig = ReturnType<typeof loadConfig<typeof dockerAgentConfigShape>>;

export function loadDockerAgentConfig(env: NodeJS.ProcessEnv = process.env): DockerAgentConfig {
  return loadConfig(dockerAgentConfigShape, env);
}

/** Why the Docker engine (DOCKER_HOST, or the local socket) cannot be reached; undefined when it answers. */
export async function dockerEngineUnreachable(): Promise<string | undefined> {
  try {
    await new Docker().info();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Starts a Docker agent: the shared agent host on a Docker runtime, with the first-party plugins
 * this package depends on. Fails with a plain message when the engine cannot be reached.
 */
export async function startDockerAgent(options: {
  config: DockerAgentConfig;
  logger: Logger;
  /** Only compatibility tests announce another protocol version. */
  protocolVersion?: number;
  /** Whose agent this is, when known before the control plane connects (the embedded agent). */
  identity?: AgentIdentity;
  onFatal?: (message: string) => void;
}): Promise<RunningAgent & { runtime: DockerRuntime }> {
  const { config } = options;
  const identity = options.identity ?? new AgentIdentity();
  const runtime = new DockerRuntime({
    owner: () => identity.require(),
    hostIsolation: config.NULLOPS_HOST_ISOLATION,
  });
  try {
    await runtime.capacity();
  } catch (err) {
    throw new Error(
      `cannot reach the Docker engine (${(err as Error).message}); is dockerd running and DOCKER_HOST right?`,
    );
  }
  const isolationOff = await runtime.firewall.unavailable();
  if (isolationOff)
    options.logger.warn(
      { reason: isolationOff, mode: config.NULLOPS_HOST_ISOLATION },
      "deployments can reach this host's own ports: bind the control plane and ingress to 127.0.0.1, or let the agent change the host firewall (README: Container reach)",
    );
  const agent = await startAgentHost({
    config,
    runtime,
    identity,
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    logger: options.logger,
    agentVersion: AGENT_VERSION,
    bundledPlugins: bundledPluginsOf(import.meta.url),
    ...(options.protocolVersion ? { protocolVersion: options.protocolVersion } : {}),
  });
  return { ...agent, runtime };
}

/** This package as an agent: the shared agent process (`runAgentMain`) runs it. */
export const dockerAgent: AgentDeclaration<DockerAgentConfig> = {
  name: 'nullops-agent',
  loadConfig: () => loadDockerAgentConfig(),
  configShape: dockerAgentConfigShape,
  start: startDockerAgent,
};
