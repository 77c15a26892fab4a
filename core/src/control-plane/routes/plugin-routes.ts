import type { DependencyContainer } from '@nullops/kernel';
import { InputError, NotAllowedError, NotFoundError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import type { Database } from '../database/database.js';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, inBody, route } from '../http/route-context.js';
import { Plugin } from '../models/catalog.js';
import { pluginCaller } from '../plugins/plugin-extensions.js';
import { PluginService } from '../plugins/plugin-service.js';
import { type PluginState, pluginStates } from '../plugins/plugin-states.js';
import { ProjectPluginSettings } from '../plugins/project-plugin-settings.js';
import { registryUrl } from '../schemas/catalog.js';
import { iso, timestamp, uuid } from '../schemas/common.js';
import { SecretService } from '../services/secret-service.js';

const HostStatus = z.object({
  host: z.string().describe('`control-plane` or a node id'),
  nodeName: z.string().nullable(),
  version: z.string(),
  status: z.enum(['loaded', 'failed']),
  error: z.string().nullable(),
  updatedAt: timestamp,
});

const PluginView = z.object({
  name: z.string(),
  source: z.enum(['bundled', 'registry']),
  range: z.string().nullable(),
  version: z.string(),
  integrity: z.string().nullable(),
  registryUrl: z.string().nullable(),
  hasRegistryToken: z.boolean(),
  settings: z.record(z.string(), z.unknown()).describe('as saved: secret references stay references'),
  components: z.array(z.string()),
  frontendUrl: z.string().nullable().describe('the plugin UI module the web UI loads, if it has one'),
  statuses: z.array(HostStatus).describe('how the control plane and every node have this plugin'),
  createdAt: timestamp.nullable(),
  updatedAt: timestamp.nullable(),
});

const CatalogEntry = z.object({
  type: z.string(),
  version: z.number(),
  title: z.string(),
  category: z.string(),
  plugin: z.object({ name: z.string(), version: z.string(), source: z.enum(['bundled', 'registry']) }),
  paramsSchema: z.record(z.string(), z.unknown()).describe('JSON Schema of the params: the node widgets'),
  outputs: z.record(z.string(), z.object({ description: z.string(), secret: z.boolean().optional() })),
  hostFilled: z.array(z.string()),
  timeoutMs: z.number().nullable(),
  projectService: z.boolean().describe("its `service` param is one of the project's services"),
});

const packageSpec = z
  .string()
  .min(1)
  .max(300)
  .regex(
    /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*(@[^\s]+)?$/,
    'must be name@range, e.g. @acme/nullops-plugin@^1.0.0',
  );
const settings = z.record(z.string().max(100), z.unknown()).refine((s) => JSON.stringify(s).length <= 65536, {
  message: 'must be at most 64 KiB of JSON',
});
const nameParam = z.object({ name: z.string().min(1).max(214) }).strict();

