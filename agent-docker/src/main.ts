#!/usr/bin/env node
import 'reflect-metadata';
import {
  agentConfigShape,
  ConfigError,
  createLogger,
  loadConfig,
  startAgentHost,
  stringVar,
} from '@nullops/core';
import { z } from 'zod';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { AGENT_VERSION } from './version.js';

async function main() {
  let config: ReturnType<typeof loadConfig<typeof shape>>;
  const shape = {
    ...agentConfigShape,
    /** Interface published service ports bind to (the ingress must reach it). */
    NULLOPS_AGENT_PUBLISH_HOST: stringVar('127.0.0.1'),
    /** Host name the ingress uses for published ports, when it differs from the publish host. */
    NULLOPS_AGENT_ADVERTISE_HOST: stringVar(''),
    /** Names this agent's resources; give each agent sharing one Docker engine its own. */
    NULLOPS_AGENT_ID: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be lowercase letters, digits, _ . -')
      .optional()
      .transform((v) => v ?? 'default'),
  };
  try {
    config = loadConfig(shape);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`NullOps agent cannot start: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Only the hash is kept (by the host); nothing else in this process may read the token again.
  delete process.env.NULLOPS_AGENT_TOKEN;
  const logger = createLogger({ level: config.NULLOPS_LOG_LEVEL, name: 'nullops-agent' });
  const runtime = new DockerRuntime({
    publishHost: config.NULLOPS_AGENT_PUBLISH_HOST,
    agentId: config.NULLOPS_AGENT_ID,
    ...(config.NULLOPS_AGENT_ADVERTISE_HOST ? { advertiseHost: config.NULLOPS_AGENT_ADVERTISE_HOST } : {}),
  });
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
    logger,
    agentVersion: AGENT_VERSION,
  });
  const stop = async (signal: string) => {
    logger.info({ signal }, 'agent stopping; services keep running');
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
