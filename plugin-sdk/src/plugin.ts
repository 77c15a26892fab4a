import { type ComponentDefinition, isComponent } from './component.js';
import { SDK_VERSION } from './version.js';

/** A deployment event as control-plane plugins see it (notifiers get every one). */
export interface DeploymentNotification {
  /** What happened, e.g. `created`, `running`, `failed`, `extended`, `deleted`. */
  event: string;
  deployment: {
    id: string;
    name: string;
    state: string;
    projectId: string;
    projectName: string;
    environmentName: string;
    /** `http://svc.deployment.env.<domain>` per service, once the deployment runs. */
    urls: Record<string, string>;
    expiresAt: string | null;
  };
  /** Who caused it; null for the system (expiry, agent reports). */
  actor: string | null;
  message?: string;
  at: string;
}

/** Receives deployment events; a failure is logged and never affects the deployment. */
export type Notifier = (notification: DeploymentNotification) => Promise<void>;

/** A node event for administrators (SDK 1.3): a node went offline (or came back). */
export interface NodeNotification {
  /** `node.offline` (lost, untrusted, incompatible…) or `node.online` (back). */
  event: 'node.offline' | 'node.online';
  node: { id: string; name: string; environmentName: string; status: string; message: string | null };
  at: string;
}
export type NodeNotifier = (notification: NodeNotification) => Promise<void>;

/** An HTTP request as a plugin route sees it. */
export interface PluginRequest {
  params: Record<string, string>;
  query: Record<string, string | string[] | undefined>;
  body: unknown;
  /** The signed-in caller (routes are never public). */
  user: {
    id: string;
    username: string;
    isAdmin: boolean;
    /**
     * What the caller's API token is limited to (since 1.5): read-only, and/or some projects.
     * `ctx.deployments.get` applies it already; a plugin reading anything else applies it too.
     */
    scope?: { access: 'read' | 'full'; projectIds: string[] | null };
  };
}

/** A route a control-plane plugin adds under `/api/ext/<package name>/`. */
export interface PluginRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Relative to the plugin's prefix, koa-router syntax: `/status/:id`. */
  path: string;
  /** `authenticated` (any signed-in user) or `admin`; there are no public plugin routes. */
  access: 'authenticated' | 'admin';
  /**
   * True when the answer holds credentials or other secrets (a database password): every call is
   * then audited with who asked, reads too. Calls that change something are always audited.
   */
  sensitive?: boolean;
  handler(request: PluginRequest): Promise<{ status: number; body?: unknown }>;
}

/** Lists a container registry's tags where the Docker Registry v2 API does not fit. */
export interface RegistryProvider {
  /** Short name shown to admins, e.g. `ecr`. */
  name: string;
  /** True for the registries this provider serves, by their URL. */
  matches(registryUrl: string): boolean;
  listTags(input: {
    registryUrl: string;
    image: string;
    username?: string;
    password?: string;
    signal: AbortSignal;
  }): Promise<string[]>;
  /**
   * The digest (`sha256:…`) a tag points to now, which deployments then run (since 1.6). Without
   * it, the control plane asks the registry's Docker Registry v2 manifest endpoint.
   */
  resolveDigest?(input: {
    registryUrl: string;
    image: string;
    tag: string;
    username?: string;
    password?: string;
    signal: AbortSignal;
  }): Promise<string>;
}

/** A deployment as a control-plane plugin may read it, for one user. */
export interface DeploymentForPlugin {
  id: string;
  name: string;
  state: string;
  /** The user's access: plugins must not show `services[].env` to users without `full`. */
  access: 'read' | 'full';
  /** The services the pipeline started, with their environment (it may hold credentials). */
  services: { name: string; image: string; port?: number; env: Record<string, string> }[];
}

/**
 * A named place where control-plane plugins contribute (since 1.7), Backstage-style: the core
 * publishes a ref, a plugin calls `ctx.extend(ref, contribution)`. A new extension point is a new
 * ref — additive — not a change of {@link ControlPlaneContext}.
 */
export interface ExtensionPoint<T> {
  readonly id: string;
  /** Only for type inference: what a contribution to this point is. */
  readonly $contribution?: T;
}

export function createExtensionPoint<T>(options: { id: string }): ExtensionPoint<T> {
  return Object.freeze({ id: options.id }) as ExtensionPoint<T>;
}

