#!/usr/bin/env node
// `npm start`: the one-machine default — the control plane, and a Docker agent in the same
// process when a Docker engine is reachable. The control plane's own package names no runtime;
// this entry is where the two meet.
import 'reflect-metadata';
import { dockerEngineUnreachable, loadDockerAgentConfig, startDockerAgent } from '@nullops/agent-docker';
import { AgentIdentity, type RunningAgent } from '@nullops/agent-host';
import { type LocalAgentStarter, localNodeCredentials, runControlPlaneProcess } from '@nullops/core';

/**
 * The local Docker agent: a normal node (`local` in environment `local`) with TLS, token, pinning
 * and reconcile. Off with NULLOPS_EMBEDDED_AGENT=off, with an agent of its own configured
 * (NULLOPS_AGENT_ADDRESS), without a Docker engine, or once an admin deleted its node.
 */
const startLocalDockerAgent: LocalAgentStarter = async (deps) => {
  const logger = deps.logger.child({ component: 'embedded-agent' });
  if (deps.config.NULLOPS_EMBEDDED_AGENT === 'off') return undefined;
  // Node `local` is then that agent's: a second agent here would take its node and its token.
  if (deps.config.NULLOPS_AGENT_ADDRESS) {
    logger.info(
      { address: deps.config.NULLOPS_AGENT_ADDRESS },
      'an agent of its own is configured (NULLOPS_AGENT_ADDRESS): not starting the local agent',
    );
    return undefined;
  }
  const unreachable = await dockerEngineUnreachable();
  if (unreachable) {
    logger.info({ reason: unreachable }, 'no Docker engine reachable: starting without a local agent');
    return undefined;
  }
  const node = await localNodeCredentials({ ...deps, logger });
  if (!node) return undefined;
  let agent: RunningAgent | undefined;
  try {
    agent = await startDockerAgent({
      config: loadDockerAgentConfig({
        NULLOPS_AGENT_TOKEN: node.token,
        NULLOPS_AGENT_PORT: String(node.port),
        NULLOPS_AGENT_LISTEN_HOST: '127.0.0.1',
        NULLOPS_AGENT_DATA_DIR: node.dataDir,
        NULLOPS_HOST_ISOLATION: deps.config.NULLOPS_HOST_ISOLATION,
      }),
      identity: new AgentIdentity(node.owner),
      logger,
      // Another agent process holds this node's resources: this control plane runs on without it.
      onFatal: (message) => {
        logger.error({ reason: message }, 'the local agent stops');
        void agent?.close();
      },
    });
  } catch (err) {
    logger.error(
      { reason: (err as Error).message },
      'the local agent cannot start; NullOps runs on without it',
    );
    return undefined;
  }
  return agent;
};

runControlPlaneProcess({ localAgent: startLocalDockerAgent }).catch((err) => {
  process.stderr.write(`NullOps failed to start: ${(err as Error)?.message || String(err)}\n`);
  process.exit(1);
});
