import { consume } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext, type Session, sessionContext } from '../context.js';
import { shared } from '../theme.js';
import type { ComposeImportReport, Project } from './types.js';

interface RegistrySummary {
  id: string;
  name: string;
  url: string;
}

/**
 * The projects you can see; admins open each one's pipeline editor from here, and import a
 * docker-compose file as a new project: paste or upload it, read what maps and what does not,
 * then confirm.
 */
@customElement('nullops-projects-page')
export class ProjectsPage extends LitElement {
  static override styles = [
    shared,
    css`
      textarea {
        width: 100%;
        min-height: 12rem;
        font-family: var(--mono, monospace);
      }
      .report li {
        margin: 0.2rem 0;
      }
    `,
  ];
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @state() private items: Project[] | undefined;
  @state() private error = '';
  @state() private importing = false;
  @state() private compose = '';
  @state() private name = '';
  @state() private report: ComposeImportReport | undefined;
  @state() private importError = '';
  /** The import's options, as the CLI has them: they change the report, so Preview again after. */
  @state() private registries: RegistrySummary[] = [];
  @state() private registryId = '';
  @state() private variables = '';
  /** Compose service name → tag pattern: those get a selectable tag. */
  @state() private selectable: Record<string, string> = {};

  override async connectedCallback() {
    super.connectedCallback();
    await this.load();
  }

  private async load() {
    try {
      this.items = (await this.api.get<{ items: Project[] }>('/api/projects')).items;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async readFile(e: Event) {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    this.compose = await file.text();
    this.report = undefined;
  }

  private async openImport() {
    this.importing = true;
    try {
      this.registries = (await this.api.get<{ items: RegistrySummary[] }>('/api/registries')).items;
    } catch (err) {
      this.importError = (err as Error).message;
    }
  }

  /** `NAME=value` lines; a line without `=` is left for the server to name as a mistake. */
  private parsedVariables(): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const line of this.variables.split('\n')) {
      const text = line.trim();
      if (!text || text.startsWith('#')) continue;
      const eq = text.indexOf('=');
      vars[eq < 0 ? text : text.slice(0, eq).trim()] = eq < 0 ? '' : text.slice(eq + 1);
    }
    return vars;
  }

  /** An option changed: the report shown no longer says what the import would do. */
  private optionChanged() {
    this.report = undefined;
  }

  private async send(dryRun: boolean) {
    this.importError = '';
    const selectable = Object.fromEntries(
      Object.entries(this.selectable).filter(([, pattern]) => pattern.trim()),
    );
    const variables = this.parsedVariables();
    try {
      const result = await this.api.post<{ project: Project | null; report: ComposeImportReport }>(
        '/api/projects/import',
        {
          compose: this.compose,
          ...(this.name ? { name: this.name } : {}),
          ...(this.registryId ? { registryId: this.registryId } : {}),
          ...(Object.keys(variables).length ? { variables } : {}),
          ...(Object.keys(selectable).length ? { selectable } : {}),
          dryRun,
        },
      );
      this.report = result.report;
      if (!dryRun && result.project) {
        this.importing = false;
        this.report = undefined;
        this.compose = '';
        this.selectable = {};
        this.variables = '';
        await this.load();
        history.pushState(null, '', `/projects/${result.project.id}/pipeline`);
        window.dispatchEvent(new PopStateEvent('popstate'));
      }
    } catch (err) {
      this.report = undefined;
      this.importError = (err as Error).message;
    }
  }

