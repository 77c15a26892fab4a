/**
 * The HTTP API's shapes for typed clients (the web UI, embedding portals): inferred from the same
 * zod schemas that validate requests and generate `/api/openapi.json`, so a client cannot drift from
 * the server. Types only: importing this module loads nothing at run time.
 */
import type { z } from 'zod';
import type {
  ComposeImportReport as ImportReportSchema,
  ProjectView,
  ServiceView,
} from './control-plane/schemas/catalog.js';
import type {
  BackupView,
  DeploymentMetricsView,
  DeploymentView,
  HistoryItem,
  OperationView,
  ServiceTagsView,
} from './control-plane/schemas/deployment.js';
import type { EnvironmentView } from './control-plane/schemas/environment.js';
import type { AccessView, ApiTokenView, Me } from './control-plane/schemas/identity.js';

export type { DeploymentState } from './control-plane/models/fleet.js';
export type Deployment = z.output<typeof DeploymentView>;
export type DeploymentHistoryItem = z.output<typeof HistoryItem>;
export type DeploymentMetrics = z.output<typeof DeploymentMetricsView>;
export type ServiceTags = z.output<typeof ServiceTagsView>;
export type DeploymentOperation = z.output<typeof OperationView>;
export type DatabaseBackup = z.output<typeof BackupView>;
export type Project = z.output<typeof ProjectView>;
export type ComposeImportReport = z.output<typeof ImportReportSchema>;
export type Service = z.output<typeof ServiceView>;
export type Environment = z.output<typeof EnvironmentView>;
export type SignedIn = z.output<typeof Me>;
export type User = SignedIn['user'];
export type AccessLevels = z.output<typeof AccessView>;
export type ApiToken = z.output<typeof ApiTokenView>;
