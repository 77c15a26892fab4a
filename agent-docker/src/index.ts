export { DockerRuntime, type DockerRuntimeOptions } from './runtime/docker-runtime.js';
export { AGENT_VERSION } from './version.js';
