import { consume } from '@lit/context';
import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext, deploymentLevel, type Session, sessionContext } from '../context.js';
import { shared } from '../theme.js';
import '../components/countdown.js';
import { type PluginUis, pluginUiContext } from '../plugin-ui.js';
import { actionButtons, type DeploymentAction, runDeploymentAction } from './deployment-actions.js';
import type {
  DatabaseBackup,
  Deployment,
  DeploymentHistoryItem,
  DeploymentMetrics,
  DeploymentOperation,
  ServiceTags,
} from './types.js';

interface Progress {
  kind: string;
  message?: string | null;
  state?: string | null;
  details?: { step?: string } | null;
  at: string;
}

interface LogLine {
  service: string;
  stream: string;
  time: string;
  line: string;
}

const MAX_LOG_LINES = 5000;

/** One deployment: services and URLs, live pipeline progress, live logs, history, actions. */
@customElement('nullops-deployment-page')
export class DeploymentPage extends LitElement {
  static override styles = [
    shared,
    css`
      :host {
        display: grid;
        gap: 1rem;
      }
      h1 {
        margin: 0;
        font-size: 1.4rem;
      }
      .cols {
        display: grid;
        gap: 1rem;
        grid-template-columns: repeat(auto-fit, minmax(320px, 1fr));
      }
      ol.progress {
        margin: 0;
        padding-left: 2.2rem;
        max-height: 320px;
        overflow: auto;
        font-size: 0.9em;
      }
      pre.logs {
        margin: 0;
        height: 320px;
        overflow: auto;
        background: var(--bg);
        border: 1px solid var(--border);
        border-radius: var(--radius);
        padding: 0.5rem;
        font-size: 0.85em;
        white-space: pre-wrap;
        word-break: break-all;
      }
      /* stderr is where most servers write their ordinary logs: set apart, not alarming. */
      .stderr {
        color: var(--muted);
      }
      dl {
        display: grid;
        grid-template-columns: max-content 1fr;
        gap: 0.3rem 1rem;
        margin: 0;
      }
      dt {
        color: var(--muted);
      }
    `,
  ];

  @property() deploymentId = '';
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @consume({ context: pluginUiContext }) private pluginUis?: PluginUis;
  @state() private deployment: Deployment | undefined;
  @state() private error = '';
  @state() private progress: Progress[] = [];
  @state() private logService = '';
  @state() private logs: LogLine[] = [];
  @state() private logNote = '';
  @state() private follow = true;
  @state() private search = '';
  @state() private history: DeploymentHistoryItem[] = [];
  @state() private metrics: DeploymentMetrics['services'] = [];
  @state() private operations: DeploymentOperation[] = [];
  @state() private backups: DatabaseBackup[] = [];
  /** The clone form is open (with the project's tags) while set. */
  @state() private cloneTags: ServiceTags[] | undefined;
  @query('pre.logs') private logBox?: HTMLPreElement;
  private metricsTimer: number | undefined;
  private events: EventSource | undefined;
  private logStream: EventSource | undefined;

  private readonly pluginsChanged = () => this.requestUpdate();
  private readonly panelElements = new Map<string, HTMLElement & Record<string, unknown>>();

  override connectedCallback(): void {
    super.connectedCallback();
    this.pluginUis?.addEventListener('change', this.pluginsChanged);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.pluginUis?.removeEventListener('change', this.pluginsChanged);
    clearInterval(this.metricsTimer);
    this.events?.close();
    this.logStream?.close();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deploymentId') && this.deploymentId) void this.open();
  }

  protected override updated(): void {
    if (this.follow && this.logBox) this.logBox.scrollTop = this.logBox.scrollHeight;
  }

  private async open() {
    this.events?.close();
    this.progress = [];
    await this.reload();
    // Live progress: the recorded history first, then every step as it happens.
    this.events = this.api.events(`/api/deployments/${this.deploymentId}/events`);
    this.events.addEventListener('progress', (e) => {
      const event = JSON.parse((e as MessageEvent).data) as Progress;
      this.progress = [...this.progress, event].slice(-500);
      // A state change (running, failed, extended…) changes what the page shows: fetch it again.
      if (event.state || !event.kind.startsWith('step.')) void this.reload();
    });
    this.events.addEventListener('state', () => void this.reload());
    // Usage comes with the node's heartbeats; a few seconds of staleness is fine here.
    clearInterval(this.metricsTimer);
    void this.loadMetrics();
    this.metricsTimer = window.setInterval(() => void this.loadMetrics(), 5000);
  }

  private async loadMetrics() {
    try {
      this.metrics = (
        await this.api.get<DeploymentMetrics>(`/api/deployments/${this.deploymentId}/metrics`)
      ).services;
    } catch {
      // metrics are best effort; the rest of the page stays useful
    }
  }

