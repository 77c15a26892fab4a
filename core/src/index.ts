// tsyringe (ours, and @peculiar/x509's) needs the Reflect polyfill before anything imports it.
import 'reflect-metadata';

export * from '@nullops/kernel';
export { dialAgent, UnprovenAgentError } from './control-plane/agents/agent-dialer.js';
export { BackupStore } from './control-plane/backups/backup-store.js';
export { ensureFirstAdmin, loadSecretKeys } from './control-plane/bootstrap.js';
export { ClusterBus } from './control-plane/cluster/cluster-bus.js';
export { Replicas } from './control-plane/cluster/replicas.js';
export { type ControlPlaneConfig, loadControlPlaneConfig } from './control-plane/config.js';
export {
  CONTROL_PLANE_SERVICES,
  type ControlPlane,
  createControlPlane,
} from './control-plane/control-plane.js';
export { createDatabase, type Database, migrateLatest } from './control-plane/database/database.js';
export { DeploymentCommands } from './control-plane/deployments/commands.js';
export { LIFECYCLE, nextState } from './control-plane/deployments/lifecycle.js';
export { environmentCapacity, placeDeployment } from './control-plane/deployments/placement.js';
export { Sweeper } from './control-plane/deployments/sweeper.js';
export * from './control-plane/http/mount-routes.js';
export * from './control-plane/http/openapi.js';
export * from './control-plane/http/route.js';
export { CaddyDriver } from './control-plane/ingress/caddy-driver.js';
export { IngressService } from './control-plane/ingress/ingress-service.js';
export { type LocalNodeCredentials, localNodeCredentials } from './control-plane/local-node.js';
export { Outbox } from './control-plane/outbox/outbox.js';
export { PluginService } from './control-plane/plugins/plugin-service.js';
export { type LocalAgentStarter, runControlPlaneProcess } from './control-plane/process.js';
export { Refs } from './control-plane/refs.js';
export { RegistryClient } from './control-plane/registry/registry-client.js';
export { defaultTag, selectTags, sortTags } from './control-plane/registry/tag-order.js';
export { parseSecretKeys, SecretBox, SecretDecryptionError } from './control-plane/security/secret-box.js';
export { SecretService } from './control-plane/services/secret-service.js';
