import { randomUUID } from 'node:crypto';
import type { Database } from '../database/database.js';
import { Team, User } from '../models/identity.js';
import { findOr404 } from './records.js';

/**
 * Teams and their members (what team routes and the UI's team pages do). Access is assigned on
 * projects and environments; a team's detail lists where it has some.
 */

export function listTeams(db: Database): Promise<(Team & { memberCount: number })[]> {
  return Team.query(db)
    .select(
      'teams.*',
      db.raw('(select count(*)::int from team_members m where m.team_id = teams.id) as member_count'),
    )
    .orderBy('name') as never;
}

export function createTeam(db: Database, input: { name: string; description?: string | null | undefined }) {
  return Team.query(db).insertAndFetch({
    id: randomUUID(),
    name: input.name,
    description: input.description ?? null,
  });
}

/** A team with its members and the projects and environments it has access to. */
export async function teamDetail(db: Database, teamId: string) {
  const team = await findOr404(Team, db, teamId, 'team');
  const [members, projects, environments] = await Promise.all([
    User.query(db)
      .join('team_members as m', 'm.userId', 'users.id')
      .where('m.teamId', team.id)
      .select('users.*')
      .orderBy('username'),
    db('project_team_access as a')
      .join('projects as p', 'p.id', 'a.projectId')
      .where('a.teamId', team.id)
      .select('p.id', 'p.name', 'a.access')
      .orderBy('p.name') as Promise<{ id: string; name: string; access: 'read' | 'full' }[]>,
    db('environment_team_access as a')
      .join('environments as e', 'e.id', 'a.environmentId')
      .where('a.teamId', team.id)
      .select('e.id', 'e.name', 'a.access')
      .orderBy('e.name') as Promise<{ id: string; name: string; access: 'read' | 'full' }[]>,
  ]);
  return { team, members, projects, environments };
}

export async function updateTeam(
  db: Database,
  teamId: string,
  patch: { name?: string | undefined; description?: string | null | undefined },
) {
  await findOr404(Team, db, teamId, 'team');
  return Team.query(db).patchAndFetchById(teamId, { ...patch, updatedAt: new Date() });
}

export async function deleteTeam(db: Database, teamId: string): Promise<void> {
  await findOr404(Team, db, teamId, 'team');
  await Team.query(db).deleteById(teamId);
}

/** Adds a user to a team; adding one who is a member already changes nothing. */
export async function addMember(db: Database, teamId: string, userId: string): Promise<void> {
  await findOr404(Team, db, teamId, 'team');
  await findOr404(User, db, userId, 'user');
  // Manual: it stays whatever the user's single sign-on groups say (one the provider gave becomes manual).
  await db('team_members')
    .insert({ teamId, userId, origin: 'manual' })
    .onConflict(['team_id', 'user_id'])
    .merge({ origin: 'manual' });
}

export async function removeMember(db: Database, teamId: string, userId: string): Promise<void> {
  await findOr404(Team, db, teamId, 'team');
  await db('team_members').where({ teamId, userId }).delete();
}
