export { type AgentConfig, agentConfigShape, loadAgentConfig } from './agent-config.js';
export { type RunningAgent, startAgentHost } from './agent-host.js';
export { type AgentCertificate, loadOrCreateCertificate, thumbprintOf } from './certificate.js';
export { DeploymentRunner } from './deployment-runner.js';
export { executePipeline } from './pipeline/executor.js';
export { type AgentState, type LocalDeployment, StateStore } from './state-store.js';
