import { BaseModel } from './base-model.js';

export class ContainerRegistry extends BaseModel {
  static override tableName = 'container_registries';
  id!: string;
  name!: string;
  url!: string;
  username!: string | null;
  passwordEnc!: string | null;
  builtin!: boolean;
  createdAt!: Date;
  updatedAt!: Date;
}

export type TagMode = 'pinned' | 'selectable';

export class Service extends BaseModel {
  static override tableName = 'services';
  id!: string;
  name!: string;
  description!: string | null;
  registryId!: string;
  image!: string;
  tagMode!: TagMode;
  tag!: string | null;
  tagPattern!: string | null;
  createdAt!: Date;
  updatedAt!: Date;
}

export class Project extends BaseModel {
  static override tableName = 'projects';
  static override jsonAttributes = ['egressAllow'];
  id!: string;
  name!: string;
  description!: string | null;
  cpuMillicores!: number;
  memoryMb!: number;
  ttlSeconds!: number | null;
  /** How many backups the project keeps, and for how many days (also after their deployment). */
  backupLimit!: number;
  backupRetentionDays!: number;
  /** How strictly its services' containers are confined, unless a pipeline node says otherwise. */
  securityProfile!: 'baseline' | 'restricted';
  /** Networks (CIDRs) its deployments may reach besides the internet (Kubernetes egress policy). */
  egressAllow!: string[];
  /** Its quota (null: none): live deployments, and the CPU and memory they reserve together. */
  quotaDeployments!: number | null;
  quotaCpuMillicores!: number | null;
  quotaMemoryMb!: number | null;
  createdAt!: Date;
  updatedAt!: Date;
}

export class PipelineVersion extends BaseModel {
  static override tableName = 'pipeline_versions';
  // jsonb columns: objection serialises these as JSON (a bare array would become a Postgres array).
  static override jsonAttributes = ['graph', 'plugins', 'components'];
  id!: string;
  projectId!: string;
  version!: number;
  graph!: unknown;
  plugins!: Record<string, string>;
  components!: Record<string, PinnedRelease>;
  comment!: string | null;
  createdBy!: string | null;
  createdAt!: Date;
}

export class Secret extends BaseModel {
  static override tableName = 'secrets';
  id!: string;
  name!: string;
  description!: string | null;
  valueEnc!: string;
  createdBy!: string | null;
  createdAt!: Date;
  updatedAt!: Date;
}

/** The plugin release a pipeline version uses for one component type. */
export interface PinnedRelease {
  name: string;
  version: string;
  source: 'bundled' | 'registry';
  integrity?: string;
}

/** A plugin installed from an npm registry (first-party plugins are bundled and not stored). */
export class Plugin extends BaseModel {
  static override tableName = 'plugins';
  static override jsonAttributes = ['settings'];
  id!: string;
  name!: string;
  range!: string;
  version!: string;
  integrity!: string;
  registryUrl!: string;
  registryTokenEnc!: string | null;
  settings!: Record<string, unknown>;
  createdBy!: string | null;
  createdAt!: Date;
  updatedAt!: Date;
}

/** How one host has one plugin release. */
export class PluginStatusRow extends BaseModel {
  static override tableName = 'plugin_statuses';
  static override idColumn = ['host', 'pluginName', 'version'];
  static override jsonAttributes = ['components'];
  host!: string;
  pluginName!: string;
  version!: string;
  status!: 'loaded' | 'failed';
  error!: string | null;
  components!: string[];
  updatedAt!: Date;
}
