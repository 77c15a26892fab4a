import { NotFoundError } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { Project } from '../models/catalog.js';
import { findOr404 } from '../services/records.js';
import type { SecretService } from '../services/secret-service.js';
import type { PluginService } from './plugin-service.js';

/**
 * A plugin's settings for one project (what its control-plane extension reads when a deployment of
 * the project changes): secret references as written, resolved only when used.
 */
export class ProjectPluginSettings {
  constructor(
    private readonly plugins: PluginService,
    private readonly secrets: SecretService,
  ) {}

  async get(db: Database, projectId: string, plugin: string): Promise<Record<string, unknown>> {
    await this.scope(db, projectId, plugin);
    const row = await db('project_plugin_settings').where({ projectId, plugin }).first();
    if (!row) throw new NotFoundError(`plugin ${plugin} has no settings for this project`);
    return row.settings;
  }

  /** Replaces them; every `${secret:NAME}` must name a secret that exists. */
  async put(
    db: Database,
    projectId: string,
    plugin: string,
    settings: Record<string, unknown>,
  ): Promise<void> {
    await this.scope(db, projectId, plugin);
    await this.secrets.checkReferences(settings, db, 'body.settings');
    await db('project_plugin_settings')
      .insert({ projectId, plugin, settings: JSON.stringify(settings) })
      .onConflict(['projectId', 'plugin'])
      .merge({ settings: JSON.stringify(settings), updatedAt: new Date() });
  }

  async remove(db: Database, projectId: string, plugin: string): Promise<void> {
    await this.scope(db, projectId, plugin);
    await db('project_plugin_settings').where({ projectId, plugin }).delete();
  }

  private async scope(db: Database, projectId: string, plugin: string) {
    await findOr404(Project, db, projectId, 'project');
    await this.plugins.find(db, plugin);
  }
}

/** A plugin's settings for a project, secret references resolved (what `ctx.projectSettings` reads). */
export async function resolvedProjectSettings(
  db: Database,
  secrets: SecretService,
  plugin: string,
  projectId: string,
): Promise<Record<string, unknown> | undefined> {
  const row = await db('project_plugin_settings').where({ projectId, plugin }).first();
  if (!row) return undefined;
  return (await secrets.substitute(row.settings, db)) as Record<string, unknown>;
}
