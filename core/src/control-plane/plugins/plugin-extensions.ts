import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { HostedPlugin } from '@nullops/kernel/plugins';
import type {
  ControlPlaneContext,
  DeploymentForPlugin,
  DeploymentNotification,
  NodeNotification,
  NodeNotifier,
  Notifier,
  PluginRoute,
  RegistryProvider,
} from '@nullops/plugin-sdk';
import { extensionPoints } from '@nullops/plugin-sdk';
import { match } from 'path-to-regexp';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';

const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Who a plugin route is answering, for as long as its handler runs: what it reads on the caller's
 * behalf (`ctx.deployments.get`) is decided by the core's one access rule for that caller — token
 * scope included — whatever the plugin passes.
 */
export const pluginCaller = new AsyncLocalStorage<Principal>();

/**
 * The extension points the control plane publishes to plugins: routes under
 * `/api/ext/<plugin>/…`, deployment notifiers, and registry providers. Each contribution is kept
 * per plugin, so upgrading or removing a plugin withdraws exactly what it added.
 */
export class PluginExtensions {
  private readonly routes = new Map<string, PluginRoute[]>();
  private readonly notifiers = new Map<string, Notifier[]>();
  private readonly nodeNotifiers = new Map<string, NodeNotifier[]>();
  private readonly providers = new Map<string, RegistryProvider[]>();
  /**
   * Per plugin whose control-plane part was asked to start: a digest of the settings it was given
   * (never a second copy of their values), and why it did not start, if it did not.
   */
  private readonly started = new Map<string, { settings?: string; error?: string }>();

  constructor(
    private readonly logger: Logger,
    /** How plugins read a deployment (`ctx.deployments.get`), checked against the caller's access. */
    private readonly readDeployment: (
      id: string,
      caller: Principal,
    ) => Promise<DeploymentForPlugin | undefined>,
    /** A plugin's settings for a project (`ctx.projectSettings.get`), secrets resolved. */
    private readonly readProjectSettings: (
      plugin: string,
      projectId: string,
    ) => Promise<Record<string, unknown> | undefined>,
  ) {}

  /** Runs a plugin's `controlPlane(ctx)`; a plugin that throws contributes nothing and is reported. */
  async activate(plugin: HostedPlugin, settings: Record<string, unknown>): Promise<string | undefined> {
    const name = plugin.name;
    this.deactivate(name);
    const error = await this.start(plugin, settings);
    this.started.set(name, { settings: digestOf(settings), ...(error ? { error } : {}) });
    return error;
  }

  /** A plugin's control-plane part is not started, for `reason` (its settings cannot be resolved). */
  refuse(name: string, reason: string): void {
    this.deactivate(name);
    this.started.set(name, { error: reason });
  }

  /** Why a plugin's control-plane part did not start, if it did not. */
  errorOf(name: string): string | undefined {
    return this.started.get(name)?.error;
  }

  /** Whether a plugin's control-plane part was last started with these settings. */
  startedWith(name: string, settings: Record<string, unknown>): boolean {
    return this.started.get(name)?.settings === digestOf(settings);
  }

