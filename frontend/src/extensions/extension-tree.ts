import { createContext } from '@lit/context';
import type * as Sdk from '@nullops/plugin-sdk/frontend';
import { html, type ReactiveController, type ReactiveControllerHost } from 'lit';
import type { Api } from '../api.js';
import type { Session } from '../context.js';

// The extension types are the SDK's (what plugins build against), filled in with the web UI's
// own API client and session.
export type ExtensionKind = Sdk.ExtensionKind;
export type CanvasWidget = Sdk.CanvasWidget;
/** What a parent hands the extensions attached to it when it renders them. */
export type ExtensionContext = Sdk.ExtensionContext<Api, Session>;
export type Extension = Sdk.Extension<Api, Session>;

// The web UI's client and session are what the SDK promises plugins (checked when this compiles).
const contractHeld: [
  Api extends Sdk.PluginApi ? true : false,
  Session extends Sdk.PluginSession ? true : false,
] = [true, true];
void contractHeld;

/** What an administrator changed about an extension (stored on the server). */
export interface ExtensionSetting {
  id: string;
  enabled: boolean;
  position: number | null;
}

/**
 * The shell as a tree of extensions. Core pages, navigation items, admin pages, deployment
 * panels and node widgets are registered here exactly as a plugin's are; a parent renders
 * `children(itself, input)`: the enabled ones, in the order administrators set (or registration
 * order), those whose `when` rejects the parent's data left out.
 */
export class ExtensionTree extends EventTarget {
  private readonly extensions = new Map<string, Extension>();
  private readonly order = new Map<string, number>();
  private settings = new Map<string, ExtensionSetting>();
  /** Changes made one after another: a second click computes from what the first one saved. */
  private saving: Promise<unknown> = Promise.resolve();

  /** Adds extensions; an id (or a page path) already taken is refused with the taker's name. */
  add(...extensions: Extension[]): void {
    for (const ext of extensions) {
      const taken = this.extensions.get(ext.id);
      if (taken)
        throw new Error(`extension ${ext.id} is already registered (by ${taken.plugin ?? 'the core'})`);
      const path = ext.kind === 'page' ? ext.config.path : undefined;
      const samePath = path && this.all().find((e) => e.kind === 'page' && e.config.path === path);
      if (samePath) throw new Error(`the page path ${path} is already taken by ${samePath.id}`);
      this.extensions.set(ext.id, ext);
      this.order.set(ext.id, this.order.size);
    }
    this.changed();
  }

  /** Takes out a removed plugin's extensions (its nav item, pages, panels) at once. */
  removePlugin(plugin: string): void {
    let removed = false;
    for (const [id, ext] of this.extensions)
      if (ext.plugin === plugin) {
        this.extensions.delete(id);
        removed = true;
      }
    if (removed) this.changed();
  }

  /** Every registered extension, on or off: what the extensions admin page lists. */
  all(): Extension[] {
    return [...this.extensions.values()];
  }

  get(id: string): Extension | undefined {
    return this.extensions.get(id);
  }

  enabled(id: string): boolean {
    return this.settings.get(id)?.enabled ?? true;
  }

  /** The extensions attached to `input` of `parent`, on and applicable, in their order. */
  children(parent: string, input: string, data?: Record<string, unknown>): Extension[] {
    return this.siblings(parent, input).filter((e) => {
      if (!this.enabled(e.id)) return false;
      if (!data || !e.when) return true;
      try {
        return e.when(data);
      } catch {
        // A plugin's broken `when` shows its extension rather than hiding it silently.
        return true;
      }
    });
  }

  /** All extensions attached to the same input, on or off, in their order. */
  siblings(parent: string, input: string): Extension[] {
    const place = (e: Extension) =>
      this.settings.get(e.id)?.position ?? (e.config.order ?? 0) * 100_000 + (this.order.get(e.id) as number);
    return this.all()
      .filter((e) => e.attachTo.id === parent && e.attachTo.input === input)
      .sort(
        (a, b) => place(a) - place(b) || (this.order.get(a.id) as number) - (this.order.get(b.id) as number),
      );
  }

  /** What administrators set, from the server (in turn with changes, so none is lost to a late load). */
  loadSettings(api: Api): Promise<void> {
    return this.serially(async () => {
      const { items } = await api.get<{ items: ExtensionSetting[] }>('/api/ui/extensions');
      this.settings = new Map(items.map((s) => [s.id, s]));
      this.changed();
    });
  }

