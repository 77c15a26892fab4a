import { consume } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { type Api, ApiError } from '../api.js';
import { apiContext } from '../context.js';
import { shared } from '../theme.js';

interface PluginRow {
  name: string;
  source: 'bundled' | 'registry';
  range: string | null;
  version: string;
  registryUrl: string | null;
  components: string[];
  statuses: {
    host: string;
    nodeName: string | null;
    version: string;
    status: 'loaded' | 'failed';
    error: string | null;
  }[];
}

/**
 * Admins: install plugins from an npm registry, see their status on every host, upgrade, remove.
 *
 * @fires plugins-changed - after an install, upgrade or removal: the shell loads or unloads plugin
 * UIs (bubbles, composed).
 */
@customElement('nullops-plugins-page')
export class PluginsPage extends LitElement {
  static override styles = [
    shared,
    css`
      form {
        display: grid;
        gap: 0.6rem;
        grid-template-columns: repeat(auto-fit, minmax(220px, 1fr));
        align-items: end;
        margin-bottom: 1rem;
      }
      label {
        display: grid;
        gap: 0.2rem;
      }
      .failed {
        color: var(--bad);
      }
      .loaded {
        color: var(--ok);
      }
    `,
  ];

  @consume({ context: apiContext }) private api!: Api;
  @state() private items: PluginRow[] | undefined;
  @state() private error = '';
  @state() private busy = false;
  private poll: number | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    // Nodes report their status asynchronously after an install: keep the table fresh.
    this.poll = window.setInterval(() => void this.load(), 2000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.poll);
  }

  private async load() {
    try {
      this.items = (await this.api.get<{ items: PluginRow[] }>('/api/plugins')).items;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async run(work: () => Promise<unknown>) {
    this.busy = true;
    this.error = '';
    try {
      await work();
      await this.load();
      // The shell loads the browser modules of newly installed plugins (no reload, no rebuild).
      this.dispatchEvent(new CustomEvent('plugins-changed', { bubbles: true, composed: true }));
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private install(event: SubmitEvent) {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const token = String(data.get('token') ?? '');
    void this.run(async () => {
      await this.api.post('/api/plugins', {
        package: data.get('package'),
        registry: { url: data.get('registry'), ...(token ? { token } : {}) },
      });
      form.reset();
    });
  }

  private upgrade(p: PluginRow) {
    const range = prompt(`Upgrade ${p.name} to the newest release matching:`, p.range ?? '*');
    if (range)
      void this.run(() => this.api.request('PUT', `/api/plugins/${encodeURIComponent(p.name)}`, { range }));
  }

  private uninstall(p: PluginRow) {
    if (!confirm(`Remove ${p.name}? Running deployments keep running.`)) return;
    const path = `/api/plugins/${encodeURIComponent(p.name)}`;
    void this.run(async () => {
      try {
        await this.api.delete(path);
      } catch (err) {
        // A pipeline still uses it: the server says which; removing it anyway is a second choice.
        if (
          !(err instanceof ApiError && err.status === 409 && confirm(`${err.message}\n\nRemove it anyway?`))
        )
          throw err;
        await this.api.delete(`${path}?force=true`);
      }
    });
  }

  override render() {
    return html`<h1 style="font-size:1.4rem">Plugins</h1>
      <form class="panel" @submit=${this.install} aria-label="Install a plugin">
        <label>Package <input name="package" required placeholder="@acme/nullops-plugin@^1.0.0" /></label>
        <label>Registry URL <input name="registry" type="url" required placeholder="https://registry.npmjs.org/" /></label>
        <label>Token (optional) <input name="token" type="password" autocomplete="off" /></label>
        <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Installing…' : 'Install'}</button>
      </form>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${
        !this.items
          ? html`<p class="muted">Loading…</p>`
          : html`<div class="panel"><table>
              <thead><tr><th>Plugin</th><th>Version</th><th>Components</th><th>Status per host</th><th></th></tr></thead>
              <tbody>${this.items.map(
                (p) => html`<tr data-plugin=${p.name}>
                  <td>${p.name}<br /><span class="muted">${p.source === 'bundled' ? 'bundled' : p.registryUrl}</span></td>
                  <td>${p.version}${p.range ? html`<br /><span class="muted">${p.range}</span>` : nothing}</td>
                  <td class="muted">${p.components.join(', ')}</td>
                  <td><ul>${p.statuses.map(
                    (s) =>
                      html`<li class=${s.status} data-host=${s.nodeName ?? s.host}>${s.nodeName ?? s.host}: ${s.status} ${s.version}${s.error ? html` — ${s.error}` : nothing}</li>`,
                  )}</ul></td>
                  <td>${p.source === 'registry' ? html`<div class="row"><button @click=${() => this.upgrade(p)}>Upgrade</button><button class="danger" @click=${() => this.uninstall(p)}>Remove</button></div>` : nothing}</td>
                </tr>`,
              )}</tbody></table></div>`
      }`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-plugins-page': PluginsPage;
  }
}
