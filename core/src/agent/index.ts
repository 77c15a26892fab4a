export { type AgentConfig, agentConfigShape, loadAgentConfig } from './agent-config.js';
export { type RunningAgent, startAgentHost } from './agent-host.js';
export { type AgentCertificate, loadOrCreateCertificate, thumbprintOf } from './certificate.js';
export { reconcile } from './reconciler.js';
export { type AgentState, StateStore } from './state-store.js';