  /** Turns an extension on or off for everyone (stored on the server, audited there). */
  setEnabled(api: Api, id: string, enabled: boolean): Promise<void> {
    return this.serially(() => this.saveEnabled(api, id, enabled));
  }

  /** Moves an extension one place up (-1) or down (+1) among its siblings; all get a position. */
  move(api: Api, id: string, by: -1 | 1): Promise<void> {
    return this.serially(() => this.saveMove(api, id, by));
  }

  /** Gives every extension back its defaults: on, where it was registered. */
  resetAll(api: Api): Promise<void> {
    return this.serially(async () => {
      for (const id of [...this.settings.keys()]) {
        await api.delete(`/api/ui/extensions/${encodeURIComponent(id)}`);
        this.settings.delete(id);
      }
      this.changed();
    });
  }

  /** Whether an administrator changed anything (what a reset would undo). */
  get customised(): boolean {
    return this.settings.size > 0;
  }

  private serially(work: () => Promise<void>): Promise<void> {
    const next = this.saving.then(work, work);
    this.saving = next.catch(() => {});
    return next;
  }

  private async saveEnabled(api: Api, id: string, enabled: boolean): Promise<void> {
    const position = this.settings.get(id)?.position ?? null;
    const saved = await api.put<ExtensionSetting>(`/api/ui/extensions/${encodeURIComponent(id)}`, {
      enabled,
      position,
    });
    this.settings.set(id, saved);
    this.changed();
  }

  private async saveMove(api: Api, id: string, by: -1 | 1): Promise<void> {
    const ext = this.extensions.get(id);
    if (!ext) return;
    const list = this.siblings(ext.attachTo.id, ext.attachTo.input);
    const from = list.findIndex((e) => e.id === id);
    const to = from + by;
    if (to < 0 || to >= list.length) return;
    [list[from], list[to]] = [list[to] as Extension, list[from] as Extension];
    for (const [position, e] of list.entries()) {
      if (this.settings.get(e.id)?.position === position) continue;
      const saved = await api.put<ExtensionSetting>(`/api/ui/extensions/${encodeURIComponent(e.id)}`, {
        enabled: this.enabled(e.id),
        position,
      });
      this.settings.set(e.id, saved);
    }
    this.changed();
  }

  private changed() {
    this.dispatchEvent(new Event('change'));
  }
}

/**
 * Renders an extension with its factory, inside an error boundary: one that throws (a plugin's
 * element failing as it gets its data) shows that it failed, in its own slot, and the page around
 * it stays whole.
 */
export function renderExtension(ext: Extension, ctx: ExtensionContext): unknown {
  try {
    return ext.factory?.(ctx);
  } catch (err) {
    console.error(`extension ${ext.id} failed`, err);
    return html`<p class="error" role="alert" data-failed=${ext.id}>This extension failed${ext.plugin ? html` (plugin <code>${ext.plugin}</code>)` : ''}: ${(err as Error)?.message ?? String(err)}</p>`;
  }
}

/**
 * A factory for a custom element: made once per `key` (a deployment, a node) and then given the
 * context — `api`, `session`, then the parent's data — as properties on every render.
 */
export function elementFactory(tag: string, keyOf: (data: Record<string, unknown>) => string = () => '') {
  const made = new Map<string, HTMLElement>();
  return (ctx: ExtensionContext): HTMLElement => {
    const key = keyOf(ctx.data);
    let el = made.get(key);
    if (!el) {
      el = document.createElement(tag);
      made.set(key, el);
      // A handful is plenty (one page shows one deployment); older ones are let go.
      if (made.size > 16) made.delete(made.keys().next().value as string);
    }
    Object.assign(el, { api: ctx.api, session: ctx.session, ...ctx.data });
    return el;
  };
}

/**
 * Re-renders its host whenever the tree changes (a plugin's extensions arrived, settings were
 * loaded or changed) while the host is connected. Create it after the `@consume` of the tree.
 */
export class TreeSubscription implements ReactiveController {
  private tree: ExtensionTree | undefined;
  private readonly changed = () => this.host.requestUpdate();

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly treeOf: () => ExtensionTree | undefined,
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    this.tree = this.treeOf();
    this.tree?.addEventListener('change', this.changed);
  }

  hostDisconnected(): void {
    this.tree?.removeEventListener('change', this.changed);
  }
}

export const extensionTreeContext = createContext<ExtensionTree>(Symbol('nullops-extension-tree'));
