import { createContext } from '@lit/context';
import type { Api } from './api.js';

/** A panel a plugin contributes to a named slot (e.g. `deployment`: a section of the deployment page). */
export interface PanelContribution {
  plugin: string;
  slot: string;
  title: string;
  /** A custom element the plugin's module defined; it gets `api` and the slot's data as properties. */
  element: string;
  /** Whether the panel applies to the slot's data (e.g. only deployments with a database); default yes. */
  when?: (data: Record<string, unknown>) => boolean;
}

/**
 * A custom editor for the params of one component type, shown in the pipeline editor instead of
 * the generic form fields: the element gets `params` and `readOnly`, and fires `params-change`
 * (detail: the new params).
 */
export interface NodeWidgetContribution {
  plugin: string;
  type: string;
  element: string;
}

/**
 * What a plugin's frontend module receives: its default export is called with this once.
 *
 * @example
 * export default function register(nullops) {
 *   customElements.define('acme-panel', class extends HTMLElement { set deployment(d) { this.textContent = d.name; } });
 *   nullops.addPanel({ slot: 'deployment', title: 'Acme', element: 'acme-panel' });
 * }
 */
export interface PluginUiHost {
  addPanel(panel: Omit<PanelContribution, 'plugin'>): void;
  addNodeWidget(widget: Omit<NodeWidgetContribution, 'plugin'>): void;
}

/** Plugin UIs loaded at run time from the control plane (no rebuild of the web UI). */
export class PluginUis extends EventTarget {
  readonly panels: PanelContribution[] = [];
  readonly widgets: NodeWidgetContribution[] = [];
  private readonly loaded = new Set<string>();

  /** Loads every plugin UI module not loaded yet; a broken one is reported and skipped. */
  async refresh(api: Api): Promise<string[]> {
    const errors: string[] = [];
    const { items } = await api.get<{ items: { name: string; frontendUrl: string | null }[] }>(
      '/api/plugins',
    );
    for (const plugin of items) {
      if (!plugin.frontendUrl || this.loaded.has(plugin.frontendUrl)) continue;
      this.loaded.add(plugin.frontendUrl);
      try {
        const module = (await import(/* @vite-ignore */ plugin.frontendUrl)) as {
          default?: (host: PluginUiHost) => void;
        };
        module.default?.({
          addPanel: (panel) => this.panels.push({ ...panel, plugin: plugin.name }),
          addNodeWidget: (widget) => this.widgets.push({ ...widget, plugin: plugin.name }),
        });
      } catch (err) {
        errors.push(`${plugin.name}: ${(err as Error).message}`);
      }
    }
    this.dispatchEvent(new Event('change'));
    return errors;
  }

  widgetFor(type: string): NodeWidgetContribution | undefined {
    return this.widgets.find((w) => w.type === type);
  }

  inSlot(slot: string): PanelContribution[] {
    return this.panels.filter((p) => p.slot === slot);
  }
}

export const pluginUiContext = createContext<PluginUis>(Symbol('nullops-plugin-uis'));
