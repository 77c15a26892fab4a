export { DockerRuntime, type DockerRuntimeOptions } from './runtime/docker-runtime.js';
