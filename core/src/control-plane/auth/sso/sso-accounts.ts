import { randomUUID } from 'node:crypto';
import type { AuditService } from '../../audit/audit-service.js';
import type { Database } from '../../database/database.js';
import { SsoGroupMapping, type SsoProvider, Team, User } from '../../models/identity.js';

/** A sign-in NullOps refuses, in words for the person signing in. */
export class SsoRefused extends Error {}

/** Who the provider says signed in, from the ID token's claims. */
export interface Identity {
  subject: string;
  username: string;
  displayName: string | null;
  groups: string[];
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The identity in an ID token's claims, by the provider's claim names. */
export function identityOf(provider: SsoProvider, claims: Record<string, unknown>): Identity {
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const raw = claims[provider.groupsClaim];
  const groups = Array.isArray(raw)
    ? raw.filter((g): g is string => typeof g === 'string')
    : text(raw)
      ? [raw as string]
      : [];
  const username = text(claims[provider.usernameClaim]) ?? text(claims.email) ?? String(claims.sub);
  if (!USERNAME.test(username))
    throw new SsoRefused(
      `your ${provider.usernameClaim} "${username.slice(0, 64)}" cannot be a NullOps user name (letters, digits, ., _ and -): ask an administrator to pick another claim`,
    );
  return {
    subject: String(claims.sub),
    username,
    displayName: text(claims.name) ?? null,
    groups,
  };
}

/**
 * Makes NullOps follow the provider at a sign-in: the account is made at first sign-in, its role
 * and the team memberships its groups map to are set, memberships of groups it lost are removed —
 * manual memberships (added by an administrator) are left alone — and the audit log says the
 * provider did it. Refused, in words, when none of the person's groups may use NullOps.
 */
export async function followProvider(
  db: Database,
  audit: AuditService,
  provider: SsoProvider,
  identity: Identity,
): Promise<User> {
  const mappings = (await SsoGroupMapping.query(db).where({ providerId: provider.id })).filter((m) =>
    identity.groups.includes(m.groupName),
  );
  if (!mappings.length)
    throw new SsoRefused(
      `your account is not in any group that may use NullOps: ask an administrator to map one of your groups${identity.groups.length ? ` (${identity.groups.slice(0, 5).join(', ')})` : ''}`,
    );
  const actor = { actorId: null, actorName: `sso:${provider.slug}`, outcome: 'success' as const };
  const role = mappings.some((m) => m.role === 'admin') ? 'admin' : 'user';
  let user = await User.query(db).findOne({ ssoProviderId: provider.id, ssoSubject: identity.subject });
  if (!user) {
    const clash = await User.query(db).whereRaw('lower(username) = lower(?)', [identity.username]).first();
    if (clash)
      throw new SsoRefused(
        `an account named "${identity.username}" already exists in NullOps and is not linked to ${provider.name}: ask an administrator to rename or remove it`,
      );
    user = await User.query(db).insertAndFetch({
      id: randomUUID(),
      username: identity.username,
      displayName: identity.displayName,
      role,
      passwordHash: null,
      ssoProviderId: provider.id,
      ssoSubject: identity.subject,
    });
    await audit.record(
      { ...actor, action: 'users.create', targetType: 'users', targetId: user.id, details: { role } },
      db,
    );
  }
  if (user.disabled) throw new SsoRefused('this account is disabled in NullOps; ask an administrator');
  if (user.role !== role) {
    await audit.record(
      {
        ...actor,
        action: 'users.update',
        targetType: 'users',
        targetId: user.id,
        details: { role, was: user.role },
      },
      db,
    );
  }
  user = await User.query(db).patchAndFetchById(user.id, {
    role,
    displayName: identity.displayName ?? user.displayName,
    lastLoginAt: new Date(),
    updatedAt: new Date(),
  });

  const wanted = new Set(mappings.flatMap((m) => (m.teamId ? [m.teamId] : [])));
  const rows: { teamId: string; origin: 'manual' | 'sso' }[] = await db('team_members')
    .where({ userId: user.id })
    .select('teamId', 'origin');
  const member = new Set(rows.map((r) => r.teamId));
  const teamNames = new Map(
    (await Team.query(db).whereIn('id', [...wanted, ...rows.map((r) => r.teamId)])).map((t) => [
      t.id,
      t.name,
    ]),
  );
  for (const teamId of wanted) {
    if (member.has(teamId)) continue;
    await db('team_members').insert({ teamId, userId: user.id, origin: 'sso' });
    await audit.record(
      {
        ...actor,
        action: 'teams.members.add',
        targetType: 'teams',
        targetId: teamId,
        details: { user: user.username, team: teamNames.get(teamId), groups: groupsFor(mappings, teamId) },
      },
      db,
    );
  }
  for (const row of rows) {
    if (row.origin !== 'sso' || wanted.has(row.teamId)) continue;
    await db('team_members').where({ teamId: row.teamId, userId: user.id }).delete();
    await audit.record(
      {
        ...actor,
        action: 'teams.members.remove',
        targetType: 'teams',
        targetId: row.teamId,
        details: {
          user: user.username,
          team: teamNames.get(row.teamId),
          reason: 'no longer in a group mapped to it',
        },
      },
      db,
    );
  }
  return user;
}

const groupsFor = (mappings: SsoGroupMapping[], teamId: string) =>
  mappings.filter((m) => m.teamId === teamId).map((m) => m.groupName);
