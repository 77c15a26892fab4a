/**
 * The agent host shared by every runtime: the TLS WebSocket server the control plane dials, the
 * session, the state store, the deployment runner and pipeline executor, and the shared agent entry
 * (`runAgentMain`). It loads no control-plane code (no database, no password hashing): an agent
 * process holds only what an agent needs. The kernel (`@nullops/kernel`) and its plugin host
 * (`@nullops/kernel/plugins`), which the control plane shares, are re-exported here for the agents
 * built on this host.
 */
// tsyringe (ours, and @peculiar/x509's) needs the Reflect polyfill before anything imports it.
import 'reflect-metadata';

export * from '@nullops/kernel';
export * from '@nullops/kernel/plugins';
export { type AgentConfig, agentConfigShape, loadAgentConfig } from './agent/agent-config.js';
export { type AgentHostOptions, type RunningAgent, startAgentHost } from './agent/agent-host.js';
export { AgentIdentity } from './agent/agent-identity.js';
export { type AgentDeclaration, runAgentMain } from './agent/agent-main.js';
export { type AgentCertificate, loadOrCreateCertificate, thumbprintOf } from './agent/certificate.js';
export { DeploymentRunner } from './agent/deployment-runner.js';
export { type ExecuteOptions, type ExecuteResult, executePipeline } from './agent/pipeline/executor.js';
export { type AgentState, type LocalDeployment, StateStore } from './agent/state-store.js';
