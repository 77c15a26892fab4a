import type { DependencyContainer } from '@nullops/kernel';
import { z } from 'zod';
import { Access, type AnyRoute } from '../http/route.js';
import { caller, route } from '../http/route-context.js';
import { iso, timestamp } from '../schemas/common.js';
import { type SettingRow, UiExtensionSettings } from '../web/ui-extension-settings.js';

/**
 * The web UI's extension ids: `<kind>:<name>` for the core's (`nav-item:deployments`), and
 * `<kind>:<plugin>/<name>` for a plugin's. Lower case, like the plugin names they carry.
 */
const extensionId = z
  .string()
  .regex(/^[a-z0-9@][a-z0-9@._:/-]{0,199}$/, 'an extension id, e.g. nav-item:deployments or tab:acme/costs');

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
  const uiSettings = container.resolve(UiExtensionSettings);
  const params = z.object({ extensionId }).strict();

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
        return { status: 200, body: { items: (await uiSettings.list(db)).map(view) } };
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
        const saved = await uiSettings.save(db, p.extensionId, body, caller(principal).username);
        return { status: 200, body: view(saved) };
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
        await uiSettings.reset(db, p.extensionId);
        return { status: 204 };
      },
    }),
  ];
}
