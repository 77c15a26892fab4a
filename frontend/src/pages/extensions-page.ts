import { consume } from '@lit/context';
import { html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
// Keyed rows: a moved extension's row moves with it, and so does the focus on its button.
import { repeat } from 'lit/directives/repeat.js';
import type { Api } from '../api.js';
import { apiContext } from '../context.js';
import {
  type Extension,
  type ExtensionTree,
  extensionTreeContext,
  TreeSubscription,
} from '../extensions/extension-tree.js';
import { shared } from '../theme.js';

/** What each parent input is, in the words of the page it is on. */
const INPUT_TITLES: Record<string, string> = {
  'app/routes': 'Pages',
  'app/nav/items': 'Navigation',
  'page:admin/pages': 'Administration pages',
  'page:deployment/tabs': 'Deployment page: tabs',
  'page:deployment/panels': 'Deployment page: sections',
  'page:pipeline-editor/nodeWidgets': 'Pipeline editor: node widgets',
};
const REQUIRED = new Set(['page:admin', 'admin-page:extensions']);

/**
 * `/admin/extensions`: every extension of the web UI — the core's and the plugins' — grouped by
 * where it attaches; administrators turn them off or move them, for everyone, without a rebuild.
 */
@customElement('nullops-extensions-page')
export class ExtensionsPage extends LitElement {
  static override styles = [shared];
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: extensionTreeContext }) private tree!: ExtensionTree;
  @state() private error = '';
  @state() private busy = false;
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a controller serves its host by existing
  private readonly treeUpdates = new TreeSubscription(this, () => this.tree);

  private async run(work: () => Promise<void>) {
    this.busy = true;
    try {
      await work();
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private row(ext: Extension, index: number, count: number) {
    const on = this.tree.enabled(ext.id);
    return html`<tr data-extension=${ext.id}>
      <td><code>${ext.id}</code></td>
      <td>${ext.title}</td>
      <td>${ext.plugin ?? html`<span class="muted">core</span>`}</td>
      <td><label><input type="checkbox" aria-label="${ext.id} on" .checked=${on} ?disabled=${this.busy || REQUIRED.has(ext.id)}
        @change=${(e: Event) => this.run(() => this.tree.setEnabled(this.api, ext.id, (e.target as HTMLInputElement).checked))} /> ${on ? 'on' : 'off'}</label></td>
      <td>
        <button aria-label="Move ${ext.id} up" ?disabled=${this.busy || index === 0} @click=${() => this.run(() => this.tree.move(this.api, ext.id, -1))}>↑</button>
        <button aria-label="Move ${ext.id} down" ?disabled=${this.busy || index === count - 1} @click=${() => this.run(() => this.tree.move(this.api, ext.id, 1))}>↓</button>
      </td>
    </tr>`;
  }

  override render() {
    const inputs = [...new Set(this.tree.all().map((e) => `${e.attachTo.id}/${e.attachTo.input}`))];
    return html`<div class="panel">
      <h2>Extensions</h2>
      <p class="muted">Every page, navigation item, admin page, deployment section and node widget is an
        extension — the core's as well as the plugins'. Turn one off or move it: the change holds for
        everyone at once and is in the audit log.</p>
      ${
        this.tree.customised
          ? html`<p><button ?disabled=${this.busy} @click=${() => {
              if (confirm('Turn every extension back on, in the order it came in?'))
                void this.run(() => this.tree.resetAll(this.api));
            }}>Reset all to defaults</button></p>`
          : nothing
      }
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${inputs.map((key) => {
        const [parent, input] = [key.slice(0, key.lastIndexOf('/')), key.slice(key.lastIndexOf('/') + 1)];
        const list = this.tree.siblings(parent, input);
        return html`<section aria-label=${INPUT_TITLES[key] ?? key}>
          <h3>${INPUT_TITLES[key] ?? key} <span class="muted">(${key})</span></h3>
          <table>
            <thead><tr><th>Id</th><th>Title</th><th>From</th><th>On</th><th>Order</th></tr></thead>
            <tbody>${repeat(
              list,
              (ext) => ext.id,
              (ext, i) => this.row(ext, i, list.length),
            )}</tbody>
          </table>
        </section>`;
      })}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-extensions-page': ExtensionsPage;
  }
}
