import type { Database } from '../database/database.js';
import { type Plugin, PluginStatusRow } from '../models/catalog.js';
import { AgentNode } from '../models/fleet.js';
import { CONTROL_PLANE_HOST, type PluginService } from './plugin-service.js';

/** A plugin as administrators see it: what is installed, what is loaded, and how every host has it. */
export interface PluginState {
  name: string;
  /** The installed row; undefined for a bundled plugin nobody installed over. */
  row: Plugin | undefined;
  current: ReturnType<PluginService['currentOf']>;
  frontendUrl: string | null;
  /** The control plane's and each existing node's status (a removed node's are left out). */
  statuses: (PluginStatusRow & { nodeName: string | null })[];
}

/** Every plugin, installed or bundled (by name), or only the installed one given, with its status per host. */
export async function pluginStates(
  db: Database,
  plugins: PluginService,
  only?: Plugin,
): Promise<PluginState[]> {
  const rows = only ? [only] : await plugins.installed(db);
  const names = only
    ? [only.name]
    : [
        ...new Set([
          ...(await plugins.host.all()).filter((p) => p.source === 'bundled').map((p) => p.name),
          ...rows.map((r) => r.name),
        ]),
      ].sort();
  const statuses = await PluginStatusRow.query(db).whereIn('pluginName', names);
  const nodes = new Map((await AgentNode.query(db).select('id', 'name')).map((n) => [n.id, n.name]));
  return names.map((name) => ({
    name,
    row: rows.find((r) => r.name === name),
    current: plugins.currentOf(name),
    frontendUrl: plugins.frontendUrl(name),
    statuses: statuses
      .filter((s) => s.pluginName === name && (s.host === CONTROL_PLANE_HOST || nodes.has(s.host)))
      .map((s) => Object.assign(s, { nodeName: nodes.get(s.host) ?? null })),
  }));
}
