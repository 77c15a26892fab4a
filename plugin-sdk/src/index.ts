/**
 * The NullOps plugin SDK: the versioned contract between hosts (control plane, agents) and
 * plugins. Plugins take `zod` from here (`z`) so their schemas match the host's.
 */
export { z } from 'zod';
export * from './component.js';
export * from './errors.js';
export * from './pipeline-graph.js';
export * from './plugin.js';
export * from './protocol.js';
export * from './references.js';
export * from './runtime.js';
export { SDK_VERSION } from './version.js';
