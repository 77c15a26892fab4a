/**
 * The web UI's side of the contract (`@nullops/plugin-sdk/frontend`, since 1.7; types only): what
 * a plugin's browser module (package.json `nullops.frontend`) is given and what it adds. The web
 * UI itself is built against these types, so a plugin written in TypeScript against them fits it.
 *
 * The types take the API client and the session as parameters: a plugin sees the
 * {@link PluginApi} and {@link PluginSession} below; the web UI fills in its own richer ones.
 */

/** The signed-in user's API client. An error answer rejects with the API's own message. */
export interface PluginApi {
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  get<T = unknown>(path: string): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
  put<T = unknown>(path: string, body?: unknown): Promise<T>;
  delete<T = unknown>(path: string): Promise<T>;
  /** A server-sent events stream of the API (live progress, logs), with the user's credentials. */
  events(path: string): EventSource;
}

/** Who is signed in, and what they may do. */
export interface PluginSession {
  user: { id: string; username: string };
  access: { admin: boolean };
}

/** The kinds of extensions, each made by its blueprint and read by the parent it attaches to. */
export type ExtensionKind = 'page' | 'nav-item' | 'admin-page' | 'tab' | 'panel' | 'node-widget';

/** What a parent hands the extensions attached to it when it renders them. */
export interface ExtensionContext<A = PluginApi, S = PluginSession> {
  api: A;
  session: S | undefined;
  /**
   * The parent's data, assigned to an extension's element as properties in this order: a page's
   * route params, a tab's or panel's `access` then `deployment`, a node widget's `params`…
   */
  data: Record<string, unknown>;
}

/** Draws a node widget onto the pipeline editor's canvas, inside the node, below its slots. */
export interface CanvasWidget {
  /** Its height in canvas pixels. */
  height: number;
  draw(
    ctx: CanvasRenderingContext2D,
    widget: { params: Record<string, unknown>; width: number; height: number; nodeId: string },
  ): void;
}

export interface Extension<A = PluginApi, S = PluginSession> {
  /** `<kind>:<name>` for the core's, `<kind>:<plugin>/<name>` for a plugin's. */
  id: string;
  /** The parent and the input of it this plugs into: `{ id: 'page:deployment', input: 'tabs' }`. */
  attachTo: { id: string; input: string };
  kind: ExtensionKind;
  title: string;
  /** The plugin that contributed it; null for the core's own. */
  plugin: string | null;
  /** What its parent reads besides the factory: a page's `path`, a node widget's `type`… */
  config: {
    path?: string;
    /** Admin pages: the `:resource` segment of `/admin/:resource`. */
    name?: string;
    adminOnly?: boolean;
    /** Node widgets: the component type whose nodes they are for. */
    type?: string;
    canvas?: CanvasWidget;
    /** Panels and tabs whose element shows its own heading (with its controls beside it). */
    ownHeading?: boolean;
    /**
     * Where it goes among its siblings until an administrator moves them: lower first, then in
     * registration order (default 0; the core's History section says 1, so plugins' panels come
     * before it).
     */
    order?: number;
  };
  /** Whether it applies to the parent's data (e.g. a panel only for deployments with a database). */
  when?: (data: Record<string, unknown>) => boolean;
  /** Renders it: a custom element (made once, then given the context's data) or anything the UI renders. */
  factory?: (ctx: ExtensionContext<A, S>) => unknown;
}

/** What an extension shows: a custom element the plugin defined, or a render function. */
export type ExtensionBody<A = PluginApi, S = PluginSession> =
  | { element: string; render?: never }
  | { render: (ctx: ExtensionContext<A, S>) => unknown; element?: never };

export interface PageParams {
  name: string;
  title: string;
  /** Its route, with `:params` (given to the element as properties): `/costs/:projectId`. */
  path: string;
  /** Only for administrators (others get an "administrators only" page). */
  adminOnly?: boolean;
}

export interface NavItemParams {
  name: string;
  title: string;
  path: string;
  adminOnly?: boolean;
}

export interface AdminPageParams {
  name: string;
  title: string;
}

export interface PanelParams {
  name: string;
  title: string;
  /** Whether it applies to a deployment (its element gets `api`, `access`, `deployment`). */
  when?: (deployment: Record<string, unknown>) => boolean;
  /** The element shows its own heading (with its controls beside it); otherwise the page adds `title`. */
  ownHeading?: boolean;
  /** Its default place among its siblings: lower first (0 unless said). */
  order?: number;
}

export interface NodeWidgetParams {
  name: string;
  /** The component type whose nodes it is for (e.g. `postgres.database`). */
  type: string;
  /** Drawn on the canvas, inside each node of the type. */
  canvas?: CanvasWidget;
  /** A custom element in the side form instead of the generic fields: gets `params`, `readOnly`, fires `params-change`. */
  element?: string;
}

/** The common kinds of extensions, one call each; ids are made from the plugin's name. */
export interface Blueprints<A = PluginApi, S = PluginSession> {
  /** A page of its own, at `path`. Add a `navItem` to link it from the header. */
  page(p: PageParams & ExtensionBody<A, S>): Extension<A, S>;
  /** A link in the header's navigation. */
  navItem(p: NavItemParams): Extension<A, S>;
  /** A page of the administration area, at `/admin/<name>`, with its tab there. */
  adminPage(p: AdminPageParams & ExtensionBody<A, S>): Extension<A, S>;
  /** A tab of the deployment page, next to its Overview. */
  tab(p: PanelParams & ExtensionBody<A, S>): Extension<A, S>;
  /** A section of the deployment page's Overview. */
  panel(p: PanelParams & ExtensionBody<A, S>): Extension<A, S>;
  /** What the pipeline editor shows for nodes of one component type: on the canvas, in the side form, or both. */
  nodeWidget(p: NodeWidgetParams): Extension<A, S>;
}

/**
 * What a plugin's browser module's default export is called with, once, after sign-in.
 *
 * @example
 * import type { PluginUiHost } from '@nullops/plugin-sdk/frontend';
 * export default function register(nullops: PluginUiHost) {
 *   const { page, navItem } = nullops.blueprints;
 *   nullops.add(
 *     page({ name: 'costs', title: 'Costs', path: '/costs', element: 'acme-costs-page' }),
 *     navItem({ name: 'costs', title: 'Costs', path: '/costs' }),
 *   );
 * }
 */
export interface PluginUiHost<A = PluginApi, S = PluginSession> {
  /** The plugin's name (every id it adds carries it: `page:<plugin>/costs`). */
  plugin: string;
  blueprints: Blueprints<A, S>;
  add(...extensions: Extension<A, S>[]): void;
  /** Extensions attached to an input of one of the plugin's own extensions (it renders them). */
  children(parent: string, input: string, data?: Record<string, unknown>): Extension<A, S>[];
  /** @deprecated since the extension tree: use `blueprints.panel` / `blueprints.adminPage`. */
  addPanel(panel: {
    slot: 'deployment' | 'admin';
    title: string;
    element: string;
    when?: (data: Record<string, unknown>) => boolean;
  }): void;
  /** @deprecated since the extension tree: use `blueprints.nodeWidget`. */
  addNodeWidget(widget: { type: string; element: string }): void;
}
