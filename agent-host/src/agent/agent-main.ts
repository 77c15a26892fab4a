import { ConfigError, createLogger, forgetSecretVariables, type Logger } from '@nullops/kernel';
import type { z } from 'zod';

/**
 * What an agent package declares besides its runtime: its name, its configuration and how it
 * starts the agent host on that runtime. The process around it (`runAgentMain`) is the same for all.
 */
export interface AgentDeclaration<C extends { NULLOPS_LOG_LEVEL: string }> {
  /** The logger's name: `nullops-agent`, `nullops-agent-k8s`. */
  name: string;
  loadConfig(): C;
  /** The configuration's shape: its secret-looking variables are removed from the environment. */
  configShape: z.ZodRawShape;
  start(options: { config: C; logger: Logger }): Promise<{ close(): Promise<void> }>;
}

/**
 * An agent's process, whatever its runtime: its configuration read (a bad one is exit 2, with
 * every problem named), its secret variables forgotten, the agent started (a failure is exit 1,
 * in words), and stopped on SIGINT or SIGTERM — leaving the deployments it runs running.
 */
export async function runAgentMain<C extends { NULLOPS_LOG_LEVEL: string }>(
  agent: AgentDeclaration<C>,
): Promise<void> {
  try {
    const config = agent.loadConfig();
    // Only the hash is kept (by the host); nothing else in this process may read the token again.
    forgetSecretVariables(agent.configShape);
    const logger = createLogger({ level: config.NULLOPS_LOG_LEVEL, name: agent.name });
    const running = await agent.start({ config, logger });
    const stop = async (signal: string) => {
      logger.info({ signal }, 'agent stopping; deployments keep running');
      await running.close();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`NullOps agent cannot start: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`NullOps agent failed to start: ${(err as Error)?.message || String(err)}\n`);
    process.exit(1);
  }
}
