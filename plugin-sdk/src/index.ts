export * from './errors.js';
export { SDK_VERSION } from './version.js';
