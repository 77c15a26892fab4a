import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { displayText, idParam, uuid } from '../schemas/common.js';
import { accessLevel, TeamView, teamName, teamView, UserView, userView } from '../schemas/identity.js';
import {
  addMember,
  createTeam,
  deleteTeam,
  listTeams,
  removeMember,
  teamDetail,
  updateTeam,
} from '../services/teams.js';

const Assignment = z.object({ id: uuid, name: z.string(), access: accessLevel });
const TeamDetail = TeamView.extend({
  members: z.array(UserView),
  projects: z.array(Assignment),
  environments: z.array(Assignment),
});

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
      handler: async ({ db }) => ({
        status: 200,
        body: { items: (await listTeams(db)).map((t) => ({ ...teamView(t), memberCount: t.memberCount })) },
      }),
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
      handler: async ({ body, db }) => ({ status: 201, body: teamView(await createTeam(db, body)) }),
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
      handler: async ({ params, db }) => {
        const { team, members, projects, environments } = await teamDetail(db, params.teamId);
        return {
          status: 200,
          body: { ...teamView(team), members: members.map(userView), projects, environments },
        };
      },
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
      handler: async ({ params, body, db }) => ({
        status: 200,
        body: teamView(await updateTeam(db, params.teamId, body)),
      }),
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
        await deleteTeam(db, params.teamId);
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
        await addMember(db, params.teamId, params.userId);
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
        await removeMember(db, params.teamId, params.userId);
        return { status: 204 };
      },
    }),
  ];
}
