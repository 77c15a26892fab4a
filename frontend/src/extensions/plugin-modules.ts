import type * as Sdk from '@nullops/plugin-sdk/frontend';
import type { Api } from '../api.js';
import type { Session } from '../context.js';
import { makeBlueprints } from './blueprints.js';
import type { Extension, ExtensionTree } from './extension-tree.js';

/** What a plugin's browser module's default export is called with: the SDK's `PluginUiHost`. */
export type PluginUiHost = Sdk.PluginUiHost<Api, Session>;

/** Loads each plugin's browser module once (no rebuild of the web UI) and lets it extend the tree. */
export class PluginModules {
  /** Browser module URL → the plugin it belongs to, for each module loaded. */
  private readonly loaded = new Map<string, string>();

  constructor(private readonly tree: ExtensionTree) {}

  /** Loads every plugin module not loaded yet; a broken one is reported and the rest still load. */
  async refresh(api: Api): Promise<string[]> {
    const errors: string[] = [];
    const { items } = await api.get<{ items: { name: string; frontendUrl: string | null }[] }>(
      '/api/plugins',
    );
    // A plugin removed (or upgraded to another module) takes its extensions with it.
    const current = new Set(items.map((p) => p.frontendUrl));
    for (const [url, name] of this.loaded)
      if (!current.has(url)) {
        this.loaded.delete(url);
        this.tree.removePlugin(name);
      }
    for (const plugin of items) {
      if (!plugin.frontendUrl || this.loaded.has(plugin.frontendUrl)) continue;
      this.loaded.set(plugin.frontendUrl, plugin.name);
      try {
        const module = (await import(/* @vite-ignore */ plugin.frontendUrl)) as {
          default?: (host: PluginUiHost) => void;
        };
        module.default?.(this.hostFor(plugin.name));
      } catch (err) {
        errors.push(`${plugin.name}: ${(err as Error).message}`);
      }
    }
    return errors;
  }

  private hostFor(plugin: string): PluginUiHost {
    const blueprints = makeBlueprints({ plugin });
    const add = (...extensions: Extension[]) => {
      for (const ext of extensions) {
        // A plugin adds under its own name only: it cannot replace or shadow the core's pages.
        if (ext.plugin !== plugin || !ext.id.startsWith(`${ext.kind}:${plugin}/`))
          throw new Error(
            `${ext.id}: a plugin's extension ids are <kind>:${plugin}/<name> (use nullops.blueprints)`,
          );
      }
      this.tree.add(...extensions);
    };
    return {
      plugin,
      blueprints,
      add,
      children: (parent, input, data) => this.tree.children(parent, input, data),
      addPanel: ({ slot, title, element, when }) =>
        add(
          slot === 'admin'
            ? blueprints.adminPage({ name: element, title, element })
            : blueprints.panel({ name: element, title, element, ...(when ? { when } : {}) }),
        ),
      addNodeWidget: ({ type, element }) => add(blueprints.nodeWidget({ name: element, type, element })),
    };
  }
}
