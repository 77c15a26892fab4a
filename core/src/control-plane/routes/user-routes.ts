import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { User } from '../models/identity.js';
import { displayText, idParam, paging, quotaFields } from '../schemas/common.js';
import { password, role, UserView, username, userView } from '../schemas/identity.js';
import { findOr404 } from '../services/records.js';
import { Users } from '../services/users.js';

/** User management, for administrators. */
export function userRoutes(container: DependencyContainer): AnyRoute[] {
  const users = container.resolve(Users);
  const params = idParam('userId');

  return [
    route({
      method: 'get',
      path: '/api/users',
      operationId: 'users.list',
      summary: 'List users',
      tags: ['users'],
      access: Access.admin,
      query: z.object({ ...paging, q: z.string().max(64).optional() }),
      responses: { 200: z.object({ items: z.array(UserView), total: z.number() }) },
      handler: async ({ query, db }) => {
        const { items, total } = await users.list(db, query);
        return { status: 200, body: { items: items.map(userView), total } };
      },
    }),
    route({
      method: 'post',
      path: '/api/users',
      operationId: 'users.create',
      summary: 'Create a local user',
      tags: ['users'],
      access: Access.admin,
      body: z
        .object({
          username,
          password,
          role: role.default('user'),
          displayName: displayText(100).nullable().optional(),
          quotaDeployments: quotaFields.quotaDeployments.optional(),
          quotaCpuMillicores: quotaFields.quotaCpuMillicores.optional(),
          quotaMemoryMb: quotaFields.quotaMemoryMb.optional(),
        })
        .strict(),
      responses: { 201: UserView, 409: null },
      handler: async ({ body, db }) => {
        return { status: 201, body: userView(await users.create(db, body)) };
      },
    }),
    route({
      method: 'get',
      path: '/api/users/:userId',
      operationId: 'users.get',
      summary: 'Get a user',
      tags: ['users'],
      access: Access.admin,
      params,
      responses: { 200: UserView },
      handler: async ({ params, db }) => ({
        status: 200,
        body: userView(await findOr404(User, db, params.userId, 'user')),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/users/:userId',
      operationId: 'users.update',
      summary: 'Change a user; disabling ends their sessions and tokens at once',
      tags: ['users'],
      access: Access.admin,
      params,
      body: z
        .object({
          displayName: displayText(100).nullable().optional(),
          role: role.optional(),
          disabled: z.boolean().optional(),
          password: password.optional(),
          quotaDeployments: quotaFields.quotaDeployments.optional(),
          quotaCpuMillicores: quotaFields.quotaCpuMillicores.optional(),
          quotaMemoryMb: quotaFields.quotaMemoryMb.optional(),
        })
        .strict(),
      responses: { 200: UserView },
      handler: async ({ params, body, db, principal }) => {
        const updated = await users.update(db, params.userId, body, caller(principal).userId);
        return { status: 200, body: userView(updated) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/users/:userId',
      operationId: 'users.delete',
      summary: 'Delete a user',
      tags: ['users'],
      access: Access.admin,
      params,
      responses: { 204: null },
      handler: async ({ params, db, principal }) => {
        await users.remove(db, params.userId, caller(principal).userId);
        return { status: 204 };
      },
    }),
  ];
}
