import { html, LitElement } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { shared } from '../theme.js';
import './admin-resource.js';
import { consume } from '@lit/context';
import { apiContext, type Session, sessionContext } from '../context.js';
import {
  type ExtensionTree,
  extensionTreeContext,
  renderExtension,
  TreeSubscription,
} from '../extensions/extension-tree.js';

/** `/admin/:resource`: a tab for each admin page of the extension tree (the core's and plugins'). */
@customElement('nullops-admin-page')
export class AdminPage extends LitElement {
  static override styles = [shared];
  @property() resource = 'registries';
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @consume({ context: extensionTreeContext }) private tree!: ExtensionTree;
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a controller serves its host by existing
  private readonly treeUpdates = new TreeSubscription(this, () => this.tree);

  override render() {
    const pages = this.tree.children('page:admin', 'pages');
    const current = pages.find((p) => p.config.name === this.resource);
    const body = current && renderExtension(current, { api: this.api, session: this.session, data: {} });
    return html`
      <h1 style="font-size:1.4rem">Administration</h1>
      <nav class="row" aria-label="Administration" style="margin-bottom:1rem">
        ${pages.map((p) => html`<a href="/admin/${p.config.name}" data-extension=${p.id} aria-current=${p === current ? 'page' : 'false'}>${p.title}</a>`)}
      </nav>
      ${
        current
          ? current.plugin
            ? html`<div class="panel" data-plugin=${current.plugin}>${body}</div>`
            : body
          : html`<p>No such admin page${this.tree.get(`admin-page:${this.resource}`) ? ' (an administrator turned it off)' : ''}.</p>`
      }
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-admin-page': AdminPage;
  }
}
