export { DockerRuntime, type DockerRuntimeOptions } from './runtime/docker-runtime.js';
export { type DockerRunReport, runOnDocker } from './testing.js';
export { AGENT_VERSION } from './version.js';
