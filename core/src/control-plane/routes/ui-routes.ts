import type { DependencyContainer } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { PluginService } from '../plugins/plugin-service.js';
import { iso, timestamp } from '../schemas/common.js';

/**
 * The web UI's extension ids: `<kind>:<name>` for the core's (`nav-item:deployments`), and
 * `<kind>:<plugin>/<name>` for a plugin's. Lower case, like the plugin names they carry.
 */
const extensionId = z
  .string()
  .regex(/^[a-z0-9@][a-z0-9@._:/-]{0,199}$/, 'an extension id, e.g. nav-item:deployments or tab:acme/costs');

/** The kinds the web UI's blueprints make (frontend/src/extensions/blueprints.ts). */
const KINDS = new Set(['page', 'nav-item', 'admin-page', 'tab', 'panel', 'node-widget']);
/** Settings are few in practice (one per extension moved or turned off); this bounds what every user loads. */
const MAX_SETTINGS = 500;

const ExtensionSetting = z.object({
  id: extensionId,
  enabled: z.boolean(),
  position: z
    .number()
    .int()
    .nullable()
    .describe('its place among its siblings; null: where it was registered'),
  updatedByName: z.string().nullable(),
  updatedAt: timestamp,
});

/**
 * Extensions an administrator must not be able to turn off: without them, nobody could turn
 * anything back on from the web UI.
 */
const REQUIRED = new Set(['page:admin', 'admin-page:extensions']);

interface SettingRow {
  extensionId: string;
  enabled: boolean;
  position: number | null;
  updatedByName: string | null;
  updatedAt: Date;
}

const view = (r: SettingRow): z.infer<typeof ExtensionSetting> => ({
  id: r.extensionId,
  enabled: r.enabled,
  position: r.position,
  updatedByName: r.updatedByName,
  updatedAt: iso(r.updatedAt) as string,
});

/**
 * What administrators changed in the web UI's extension tree: an extension turned off, or moved
 * among its siblings. Stored here (not in the browser), so it holds for everyone at once and is
 * audited like every change; extensions without a setting keep their defaults.
 */
export function uiRoutes(container: DependencyContainer): AnyRoute[] {
  const plugins = container.resolve(PluginService);
  const params = z.object({ extensionId }).strict();

  /** A setting is for an extension that can exist: a known kind, from the core or a plugin this control plane has. */
  const mustBeKnown = (id: string) => {
    const [, kind, owner, name] = /^([a-z-]+):(?:(.+)\/)?([a-z0-9][a-z0-9._-]{0,63})$/.exec(id) ?? [];
    if (!kind || !KINDS.has(kind))
      throw InputError.field(
        'params.extensionId',
        `must be <kind>:<name> with a kind of ${[...KINDS].join(', ')}`,
      );
    if (owner && !plugins.currentOf(owner))
      throw InputError.field('params.extensionId', `names plugin ${owner}, which is not installed`);
    if (!name) throw InputError.field('params.extensionId', 'must end in a name of at most 64 characters');
  };

  return [
    route({
      method: 'get',
      path: '/api/ui/extensions',
      operationId: 'ui.extensions.list',
      summary: 'The settings administrators made to web UI extensions (turned off, reordered)',
      tags: ['ui'],
      access: Access.authenticated,
      responses: { 200: z.object({ items: z.array(ExtensionSetting) }) },
      handler: async ({ db }) => {
        const rows: SettingRow[] = await db('ui_extension_settings').orderBy('extensionId');
        return { status: 200, body: { items: rows.map(view) } };
      },
    }),
    route({
      method: 'put',
      path: '/api/ui/extensions/:extensionId',
      operationId: 'ui.extensions.put',
      summary: 'Turns a web UI extension on or off, or sets its place among its siblings',
      tags: ['ui'],
      access: Access.admin,
      params,
      body: z
        .object({
          enabled: z.boolean(),
          position: z.number().int().min(-10_000).max(10_000).nullable().optional(),
        })
        .strict(),
      responses: { 200: ExtensionSetting },
      handler: async ({ params: p, body, db, principal }) => {
        mustBeKnown(p.extensionId);
        const [others] = await db('ui_extension_settings')
          .whereNot({ extensionId: p.extensionId })
          .count({ count: '*' });
        if (Number(others?.count) >= MAX_SETTINGS)
          throw InputError.field(
            'params.extensionId',
            `there are already ${MAX_SETTINGS} extension settings: reset some to their defaults first`,
          );
        if (!body.enabled && REQUIRED.has(p.extensionId))
          throw InputError.field(
            'body.enabled',
            `${p.extensionId} cannot be turned off (it is how extensions are turned back on)`,
          );
        const row = {
          extensionId: p.extensionId,
          enabled: body.enabled,
          position: body.position ?? null,
          updatedByName: caller(principal).username,
          updatedAt: new Date(),
        };
        const [saved] = (await db('ui_extension_settings')
          .insert(row)
          .onConflict('extensionId')
          .merge()
          .returning('*')) as SettingRow[];
        return { status: 200, body: view(saved as SettingRow) };
      },
    }),
    route({
      method: 'delete',
      path: '/api/ui/extensions/:extensionId',
      operationId: 'ui.extensions.reset',
      summary: 'Gives a web UI extension back its defaults (on, where it was registered)',
      tags: ['ui'],
      access: Access.admin,
      params,
      responses: { 204: null },
      handler: async ({ params: p, db }) => {
        await db('ui_extension_settings').where({ extensionId: p.extensionId }).delete();
        return { status: 204 };
      },
    }),
  ];
}
