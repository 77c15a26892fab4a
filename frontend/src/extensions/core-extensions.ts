import { html } from 'lit';
import { RESOURCES } from '../pages/admin-resources.js';
import type { Deployment } from '../pages/types.js';
import { makeBlueprints } from './blueprints.js';
import type { ExtensionContext, ExtensionTree } from './extension-tree.js';
import '../pages/deployments-page.js';
import '../pages/deployment-page.js';
import '../pages/deployment-backups.js';
import '../pages/deployment-history.js';
import '../pages/deployment-logs.js';
import '../pages/projects-page.js';
import '../pages/plugins-page.js';
import '../pages/admin-pages.js';
import '../pages/account-page.js';
import '../pages/extensions-page.js';

const params = (ctx: ExtensionContext) => (ctx.data.params ?? {}) as Record<string, string>;

/**
 * The core's own pages, navigation, admin pages and deployment sections: extensions made with
 * the same blueprints a plugin uses, so administrators turn them off or reorder them the same way.
 */
export function registerCoreExtensions(tree: ExtensionTree): void {
  const { page, navItem, adminPage, panel } = makeBlueprints({ plugin: null });
  tree.add(
    page({
      name: 'deployments',
      title: 'Deployments',
      path: '/',
      render: () => html`<nullops-deployments-page></nullops-deployments-page>`,
    }),
    page({
      name: 'deployment',
      title: 'Deployment',
      path: '/deployments/:id',
      render: (ctx) =>
        html`<nullops-deployment-page .deploymentId=${params(ctx).id}></nullops-deployment-page>`,
    }),
    page({
      name: 'projects',
      title: 'Projects',
      path: '/projects',
      render: () => html`<nullops-projects-page></nullops-projects-page>`,
    }),
    page({
      name: 'pipeline-editor',
      title: 'Pipeline editor',
      path: '/projects/:id/pipeline',
      render: (ctx) => {
        // The editor (and LiteGraph) load only when this page opens.
        void import('../pages/pipeline-editor.js');
        const version = new URLSearchParams(location.search).get('version');
        return html`<nullops-pipeline-editor .projectId=${params(ctx).id} .version=${version ? Number(version) : undefined}></nullops-pipeline-editor>`;
      },
    }),
    page({
      name: 'account',
      title: 'Your account',
      path: '/account',
      render: () => html`<nullops-account-page></nullops-account-page>`,
    }),
    page({
      name: 'admin',
      title: 'Administration',
      path: '/admin/:resource',
      adminOnly: true,
      render: (ctx) => html`<nullops-admin-page .resource=${params(ctx).resource}></nullops-admin-page>`,
    }),
    navItem({ name: 'deployments', title: 'Deployments', path: '/' }),
    navItem({ name: 'projects', title: 'Projects', path: '/projects' }),
    navItem({ name: 'plugins', title: 'Plugins', path: '/admin/plugins', adminOnly: true }),
    navItem({ name: 'admin', title: 'Admin', path: '/admin/registries', adminOnly: true }),
    ...RESOURCES.map((resource) =>
      adminPage({
        name: resource.key,
        title: resource.title,
        render: () => html`<nullops-admin-resource .resource=${resource}></nullops-admin-resource>`,
      }),
    ),
    adminPage({
      name: 'plugins',
      title: 'Plugins',
      render: () => html`<nullops-plugins-page></nullops-plugins-page>`,
    }),
    adminPage({
      name: 'extensions',
      title: 'Extensions',
      render: () => html`<nullops-extensions-page></nullops-extensions-page>`,
    }),
    panel({
      name: 'backups',
      title: 'Database backups',
      element: 'nullops-deployment-backups',
      ownHeading: true,
      when: (d) => ((d as unknown as Deployment).databases ?? []).length > 0,
    }),
    panel({ name: 'logs', title: 'Logs', element: 'nullops-deployment-logs', ownHeading: true }),
    // Last by default: what plugins add to the Overview comes before the history.
    panel({
      name: 'history',
      title: 'History',
      element: 'nullops-deployment-history',
      ownHeading: true,
      order: 1,
    }),
  );
}
