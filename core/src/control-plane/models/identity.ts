import { BaseModel } from './base-model.js';

export type Role = 'admin' | 'user';
export type AccessLevel = 'read' | 'full';

export class User extends BaseModel {
  static override tableName = 'users';
  id!: string;
  username!: string;
  displayName!: string | null;
  role!: Role;
  /** Null for an account made by single sign-on (it signs in only through its provider). */
  passwordHash!: string | null;
  disabled!: boolean;
  /** The provider that made this account at first sign-in, and who it is there (the ID token's `sub`). */
  ssoProviderId!: string | null;
  ssoSubject!: string | null;
  /** May sign in with a password even when password login is limited to break-glass administrators. */
  breakGlass!: boolean;
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
  /** A single-sign-on session: its provider, its refresh token (sealed), and when to ask the provider again. */
  ssoProviderId!: string | null;
  refreshTokenEnc!: string | null;
  refreshAt!: Date | null;
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

export type SsoRole = 'member' | 'admin';

/** An OpenID Connect provider people sign in through. */
export class SsoProvider extends BaseModel {
  static override tableName = 'sso_providers';
  id!: string;
  /** In its callback URL: /api/auth/sso/<slug>/callback. */
  slug!: string;
  name!: string;
  issuerUrl!: string;
  clientId!: string;
  clientSecretEnc!: string | null;
  scopes!: string;
  groupsClaim!: string;
  usernameClaim!: string;
  enabled!: boolean;
  /** Configured by NULLOPS_SSO_PROVIDERS: changed there, not in the UI. */
  managedByEnv!: boolean;
  createdAt!: Date;
  updatedAt!: Date;
}

/** A provider group → a team membership, or the administrator role. */
export class SsoGroupMapping extends BaseModel {
  static override tableName = 'sso_group_mappings';
  id!: string;
  providerId!: string;
  groupName!: string;
  teamId!: string | null;
  role!: SsoRole;
  createdAt!: Date;
}