/** The extension points the core publishes (the same as `ctx.routes`, `ctx.notifiers`…). */
export const extensionPoints = {
  routes: createExtensionPoint<PluginRoute>({ id: 'core.routes' }),
  notifiers: createExtensionPoint<Notifier>({ id: 'core.notifiers' }),
  nodeNotifiers: createExtensionPoint<NodeNotifier>({ id: 'core.node-notifiers' }),
  registryProviders: createExtensionPoint<RegistryProvider>({ id: 'core.registry-providers' }),
} as const;

/** What a control-plane plugin gets when the control plane loads it. */
export interface ControlPlaneContext {
  plugin: { name: string; version: string };
  /**
   * The plugin's own settings, set by an admin at install; `${secret:NAME}` references are
   * already replaced by the secret's value.
   */
  settings: Readonly<Record<string, unknown>>;
  /** A child of the host's DI container, owned by this plugin: register and resolve freely. */
  container: {
    register(token: string | symbol, provider: { useValue: unknown }): unknown;
    resolve<T>(token: string | symbol): T;
    isRegistered(token: string | symbol, recursive?: boolean): boolean;
  };
  log: {
    info(message: string, fields?: Record<string, unknown>): void;
    warn(message: string, fields?: Record<string, unknown>): void;
    error(message: string, fields?: Record<string, unknown>): void;
  };
  /**
   * Reads a deployment for the user of the request being answered (pass `request.user.id`):
   * undefined when it does not exist, the user has no access at all, or their API token's scope
   * leaves it out. `access` is the user's level capped by the token (a read-only token reads);
   * check it before revealing anything secret.
   */
  deployments: { get(id: string, userId: string): Promise<DeploymentForPlugin | undefined> };
  /**
   * Contributes to an extension point by its ref (since 1.7): `ctx.extend(extensionPoints.notifiers,
   * notifier)`. A point this host does not publish is an error naming it.
   */
  extend?<T>(point: ExtensionPoint<T>, contribution: T): void;
  /** Extension points the core publishes. */
  routes: { add(route: PluginRoute): void };
  notifiers: { add(notifier: Notifier): void };
  /** Node events, for administrators (SDK 1.3). */
  nodeNotifiers: { add(notifier: NodeNotifier): void };
  registryProviders: { add(provider: RegistryProvider): void };
  /**
   * This plugin's settings for one project, as an admin set them (`PUT
   * /api/projects/{id}/plugins/{name}/settings`), secret references resolved; undefined when the
   * project has none (SDK 1.3).
   */
  projectSettings: { get(projectId: string): Promise<Readonly<Record<string, unknown>> | undefined> };
}

/** A NullOps plugin: what its package's main module default-exports. */
export interface PluginDefinition {
  readonly $$type: '@nullops/Plugin';
  /** The SDK version the plugin was built with. */
  readonly sdkVersion: string;
  /** Pipeline components, run by agents (and described to the editor by the control plane). */
  components: readonly ComponentDefinition[];
  /** Optional control-plane extension, called once when the control plane loads the plugin. */
  controlPlane?(ctx: ControlPlaneContext): void | Promise<void>;
}

/**
 * Declares a plugin. Default-export the result from the module named by `nullops.main`:
 *
 * @example
 * export default definePlugin({ components: [hello] });
 */
export function definePlugin(
  definition: Partial<Omit<PluginDefinition, '$$type' | 'sdkVersion'>>,
): PluginDefinition {
  const components = definition.components ?? [];
  const seen = new Set<string>();
  for (const component of components) {
    if (!isComponent(component)) throw new TypeError('components must be made with defineComponent');
    if (seen.has(component.type)) throw new TypeError(`component type ${component.type} is declared twice`);
    seen.add(component.type);
  }
  return { ...definition, $$type: '@nullops/Plugin', sdkVersion: SDK_VERSION, components };
}

/** True for a plugin from any copy of the SDK. */
export function isPlugin(value: unknown): value is PluginDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { $$type?: unknown }).$$type === '@nullops/Plugin'
  );
}

/** The `nullops` block of a plugin's package.json. */
export interface PluginManifest {
  /** Semver range of SDK versions the plugin works with, e.g. `^1.0.0`. */
  sdk: string;
  /** The module that default-exports `definePlugin(...)`, relative to the package root. */
  main: string;
  /** Optional ES module for the web UI (custom elements, panels, node widgets). */
  frontend?: string;
}
