import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from '@nullops/kernel';
import { ConflictError, InputError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { ApiTokenService } from '../auth/api-token-service.js';
import { SessionService } from '../auth/session-service.js';
import type { Database } from '../database/database.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { User } from '../models/identity.js';
import { displayText, idParam, paging, quotaFields } from '../schemas/common.js';
import { password, role, UserView, username, userView } from '../schemas/identity.js';
import { hashPassword } from '../security/passwords.js';
import { findOr404 } from './find.js';

/** User management, for administrators. */
export function userRoutes(container: DependencyContainer): AnyRoute[] {
  const sessions = container.resolve(SessionService);
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
        const base = User.query(db).modify((q) => {
          if (query.q) q.whereRaw('username ilike ?', [`%${query.q.replace(/[%_\\]/g, '\\$&')}%`]);
        });
        const [rows, total] = await Promise.all([
          base.clone().orderBy('username').limit(query.limit).offset(query.offset),
          base.clone().resultSize(),
        ]);
        return { status: 200, body: { items: rows.map(userView), total } };
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
        const user = await User.query(db).insertAndFetch({
          id: randomUUID(),
          username: body.username,
          displayName: body.displayName ?? null,
          role: body.role,
          passwordHash: await hashPassword(body.password),
          quotaDeployments: body.quotaDeployments ?? null,
          quotaCpuMillicores: body.quotaCpuMillicores ?? null,
          quotaMemoryMb: body.quotaMemoryMb ?? null,
        });
        return { status: 201, body: userView(user) };
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
        const user = await findOr404(User, db, params.userId, 'user');
        const self = caller(principal).userId === user.id;
        if (self && (body.disabled === true || body.role === 'user')) {
          throw InputError.field(
            body.disabled ? 'body.disabled' : 'body.role',
            'you cannot lock yourself out',
          );
        }
        if ((body.disabled === true || body.role === 'user') && user.role === 'admin')
          await keepOneAdmin(db, user.id);
        const patch: Partial<User> = { updatedAt: new Date() };
        if (body.displayName !== undefined) patch.displayName = body.displayName;
        if (body.role) patch.role = body.role;
        if (body.disabled !== undefined) patch.disabled = body.disabled;
        if (body.password) patch.passwordHash = await hashPassword(body.password);
        for (const key of ['quotaDeployments', 'quotaCpuMillicores', 'quotaMemoryMb'] as const)
          if (body[key] !== undefined) patch[key] = body[key];
        const updated = await User.query(db).patchAndFetchById(user.id, patch);
        // A role change reaches the user's API tokens on their next request.
        tokens.forget(user.id);
        if (body.disabled || body.password) await sessions.destroyAllOf(user.id, db);
        if (body.disabled) await tokens.revokeAllOf(user.id, db);
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
        const user = await findOr404(User, db, params.userId, 'user');
        if (caller(principal).userId === user.id) throw new ConflictError('you cannot delete yourself');
        if (user.role === 'admin') await keepOneAdmin(db, user.id);
        await User.query(db).deleteById(user.id);
        tokens.forget(user.id);
        return { status: 204 };
      },
    }),
  ];
}

async function keepOneAdmin(db: Database, leaving: string) {
  const others = await User.query(db)
    .where({ role: 'admin', disabled: false })
    .whereNot('id', leaving)
    .resultSize();
  if (others === 0) throw new ConflictError('this is the last enabled administrator; appoint another first');
}