  private renderImport() {
    const r = this.report;
    return html`<section class="panel" aria-label="Import a docker-compose file">
      <h2>Import a docker-compose file</h2>
      <p class="muted">Each compose service becomes a service and a node of the project's pipeline; you see what maps before anything is created.</p>
      <label>Project name <input .value=${this.name} placeholder="the file's name:" @input=${(e: Event) => (this.name = (e.target as HTMLInputElement).value)} /></label>
      <label>Compose file <input type="file" accept=".yml,.yaml" @change=${this.readFile} /></label>
      <textarea aria-label="Compose file (YAML)" placeholder="services:&#10;  web:&#10;    image: nginx:1.27" .value=${this.compose}
        @input=${(e: Event) => {
          this.compose = (e.target as HTMLTextAreaElement).value;
          this.report = undefined;
        }}></textarea>
      <label>Registry for images without a registry host
        <select name="registry" @change=${(e: Event) => {
          this.registryId = (e.target as HTMLSelectElement).value;
          this.optionChanged();
        }}>
          <option value="">Docker Hub (when it is a registry here)</option>
          ${this.registries.map((g) => html`<option value=${g.id} ?selected=${g.id === this.registryId}>${g.name} (${g.url})</option>`)}
        </select>
      </label>
      <label>Variables <span class="muted">(NAME=value, one a line: what \${NAME} in the file becomes)</span>
        <textarea name="variables" rows="3" .value=${this.variables} @input=${(e: Event) => {
          this.variables = (e.target as HTMLTextAreaElement).value;
          this.optionChanged();
        }}></textarea>
      </label>
      ${this.importError ? html`<p class="error" role="alert">${this.importError}</p>` : nothing}
      <div class="row">
        <button ?disabled=${!this.compose.trim()} @click=${() => this.send(true)}>Preview</button>
        <button class="primary" ?disabled=${!r} @click=${() => this.send(false)}>Import</button>
        <button @click=${() => (this.importing = false)}>Cancel</button>
      </div>
      ${
        r
          ? html`<div class="report" aria-label="Import report">
              <h3>Project ${r.projectName}: ${r.budget.cpuMillicores}m CPU, ${r.budget.memoryMb} MiB <span class="muted">(${r.budget.from})</span></h3>
              <ul>${r.services.map(
                (
                  s,
                ) => html`<li data-service=${s.name}><strong>${s.name}</strong> — ${s.registryName}/${s.image}
                  ${s.tagMode === 'pinned' ? html`pinned <code>${s.tag}</code>` : html`selectable <code>${s.tagPattern}</code>`};
                  <span class="muted">mapped ${s.mapped.join(', ')}</span>
                  <br /><label class="row">Selectable tags matching
                    <input aria-label="Selectable tags of ${s.composeName}" placeholder="pinned (e.g. v*)" .value=${this.selectable[s.composeName] ?? ''}
                      @change=${(e: Event) => {
                        this.selectable = {
                          ...this.selectable,
                          [s.composeName]: (e.target as HTMLInputElement).value,
                        };
                        // The report stays shown (its rows hold these fields), but must be previewed again.
                        void this.send(true);
                      }} /></label>
                  ${s.notes.map((n) => html`<br /><span class="muted">note: ${n}</span>`)}</li>`,
              )}</ul>
              ${
                r.unmapped.length
                  ? html`<h3>Not imported</h3><ul class="unmapped">${r.unmapped.map(
                      (u) => html`<li><code>${u.path}</code>: ${u.reason}</li>`,
                    )}</ul>`
                  : html`<p>Everything in the file maps.</p>`
              }
            </div>`
          : nothing
      }
    </section>`;
  }

  override render() {
    const admin = this.session?.access.admin;
    return html`<div class="row" style="justify-content: space-between">
        <h1 style="font-size:1.4rem">Projects</h1>
        ${admin && !this.importing ? html`<button @click=${() => this.openImport()}>Import docker-compose</button>` : nothing}
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.importing ? this.renderImport() : nothing}
      ${
        !this.items
          ? html`<p class="muted">Loading…</p>`
          : !this.items.length
            ? html`<div class="panel"><p>No projects yet.${admin ? ' Create one under Admin → Projects, or import a docker-compose file.' : ''}</p></div>`
            : html`<div class="panel"><table>
                <thead><tr><th>Project</th><th>Description</th><th>Pipeline</th></tr></thead>
                <tbody>${this.items.map(
                  (
                    p,
                  ) => html`<tr data-project=${p.name}><td>${p.name}</td><td class="muted">${p.description ?? ''}</td>
                    <td><a href="/projects/${p.id}/pipeline">${admin ? 'Edit pipeline' : 'View pipeline'}</a></td></tr>`,
                )}</tbody></table></div>`
      }`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-projects-page': ProjectsPage;
  }
}
