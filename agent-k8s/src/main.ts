#!/usr/bin/env node
import { ConfigError, createLogger, forgetSecretVariables } from '@nullops/agent-host';
import { type K8sAgentConfig, k8sAgentConfigShape, loadK8sAgentConfig, startK8sAgent } from './k8s-agent.js';

async function main() {
  let config: K8sAgentConfig;
  try {
    config = loadK8sAgentConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`NullOps agent cannot start: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Only the hash is kept (by the host); nothing else in this process may read the token again.
  forgetSecretVariables(k8sAgentConfigShape);
  const logger = createLogger({ level: config.NULLOPS_LOG_LEVEL, name: 'nullops-agent-k8s' });
  const agent = await startK8sAgent({ config, logger });
  const stop = async (signal: string) => {
    logger.info({ signal }, 'agent stopping; deployments keep running');
    await agent.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`NullOps agent failed to start: ${(err as Error)?.message || String(err)}\n`);
  process.exit(1);
});
