import { consume } from '@lit/context';
import { html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext, type Session, sessionContext } from '../context.js';
import { shared } from '../theme.js';
import type { Project } from './types.js';

/** The projects you can see; admins open each one's pipeline editor from here. */
@customElement('nullops-projects-page')
export class ProjectsPage extends LitElement {
  static override styles = [shared];
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @state() private items: Project[] | undefined;
  @state() private error = '';

  override async connectedCallback() {
    super.connectedCallback();
    try {
      this.items = (await this.api.get<{ items: Project[] }>('/api/projects')).items;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  override render() {
    return html`<h1 style="font-size:1.4rem">Projects</h1>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${
        !this.items
          ? html`<p class="muted">Loading…</p>`
          : !this.items.length
            ? html`<div class="panel"><p>No projects yet.</p></div>`
            : html`<div class="panel"><table>
                <thead><tr><th>Project</th><th>Description</th><th>Pipeline</th></tr></thead>
                <tbody>${this.items.map(
                  (
                    p,
                  ) => html`<tr data-project=${p.name}><td>${p.name}</td><td class="muted">${p.description ?? ''}</td>
                    <td><a href="/projects/${p.id}/pipeline">${this.session?.access.admin ? 'Edit pipeline' : 'View pipeline'}</a></td></tr>`,
                )}</tbody></table></div>`
      }`;
  }
}