  private async start(plugin: HostedPlugin, settings: Record<string, unknown>): Promise<string | undefined> {
    const hook = plugin.definition?.controlPlane;
    if (!hook) return undefined;
    const name = plugin.name;
    const routes: PluginRoute[] = [];
    const notifiers: Notifier[] = [];
    const nodeNotifiers: NodeNotifier[] = [];
    const providers: RegistryProvider[] = [];
    const log = this.logger.child({ plugin: `${name}@${plugin.version}` });
    const ctx: ControlPlaneContext = {
      plugin: { name, version: plugin.version },
      settings: Object.freeze({ ...settings }),
      container: plugin.container,
      log: {
        info: (message, fields) => log.info(fields ?? {}, message),
        warn: (message, fields) => log.warn(fields ?? {}, message),
        error: (message, fields) => log.error(fields ?? {}, message),
      },
      routes: {
        add: (route) => {
          if (!route.path.startsWith('/')) throw new TypeError(`route path ${route.path} must start with /`);
          routes.push(route);
        },
      },
      deployments: {
        get: async (id, userId) => {
          // Only for the user the current request is from, with that request's token scope.
          const caller = pluginCaller.getStore();
          if (!caller || caller.userId !== userId) return undefined;
          return this.readDeployment(id, caller);
        },
      },
      notifiers: { add: (notifier) => void notifiers.push(notifier) },
      nodeNotifiers: { add: (notifier) => void nodeNotifiers.push(notifier) },
      registryProviders: { add: (provider) => void providers.push(provider) },
      projectSettings: { get: (projectId) => this.readProjectSettings(name, projectId) },
      extend: (point, contribution) => {
        const add = byPoint.get(point.id);
        if (!add)
          throw new TypeError(
            `this control plane publishes no extension point ${point.id} (it has ${[...byPoint.keys()].join(', ')})`,
          );
        add(contribution as never);
      },
    };
    // Each published point by its id: `ctx.extend(ref, …)` does what `ctx.<point>.add(…)` does.
    const byPoint = new Map<string, (contribution: never) => void>([
      [extensionPoints.routes.id, (route: PluginRoute) => ctx.routes.add(route)],
      [extensionPoints.notifiers.id, (notifier: Notifier) => ctx.notifiers.add(notifier)],
      [extensionPoints.nodeNotifiers.id, (notifier: NodeNotifier) => ctx.nodeNotifiers.add(notifier)],
      [
        extensionPoints.registryProviders.id,
        (provider: RegistryProvider) => ctx.registryProviders.add(provider),
      ],
    ]);
    try {
      await hook(ctx);
    } catch (err) {
      log.error({ err }, 'control-plane extension failed to start; it contributes nothing');
      return `controlPlane() failed: ${(err as Error)?.message ?? String(err)}`;
    }
    this.routes.set(name, routes);
    this.notifiers.set(name, notifiers);
    this.nodeNotifiers.set(name, nodeNotifiers);
    this.providers.set(name, providers);
    return undefined;
  }

  deactivate(name: string): void {
    this.started.delete(name);
    this.routes.delete(name);
    this.notifiers.delete(name);
    this.nodeNotifiers.delete(name);
    this.providers.delete(name);
  }

  /** The plugin route for `/api/ext/<rest>`: the longest plugin name that prefixes `rest` wins. */
  findRoute(
    method: string,
    rest: string,
  ): { plugin: string; route: PluginRoute; params: Record<string, string> } | undefined {
    const names = [...this.routes.keys()].sort((a, b) => b.length - a.length);
    const plugin = names.find((n) => rest === n || rest.startsWith(`${n}/`));
    if (!plugin) return undefined;
    const path = rest.slice(plugin.length) || '/';
    for (const route of this.routes.get(plugin) ?? []) {
      if (route.method !== method) continue;
      // The same path syntax (and matcher) as the core's own routes.
      const matched = match(route.path, { decode: decodeURIComponent })(path);
      if (matched) return { plugin, route, params: matched.params as Record<string, string> };
    }
    return undefined;
  }

  registryProviderFor(url: string): RegistryProvider | undefined {
    for (const list of this.providers.values()) {
      const found = list.find((p) => {
        try {
          return p.matches(url);
        } catch {
          return false;
        }
      });
      if (found) return found;
    }
    return undefined;
  }

  hasNotifiers(): boolean {
    return [...this.notifiers.values()].some((list) => list.length > 0);
  }

  hasNodeNotifiers(): boolean {
    return [...this.nodeNotifiers.values()].some((list) => list.length > 0);
  }

  /** Tells every notifier; each gets a time limit and its failure is only logged. */
  notify(notification: DeploymentNotification): Promise<void> {
    return this.tell(this.notifiers, notification, notification.event);
  }

  /** Tells every node notifier (administrators' channels), the same way. */
  notifyNodes(notification: NodeNotification): Promise<void> {
    return this.tell(this.nodeNotifiers, notification, notification.event);
  }

  private async tell<N>(lists: Map<string, ((n: N) => Promise<void>)[]>, notification: N, event: string) {
    const all = [...lists.entries()].flatMap(([plugin, list]) => list.map((n) => ({ plugin, n })));
    await Promise.all(
      all.map(async ({ plugin, n }) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            n(notification),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('timed out')), NOTIFY_TIMEOUT_MS);
            }),
          ]);
        } catch (err) {
          this.logger.warn({ plugin, err: (err as Error)?.message, event }, 'notifier failed');
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }
}

const digestOf = (settings: Record<string, unknown>) =>
  createHash('sha256').update(JSON.stringify(settings)).digest('base64');
