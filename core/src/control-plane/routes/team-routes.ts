import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import type { Database } from '../database/database.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { Team, User } from '../models/identity.js';
import { displayText, idParam, uuid } from '../schemas/common.js';
import { accessLevel, TeamView, teamName, teamView, UserView, userView } from '../schemas/identity.js';
import { findOr404 } from './find.js';

const Assignment = z.object({ id: uuid, name: z.string(), access: accessLevel });
const TeamDetail = TeamView.extend({
  members: z.array(UserView),
  projects: z.array(Assignment),
  environments: z.array(Assignment),
});

async function teamDetail(db: Database, team: Team): Promise<z.infer<typeof TeamDetail>> {
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
      .orderBy('p.name'),
    db('environment_team_access as a')
      .join('environments as e', 'e.id', 'a.environmentId')
      .where('a.teamId', team.id)
      .select('e.id', 'e.name', 'a.access')
      .orderBy('e.name'),
  ]);
  return { ...teamView(team), members: members.map(userView), projects, environments };
}

/** Teams and their members, for administrators. Assignments are made on projects and environments. */
export function teamRoutes(_container: DependencyContainer): AnyRoute[] {
  const params = idParam('teamId');
  const body = z.object({ name: teamName, description: displayText(500).nullable().optional() }).strict();
  return [
    route({
      method: 'get',
      path: '/api/teams',
      operationId: 'teams.list',
      summary: 'List teams',
      tags: ['teams'],
      access: Access.admin,
      responses: { 200: z.object({ items: z.array(TeamView.extend({ memberCount: z.number() })) }) },
      handler: async ({ db }) => {
        const rows = await Team.query(db)
          .select(
            'teams.*',
            db.raw('(select count(*)::int from team_members m where m.team_id = teams.id) as member_count'),
          )
          .orderBy('name');
        return {
          status: 200,
          body: {
            items: rows.map((t) => ({
              ...teamView(t),
              memberCount: (t as Team & { memberCount: number }).memberCount,
            })),
          },
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/teams',
      operationId: 'teams.create',
      summary: 'Create a team',
      tags: ['teams'],
      access: Access.admin,
      body,
      responses: { 201: TeamView, 409: null },
      handler: async ({ body, db }) => {
        const team = await Team.query(db).insertAndFetch({
          id: randomUUID(),
          name: body.name,
          description: body.description ?? null,
        });
        return { status: 201, body: teamView(team) };
      },
    }),
    route({
      method: 'get',
      path: '/api/teams/:teamId',
      operationId: 'teams.get',
      summary: 'Get a team with its members and assignments',
      tags: ['teams'],
      access: Access.admin,
      params,
      responses: { 200: TeamDetail },
      handler: async ({ params, db }) => ({
        status: 200,
        body: await teamDetail(db, await findOr404(Team, db, params.teamId, 'team')),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/teams/:teamId',
      operationId: 'teams.update',
      summary: 'Rename or describe a team',
      tags: ['teams'],
      access: Access.admin,
      params,
      body: body.partial(),
      responses: { 200: TeamView },
      handler: async ({ params, body, db }) => {
        await findOr404(Team, db, params.teamId, 'team');
        const team = await Team.query(db).patchAndFetchById(params.teamId, {
          ...body,
          updatedAt: new Date(),
        });
        return { status: 200, body: teamView(team) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/teams/:teamId',
      operationId: 'teams.delete',
      summary: 'Delete a team (its members lose the access it gave)',
      tags: ['teams'],
      access: Access.admin,
      params,
      responses: { 204: null },
      handler: async ({ params, db }) => {
        await findOr404(Team, db, params.teamId, 'team');
        await Team.query(db).deleteById(params.teamId);
        return { status: 204 };
      },
    }),
    route({
      method: 'put',
      path: '/api/teams/:teamId/members/:userId',
      operationId: 'teams.members.add',
      summary: 'Add a user to a team',
      tags: ['teams'],
      access: Access.admin,
      params: z.object({ teamId: uuid, userId: uuid }).strict(),
      responses: { 204: null },
      handler: async ({ params, db }) => {
        await findOr404(Team, db, params.teamId, 'team');
        await findOr404(User, db, params.userId, 'user');
        await db('team_members')
          .insert({ teamId: params.teamId, userId: params.userId })
          .onConflict(['team_id', 'user_id'])
          .ignore();
        return { status: 204 };
      },
    }),
    route({
      method: 'delete',
      path: '/api/teams/:teamId/members/:userId',
      operationId: 'teams.members.remove',
      summary: 'Remove a user from a team',
      tags: ['teams'],
      access: Access.admin,
      params: z.object({ teamId: uuid, userId: uuid }).strict(),
      responses: { 204: null },
      handler: async ({ params, db }) => {
        await findOr404(Team, db, params.teamId, 'team');
        await db('team_members').where({ teamId: params.teamId, userId: params.userId }).delete();
        return { status: 204 };
      },
    }),
  ];
}
