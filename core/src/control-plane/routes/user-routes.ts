import type { DependencyContainer } from '@nullops/kernel';
import { NotAllowedError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { ApiTokenService } from '../auth/api-token-service.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { User } from '../models/identity.js';
import { displayText, idParam, paging, quotaFields } from '../schemas/common.js';
import {
  ApiTokenView,
  accessLevel,
  apiTokenView,
  password,
  role,
  UserView,
  username,
  userView,
} from '../schemas/identity.js';
import { findOr404 } from '../services/records.js';
import { Users } from '../services/users.js';

/** User management, for administrators. */
export function userRoutes(container: DependencyContainer): AnyRoute[] {
  const users = container.resolve(Users);
  const tokens = container.resolve(ApiTokenService);
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
          breakGlass: z
            .boolean()
            .optional()
            .describe('an administrator who may sign in with a password when it is limited'),
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
          breakGlass: z
            .boolean()
            .optional()
            .describe(
              'may sign in with a password when password login is limited (administrators with a password)',
            ),
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
    route({
      method: 'post',
      path: '/api/users/:userId/tokens',
      operationId: 'users.tokens.create',
      summary:
        'Make an API token for a user (e.g. one who signs in through single sign-on, for the CLI); its value is shown only in this response',
      tags: ['users'],
      access: Access.admin,
      params,
      body: z
        .object({
          name: displayText(100).min(1, 'must not be empty'),
          expiresInDays: z.number().int().min(1).max(365).default(30).describe('every token expires'),
          access: accessLevel.default('full').describe('read: safe methods (GET) only'),
        })
        .strict(),
      responses: { 201: ApiTokenView.extend({ token: z.string().describe('shown once: hand it over now') }) },
      handler: async ({ params: p, body, db, principal }) => {
        if (caller(principal).via === 'token')
          throw new NotAllowedError('API tokens cannot create tokens: sign in to create one');
        const user = await findOr404(User, db, p.userId, 'user');
        const { token, row } = await tokens.create(
          user.id,
          {
            name: body.name,
            expiresAt: new Date(Date.now() + body.expiresInDays * 86400_000),
            access: body.access,
            projectIds: null,
          },
          db,
        );
        return { status: 201, body: { ...apiTokenView(row), token } };
      },
    }),
  ];
}
