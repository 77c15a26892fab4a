import { css, html, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Deployment, ServiceTags } from '../pages/types.js';
import { shared, tokens } from '../theme.js';
import { Embedded } from './embedded.js';

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
    'nullops-deploy-button': DeployButton;
  }
}
