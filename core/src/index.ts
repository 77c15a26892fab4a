export * from './kernel/index.js';
export { createControlPlane, type ControlPlane } from './control-plane/control-plane.js';
export { loadControlPlaneConfig, type ControlPlaneConfig } from './control-plane/config.js';
export { createDatabase, migrateLatest, type Database } from './control-plane/database/database.js';
export { ensureFirstAdmin, loadSecretKeys } from './control-plane/bootstrap.js';
export { SecretBox, parseSecretKeys, SecretDecryptionError } from './control-plane/security/secret-box.js';
export { SecretService } from './control-plane/services/secret-service.js';
export { Refs } from './control-plane/refs.js';
