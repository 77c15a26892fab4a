import { consume } from '@lit/context';
import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext, deploymentLevel, type Session, sessionContext } from '../context.js';
import { localTimes } from '../format.js';
import { shared } from '../theme.js';
import '../components/countdown.js';
import { healthBadge } from '../components/service-health.js';
import {
  type Extension,
  type ExtensionTree,
  extensionTreeContext,
  renderExtension,
  TreeSubscription,
} from '../extensions/extension-tree.js';
import { actionButtons, type DeploymentAction, runDeploymentAction } from './deployment-actions.js';
import type { Deployment, DeploymentMetrics, DeploymentOperation, ServiceTags } from './types.js';

interface Progress {
  kind: string;
  message?: string | null;
  state?: string | null;
  details?: { step?: string } | null;
  at: string;
}

type ServiceHealthReport = NonNullable<Deployment['services'][number]['health']> & { name: string };
const withoutName = ({ name: _, ...health }: ServiceHealthReport) => health;

/**
 * One deployment: its summary (services and URLs, live health, actions, pipeline progress), then
 * the extensions attached to it — `panels` under the summary (the core's logs, backups and
 * history among them) and `tabs` beside the Overview.
 */
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
      nav.tabs button[aria-selected='true'] {
        border-color: var(--accent);
        color: var(--accent);
        font-weight: 600;
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
  @consume({ context: extensionTreeContext }) private tree!: ExtensionTree;
  @state() private deployment: Deployment | undefined;
  @state() private error = '';
  @state() private progress: Progress[] = [];
  /** What each step that waits says it waits for (its latest probe), until it ends. */
  @state() private waiting = new Map<string, Progress>();
  /** Ticks while a step waits, so "3 s ago" counts. */
  private waitingTimer: number | undefined;
  private followProgress = true;
  @state() private metrics: DeploymentMetrics['services'] = [];
  @state() private operations: DeploymentOperation[] = [];
  /** The open tab: the Overview (empty) or a tab extension's id. */
  @state() private tab = '';
  /** The clone form is open (with the project's tags) while set. */
  @state() private cloneTags: ServiceTags[] | undefined;
  private metricsTimer: number | undefined;
  private events: EventSource | undefined;
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a controller serves its host by existing
  private readonly treeUpdates = new TreeSubscription(this, () => this.tree);

  constructor() {
    super();
    // A section queued an operation or failed: show it here.
    this.addEventListener('deployment-changed', () => void this.reload());
    this.addEventListener('deployment-error', (e) => (this.error = (e as CustomEvent<string>).detail));
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.metricsTimer);
    clearInterval(this.waitingTimer);
    this.events?.close();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deploymentId') && this.deploymentId) {
      this.tab = '';
      void this.open();
    }
    // The progress list follows new steps while it is scrolled to its end (as a terminal does);
    // scrolled up to read, it stays where the reader is.
    const list = this.renderRoot.querySelector?.('ol.progress');
    this.followProgress = !list || list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
  }

  protected override updated(changed: Map<PropertyKey, unknown>): void {
    const list = this.renderRoot.querySelector('ol.progress');
    if (changed.has('progress') && list && this.followProgress) list.scrollTop = list.scrollHeight;
  }

  private async open() {
    this.events?.close();
    this.progress = [];
    await this.reload();
    // Live progress: the recorded history first, then every step as it happens.
    this.events = this.api.events(`/api/deployments/${this.deploymentId}/events`);
    this.events.addEventListener('progress', (e) => {
      const event = JSON.parse((e as MessageEvent).data) as Progress;
      const step = event.details?.step;
      if (step && event.kind.startsWith('step.')) {
        const waiting = new Map(this.waiting);
        if (event.kind === 'step.waiting') waiting.set(step, event);
        else waiting.delete(step);
        this.waiting = waiting;
        clearInterval(this.waitingTimer);
        if (waiting.size) this.waitingTimer = window.setInterval(() => this.requestUpdate(), 1000);
        if (event.kind === 'step.waiting') return;
      }
      this.progress = [...this.progress, event].slice(-500);
      // A state change (running, failed, extended…) changes what the page shows: fetch it again.
      if (event.state || !event.kind.startsWith('step.')) void this.reload();
    });
    this.events.addEventListener('state', () => void this.reload());
    // Live health: each service's condition as its node reports it, applied in place.
    this.events.addEventListener('health', (e) => {
      const { services } = JSON.parse((e as MessageEvent).data) as { services: ServiceHealthReport[] };
      const d = this.deployment;
      if (d?.state !== 'running') return;
      this.deployment = {
        ...d,
        services: d.services.map((s) => {
          const h = services.find((x) => x.name === s.name);
          return h ? { ...s, health: withoutName(h) } : s;
        }),
      };
    });
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
      this.operations = (
        await this.api.get<{ items: DeploymentOperation[] }>(
          `/api/deployments/${this.deploymentId}/operations`,
        )
      ).items;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async act(action: DeploymentAction, hours?: number) {
    const d = this.deployment;
    if (!d) return;
    try {
      if (await runDeploymentAction(this.api, d, action, hours)) await this.reload();
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

  private renderProgress() {
    return html`<ol class="progress" aria-live="polite">
      ${this.progress.map(
        (p) => html`<li data-kind=${p.kind}>
          <span class="muted">${new Date(p.at).toLocaleTimeString()}</span>
          ${p.details?.step ? html`<strong>${p.details.step}</strong>` : nothing}
          ${p.kind.replace(/^step\./, '')}${p.message ? html` — ${localTimes(p.message)}` : nothing}
        </li>`,
      )}
      ${[...this.waiting.values()].map(
        (w) => html`<li data-kind="step.waiting" data-step=${w.details?.step}>
          <strong>${w.details?.step}</strong> waiting — ${w.message}
          <span class="muted">(${Math.max(0, Math.round((Date.now() - Date.parse(w.at)) / 1000))} s ago)</span>
        </li>`,
      )}
    </ol>`;
  }

  /** A panel or tab extension: its element gets the API client, the caller's level, then the deployment. */
  private renderSection(ext: Extension, d: Deployment, full: boolean) {
    const body = renderExtension(ext, {
      api: this.api,
      session: this.session,
      // Access first: setting the deployment is what makes a panel load.
      data: { access: full ? 'full' : 'read', deployment: d },
    });
    return html`<section class="panel" aria-label=${ext.title} data-extension=${ext.id} data-plugin=${ext.plugin ?? 'core'}>
      ${ext.config.ownHeading ? nothing : html`<h2>${ext.title}</h2>`}${body}
    </section>`;
  }

  override render() {
    const d = this.deployment;
    if (!d)
      return html`${this.error ? html`<p class="error" role="alert">${this.error}</p>` : html`<p class="muted">Loading…</p>`}`;
    const full = deploymentLevel(this.session, d) === 'full';
    // Failed, deleting or deleted: the page says so instead of showing stale services and a timer.
    const live = d.live;
    const tabs = this.tree.children('page:deployment', 'tabs', d as unknown as Record<string, unknown>);
    const tab = tabs.find((x) => x.id === this.tab);
    return html`
      <div class="row" style="justify-content: space-between">
        <h1>${d.name} <span class="state ${d.state}">${d.state}</span></h1>
        ${
          full
            ? html`<div class="row" role="group" aria-label="Actions">
                ${actionButtons(d, (action, hours) => this.act(action, hours), html`<button @click=${this.openClone}>Clone</button>`)}
              </div>`
            : nothing
        }
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.renderClone(d)}
      ${d.error ? html`<p class="error panel" role="alert">Failed at <strong>${d.error.step ?? 'start'}</strong>: ${d.error.message}</p>` : nothing}
      ${d.state === 'degraded' ? html`<p class="error panel" role="alert">Degraded: ${d.stateMessage}${full ? ' Use Redeploy to rebuild it.' : ''}</p>` : nothing}
      ${
        tabs.length
          ? html`<nav class="row tabs" role="tablist" aria-label="Deployment tabs">
              <button role="tab" aria-selected=${!tab} @click=${() => (this.tab = '')}>Overview</button>
              ${tabs.map((x) => html`<button role="tab" aria-selected=${x === tab} data-extension=${x.id} @click=${() => (this.tab = x.id)}>${x.title}</button>`)}
            </nav>`
          : nothing
      }
      <div class="cols" ?hidden=${Boolean(tab)}>
        <section class="panel" aria-label="Overview">
          <dl>
            <dt>Project</dt><dd>${d.projectName}</dd>
            <dt>Environment</dt><dd>${d.environmentName}</dd>
            ${
              live
                ? html`<dt>Cleanup in</dt><dd><nullops-countdown .until=${d.expiresAt}></nullops-countdown></dd>`
                : html`<dt>${d.state === 'failed' ? 'Failed' : 'Removed'}</dt><dd>${new Date(d.updatedAt).toLocaleString()}</dd>`
            }
            <dt>Tags</dt><dd>${Object.entries(d.tags).map(
              ([s, t]) =>
                html`${s}: <code>${t}</code>${d.digests?.[s] ? html` <code class="digest" title=${d.digests[s] as string}>${(d.digests[s] as string).slice(7, 19)}</code>` : nothing} `,
            )}</dd>
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
              return html`<li data-service=${s.name}><a href=${s.url} target="_blank" rel="noopener">${s.url}</a> ${healthBadge(s)}
                ${s.health?.reason && s.health.condition !== 'running' ? html`<span class="muted reason">${s.health.reason.split('; last lines:')[0]}</span>` : nothing}
                ${m ? html`<span class="muted metrics">CPU ${m.cpuPercent.toFixed(1)}% · RAM ${(m.memoryBytes / 1048576).toFixed(1)} / ${(m.memoryLimitBytes / 1048576).toFixed(0)} MiB</span>` : nothing}
                ${full && d.actions.includes('services') ? this.renderServiceActions(s.name, s.status) : nothing}</li>`;
            })}
          </ul>
          ${this.renderOperations()}
        </section>
        <section class="panel" aria-label="Pipeline progress"><h2>Progress</h2>${this.renderProgress()}</section>
      </div>
      ${tab ? this.renderSection(tab, d, full) : this.tree.children('page:deployment', 'panels', d as unknown as Record<string, unknown>).map((x) => this.renderSection(x, d, full))}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployment-page': DeploymentPage;
  }
}
