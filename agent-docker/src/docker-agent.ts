import {
  agentConfigShape,
  bundledPluginsOf,
  loadConfig,
  type RunningAgent,
  startAgentHost,
} from '@nullops/agent-host';
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

/**
 * Starts a Docker agent: the shared agent host on a Docker runtime, with the first-party plugins
 * this package depends on. Fails with a plain message when the engine cannot be reached.
 */
export async function startDockerAgent(options: {
  config: DockerAgentConfig;
  logger: Logger;
  /** Only compatibility tests announce another protocol version. */
  protocolVersion?: number;
}): Promise<RunningAgent & { runtime: DockerRuntime }> {
  const { config } = options;
  const runtime = new DockerRuntime({ agentId: config.NULLOPS_AGENT_ID });
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
    logger: options.logger,
    agentVersion: AGENT_VERSION,
    bundledPlugins: bundledPluginsOf(import.meta.url),
    ...(options.protocolVersion ? { protocolVersion: options.protocolVersion } : {}),
  });
  return { ...agent, runtime };
}
