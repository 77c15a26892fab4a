import type { DependencyContainer } from '@nullops/kernel';
import { InputError, NotAllowedError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { AccessService } from '../access/access-service.js';
import { ApiTokenService } from '../auth/api-token-service.js';
import { setSessionCookie } from '../auth/cookies.js';
import { SESSION_COOKIE, SessionService } from '../auth/session-service.js';
import { SignIn } from '../auth/sign-in.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { User } from '../models/identity.js';
import { Refs } from '../refs.js';
import { displayText, idParam, timestamp, uuid } from '../schemas/common.js';
import {
  AccessView,
  ApiTokenView,
  accessLevel,
  apiTokenView,
  Me,
  password,
  userView,
} from '../schemas/identity.js';
import { findOr404 } from '../services/records.js';

/** Sign in and out, the caller's own profile, password and personal API tokens. */
export function authRoutes(container: DependencyContainer): AnyRoute[] {
  const sessions = container.resolve(SessionService);
  const tokens = container.resolve(ApiTokenService);
  const signIn = container.resolve(SignIn);
  const config = container.resolve(Refs.config);
  const access = container.resolve(AccessService);

  return [
    route({
      method: 'post',
      path: '/api/auth/login',
      operationId: 'auth.login',
      summary: 'Sign in with username and password; sets the session cookie',
      tags: ['auth'],
      access: Access.public,
      body: z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) }).strict(),
      responses: { 200: Me.extend({ expiresAt: timestamp }), 401: null, 429: null },
      // No transaction held while a throttled attempt waits its turn: waiting sign-ins must not
      // take the database connections every other request needs.
      transaction: false,
      handler: async ({ body, ctx, db }) => {
        ctx.state.auditActorName = body.username;
        const { user, session } = await signIn.withPassword(db, body, {
          ip: ctx.ip,
          userAgent: ctx.get('user-agent'),
        });
        setSessionCookie(ctx, config, session.token, session.expiresAt);
        ctx.state.auditActor = { userId: user.id, username: user.username };
        return {
          status: 200,
          body: {
            user: userView(user),
            csrfToken: session.csrfToken,
            authenticatedVia: 'session',
            expiresAt: session.expiresAt.toISOString(),
          },
        };
      },
    }),
    route({
      method: 'post',
      path: '/api/auth/logout',
      operationId: 'auth.logout',
      summary: 'Sign out: ends this session',
      tags: ['auth'],
      access: Access.authenticated,
      responses: { 204: null },
      handler: async ({ ctx, db, principal }) => {
        const me = caller(principal);
        if (me.sessionId) await sessions.destroy(me.sessionId, db);
        ctx.cookies.set(SESSION_COOKIE, null, { path: '/' });
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/auth/me',
      operationId: 'auth.me',
      summary: 'The signed-in user, and the CSRF token of this session',
      tags: ['auth'],
      access: Access.authenticated,
      responses: { 200: Me },
      handler: async ({ db, principal }) => {
        const me = caller(principal);
        const user = await findOr404(User, db, me.userId, 'user');
        return {
          status: 200,
          body: { user: userView(user), csrfToken: me.csrfToken ?? null, authenticatedVia: me.via },
        };
      },
    }),
    route({
      method: 'get',
      path: '/api/auth/access',
      operationId: 'auth.access',
      summary: 'Your access level on every project and environment you can see (the UI shows actions by it)',
      tags: ['auth'],
      access: Access.authenticated,
      responses: {
        200: AccessView,
      },
      handler: async ({ db, principal }) => {
        return { status: 200, body: await access.visibleLevels(caller(principal), db) };
      },
    }),
    route({
      method: 'post',
      path: '/api/auth/password',
      operationId: 'auth.change-password',
      summary: 'Change your own password; ends your other sessions',
      tags: ['auth'],
      access: Access.authenticated,
      body: z.object({ currentPassword: z.string().min(1).max(256), newPassword: password }).strict(),
      responses: { 204: null },
      handler: async ({ body, db, principal, ctx }) => {
        await signIn.changePassword(
          db,
          caller(principal).userId,
          { current: body.currentPassword, next: body.newPassword },
          { ip: ctx.ip, userAgent: ctx.get('user-agent') },
        );
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/auth/tokens',
      operationId: 'auth.tokens.list',
      summary: 'Your personal API tokens (never their values); a limited token sees only itself',
      tags: ['auth'],
      access: Access.authenticated,
      responses: { 200: z.object({ items: z.array(ApiTokenView) }) },
      handler: async ({ db, principal }) => {
        const rows = await tokens.visibleTo(caller(principal), db);
        return { status: 200, body: { items: rows.map(apiTokenView) } };
      },
    }),
    route({
      method: 'post',
      path: '/api/auth/tokens',
      operationId: 'auth.tokens.create',
      summary: 'Create a personal API token; its value is shown only in this response',
      tags: ['auth'],
      access: Access.authenticated,
      body: z
        .object({
          name: displayText(100).min(1, 'must not be empty'),
          expiresInDays: z.number().int().min(1).max(365).default(90).describe('every token expires'),
          access: accessLevel.default('full').describe('read: safe methods (GET) only'),
          projectIds: z
            .array(uuid)
            .min(1)
            .max(100)
            .optional()
            .describe('only these projects and their deployments (no administrative actions)'),
        })
        .strict(),
      responses: { 201: ApiTokenView.extend({ token: z.string().describe('shown once; store it now') }) },
      handler: async ({ body, db, principal }) => {
        const me = caller(principal);
        // A leaked token must not be able to mint a longer-lived or wider one.
        if (me.via === 'token')
          throw new NotAllowedError('API tokens cannot create tokens: sign in to create one');
        for (const [i, id] of (body.projectIds ?? []).entries()) {
          const level = await access.levelOf('project', id, me.userId, db);
          if (level === undefined || (level === 'none' && me.role !== 'admin'))
            throw InputError.field(`body.projectIds.${i}`, `names no project you can see`);
        }
        const { token, row } = await tokens.create(
          me.userId,
          {
            name: body.name,
            expiresAt: new Date(Date.now() + body.expiresInDays * 86400_000),
            access: body.access,
            projectIds: body.projectIds ?? null,
          },
          db,
        );
        return { status: 201, body: { ...apiTokenView(row), token } };
      },
    }),
    route({
      method: 'delete',
      path: '/api/auth/tokens/:tokenId',
      operationId: 'auth.tokens.revoke',
      summary: 'Revoke one of your API tokens; it stops working at once',
      tags: ['auth'],
      access: Access.authenticated,
      params: idParam('tokenId'),
      responses: { 204: null },
      handler: async ({ params, db, principal }) => {
        await tokens.revoke(caller(principal), params.tokenId, db);
        return { status: 204 };
      },
    }),
  ];
}
