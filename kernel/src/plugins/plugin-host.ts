import type {
  ComponentDefinition,
  PipelineRun,
  PluginDefinition,
  PluginRef,
  PluginStatus,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import type { DependencyContainer } from '../container.js';
import type { BundledPlugin } from './bundled-plugins.js';
import { loadPluginModule } from './plugin-loader.js';
import type { PluginStore } from './plugin-store.js';

/** One plugin release as a host has it. */
export interface HostedPlugin {
  name: string;
  version: string;
  source: 'bundled' | 'registry';
  /** Subresource integrity of the downloaded package (registry releases). */
  integrity?: string;
  status: 'loaded' | 'failed';
  error?: string;
  dir?: string;
  frontend?: string;
  definition?: PluginDefinition;
  components: ReadonlyMap<string, ComponentDefinition>;
  /** The plugin's own child of the host's container. */
  container: DependencyContainer;
}

/** Components a run can use, and for the others, why not. */
export interface RunComponents {
  components: Map<string, ComponentDefinition>;
  unavailable: Map<string, string>;
}

/**
 * The plugin releases a host (agent or control plane) has loaded. Releases are keyed by exact
 * version, so a deployment pinned to 1.0.0 and a new one on 1.1.0 run side by side. A release that
 * fails to download is retried next time it is needed; one that fails to load stays failed (the
 * same bytes fail the same way) and only the components it would provide are unavailable.
 */
export class PluginHost {
  private readonly releases = new Map<string, Promise<HostedPlugin>>();

  constructor(
    private readonly deps: {
      store: PluginStore;
      container: DependencyContainer;
      logger: Logger;
      importTimeoutMs?: number;
    },
  ) {}

  /** The dependency tree installed for a release (see PluginStore.lockfileOf). */
  lockfileOf(name: string, version: string): Promise<string | undefined> {
    return this.deps.store.lockfileOf(name, version);
  }

  /** Loads the first-party plugins the host program ships with (see `bundledPluginsOf`). */
  async loadBundled(plugins: readonly BundledPlugin[]): Promise<HostedPlugin[]> {
    // Called once at start: what an install interrupted by a crash left is cleared first.
    await this.deps.store.sweep();
    const loaded: HostedPlugin[] = [];
    for (const { dir } of plugins) {
      const plugin = await this.load(dir, 'bundled');
      this.releases.set(key(plugin.name, plugin.version), Promise.resolve(plugin));
      loaded.push(plugin);
    }
    return loaded;
  }

  /**
   * The release `ref` names: already loaded, or downloaded and loaded now. Never throws. Concurrent
   * callers share one download; a release that could not be had (the registry down, no registry
   * given) is not remembered, so the next call tries again.
   */
  ensure(ref: PluginRef): Promise<HostedPlugin> {
    const k = key(ref.name, ref.version);
    const known = this.releases.get(k);
    if (known) return known;
    const pending = this.install(ref).then(({ plugin, remember }) => {
      if (!remember && this.releases.get(k) === pending) this.releases.delete(k);
      return plugin;
    });
    this.releases.set(k, pending);
    return pending;
  }

  private async install(ref: PluginRef): Promise<{ plugin: HostedPlugin; remember: boolean }> {
    const k = key(ref.name, ref.version);
    if (ref.source === 'bundled' || !ref.registry) {
      const reason = `${k} is not bundled with this host and has no registry to download it from`;
      return { plugin: this.failed(ref, ref.source, reason), remember: false };
    }
    let dir: string;
    try {
      dir = await this.deps.store.install({ ...ref, registry: ref.registry });
    } catch (err) {
      const reason = `download failed: ${describeInstallError(err)}`;
      return { plugin: this.failed(ref, 'registry', reason), remember: false };
    }
    // A release that downloaded but does not load stays failed: the same bytes fail the same way.
    const plugin = await this.load(dir, 'registry');
    return { plugin: { ...plugin, ...(ref.integrity ? { integrity: ref.integrity } : {}) }, remember: true };
  }

  private async load(dir: string, source: HostedPlugin['source']): Promise<HostedPlugin> {
    const module = await loadPluginModule(dir, { importTimeoutMs: this.deps.importTimeoutMs });
    if (!module.ok) {
      this.deps.logger.error(
        { plugin: `${module.name}@${module.version}`, error: module.error },
        'plugin failed to load',
      );
      return { ...this.failed(module, source, module.error), dir };
    }
    this.deps.logger.info(
      { plugin: `${module.name}@${module.version}`, components: [...module.components.keys()] },
      'plugin loaded',
    );
    return {
      name: module.name,
      version: module.version,
      source,
      status: 'loaded',
      dir,
      ...(module.frontend ? { frontend: module.frontend } : {}),
      definition: module.definition,
      components: module.components,
      container: this.deps.container.createChildContainer(),
    };
  }

  private failed(
    ref: { name: string; version: string },
    source: HostedPlugin['source'],
    error: string,
  ): HostedPlugin {
    return {
      name: ref.name,
      version: ref.version,
      source,
      status: 'failed',
      error,
      components: new Map(),
      container: this.deps.container.createChildContainer(),
    };
  }

  /** Every release loaded so far (failed ones included). */
  async all(): Promise<HostedPlugin[]> {
    return Promise.all(this.releases.values());
  }

  /** Forgets a release (its folder stays until `PluginStore.remove`); the next `ensure` reloads it. */
  forget(name: string, version: string): void {
    this.releases.delete(key(name, version));
  }

  /** Makes sure every release in `refs` is here and reports each. */
  async sync(refs: PluginRef[]): Promise<PluginStatus[]> {
    return Promise.all(refs.map(async (ref) => statusOf(await this.ensure(ref))));
  }

  /**
   * The components a pipeline run needs, from exactly the releases it pins. Nodes saved before
   * plugins were pinned fall back to the bundled plugins.
   */
  async componentsFor(run: PipelineRun): Promise<RunComponents> {
    const result: RunComponents = { components: new Map(), unavailable: new Map() };
    const bundled = (await this.all()).filter((p) => p.source === 'bundled' && p.status === 'loaded');
    for (const node of run.nodes) {
      if (result.components.has(node.type) || result.unavailable.has(node.type)) continue;
      const ref = node.plugin ? run.plugins.find((p) => p.name === node.plugin) : undefined;
      if (!ref) {
        const provider = bundled.find((p) => p.components.has(node.type));
        if (provider)
          result.components.set(node.type, provider.components.get(node.type) as ComponentDefinition);
        else result.unavailable.set(node.type, `no installed plugin provides the component "${node.type}"`);
        continue;
      }
      const plugin = await this.ensure(ref);
      const component = plugin.components.get(node.type);
      if (component) result.components.set(node.type, component);
      else
        result.unavailable.set(
          node.type,
          plugin.status === 'failed'
            ? `plugin ${ref.name}@${ref.version} is not available on this node: ${plugin.error}`
            : `plugin ${ref.name}@${ref.version} has no component "${node.type}"`,
        );
    }
    return result;
  }
}

const key = (name: string, version: string) => `${name}@${version}`;

export function statusOf(plugin: HostedPlugin): PluginStatus {
  return {
    name: plugin.name,
    version: plugin.version,
    status: plugin.status,
    ...(plugin.error ? { error: plugin.error } : {}),
    components: [...plugin.components.keys()],
  };
}

/** npm's errors carry a code (E404, ETARGET, EINTEGRITY, …); keep the message short and useful. */
export function describeInstallError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  // Registry URLs of scoped packages are escaped (@scope%2fname); people read @scope/name.
  const message = ((e.message ?? String(err)).split('\n')[0] as string).replace(/%2f/gi, '/');
  return e.code && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
