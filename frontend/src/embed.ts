import { css, html, LitElement, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { Api } from './api.js';
import { healthBadge } from './components/service-health.js';
import type { Deployment, ServiceTags } from './pages/types.js';
import { shared, tokens } from './theme.js';

/**
 * Elements for other portals, from one script: `<script type="module" src="https://nullops/embed.js">`.
 * They call the NullOps API of the script's origin (or `api="…"`) with the API token in `token`
 * (create one under your profile; the control plane must list the portal in NULLOPS_CORS_ORIGINS).
 */
const scriptOrigin = new URL(import.meta.url).origin;

abstract class Embedded extends LitElement {
  /** The project's id. */
  @property() project = '';
  /** An API token (Authorization: Bearer). */
  @property() token = '';
  /** The control plane's base URL; defaults to where this script came from. */
  @property() api = scriptOrigin;
  @state() protected error = '';

  protected client(): Api {
    return new Api(this.api.replace(/\/+$/, ''), this.token);
  }
}

/** The project's deployments: name, state, service links; refreshes every 5 s. */
@customElement('nullops-deployments')
export class EmbeddedDeployments extends Embedded {
  static override styles = [tokens, shared, css`:host { display: block; }`];
  @state() private items: Deployment[] | undefined;
  private timer: number | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.timer = window.setInterval(() => void this.load(), 5000);
    this.ownerDocument.addEventListener('nullops-deployment-created', this.reload);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
    this.ownerDocument.removeEventListener('nullops-deployment-created', this.reload);
  }

  private readonly reload = () => void this.load();

  private async load() {
    try {
      this.items = (
        await this.client().get<{ items: Deployment[] }>(
          `/api/deployments?projectId=${encodeURIComponent(this.project)}`,
        )
      ).items;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  override render() {
    if (this.error) return html`<p class="error" role="alert">NullOps: ${this.error}</p>`;
    if (!this.items) return html`<p class="muted">Loading deployments…</p>`;
    if (!this.items.length) return html`<p class="muted">No deployments.</p>`;
    return html`<table>
      <thead><tr><th>Deployment</th><th>State</th><th>Services</th></tr></thead>
      <tbody>
        ${this.items.map(
          (d) => html`<tr data-deployment=${d.name}>
            <td>${d.name}</td>
            <td><span class="state ${d.state}">${d.state}</span></td>
            <td>${d.actions.includes('services') ? d.services.map((s) => html`<a href=${s.url} target="_blank" rel="noopener">${s.name}</a> ${s.health && s.health.condition !== 'running' ? healthBadge(s) : nothing} `) : nothing}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
  }
}

/**
 * A button that opens a small form (environment, name, tags) and creates a deployment.
 *
 * @fires nullops-deployment-created - on its document, with the deployment created: lists on the
 * page load again.
 */
@customElement('nullops-deploy-button')
export class DeployButton extends Embedded {
  static override styles = [
    tokens,
    shared,
    css`:host { display: block; } form { display: grid; gap: 0.5rem; margin-top: 0.5rem; }`,
  ];
  @state() private open = false;
  @state() private environments: { id: string; name: string }[] = [];
  @state() private services: ServiceTags[] = [];
  @state() private created = '';

  private async toggle() {
    this.open = !this.open;
    if (!this.open) return;
    try {
      const api = this.client();
      this.environments = (
        await api.get<{ items: { id: string; name: string }[] }>('/api/environments')
      ).items;
      this.services = (
        await api.get<{ services: ServiceTags[] }>(`/api/projects/${this.project}/tags`)
      ).services;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async submit(event: SubmitEvent) {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    const tags = Object.fromEntries(
      this.services.map((s) => [s.name, String(data.get(`tag-${s.name}`) ?? s.defaultTag)]),
    );
    try {
      const d = await this.client().post<Deployment>(`/api/projects/${this.project}/deployments`, {
        environmentId: data.get('environment'),
        name: data.get('name'),
        tags,
      });
      this.created = d.name;
      this.error = '';
      this.open = false;
      this.ownerDocument.dispatchEvent(new CustomEvent('nullops-deployment-created', { detail: d }));
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  override render() {
    return html`
      <button class="primary" @click=${this.toggle} aria-expanded=${this.open}>Deploy</button>
      ${this.created ? html`<span role="status"> Created ${this.created}</span>` : nothing}
      ${
        this.open
          ? html`<form @submit=${this.submit} aria-label="New deployment">
              <label>Environment <select name="environment">${this.environments.map((e) => html`<option value=${e.id}>${e.name}</option>`)}</select></label>
              <label>Name <input name="name" required /></label>
              ${this.services.map((s) =>
                s.tagMode === 'pinned'
                  ? html`<label>${s.name} <input name="tag-${s.name}" value=${s.defaultTag ?? ''} readonly /></label>`
                  : html`<label>${s.name} <select name="tag-${s.name}">${s.tags.map((t) => html`<option>${t}</option>`)}</select></label>`,
              )}
              <button type="submit">Create</button>
            </form>`
          : nothing
      }
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployments': EmbeddedDeployments;
    'nullops-deploy-button': DeployButton;
  }
}
