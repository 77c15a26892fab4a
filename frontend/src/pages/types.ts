/** API shapes the pages use, inferred from the server's own route schemas (see core/src/api-types.ts). */
export type {
  ApiToken,
  ComposeImportReport,
  DatabaseBackup,
  Deployment,
  DeploymentHistoryItem,
  DeploymentMetrics,
  DeploymentOperation,
  Environment,
  Project,
  ServiceTags,
} from '@nullops/core/api-types';
