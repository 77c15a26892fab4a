import {
  type CanvasWidget,
  type Extension,
  type ExtensionContext,
  elementFactory,
} from './extension-tree.js';

/**
 * Blueprints: the common kinds of extensions in one call each, for plugins and for the core
 * alike. Each takes a short `name` (unique within its plugin), what it shows (`element`: a custom
 * element the plugin defined, or `render`: anything Lit renders) and where its parent needs it.
 */
type Body =
  | { element: string; render?: never }
  | { render: (ctx: ExtensionContext) => unknown; element?: never };
type Owner = { plugin: string | null };

/** The parents and inputs the core offers. */
export const INPUTS = {
  routes: { id: 'app', input: 'routes' },
  nav: { id: 'app/nav', input: 'items' },
  adminPages: { id: 'page:admin', input: 'pages' },
  deploymentTabs: { id: 'page:deployment', input: 'tabs' },
  deploymentPanels: { id: 'page:deployment', input: 'panels' },
  nodeWidgets: { id: 'page:pipeline-editor', input: 'nodeWidgets' },
} as const;

const idOf = (kind: string, owner: Owner, name: string) =>
  owner.plugin ? `${kind}:${owner.plugin}/${name}` : `${kind}:${name}`;

function factoryOf(body: Body, keyOf?: (data: Record<string, unknown>) => string) {
  return body.element ? elementFactory(body.element, keyOf) : body.render;
}

const byDeployment = (data: Record<string, unknown>) =>
  String((data.deployment as { id?: string })?.id ?? '');

export interface PageParams {
  name: string;
  title: string;
  /** Its route, with `:params` (given to the element as properties): `/costs/:projectId`. */
  path: string;
  /** Only for administrators (others get an "administrators only" page). */
  adminOnly?: boolean;
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

export function makeBlueprints(owner: Owner) {
  return {
    /** A page of its own, at `path`. Add a `navItem` to link it from the header. */
    page: (p: PageParams & Body): Extension => ({
      id: idOf('page', owner, p.name),
      attachTo: INPUTS.routes,
      kind: 'page',
      title: p.title,
      plugin: owner.plugin,
      config: { path: p.path, adminOnly: p.adminOnly ?? false },
      factory: factoryOf(p, (data) => JSON.stringify(data.params ?? {})),
    }),
    /** A link in the header's navigation. */
    navItem: (p: { name: string; title: string; path: string; adminOnly?: boolean }): Extension => ({
      id: idOf('nav-item', owner, p.name),
      attachTo: INPUTS.nav,
      kind: 'nav-item',
      title: p.title,
      plugin: owner.plugin,
      config: { path: p.path, adminOnly: p.adminOnly ?? false },
    }),
    /** A page of the administration area, at `/admin/<name>`, with its tab there. */
    adminPage: (p: { name: string; title: string } & Body): Extension => ({
      id: idOf('admin-page', owner, p.name),
      attachTo: INPUTS.adminPages,
      kind: 'admin-page',
      title: p.title,
      plugin: owner.plugin,
      config: {
        name: owner.plugin ? `${owner.plugin.replace(/^@/, '').replace(/\//g, '.')}.${p.name}` : p.name,
      },
      factory: factoryOf(p),
    }),
    /** A tab of the deployment page, next to its Overview. */
    tab: (p: PanelParams & Body): Extension => ({
      id: idOf('tab', owner, p.name),
      attachTo: INPUTS.deploymentTabs,
      kind: 'tab',
      title: p.title,
      plugin: owner.plugin,
      config: {},
      ...(p.when ? { when: p.when } : {}),
      factory: factoryOf(p, byDeployment),
    }),
    /** A section of the deployment page's Overview. */
    panel: (p: PanelParams & Body): Extension => ({
      id: idOf('panel', owner, p.name),
      attachTo: INPUTS.deploymentPanels,
      kind: 'panel',
      title: p.title,
      plugin: owner.plugin,
      config: { ownHeading: p.ownHeading ?? false, order: p.order ?? 0 },
      ...(p.when ? { when: p.when } : {}),
      factory: factoryOf(p, byDeployment),
    }),
    /** What the pipeline editor shows for nodes of one component type: on the canvas, in the side form, or both. */
    nodeWidget: (p: NodeWidgetParams): Extension => ({
      id: idOf('node-widget', owner, p.name),
      attachTo: INPUTS.nodeWidgets,
      kind: 'node-widget',
      title: p.type,
      plugin: owner.plugin,
      config: { type: p.type, ...(p.canvas ? { canvas: p.canvas } : {}) },
      ...(p.element ? { factory: elementFactory(p.element, (data) => String(data.nodeId ?? '')) } : {}),
    }),
  };
}

export type Blueprints = ReturnType<typeof makeBlueprints>;
