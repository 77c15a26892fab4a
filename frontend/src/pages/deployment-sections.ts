import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { shared } from '../theme.js';
import type { DatabaseBackup, Deployment, DeploymentHistoryItem } from './types.js';

/**
 * The deployment page's own sections, each a core extension attached to the page's `panels`,
 * built exactly like a plugin's panel: an element given `api`, `access` and `deployment`.
 */
abstract class DeploymentSection extends LitElement {
  static override styles = [shared];
  @property({ attribute: false }) api!: Api;
  @property() access: 'read' | 'full' = 'read';
  @property({ attribute: false }) deployment?: Deployment;

  protected get live(): boolean {
    return ['pending', 'deploying', 'running', 'offline'].includes(this.deployment?.state ?? '');
  }

  /** Tells the page something changed (an operation queued), so it loads what it shows again. */
  protected changed(): void {
    this.dispatchEvent(new CustomEvent('deployment-changed', { bubbles: true, composed: true }));
  }

  protected failed(err: unknown): void {
    this.dispatchEvent(
      new CustomEvent('deployment-error', { detail: (err as Error).message, bubbles: true, composed: true }),
    );
  }
}

interface LogLine {
  service: string;
  stream: string;
  time: string;
  line: string;
}

const MAX_LOG_LINES = 5000;

/** Live logs of one service at a time, with search and follow. */
@customElement('nullops-deployment-logs')
export class DeploymentLogs extends DeploymentSection {
  static override styles = [
    shared,
    css`
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
    `,
  ];
  @state() private service = '';
  @state() private logs: LogLine[] = [];
  @state() private note = '';
  @state() private follow = true;
  @state() private search = '';
  @query('pre.logs') private box?: HTMLPreElement;
  private stream: EventSource | undefined;
  private openedFor = '';

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stream?.close();
    this.openedFor = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.openFirst();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deployment')) this.openFirst();
  }

  protected override updated(): void {
    if (this.follow && this.box) this.box.scrollTop = this.box.scrollHeight;
  }

  /** Opens the first service's logs once the deployment is known (and again for another deployment). */
  private openFirst() {
    const d = this.deployment;
    if (!d || !this.isConnected || this.openedFor === d.id) return;
    if (!d.services[0] || !this.live) return;
    this.openedFor = d.id;
    this.open(d.services.some((s) => s.name === this.service) ? this.service : d.services[0].name);
  }

  private open(service: string) {
    const d = this.deployment;
    if (!d) return;
    this.stream?.close();
    this.service = service;
    this.logs = [];
    this.note = '';
    const stream = this.api.events(`/api/deployments/${d.id}/logs?service=${encodeURIComponent(service)}`);
    this.stream = stream;
    stream.addEventListener('log', (e) => {
      this.logs = [...this.logs, JSON.parse((e as MessageEvent).data) as LogLine].slice(-MAX_LOG_LINES);
    });
    // Why the stream ended (the service stopped, the node went offline…), shown under the box.
    stream.addEventListener('end', (e) => {
      const reason = (JSON.parse((e as MessageEvent).data || '{}') as { reason?: string }).reason;
      if (reason) this.note = reason;
    });
    // The service may not run yet (the deployment is still starting) or may have been restarted:
    // while the deployment lives, open the stream again (it starts with the recent lines).
    const again = () => {
      stream.close();
      window.setTimeout(() => {
        if (this.stream === stream && this.service === service && this.isConnected && this.live)
          this.open(service);
      }, 1000);
    };
    stream.addEventListener('end', again);
    stream.addEventListener('error', again);
  }

  override render() {
    const d = this.deployment;
    if (!d) return nothing;
    const needle = this.search.toLowerCase();
    const shown = needle ? this.logs.filter((l) => l.line.toLowerCase().includes(needle)) : this.logs;
    return html`
      <div class="row">
        <h2 style="margin:0">Logs</h2>
        <select aria-label="Service" @change=${(e: Event) => this.open((e.target as HTMLSelectElement).value)}>
          ${d.services.map((s) => html`<option ?selected=${s.name === this.service}>${s.name}</option>`)}
        </select>
        <input type="search" placeholder="Search" aria-label="Search logs" @input=${(e: Event) => (this.search = (e.target as HTMLInputElement).value)} />
        <label><input type="checkbox" .checked=${this.follow} @change=${(e: Event) => (this.follow = (e.target as HTMLInputElement).checked)} /> Follow</label>
      </div>
      <pre class="logs" role="log">${
        shown.length
          ? shown.map((l) => html`<span class=${l.stream}>${l.line}\n</span>`)
          : html`<span class="muted">${this.logs.length ? 'No line matches the search.' : this.live ? `No log lines from ${this.service || 'this service'} yet.` : 'This deployment no longer runs: it has no live logs.'}</span>`
      }</pre>
      ${this.note ? html`<p class="muted" role="status">Log stream: ${this.note}</p>` : nothing}
    `;
  }
}

