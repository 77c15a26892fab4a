import { enumVar, intVar, loadConfig, stringVar } from '@nullops/kernel';
import { z } from 'zod';

/** Environment variables every agent reads; the runtime packages add their own. */
export const agentConfigShape = {
  NULLOPS_AGENT_PORT: intVar(5000, 1, 65535),
  NULLOPS_AGENT_LISTEN_HOST: stringVar('0.0.0.0'),
  NULLOPS_AGENT_TOKEN: z
    .string({ error: 'is required: the token the control plane showed when the node was added' })
    .min(16, 'must be the full token shown by the control plane'),
  NULLOPS_AGENT_DATA_DIR: stringVar('./.nullops-agent'),
  NULLOPS_AGENT_HEARTBEAT_SECONDS: intVar(5, 1, 300),
  /**
   * How often running services' health checks run (and, on runtimes without engine events, how
   * often they are inspected); crashes and restarts are reported at once from the engine's events.
   */
  NULLOPS_AGENT_HEALTH_SECONDS: intVar(10, 1, 3600),
  /** Silence from the control plane (no message, no pong) after which its connection is dropped. */
  NULLOPS_AGENT_LIVENESS_TIMEOUT_MS: intVar(15_000, 300, 600_000),
  NULLOPS_AGENT_MAX_FRAME_BYTES: intVar(1024 * 1024, 1024, 64 * 1024 * 1024),
  /**
   * How often the agent restores every live deployment to its spec besides what the runtime's
   * events tell it at once (a missed event, a namespace deleted without one).
   */
  NULLOPS_AGENT_RECONCILE_SECONDS: intVar(30, 1, 3600),
  NULLOPS_LOG_LEVEL: enumVar(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
};

export type AgentConfig = ReturnType<typeof loadAgentConfig>;

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(agentConfigShape, env);
}
