export * from './component.js';
export * from './errors.js';
export * from './protocol.js';
export * from './runtime.js';
export { SDK_VERSION } from './version.js';