/** Transitions, actions and who made them (pipeline steps are in the progress list). */
@customElement('nullops-deployment-history')
export class DeploymentHistory extends DeploymentSection {
  @state() private items: DeploymentHistoryItem[] = [];

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deployment') && this.deployment) void this.load(this.deployment.id);
  }

  private async load(id: string) {
    try {
      const { items } = await this.api.get<{ items: DeploymentHistoryItem[] }>(
        `/api/deployments/${id}/history`,
      );
      if (this.deployment?.id === id) this.items = items;
    } catch (err) {
      this.failed(err);
    }
  }

  override render() {
    return html`<h2>History</h2>
      <table>
        <thead><tr><th>When</th><th>What</th><th>Who</th></tr></thead>
        <tbody>
          ${this.items
            .filter((h) => !h.kind.startsWith('step.'))
            .map(
              (h) =>
                html`<tr><td>${new Date(h.at).toLocaleString()}</td><td>${h.kind}${h.message ? ` — ${localTimes(h.message)}` : ''}</td><td>${h.actorName ?? 'system'}</td></tr>`,
            )}
        </tbody>
      </table>`;
  }
}

/** Database backups of the project: take one of this deployment, restore one into it. */
@customElement('nullops-deployment-backups')
export class DeploymentBackups extends DeploymentSection {
  @state() private backups: DatabaseBackup[] = [];

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deployment') && this.deployment?.databases.length) void this.load(this.deployment);
  }

  private async load(d: Deployment) {
    try {
      const { items } = await this.api.get<{ items: DatabaseBackup[] }>(
        `/api/projects/${d.projectId}/backups`,
      );
      if (this.deployment?.id === d.id) this.backups = items;
    } catch (err) {
      this.failed(err);
    }
  }

  private async operate(path: string, body: unknown) {
    try {
      await this.api.post(`/api/deployments/${this.deployment?.id}/${path}`, body);
      this.changed();
    } catch (err) {
      this.failed(err);
    }
  }

  override render() {
    const d = this.deployment;
    if (!d) return nothing;
    const can = this.access === 'full' && d.actions.includes('services');
    return html`
      <div class="row">
        <h2 style="margin:0">Backups</h2>
        ${can ? d.databases.map((db) => html`<button @click=${() => this.operate('backups', { service: db })}>Back up ${db}</button>`) : nothing}
      </div>
      ${
        this.backups.length
          ? html`<table>
              <thead><tr><th>Taken</th><th>Of</th><th>Service</th><th>Size</th><th></th></tr></thead>
              <tbody>${this.backups.map(
                (b) => html`<tr data-backup=${b.id}>
                  <td>${new Date(b.createdAt).toLocaleString()}</td>
                  <td>${b.deploymentName}${b.deploymentId === d.id ? ' (this one)' : ''}</td>
                  <td>${b.service}</td>
                  <td>${Math.ceil(b.bytes / 1024)} KiB</td>
                  <td>${
                    can
                      ? html`<button @click=${() => {
                          if (confirm(`Replace the data of ${b.service} in ${d.name} with this backup?`))
                            void this.operate('restore', { backupId: b.id });
                        }}>Restore here</button>`
                      : nothing
                  }</td>
                </tr>`,
              )}</tbody></table>`
          : html`<p class="muted">No backups of this project yet.${this.access === 'full' ? ' Back up a service’s data to restore it later, here or into another deployment of the project.' : ''}</p>`
      }
    `;
  }
}

/** ISO times in a history message (an expiry, say), in the reader's own time and format. */
function localTimes(message: string): string {
  return message.replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g, (iso) =>
    new Date(iso).toLocaleString(),
  );
}