/** Plugins: install from an npm registry, upgrade, remove, per-host status; the component catalogue. */
export function pluginRoutes(container: DependencyContainer): AnyRoute[] {
  const secrets = container.resolve(SecretService);
  const plugins = container.resolve(PluginService);

  const view = (state: PluginState): z.infer<typeof PluginView> => {
    const { name, row, current } = state;
    return {
      name,
      source: row ? 'registry' : 'bundled',
      range: row?.range ?? null,
      version: row?.version ?? current?.version ?? '',
      integrity: row?.integrity ?? null,
      registryUrl: row?.registryUrl ?? null,
      hasRegistryToken: Boolean(row?.registryTokenEnc),
      settings: row?.settings ?? {},
      components: [...(current?.components.keys() ?? [])],
      frontendUrl: state.frontendUrl,
      statuses: state.statuses.map((s) => ({
        host: s.host,
        nodeName: s.nodeName,
        version: s.version,
        status: s.status,
        error: s.error,
        updatedAt: iso(s.updatedAt) as string,
      })),
      createdAt: iso(row?.createdAt),
      updatedAt: iso(row?.updatedAt),
    };
  };
  const one = async (db: Database, row: Plugin) =>
    view((await pluginStates(db, plugins, row))[0] as PluginState);

  const extHandler = (method: 'get' | 'post' | 'put' | 'patch' | 'delete') =>
    route({
      method,
      path: '/api/ext/*rest',
      operationId: `plugins.ext.${method}`,
      summary: `Routes contributed by control-plane plugins (${method.toUpperCase()} /api/ext/<plugin>/…)`,
      tags: ['plugins'],
      access: Access.authenticated,
      params: z.object({ rest: z.union([z.string(), z.array(z.string())]) }),
      query: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
      body: method === 'get' || method === 'delete' ? undefined : z.unknown(),
      responses: { 200: z.unknown(), 404: null },
      handler: async ({ params, query, body, principal, ctx }) => {
        const rest = Array.isArray(params.rest) ? params.rest.join('/') : params.rest;
        const found = plugins.extensions.findRoute(method, rest);
        if (!found) throw new NotFoundError(`no plugin route ${method.toUpperCase()} /api/ext/${rest}`);
        ctx.state.auditDetails = { plugin: found.plugin, path: `/${rest}` };
        if (found.route.sensitive) ctx.state.auditRead = true;
        const user = caller(principal);
        if (found.route.access === 'admin' && user.role !== 'admin')
          throw new NotAllowedError('this plugin route is for administrators');
        // As on the core's own admin routes: a project-scoped token does no administrative action.
        if (found.route.access === 'admin' && user.tokenScope?.projectIds)
          throw new NotAllowedError('a project-scoped API token cannot call administrative plugin routes');
        const result = await pluginCaller.run(user, () =>
          found.route.handler({
            params: found.params,
            query,
            body: body ?? null,
            user: {
              id: user.userId,
              username: user.username,
              isAdmin: user.role === 'admin' && !user.tokenScope?.projectIds,
              ...(user.tokenScope ? { scope: { ...user.tokenScope } } : {}),
            },
          }),
        );
        return { status: result.status, body: result.body ?? null };
      },
    });

  return [
    route({
      method: 'get',
      path: '/api/plugins',
      operationId: 'plugins.list',
      summary: 'Installed and bundled plugins with their status on the control plane and every node',
      tags: ['plugins'],
      access: Access.authenticated,
      responses: { 200: z.object({ items: z.array(PluginView) }) },
      handler: async ({ db }) => {
        return { status: 200, body: { items: (await pluginStates(db, plugins)).map(view) } };
      },
    }),
    route({
      method: 'get',
      path: '/api/plugins/components',
      operationId: 'plugins.components',
      summary: 'The component catalogue: every component the pipeline editor can place',
      tags: ['plugins'],
      access: Access.authenticated,
      responses: { 200: z.object({ items: z.array(CatalogEntry) }) },
      handler: async () => ({ status: 200, body: { items: plugins.catalog() } }),
    }),
    route({
      method: 'get',
      path: '/api/plugins/:name',
      operationId: 'plugins.get',
      summary: 'One installed plugin and its status per host',
      tags: ['plugins'],
      access: Access.authenticated,
      params: nameParam,
      responses: { 200: PluginView, 404: null },
      handler: async ({ params, db }) => ({
        status: 200,
        body: await one(db, await plugins.find(db, params.name)),
      }),
    }),
    route({
      method: 'post',
      path: '/api/plugins',
      operationId: 'plugins.install',
      summary: 'Install a plugin from an npm registry on the control plane and every node',
      tags: ['plugins'],
      access: Access.admin,
      body: z
        .object({
          package: packageSpec.describe('name@range, e.g. @acme/nullops-plugin@^1.0.0'),
          registry: z
            .object({
              url: registryUrl,
              token: z
                .string()
                .min(1)
                .max(4096)
                .optional()
                .describe('npm auth token; stored encrypted, never shown'),
            })
            .strict(),
          settings: settings.default({}),
        })
        .strict(),
      responses: { 201: PluginView, 400: null, 409: null, 503: null },
      // The registry is asked and the release downloaded before the short transaction that records it.
      transaction: false,
      handler: async ({ body, db, principal }) => {
        const row = await inBody(() =>
          plugins.install(
            {
              package: body.package,
              registry: {
                url: body.registry.url,
                ...(body.registry.token ? { token: body.registry.token } : {}),
              },
              settings: body.settings,
            },
            caller(principal).userId,
          ),
        );
        return { status: 201, body: await one(db, row) };
      },
    }),
    route({
      method: 'put',
      path: '/api/plugins/:name',
      operationId: 'plugins.upgrade',
      summary: 'Upgrade (or pin) a plugin to the newest release matching a range, or change its settings',
      tags: ['plugins'],
      access: Access.admin,
      params: nameParam,
      body: z
        .object({
          range: z.string().min(1).max(100).optional().describe('e.g. ^1.1.0; defaults to the saved range'),
          settings: settings.optional(),
        })
        .strict(),
      responses: { 200: PluginView, 404: null },
      transaction: false,
      handler: async ({ params, body, db }) => {
        if (body.range !== undefined && !/^[^\s]+$/.test(body.range))
          throw InputError.field('body.range', 'must be a semver range');
        const row = await inBody(() => plugins.upgrade(params.name, body));
        return { status: 200, body: await one(db, row) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/plugins/:name',
      operationId: 'plugins.remove',
      summary: 'Remove a plugin; running deployments keep running',
      tags: ['plugins'],
      access: Access.admin,
      params: nameParam,
      query: z.object({
        force: z
          .enum(['true', 'false'])
          .default('false')
          .describe('remove it even though the latest pipeline of a project uses it'),
      }),
      responses: { 204: null, 404: null, 409: null },
      transaction: false,
      handler: async ({ params, query }) => {
        await plugins.remove(params.name, { force: query.force === 'true' });
        return { status: 204 };
      },
    }),
    ...projectSettingsRoutes(),
    ...(['get', 'post', 'put', 'patch', 'delete'] as const).map(extHandler),
  ];

  /** A plugin's settings for one project (e.g. the project's own webhook); the plugin reads them. */
  function projectSettingsRoutes(): AnyRoute[] {
    const params = z.object({ projectId: uuid, name: z.string().min(1).max(214) }).strict();
    const path = '/api/projects/:projectId/plugins/:name/settings';
    const Settings = z.object({ settings: z.record(z.string(), z.unknown()) });
    const settingsOf = new ProjectPluginSettings(plugins, secrets);
    return [
      route({
        method: 'get',
        path,
        operationId: 'projects.plugins.settings.get',
        summary: "A plugin's settings for this project (secret references as written)",
        tags: ['plugins', 'projects'],
        access: Access.admin,
        params,
        responses: { 200: Settings, 404: null },
        handler: async ({ params: p, db }) => {
          return { status: 200, body: { settings: await settingsOf.get(db, p.projectId, p.name) } };
        },
      }),
      route({
        method: 'put',
        path,
        operationId: 'projects.plugins.settings.put',
        summary: "Sets a plugin's settings for this project (use ${secret:NAME} for secret values)",
        tags: ['plugins', 'projects'],
        access: Access.admin,
        params,
        body: Settings.strict(),
        responses: { 200: Settings, 404: null },
        handler: async ({ params: p, body, db }) => {
          await settingsOf.put(db, p.projectId, p.name, body.settings);
          return { status: 200, body: { settings: body.settings } };
        },
      }),
      route({
        method: 'delete',
        path,
        operationId: 'projects.plugins.settings.delete',
        summary: "Removes a plugin's settings for this project",
        tags: ['plugins', 'projects'],
        access: Access.admin,
        params,
        responses: { 204: null },
        handler: async ({ params: p, db }) => {
          await settingsOf.remove(db, p.projectId, p.name);
          return { status: 204 };
        },
      }),
    ];
  }
}
