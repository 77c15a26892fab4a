import { consume } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext, type Session, sessionContext } from '../context.js';
import { shared } from '../theme.js';
import type { Deployment, Environment, Project, ServiceTags } from './types.js';

/**
 * New deployment: project, environment, name, and one row per service (pinned tags locked).
 *
 * @fires created - with the deployment created (bubbles, composed).
 */
@customElement('nullops-create-deployment')
export class CreateDeployment extends LitElement {
  static override styles = [
    shared,
    css`
      form {
        display: grid;
        gap: 0.8rem;
        margin-bottom: 1rem;
      }
      label {
        display: grid;
        gap: 0.3rem;
      }
      .grid {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
        gap: 0.8rem;
      }
    `,
  ];

  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @state() private projects: Project[] = [];
  @state() private environments: Environment[] = [];
  @state() private projectId = '';
  @state() private services: ServiceTags[] | undefined;
  @state() private error = '';
  @state() private busy = false;
  @state() private loaded = false;

  override async connectedCallback() {
    super.connectedCallback();
    try {
      const [projects, environments] = await Promise.all([
        this.api.get<{ items: Project[] }>('/api/projects'),
        this.api.get<{ items: Environment[] }>('/api/environments'),
      ]);
      const access = this.session?.access;
      const full = (p: Project) => access?.admin || access?.projects[p.id] === 'full';
      this.projects = projects.items.filter(full);
      this.environments = environments.items.filter(
        (e) => access?.admin || access?.environments[e.id] === 'full',
      );
      this.loaded = true;
      if (this.projects[0]) await this.pickProject(this.projects[0].id);
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /** What is missing before anything can be deployed, in the order it must be set up. */
  private renderSetupFirst() {
    const admin = this.session?.access.admin;
    const missing = [
      !this.projects.length &&
        (admin
          ? 'a registry, its services and a project with a pipeline (Admin)'
          : 'a project you have full access to'),
      !this.environments.length &&
        (admin
          ? 'an environment with a node running an agent (Admin → Environments, Nodes)'
          : 'an environment you may deploy to'),
    ].filter(Boolean);
    return html`<div class="panel" role="status" aria-label="New deployment">
      <p><strong>Nothing to deploy yet.</strong> ${admin ? 'Set up first' : 'Ask an administrator for'}:</p>
      <ol>${missing.map((m) => html`<li>${m}</li>`)}</ol>
    </div>`;
  }

  private async pickProject(id: string) {
    this.projectId = id;
    this.services = undefined;
    try {
      this.services = (await this.api.get<{ services: ServiceTags[] }>(`/api/projects/${id}/tags`)).services;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async submit(event: SubmitEvent) {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    const tags: Record<string, string> = {};
    for (const s of this.services ?? []) tags[s.name] = String(data.get(`tag-${s.name}`) ?? s.defaultTag);
    this.busy = true;
    this.error = '';
    try {
      const created = await this.api.post<Deployment>(`/api/projects/${this.projectId}/deployments`, {
        environmentId: data.get('environment'),
        name: data.get('name'),
        tags,
      });
      this.dispatchEvent(new CustomEvent('created', { detail: created, bubbles: true, composed: true }));
      history.pushState(null, '', `/deployments/${created.id}`);
      window.dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.busy = false;
    }
  }

  override render() {
    if (this.loaded && (!this.projects.length || !this.environments.length)) return this.renderSetupFirst();
    return html`<form class="panel" @submit=${this.submit} aria-label="New deployment">
      <div class="grid">
        <label>Project
          <select name="project" @change=${(e: Event) => this.pickProject((e.target as HTMLSelectElement).value)}>
            ${this.projects.map((p) => html`<option value=${p.id} ?selected=${p.id === this.projectId}>${p.name}</option>`)}
          </select>
        </label>
        <label>Environment
          <select name="environment">${this.environments.map((e) => html`<option value=${e.id}>${e.name}</option>`)}</select>
        </label>
        <label>Name <input name="name" required pattern="[a-z0-9]([a-z0-9\\-]*[a-z0-9])?" maxlength="63" placeholder="feature-login"
          title="lowercase letters, digits and hyphens (a DNS label); unique in its environment" /></label>
      </div>
      ${
        this.services === undefined
          ? html`<p class="muted">Loading tags…</p>`
          : html`<fieldset class="grid"><legend>Service versions</legend>
              ${this.services.map((s) =>
                s.tagMode === 'pinned'
                  ? html`<div class="pinned"><span>${s.name}</span> <code>${s.defaultTag ?? ''}</code> <span class="muted">pinned by the project</span>
                      <input type="hidden" name="tag-${s.name}" value=${s.defaultTag ?? ''} /></div>`
                  : html`<label>${s.name}
                      <select name="tag-${s.name}" required>
                        ${s.tags.length ? s.tags.map((t) => html`<option ?selected=${t === s.defaultTag}>${t}</option>`) : html`<option value="">no matching tags</option>`}
                      </select></label>`,
              )}
            </fieldset>`
      }
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <div class="row"><button class="primary" type="submit" ?disabled=${this.busy || !this.projectId}>Create</button></div>
    </form>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-create-deployment': CreateDeployment;
  }
}
