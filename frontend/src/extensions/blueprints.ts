import type * as Sdk from '@nullops/plugin-sdk/frontend';
import type { Api } from '../api.js';
import type { Session } from '../context.js';
import { type Extension, elementFactory } from './extension-tree.js';

/**
 * Blueprints: the common kinds of extensions in one call each, for plugins and for the core
 * alike. Each takes a short `name` (unique within its plugin), what it shows (`element`: a custom
 * element the plugin defined, or `render`: anything Lit renders) and where its parent needs it.
 */
type Body = Sdk.ExtensionBody<Api, Session>;
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

export function makeBlueprints(owner: Owner): Blueprints {
  return {
    /** A page of its own, at `path`. Add a `navItem` to link it from the header. */
    page: (p): Extension => ({
      id: idOf('page', owner, p.name),
      attachTo: INPUTS.routes,
      kind: 'page',
      title: p.title,
      plugin: owner.plugin,
      config: { path: p.path, adminOnly: p.adminOnly ?? false },
      factory: factoryOf(p, (data) => JSON.stringify(data.params ?? {})),
    }),
    /** A link in the header's navigation. */
    navItem: (p): Extension => ({
      id: idOf('nav-item', owner, p.name),
      attachTo: INPUTS.nav,
      kind: 'nav-item',
      title: p.title,
      plugin: owner.plugin,
      config: { path: p.path, adminOnly: p.adminOnly ?? false },
    }),
    /** A page of the administration area, at `/admin/<name>`, with its tab there. */
    adminPage: (p): Extension => ({
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
    tab: (p): Extension => ({
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
    panel: (p): Extension => ({
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
    nodeWidget: (p): Extension => ({
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

/** The blueprints of the SDK (`@nullops/plugin-sdk/frontend`), made with the web UI's client. */
export type Blueprints = Sdk.Blueprints<Api, Session>;
