export {
  type DockerAgentConfig,
  dockerAgent,
  dockerAgentConfigShape,
  dockerEngineUnreachable,
  loadDockerAgentConfig,
  startDockerAgent,
} from './docker-agent.js';
export { DockerRuntime, type DockerRuntimeOptions } from './runtime/docker-runtime.js';
export { type DockerRunReport, runOnDocker } from './testing.js';
export { AGENT_VERSION } from './version.js';
