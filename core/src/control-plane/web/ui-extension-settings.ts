import { inject, injectable } from '@nullops/kernel';
import { InputError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { PluginService } from '../plugins/plugin-service.js';

/** The kinds the web UI's blueprints make (frontend/src/extensions/blueprints.ts). */
const KINDS = new Set(['page', 'nav-item', 'admin-page', 'tab', 'panel', 'node-widget']);
/** Settings are few in practice (one per extension moved or turned off); this bounds what every user loads. */
const MAX_SETTINGS = 500;

/**
 * Extensions an administrator must not be able to turn off: without them, nobody could turn
 * anything back on from the web UI.
 */
const REQUIRED = new Set(['page:admin', 'admin-page:extensions']);

export interface SettingRow {
  extensionId: string;
  enabled: boolean;
  position: number | null;
  updatedByName: string | null;
  updatedAt: Date;
}

/**
 * What administrators changed in the web UI's extension tree: an extension turned off, or moved
 * among its siblings. Stored here (not in the browser), so it holds for everyone at once and is
 * audited like every change; extensions without a setting keep their defaults.
 */
@injectable()
export class UiExtensionSettings {
  constructor(@inject(PluginService) private readonly plugins: PluginService) {}

  list(db: Database): Promise<SettingRow[]> {
    return db('ui_extension_settings').orderBy('extensionId');
  }

  async save(
    db: Database,
    extensionId: string,
    setting: { enabled: boolean; position?: number | null | undefined },
    byName: string,
  ): Promise<SettingRow> {
    this.mustBeKnown(extensionId);
    const [others] = await db('ui_extension_settings').whereNot({ extensionId }).count({ count: '*' });
    if (Number(others?.count) >= MAX_SETTINGS)
      throw InputError.field(
        'params.extensionId',
        `there are already ${MAX_SETTINGS} extension settings: reset some to their defaults first`,
      );
    if (!setting.enabled && REQUIRED.has(extensionId))
      throw InputError.field(
        'body.enabled',
        `${extensionId} cannot be turned off (it is how extensions are turned back on)`,
      );
    const row = {
      extensionId,
      enabled: setting.enabled,
      position: setting.position ?? null,
      updatedByName: byName,
      updatedAt: new Date(),
    };
    const [saved] = (await db('ui_extension_settings')
      .insert(row)
      .onConflict('extensionId')
      .merge()
      .returning('*')) as SettingRow[];
    return saved as SettingRow;
  }

  /** Back to its defaults: on, where it was registered. */
  async reset(db: Database, extensionId: string): Promise<void> {
    await db('ui_extension_settings').where({ extensionId }).delete();
  }

  /** A setting is for an extension that can exist: a known kind, from the core or a plugin this control plane has. */
  private mustBeKnown(id: string) {
    const [, kind, owner, name] = /^([a-z-]+):(?:(.+)\/)?([a-z0-9][a-z0-9._-]{0,63})$/.exec(id) ?? [];
    if (!kind || !KINDS.has(kind))
      throw InputError.field(
        'params.extensionId',
        `must be <kind>:<name> with a kind of ${[...KINDS].join(', ')}`,
      );
    if (owner && !this.plugins.currentOf(owner))
      throw InputError.field('params.extensionId', `names plugin ${owner}, which is not installed`);
    if (!name) throw InputError.field('params.extensionId', 'must end in a name of at most 64 characters');
  }
}
