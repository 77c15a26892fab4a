/**
 * The agent host shared by every runtime: the TLS WebSocket server the control plane dials, the
 * session, the state store, the deployment runner and pipeline executor, and the plugin host for
 * components. It loads no control-plane code (no database, no password hashing): an agent process
 * holds only what an agent needs. The plugin host is also importable on its own
 * (`@nullops/agent-host/plugins`), which is how the control plane shares it; the kernel is its own
 * package (`@nullops/kernel`), re-exported here for the agents built on this host.
 */
// tsyringe (ours, and @peculiar/x509's) needs the Reflect polyfill before anything imports it.
import 'reflect-metadata';

export * from '@nullops/kernel';
export { type AgentConfig, agentConfigShape, loadAgentConfig } from './agent/agent-config.js';
export { type AgentHostOptions, type RunningAgent, startAgentHost } from './agent/agent-host.js';
export { AgentIdentity } from './agent/agent-identity.js';
export { runAgentMain } from './agent/agent-main.js';
export { type AgentCertificate, loadOrCreateCertificate, thumbprintOf } from './agent/certificate.js';
export { DeploymentRunner } from './agent/deployment-runner.js';
export { type ExecuteOptions, type ExecuteResult, executePipeline } from './agent/pipeline/executor.js';
export { type AgentState, type LocalDeployment, StateStore } from './agent/state-store.js';
export * from './plugins/index.js';
