import { consume } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { healthBadge } from '../components/service-health.js';
import { apiContext, deploymentLevel, type Session, sessionContext } from '../context.js';
import { shared } from '../theme.js';
import '../components/countdown.js';
import './create-deployment.js';
import { actionButtons, type DeploymentAction, runDeploymentAction } from './deployment-actions.js';
import type { Deployment } from './types.js';

/** Every deployment the user can see, with state, time left and the actions their access allows. */
@customElement('nullops-deployments-page')
export class DeploymentsPage extends LitElement {
  static override styles = [
    shared,
    css`
      .head {
        justify-content: space-between;
        margin-bottom: 1rem;
      }
      h1 {
        margin: 0;
        font-size: 1.4rem;
      }
      .links a {
        margin-right: 0.5rem;
      }
      .empty {
        text-align: center;
        padding: 2rem;
      }
    `,
  ];

  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @state() private items: Deployment[] | undefined;
  @state() private error = '';
  @state() private creating = false;
  @state() private project = '';
  @state() private environment = '';
  private poll: number | undefined;
  private live: EventSource | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    // One stream for the whole list: a state change loads it again, a health change is applied
    // in place. A slow poll stays as the safety net for what a dropped stream missed.
    this.live = this.api.events('/api/live/deployments');
    this.live.addEventListener('state', () => void this.load());
    this.live.addEventListener('health', (e) => {
      const change = JSON.parse((e as MessageEvent).data) as {
        deploymentId: string;
        services: (NonNullable<Deployment['services'][number]['health']> & { name: string })[];
      };
      this.items = this.items?.map((d) =>
        d.id !== change.deploymentId
          ? d
          : {
              ...d,
              services: d.services.map((s) => {
                const h = change.services.find((x) => x.name === s.name);
                if (!h) return s;
                const { name: _, ...health } = h;
                return { ...s, health };
              }),
            },
      );
    });
    this.poll = window.setInterval(() => void this.load(), 15_000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.poll);
    this.live?.close();
  }

  private async load() {
    try {
      this.items = (await this.api.get<{ items: Deployment[] }>('/api/deployments')).items;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async act(d: Deployment, action: DeploymentAction, hours?: number) {
    try {
      if (await runDeploymentAction(this.api, d, action, hours)) await this.load();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private get canCreate() {
    return Boolean(
      this.session &&
        (this.session.access.admin || Object.values(this.session.access.projects).includes('full')),
    );
  }

  private row(d: Deployment) {
    const full = deploymentLevel(this.session, d) === 'full';
    return html`<tr data-deployment=${d.name}>
      <td><a href="/deployments/${d.id}">${d.name}</a></td>
      <td class="hide-narrow">${d.projectName}</td>
      <td class="hide-narrow">${d.environmentName}</td>
      <td class="hide-narrow tags">${Object.entries(d.tags).map(([svc, tag]) => html`<span>${svc}: <code>${tag}</code></span> `)}</td>
      <td><span class="state ${d.state}">${d.state}</span></td>
      <td><nullops-countdown .until=${d.expiresAt}></nullops-countdown></td>
      <td class="links hide-narrow">
        ${d.actions.includes('services') ? d.services.map((s) => html`<span class="service" data-service=${s.name}><a href=${s.url} target="_blank" rel="noopener">${s.name}</a> ${s.health && s.health.condition !== 'running' ? healthBadge(s) : nothing}</span> `) : nothing}
      </td>
      <td>
        ${
          full
            ? html`<div class="row">${actionButtons(d, (action, hours) => this.act(d, action, hours))}</div>`
            : html`<span class="muted">read only</span>`
        }
      </td>
    </tr>`;
  }

  private filters() {
    const unique = (pick: (d: Deployment) => [string, string]) =>
      [...new Map((this.items ?? []).map(pick)).entries()].sort((a, b) => a[1].localeCompare(b[1]));
    return html`<div class="row" role="group" aria-label="Filters" style="margin-bottom: 0.8rem">
      <select aria-label="Project" @change=${(e: Event) => (this.project = (e.target as HTMLSelectElement).value)}>
        <option value="">All projects</option>
        ${unique((d) => [d.projectId, d.projectName]).map(([id, name]) => html`<option value=${id}>${name}</option>`)}
      </select>
      <select aria-label="Environment" @change=${(e: Event) => (this.environment = (e.target as HTMLSelectElement).value)}>
        <option value="">All environments</option>
        ${unique((d) => [d.environmentId, d.environmentName]).map(([id, name]) => html`<option value=${id}>${name}</option>`)}
      </select>
    </div>`;
  }

  override render() {
    const shown = (this.items ?? []).filter(
      (d) =>
        (!this.project || d.projectId === this.project) &&
        (!this.environment || d.environmentId === this.environment),
    );
    return html`
      <div class="row head">
        <h1>Deployments</h1>
        ${this.canCreate ? html`<button class="primary" @click=${() => (this.creating = !this.creating)}>New deployment</button>` : nothing}
      </div>
      ${this.creating ? html`<nullops-create-deployment @created=${() => (this.creating = false)}></nullops-create-deployment>` : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${
        this.items === undefined
          ? html`<p class="muted">Loading…</p>`
          : this.items.length === 0
            ? html`<div class="panel empty"><p>No deployments yet.</p>${this.canCreate ? html`<p class="muted">Create one with <em>New deployment</em>.</p>` : html`<p class="muted">Ask someone with full access to a project to create one.</p>`}</div>`
            : html`${this.filters()}<div class="panel"><table>
                <thead><tr><th>Name</th><th class="hide-narrow">Project</th><th class="hide-narrow">Environment</th><th class="hide-narrow">Versions</th><th>State</th><th>Cleanup in</th><th class="hide-narrow">Services</th><th>Actions</th></tr></thead>
                <tbody>${shown.map((d) => this.row(d))}</tbody>
              </table></div>`
      }
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployments-page': DeploymentsPage;
  }
}
