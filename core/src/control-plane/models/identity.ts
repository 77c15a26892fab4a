import { BaseModel } from './base-model.js';

export type Role = 'admin' | 'user';
export type AccessLevel = 'read' | 'full';

export class User extends BaseModel {
  static override tableName = 'users';
  id!: string;
  username!: string;
  displayName!: string | null;
  role!: Role;
  passwordHash!: string;
  disabled!: boolean;
  lastLoginAt!: Date | null;
  /** Their quota (null: none): live deployments they created, and the CPU and memory those reserve. */
  quotaDeployments!: number | null;
  quotaCpuMillicores!: number | null;
  quotaMemoryMb!: number | null;
  createdAt!: Date;
  updatedAt!: Date;
}

export class Session extends BaseModel {
  static override tableName = 'sessions';
  id!: string;
  userId!: string;
  tokenHash!: string;
  csrfToken!: string;
  ip!: string | null;
  userAgent!: string | null;
  createdAt!: Date;
  lastSeenAt!: Date;
  expiresAt!: Date;
}

export class ApiToken extends BaseModel {
  static override tableName = 'api_tokens';
  id!: string;
  userId!: string;
  name!: string;
  tokenHash!: string;
  prefix!: string;
  createdAt!: Date;
  lastUsedAt!: Date | null;
  expiresAt!: Date | null;
  revokedAt!: Date | null;
  /** `read`: safe methods only. */
  access!: AccessLevel;
  /** When set, the token reaches only these projects (and their deployments). */
  projectIds!: string[] | null;
}

export class Team extends BaseModel {
  static override tableName = 'teams';
  id!: string;
  name!: string;
  description!: string | null;
  createdAt!: Date;
  updatedAt!: Date;
}