  /** Clone: a new name, and each selectable service's version (the same unless changed). */
  private async openClone() {
    const d = this.deployment;
    if (!d) return;
    try {
      this.cloneTags = (
        await this.api.get<{ services: ServiceTags[] }>(`/api/projects/${d.projectId}/tags`)
      ).services;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async clone(e: SubmitEvent) {
    e.preventDefault();
    const d = this.deployment;
    if (!d) return;
    const data = new FormData(e.target as HTMLFormElement);
    const tags: Record<string, string> = {};
    for (const svc of this.cloneTags ?? [])
      if (svc.tagMode === 'selectable') tags[svc.name] = String(data.get(`tag-${svc.name}`));
    try {
      const copy = await this.api.post<Deployment>(`/api/deployments/${d.id}/clone`, {
        name: data.get('name'),
        tags,
      });
      this.cloneTags = undefined;
      history.pushState(null, '', `/deployments/${copy.id}`);
      window.dispatchEvent(new PopStateEvent('popstate'));
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private renderClone(d: Deployment) {
    const tags = this.cloneTags;
    if (!tags) return nothing;
    return html`<form class="panel" aria-label="Clone ${d.name}" @submit=${this.clone}>
      <h2>Clone ${d.name}</h2>
      <div class="row">
        <label>Name <input name="name" required maxlength="63" pattern="[a-z0-9]([a-z0-9\\-]*[a-z0-9])?" .value=${`${d.name}-copy`} /></label>
        ${tags.map((svc) =>
          svc.tagMode === 'pinned'
            ? html`<label>${svc.name} <input value=${svc.defaultTag ?? ''} readonly aria-readonly="true" title="Pinned by the project" /></label>`
            : html`<label>${svc.name}
                <select name="tag-${svc.name}">${svc.tags.map((t) => html`<option ?selected=${t === d.tags[svc.name]}>${t}</option>`)}</select></label>`,
        )}
      </div>
      <div class="row"><button class="primary" type="submit">Create the copy</button><button type="button" @click=${() => (this.cloneTags = undefined)}>Cancel</button></div>
    </form>`;
  }

  private async reload() {
    try {
      this.deployment = await this.api.get<Deployment>(`/api/deployments/${this.deploymentId}`);
      this.history = (
        await this.api.get<{ items: DeploymentHistoryItem[] }>(
          `/api/deployments/${this.deploymentId}/history`,
        )
      ).items;
      this.operations = (
        await this.api.get<{ items: DeploymentOperation[] }>(
          `/api/deployments/${this.deploymentId}/operations`,
        )
      ).items;
      if (this.deployment.databases.length)
        this.backups = (
          await this.api.get<{ items: DatabaseBackup[] }>(
            `/api/projects/${this.deployment.projectId}/backups`,
          )
        ).items;
      if (
        !this.logService &&
        this.deployment.services[0] &&
        ['pending', 'deploying', 'running', 'offline'].includes(this.deployment.state)
      )
        this.openLogs(this.deployment.services[0].name);
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private openLogs(service: string) {
    this.logStream?.close();
    this.logService = service;
    this.logs = [];
    this.logStream = this.api.events(
      `/api/deployments/${this.deploymentId}/logs?service=${encodeURIComponent(service)}`,
    );
    this.logNote = '';
    this.logStream.addEventListener('log', (e) => {
      this.logs = [...this.logs, JSON.parse((e as MessageEvent).data) as LogLine].slice(-MAX_LOG_LINES);
    });
    // Why the stream ended (the service stopped, the node went offline…), shown under the box.
    this.logStream.addEventListener('end', (e) => {
      const reason = (JSON.parse((e as MessageEvent).data || '{}') as { reason?: string }).reason;
      if (reason) this.logNote = reason;
    });
    // The service may not run yet (the deployment is still starting) or may have been restarted:
    // while the deployment lives, open the stream again (it starts with the recent lines).
    const again = () => {
      this.logStream?.close();
      window.setTimeout(() => {
        const state = this.deployment?.state;
        if (this.logService === service && state && ['pending', 'deploying', 'running'].includes(state))
          this.openLogs(service);
      }, 1000);
    };
    this.logStream.addEventListener('end', again);
    this.logStream.addEventListener('error', again);
  }

  private async act(action: DeploymentAction) {
    const d = this.deployment;
    if (!d) return;
    try {
      if (await runDeploymentAction(this.api, d, action)) await this.reload();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /** Day-2 actions and backups: queued on the server; their progress arrives with the live events. */
  private async operate(path: string, body: unknown = {}) {
    try {
      await this.api.post(`/api/deployments/${this.deploymentId}/${path}`, body);
      await this.reload();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private renderServiceActions(name: string, status: string) {
    const busy = this.operations.some(
      (o) => o.service === name && (o.state === 'queued' || o.state === 'running'),
    );
    return html`<span class="row" role="group" aria-label="Actions on ${name}">
      <button ?disabled=${busy} aria-label="Restart ${name}" @click=${() => this.operate(`services/${name}/restart`)}>Restart</button>
      ${
        status === 'stopped'
          ? html`<button ?disabled=${busy} aria-label="Start ${name}" @click=${() => this.operate(`services/${name}/start`)}>Start</button>`
          : html`<button ?disabled=${busy} aria-label="Stop ${name}" @click=${() => this.operate(`services/${name}/stop`)}>Stop</button>`
      }
    </span>`;
  }

  private renderOperations() {
    if (!this.operations.length) return nothing;
    return html`<h2>Operations</h2>
      <ul class="operations">
        ${this.operations.slice(0, 8).map(
          (o) => html`<li data-operation=${o.kind}>
            <span class="state ${o.state}">${o.state}</span> ${o.kind.replace('.', ' ')} ${o.service}
            ${o.message ? html`<span class="muted">— ${o.message}</span>` : nothing}
          </li>`,
        )}
      </ul>`;
  }

  private renderBackups(d: Deployment, full: boolean) {
    if (!d.databases.length) return nothing;
    return html`<section class="panel" aria-label="Database backups">
      <div class="row">
        <h2 style="margin:0">Database backups</h2>
        ${
          full && d.state === 'running'
            ? d.databases.map(
                (db) =>
                  html`<button @click=${() => this.operate('backups', { service: db })}>Back up ${db}</button>`,
              )
            : nothing
        }
      </div>
      ${
        this.backups.length
          ? html`<table>
              <thead><tr><th>Taken</th><th>Of</th><th>Database</th><th>Size</th><th></th></tr></thead>
              <tbody>${this.backups.map(
                (b) => html`<tr data-backup=${b.id}>
                  <td>${new Date(b.createdAt).toLocaleString()}</td>
                  <td>${b.deploymentName}${b.deploymentId === d.id ? ' (this one)' : ''}</td>
                  <td>${b.service} / ${b.database}</td>
                  <td>${Math.ceil(b.bytes / 1024)} KiB</td>
                  <td>${
                    full && d.state === 'running'
                      ? html`<button @click=${() => {
                          if (confirm(`Replace the data of ${b.service} in ${d.name} with this backup?`))
                            void this.operate('restore', { backupId: b.id });
                        }}>Restore here</button>`
                      : nothing
                  }</td>
                </tr>`,
              )}</tbody></table>`
          : html`<p class="muted">No backups of this project yet.${full ? ' Back up a database to restore it later, here or into another deployment of the project.' : ''}</p>`
      }
    </section>`;
  }

  private renderProgress() {
    return html`<ol class="progress" aria-live="polite">
      ${this.progress.map(
        (p) => html`<li data-kind=${p.kind}>
          <span class="muted">${new Date(p.at).toLocaleTimeString()}</span>
          ${p.details?.step ? html`<strong>${p.details.step}</strong>` : nothing}
          ${p.kind.replace(/^step\./, '')}${p.message ? html` — ${p.message}` : nothing}
        </li>`,
      )}
    </ol>`;
  }

  override render() {
    const d = this.deployment;
    if (!d)
      return html`${this.error ? html`<p class="error" role="alert">${this.error}</p>` : html`<p class="muted">Loading…</p>`}`;
    const full = deploymentLevel(this.session, d) === 'full';
    // Failed, deleting or deleted: the page says so instead of showing stale services and a timer.
    const live = ['pending', 'deploying', 'running', 'offline'].includes(d.state);
    const needle = this.search.toLowerCase();
    const shown = needle ? this.logs.filter((l) => l.line.toLowerCase().includes(needle)) : this.logs;
    return html`
      <div class="row" style="justify-content: space-between">
        <h1>${d.name} <span class="state ${d.state}">${d.state}</span></h1>
        ${
          full
            ? html`<div class="row" role="group" aria-label="Actions">
                ${actionButtons(d, (action) => this.act(action), html`<button @click=${this.openClone}>Clone</button>`)}
              </div>`
            : nothing
        }
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.renderClone(d)}
      ${d.error ? html`<p class="error panel" role="alert">Failed at <strong>${d.error.step ?? 'start'}</strong>: ${d.error.message}</p>` : nothing}
      <div class="cols">
        <section class="panel" aria-label="Overview">
          <dl>
            <dt>Project</dt><dd>${d.projectName}</dd>
            <dt>Environment</dt><dd>${d.environmentName}</dd>
            ${
              live
                ? html`<dt>Cleanup in</dt><dd><nullops-countdown .until=${d.expiresAt}></nullops-countdown></dd>`
                : html`<dt>${d.state === 'failed' ? 'Failed' : 'Removed'}</dt><dd>${new Date(d.updatedAt).toLocaleString()}</dd>`
            }
            <dt>Tags</dt><dd>${Object.entries(d.tags).map(([s, t]) => html`${s}: <code>${t}</code> `)}</dd>
            <dt>Pipeline</dt><dd>v${d.pipelineVersion ?? '?'}</dd>
            <dt>Created by</dt><dd>${d.createdBy ?? 'system'}</dd>
          </dl>
          <h2>Services</h2>
          <ul class="services">
            ${live ? nothing : html`<p class="muted" role="status">${d.state === 'failed' ? 'The pipeline failed and was rolled back: nothing of it runs.' : 'This deployment is gone: nothing of it runs any more.'}</p>`}
            ${d.services.map((s) => {
              const m = live ? this.metrics.find((x) => x.service === s.name) : undefined;
              if (!live)
                return html`<li data-service=${s.name}><span class="muted">${s.name} (${s.url})</span> <span class="state removed">removed</span></li>`;
              return html`<li data-service=${s.name}><a href=${s.url} target="_blank" rel="noopener">${s.url}</a> <span class="state ${s.status}">${s.status}</span>
                ${m ? html`<span class="muted metrics">CPU ${m.cpuPercent.toFixed(1)}% · RAM ${(m.memoryBytes / 1048576).toFixed(1)} / ${(m.memoryLimitBytes / 1048576).toFixed(0)} MiB</span>` : nothing}
                ${full && d.state === 'running' ? this.renderServiceActions(s.name, s.status) : nothing}</li>`;
            })}
          </ul>
          ${this.renderOperations()}
        </section>
        <section class="panel" aria-label="Pipeline progress"><h2>Progress</h2>${this.renderProgress()}</section>
      </div>
      ${this.renderBackups(d, full)}
      <section class="panel" aria-label="Logs">
        <div class="row">
          <h2 style="margin:0">Logs</h2>
          <select aria-label="Service" @change=${(e: Event) => this.openLogs((e.target as HTMLSelectElement).value)}>
            ${d.services.map((s) => html`<option ?selected=${s.name === this.logService}>${s.name}</option>`)}
          </select>
          <input type="search" placeholder="Search" aria-label="Search logs" @input=${(e: Event) => (this.search = (e.target as HTMLInputElement).value)} />
          <label><input type="checkbox" .checked=${this.follow} @change=${(e: Event) => (this.follow = (e.target as HTMLInputElement).checked)} /> Follow</label>
        </div>
        <pre class="logs" role="log">${
          shown.length
            ? shown.map((l) => html`<span class=${l.stream}>${l.line}\n</span>`)
            : html`<span class="muted">${this.logs.length ? 'No line matches the search.' : live ? `No log lines from ${this.logService || 'this service'} yet.` : 'This deployment no longer runs: it has no live logs.'}</span>`
        }</pre>
        ${this.logNote ? html`<p class="muted" role="status">Log stream: ${this.logNote}</p>` : nothing}
      </section>
      ${(this.pluginUis?.inSlot('deployment') ?? [])
        .filter((p) => {
          try {
            return p.when?.(d as unknown as Record<string, unknown>) ?? true;
          } catch {
            return true;
          }
        })
        .map((p) => {
          // A plugin panel: its element gets the API client, the deployment and the caller's level.
          let el = this.panelElements.get(p.element);
          if (!el) {
            el = document.createElement(p.element) as HTMLElement & Record<string, unknown>;
            this.panelElements.set(p.element, el);
          }
          // Access first: setting the deployment is what makes a panel load.
          el.api = this.api;
          el.access = full ? 'full' : 'read';
          el.deployment = d;
          return html`<section class="panel" aria-label=${p.title} data-plugin=${p.plugin}><h2>${p.title}</h2>${el}</section>`;
        })}
      <section class="panel" aria-label="History">
        <h2>History</h2>
        <table>
          <thead><tr><th>When</th><th>What</th><th>Who</th></tr></thead>
          <tbody>
            ${this.history
              .filter((h) => !h.kind.startsWith('step.'))
              .map(
                (h) =>
                  html`<tr><td>${new Date(h.at).toLocaleString()}</td><td>${h.kind}${h.message ? ` — ${h.message}` : ''}</td><td>${h.actorName ?? 'system'}</td></tr>`,
              )}
          </tbody>
        </table>
      </section>
    `;
  }
}
