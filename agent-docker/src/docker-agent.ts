import {
  AgentIdentity,
  agentConfigShape,
  bundledPluginsOf,
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
  const runtime = new DockerRuntime({ owner: () => identity.require() });
  try {
    await runtime.capacity();
  } catch (err) {
    throw new Error(
      `cannot reach the Docker engine (${(err as Error).message}); is dockerd running and DOCKER_HOST right?`,
    );
  }
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
