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
  id!: string;
  name!: string;
  description!: string | null;
  cpuMillicores!: number;
  memoryMb!: number;
  ttlSeconds!: number | null;
  createdAt!: Date;
  updatedAt!: Date;
}

export class PipelineVersion extends BaseModel {
  static override tableName = 'pipeline_versions';
  // jsonb columns: objection serialises these as JSON (a bare array would become a Postgres array).
  static override jsonAttributes = ['graph', 'plugins'];
  id!: string;
  projectId!: string;
  version!: number;
  graph!: unknown;
  plugins!: Record<string, string>;
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
