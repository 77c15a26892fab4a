import type { Database } from '../database/database.js';
import type { AccessLevel } from '../models/identity.js';

export type AccessTarget = 'project' | 'environment';

/** Replaces every team assignment of a project or environment with `list`. */
export async function replaceTeamAccess(
  db: Database,
  target: AccessTarget,
  id: string,
  list: { teamId: string; access: AccessLevel }[],
): Promise<void> {
  const table = `${target}_team_access`;
  await db(table).where(`${target}Id`, id).delete();
  if (list.length)
    await db(table).insert(list.map((a) => ({ [`${target}Id`]: id, teamId: a.teamId, access: a.access })));
}

export async function teamAccessOf(db: Database, target: AccessTarget, id: string) {
  const rows: { teamId: string; teamName: string; access: AccessLevel }[] = await db(
    `${target}_team_access as a`,
  )
    .join('teams as t', 't.id', 'a.teamId')
    .where(`a.${target}Id`, id)
    .select('a.teamId', 't.name as teamName', 'a.access')
    .orderBy('t.name');
  return rows;
}
