import type { DependencyContainer } from '@nullops/kernel';
import { ConflictError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { AuditService } from '../audit/audit-service.js';
import { secureCookies, setSessionCookie } from '../auth/cookies.js';
import { FLOW_COOKIE, FLOW_TTL_MS, OidcSignIn } from '../auth/sso/oidc-sign-in.js';
import { SsoRefused } from '../auth/sso/sso-accounts.js';
import { SsoProviders } from '../auth/sso/sso-providers.js';
import { Access, type AnyRoute } from '../http/route.js';
import { route } from '../http/route-context.js';
import { Installation } from '../installation.js';
import type { SsoGroupMapping, SsoProvider } from '../models/identity.js';
import { Refs } from '../refs.js';
import { idParam, iso, timestamp, uuid } from '../schemas/common.js';

const ProviderView = z.object({
  id: uuid,
  slug: z.string().describe('in its callback URL: /api/auth/sso/<slug>/callback'),
  name: z.string(),
  issuerUrl: z.string(),
  clientId: z.string(),
  hasClientSecret: z.boolean().describe('the secret itself is never shown'),
  scopes: z.string(),
  groupsClaim: z.string(),
  usernameClaim: z.string(),
  enabled: z.boolean(),
  managedByEnv: z.boolean().describe('configured by NULLOPS_SSO_PROVIDERS: changed there, not here'),
  createdAt: timestamp,
});

const providerView = (p: SsoProvider): z.infer<typeof ProviderView> => ({
  id: p.id,
  slug: p.slug,
  name: p.name,
  issuerUrl: p.issuerUrl,
  clientId: p.clientId,
  hasClientSecret: Boolean(p.clientSecretEnc),
  scopes: p.scopes,
  groupsClaim: p.groupsClaim,
  usernameClaim: p.usernameClaim,
  enabled: p.enabled,
  managedByEnv: p.managedByEnv,
  createdAt: iso(p.createdAt) as string,
});

const MappingView = z.object({
  id: uuid,
  group: z.string(),
  role: z.enum(['member', 'admin']),
  teamId: uuid.nullable(),
  createdAt: timestamp,
});

const mappingView = (m: SsoGroupMapping): z.infer<typeof MappingView> => ({
  id: m.id,
  group: m.groupName,
  role: m.role,
  teamId: m.teamId,
  createdAt: iso(m.createdAt) as string,
});

/** The login page, showing why a sign-in was refused. */
const loginSaying = (reason: string) => `/?sso_error=${encodeURIComponent(reason)}`;

const PasswordLogin = z.object({
  mode: z
    .enum(['on', 'break-glass'])
    .describe('on: everyone with a password; break-glass: only administrators marked break-glass'),
});

/**
 * Single sign-on: the providers people sign in through (public: the login page's buttons, the
 * sign-in itself) and, for administrators, the providers, their group mappings and whether
 * password sign-in stays open to everyone.
 */
export function ssoRoutes(container: DependencyContainer): AnyRoute[] {
  const providers = container.resolve(SsoProviders);
  const signIn = container.resolve(OidcSignIn);
  const installation = container.resolve(Installation);
  const audit = container.resolve(AuditService);
  const config = container.resolve(Refs.config);
  const params = idParam('providerId');
  const slugParam = z.object({ slug: z.string().min(1).max(32) }).strict();
  const fields = {
    slug: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/, 'must be a short lowercase name (a-z, 0-9, -)'),
    name: z.string().min(1).max(100),
    issuerUrl: z.url({ protocol: /^https?$/, error: 'must be the provider’s issuer URL (https://…)' }),
    clientId: z.string().min(1).max(500),
    clientSecret: z
      .string()
      .min(1)
      .max(4096)
      .nullable()
      .describe('write-only; null removes it (a public client)'),
    scopes: z
      .string()
      .regex(/(^|\s)openid(\s|$)/, 'must include openid')
      .max(500),
    groupsClaim: z.string().min(1).max(200),
    usernameClaim: z.string().min(1).max(200),
    enabled: z.boolean(),
  };

  return [
    route({
      method: 'get',
      path: '/api/auth/sso',
      operationId: 'auth.sso.options',
      summary:
        'How people may sign in: the single sign-on providers (a button each) and whether passwords are open',
      tags: ['auth'],
      access: Access.public,
      responses: {
        200: z.object({
          providers: z.array(z.object({ slug: z.string(), name: z.string() })),
          passwordLogin: PasswordLogin.shape.mode,
        }),
      },
      handler: async ({ db }) => ({
        status: 200,
        body: {
          providers: (await providers.list(db))
            .filter((p) => p.enabled)
            .map((p) => ({ slug: p.slug, name: p.name })),
          passwordLogin: await installation.passwordLogin(db),
        },
      }),
    }),
    route({
      method: 'get',
      path: '/api/auth/sso/:slug/start',
      operationId: 'auth.sso.start',
      summary: 'Starts signing in through a provider: redirects the browser to it',
      tags: ['auth'],
      access: Access.public,
      params: slugParam,
      query: z.object({ returnTo: z.string().max(2000).optional() }),
      responses: { 302: null, 404: null },
      handler: async ({ params: p, query, ctx }) => {
        let started: Awaited<ReturnType<OidcSignIn['begin']>>;
        try {
          // Where this request reached NullOps (Koa's ctx.origin is the Origin header, not this).
          started = await signIn.begin(p.slug, `${ctx.protocol}://${ctx.host}`, query.returnTo ?? '/');
        } catch (err) {
          if (!(err instanceof SsoRefused)) throw err;
          return {
            status: 302,
            headers: { location: loginSaying(err.message), 'cache-control': 'no-store' },
          };
        }
        const { url, flow } = started;
        ctx.cookies.set(FLOW_COOKIE, flow, {
          httpOnly: true,
          // Lax: the provider's redirect back is a top-level navigation, which carries it.
          sameSite: 'lax',
          secure: secureCookies(ctx, config),
          maxAge: FLOW_TTL_MS,
          path: `/api/auth/sso/${p.slug}`,
          overwrite: true,
        });
        return { status: 302, headers: { location: url, 'cache-control': 'no-store' } };
      },
    }),
    route({
      method: 'get',
      path: '/api/auth/sso/:slug/callback',
      operationId: 'auth.sso.callback',
      // A sign-in sets the user's team memberships from the provider's groups.
      changes: true,
      summary:
        "The provider's answer: signs in and redirects to the page the sign-in started from, or to the login page saying why not",
      tags: ['auth'],
      access: Access.public,
      params: slugParam,
      query: z.record(z.string(), z.string()),
      responses: { 302: null },
      handler: async ({ params: p, query, ctx, db }) => {
        const flow = ctx.cookies.get(FLOW_COOKIE);
        ctx.cookies.set(FLOW_COOKIE, null, { path: `/api/auth/sso/${p.slug}` });
        const entry = { action: 'auth.sso.login', targetType: 'sso', targetId: p.slug, ip: ctx.ip } as const;
        try {
          const done = await signIn.complete(p.slug, new URLSearchParams(query), flow, {
            ip: ctx.ip,
            userAgent: ctx.get('user-agent'),
          });
          setSessionCookie(ctx, config, done.session.token, done.session.expiresAt);
          await audit.record({ ...entry, actorName: done.username, outcome: 'success' }, db);
          return { status: 302, headers: { location: done.returnTo, 'cache-control': 'no-store' } };
        } catch (err) {
          if (!(err instanceof SsoRefused)) throw err;
          await audit.record({ ...entry, outcome: 'denied', details: { reason: err.message } }, db);
          return {
            status: 302,
            headers: {
              location: `/?sso_error=${encodeURIComponent(err.message)}`,
              'cache-control': 'no-store',
            },
          };
        }
      },
    }),
    route({
      method: 'get',
      path: '/api/sso/providers',
      operationId: 'sso.providers.list',
      summary: 'Single sign-on providers (client secrets never shown)',
      tags: ['sso'],
      access: Access.admin,
      responses: { 200: z.object({ items: z.array(ProviderView) }) },
      handler: async ({ db }) => ({
        status: 200,
        body: { items: (await providers.list(db)).map(providerView) },
      }),
    }),
    route({
      method: 'post',
      path: '/api/sso/providers',
      operationId: 'sso.providers.create',
      summary: 'Add an OpenID Connect provider; register /api/auth/sso/<slug>/callback as its redirect URI',
      tags: ['sso'],
      access: Access.admin,
      body: z
        .object({
          ...fields,
          clientSecret: fields.clientSecret.optional(),
          scopes: fields.scopes.optional(),
          groupsClaim: fields.groupsClaim.optional(),
          usernameClaim: fields.usernameClaim.optional(),
          enabled: fields.enabled.optional(),
        })
        .strict(),
      responses: { 201: ProviderView, 409: null },
      handler: async ({ body, db }) => ({
        status: 201,
        body: providerView(await providers.create(db, body)),
      }),
    }),
    route({
      method: 'patch',
      path: '/api/sso/providers/:providerId',
      operationId: 'sso.providers.update',
      summary: 'Change a provider (one configured by NULLOPS_SSO_PROVIDERS is changed there)',
      tags: ['sso'],
      access: Access.admin,
      params,
      body: z.object(fields).partial().strict(),
      responses: { 200: ProviderView, 409: null },
      handler: async ({ params: p, body, db }) => ({
        status: 200,
        body: providerView(await providers.update(db, p.providerId, body)),
      }),
    }),
    route({
      method: 'delete',
      path: '/api/sso/providers/:providerId',
      operationId: 'sso.providers.delete',
      summary: 'Remove a provider: its sessions end; accounts it made stay, without a way to sign in',
      tags: ['sso'],
      access: Access.admin,
      params,
      responses: { 204: null, 409: null },
      handler: async ({ params: p, db }) => {
        await providers.remove(db, p.providerId);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/api/sso/providers/:providerId/mappings',
      operationId: 'sso.mappings.list',
      summary: "A provider's groups and what they give: a team membership, or the administrator role",
      tags: ['sso'],
      access: Access.admin,
      params,
      responses: { 200: z.object({ items: z.array(MappingView) }) },
      handler: async ({ params: p, db }) => ({
        status: 200,
        body: { items: (await providers.mappings(db, p.providerId)).map(mappingView) },
      }),
    }),
    route({
      method: 'post',
      path: '/api/sso/providers/:providerId/mappings',
      operationId: 'sso.mappings.create',
      summary: 'Map a provider group to a team (member) or to the administrator role (admin)',
      tags: ['sso'],
      access: Access.admin,
      params,
      body: z
        .object({
          group: z.string().min(1).max(500),
          role: z.enum(['member', 'admin'], { error: 'must be member or admin' }),
          teamId: uuid.nullable().optional(),
        })
        .strict(),
      responses: { 201: MappingView, 409: null },
      handler: async ({ params: p, body, db }) => ({
        status: 201,
        body: mappingView(await providers.addMapping(db, p.providerId, body)),
      }),
    }),
    route({
      method: 'delete',
      path: '/api/sso/providers/:providerId/mappings/:mappingId',
      operationId: 'sso.mappings.delete',
      summary: 'Remove a group mapping (memberships it gave go at their next sign-in)',
      tags: ['sso'],
      access: Access.admin,
      params: z.object({ providerId: uuid, mappingId: uuid }).strict(),
      responses: { 204: null },
      handler: async ({ params: p, db }) => {
        await providers.removeMapping(db, p.providerId, p.mappingId);
        return { status: 204 };
      },
    }),
    route({
      method: 'put',
      path: '/api/auth/password-login',
      operationId: 'auth.password-login.put',
      summary:
        'Open password sign-in to everyone, or limit it to break-glass administrators (one must exist: nobody is locked out)',
      tags: ['auth', 'sso'],
      access: Access.admin,
      body: PasswordLogin.strict(),
      responses: { 200: PasswordLogin, 409: null },
      handler: async ({ body, db }) => {
        if (body.mode === 'break-glass' && !(await installation.hasBreakGlassAdmin(db)))
          throw new ConflictError(
            'no enabled administrator with a password is marked break-glass: mark one first (PATCH /api/users/{id} {"breakGlass": true}), so that someone can still sign in if single sign-on fails',
          );
        await installation.setPasswordLogin(db, body.mode);
        return { status: 200, body };
      },
    }),
  ];
}
