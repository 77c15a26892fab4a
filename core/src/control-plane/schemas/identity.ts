import { z } from 'zod';
import type { ApiToken, Team, User } from '../models/identity.js';
import { displayText, iso, QuotaView, quotaView, timestamp, uuid } from './common.js';

export const username = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'may hold letters, digits, ., _ and -, starting with a letter or digit',
  );

export const password = z
  .string()
  .min(12, 'must be at least 12 characters')
  .max(256, 'must be at most 256 characters');

export const role = z.enum(['admin', 'user'], { error: 'must be admin or user' });
export const accessLevel = z.enum(['read', 'full'], { error: 'must be read or full' });

export const UserView = z.object({
  id: uuid,
  username: z.string(),
  displayName: z.string().nullable(),
  role,
  disabled: z.boolean(),
  lastLoginAt: timestamp.nullable(),
  ssoProviderId: uuid
    .nullable()
    .describe('the single sign-on provider that made this account (it has no password)'),
  breakGlass: z.boolean().describe('may sign in with a password when password login is limited'),
  quota: QuotaView,
  createdAt: timestamp,
});

export function userView(u: User): z.infer<typeof UserView> {
  return {
    id: u.id,
    username: u.username,
    displayName: u.displayName,
    role: u.role,
    disabled: u.disabled,
    lastLoginAt: iso(u.lastLoginAt),
    ssoProviderId: u.ssoProviderId ?? null,
    breakGlass: Boolean(u.breakGlass),
    quota: quotaView(u),
    createdAt: iso(u.createdAt) as string,
  };
}

export const TeamView = z.object({
  id: uuid,
  name: z.string(),
  description: z.string().nullable(),
  createdAt: timestamp,
});

export function teamView(t: Team): z.infer<typeof TeamView> {
  return { id: t.id, name: t.name, description: t.description, createdAt: iso(t.createdAt) as string };
}

export const teamName = displayText(100).min(1, 'must not be empty');

export const ApiTokenView = z.object({
  id: uuid,
  name: z.string(),
  prefix: z.string().describe('first characters of the token, to recognise it'),
  createdAt: timestamp,
  lastUsedAt: timestamp.nullable(),
  expiresAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
  access: accessLevel,
  projectIds: z.array(uuid).nullable(),
});

export function apiTokenView(t: ApiToken): z.infer<typeof ApiTokenView> {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    createdAt: iso(t.createdAt) as string,
    lastUsedAt: iso(t.lastUsedAt),
    expiresAt: iso(t.expiresAt),
    revokedAt: iso(t.revokedAt),
    access: t.access,
    projectIds: t.projectIds,
  };
}

/** The signed-in caller. */
export const Me = z.object({
  user: UserView,
  csrfToken: z.string().nullable().describe('send as X-CSRF-Token on cookie-authenticated mutations'),
  authenticatedVia: z.enum(['session', 'token']),
});

/** The caller's access level on every project and environment it can see. */
export const AccessView = z.object({
  admin: z.boolean(),
  projects: z.record(z.string(), accessLevel),
  environments: z.record(z.string(), accessLevel),
});
